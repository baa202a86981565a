//! `paperboy restore`: a backup copied into an empty data folder (and brought up to this
//! version's schema); `serve` then rebuilds the search index from its stored embeddings.

use anyhow::{Context as _, bail};
use paperboy_store::sqlite_ops::{copy_database_file, inspect_database_file};
use paperboy_store::{SqliteStore, Store};

use crate::Outcome;
use crate::cli::RestoreArgs;
use crate::context::Settings;
use crate::data_dir::DataDir;

pub(crate) async fn run(settings: &Settings, args: &RestoreArgs) -> anyhow::Result<Outcome> {
    let file = &args.file;
    let target = settings.restore_target()?;
    settings.data_dir.create()?;
    let folder = settings.data_dir.root();
    let mut present: Vec<String> = std::fs::read_dir(folder)
        .with_context(|| format!("cannot read the data folder {}", folder.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !DataDir::kept_by_restore(name))
        .collect();
    if target.exists() && !present.iter().any(|name| folder.join(name) == target) {
        present.push(target.display().to_string());
    }
    if !present.is_empty() {
        present.sort();
        bail!(
            "the data folder {} is not empty (it holds {}): a backup is restored only into an \
             empty folder, so that nothing there is lost or mixed with it. Move those away, or \
             name another folder with --data-dir",
            folder.display(),
            present.join(", ")
        );
    }
    let inspected = inspect_database_file(file)
        .await
        .with_context(|| format!("cannot restore {}", file.display()))?;
    copy_database_file(file, &target)
        .with_context(|| format!("cannot restore {}", file.display()))?;
    // A backup from an older version is brought up to date now (a copy of it goes to backups/).
    let store = SqliteStore::open(&target)
        .await
        .with_context(|| format!("cannot open the restored database {}", target.display()))?;
    if let Some(path) = Store::upgrade_backup(&store) {
        eprintln!(
            "Copied the restored database to {} before upgrading its schema.",
            path.display()
        );
    }
    let counts = store.table_counts().await;
    store.close().await;
    let counts = counts?;
    let count = |table: &str| {
        counts
            .iter()
            .find(|(name, _)| name == table)
            .map_or(0, |(_, count)| *count)
    };
    println!(
        "Restored {} into {}: {} papers, {} embeddings, {} users, {} subscribers, {} votes \
         (schema version {}).",
        file.display(),
        target.display(),
        inspected.papers,
        count("embeddings"),
        count("users"),
        count("subscribers"),
        count("votes"),
        inspected.schema_version
    );
    println!(
        "Start `paperboy serve`: it builds the search index from the stored embeddings first."
    );
    Ok(Outcome::Success)
}
