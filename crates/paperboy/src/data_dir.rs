//! The layout of a data folder (`--data-dir`): the one place that names the database file and
//! the folders inside it, so that every command reads and writes the same files.

use paperboy_search::ComputePath;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use paperboy_store::sqlite_ops::BACKUPS_DIR;

/// The database file, when no `--database-url` names another database.
const DATABASE_FILE: &str = "paperboy.sqlite3";
/// The search index (`paperboy reindex` builds it).
const INDEX_DIR: &str = "index";
const BENCH_SCALE_DIR: &str = "bench-scale";
/// The embedding model's cache (`paperboy model fetch` fills it).
const MODELS_DIR: &str = "models";
/// Mail written as `.eml` files when no SMTP server is configured.
const MAIL_DIR: &str = "mail";
/// The embeddings `paperboy eval` computes, kept between runs.
const EVAL_CACHE_FILE: &str = "eval-cache.sqlite3";
/// What may already be in a folder a backup is restored into: the model, the copies the store
/// makes before upgrading a schema (in [`BACKUPS_DIR`], next to the database file), and what a
/// file system puts at the root of a volume.
const KEPT_BY_RESTORE: [&str; 3] = [MODELS_DIR, BACKUPS_DIR, "lost+found"];

/// A data folder and the paths inside it.
#[derive(Debug, Clone)]
pub(crate) struct DataDir(PathBuf);

impl DataDir {
    pub(crate) fn new(root: PathBuf) -> Self {
        DataDir(root)
    }

    /// The folder itself.
    pub(crate) fn root(&self) -> &Path {
        &self.0
    }

    /// Creates the folder when it is missing.
    pub(crate) fn create(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.0)
            .with_context(|| format!("cannot create the data folder {}", self.0.display()))
    }

    pub(crate) fn database(&self) -> PathBuf {
        self.0.join(DATABASE_FILE)
    }

    pub(crate) fn index(&self) -> PathBuf {
        self.0.join(INDEX_DIR)
    }

    /// Where `paperboy bench scale` builds its synthetic index (removed afterwards).
    pub(crate) fn bench_scale(&self) -> PathBuf {
        self.0.join(BENCH_SCALE_DIR)
    }

    pub(crate) fn models(&self) -> PathBuf {
        self.0.join(MODELS_DIR)
    }

    pub(crate) fn mail(&self) -> PathBuf {
        self.0.join(MAIL_DIR)
    }

    /// The evaluation commands' embeddings for `path`: one cache for the float paths (their
    /// embeddings agree to 1e-5), another for the 8-bit one, so that each is measured on its own.
    pub(crate) fn eval_cache(&self, path: ComputePath) -> PathBuf {
        match path {
            ComputePath::Int16Vnni => self.0.join(format!("int16-{EVAL_CACHE_FILE}")),
            _ => self.0.join(EVAL_CACHE_FILE),
        }
    }

    /// Whether an entry of the folder named `name` may stay when a backup is restored into it.
    pub(crate) fn kept_by_restore(name: &str) -> bool {
        KEPT_BY_RESTORE.contains(&name)
    }
}
