//! `paperboy backup`: a consistent copy of the whole store in a new file, also while `serve`
//! runs.

use std::time::Instant;

use anyhow::Context as _;
use paperboy_store::Store;

use crate::Outcome;
use crate::cli::BackupArgs;

pub(crate) async fn run(store: &dyn Store, args: &BackupArgs) -> anyhow::Result<Outcome> {
    let file = &args.file;
    let started = Instant::now();
    store
        .backup_to(file)
        .await
        .with_context(|| format!("cannot back up the store to {}", file.display()))?;
    let bytes = std::fs::metadata(file).map_or(0, |metadata| metadata.len());
    eprintln!(
        "Backed up the store to {} ({:.1} MB) in {:.1} s.",
        file.display(),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(Outcome::Success)
}
