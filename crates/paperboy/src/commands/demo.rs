//! The demo corpus compiled into the binary: fifteen days of real Hugging Face daily lists
//! (2026-08-03 … 2026-08-21, unchanged API responses) and the saved listing page, so that a
//! fresh install has papers to show without any network.

use std::sync::Arc;
use std::time::Instant;

use paperboy_ingest::pipeline::{ImportObserver, ImportReport, import_stream};
use paperboy_store::Store;

use crate::Outcome;
use crate::cli::{IndexingArgs, ListArgs};
use crate::commands::import::{CliProgress, print_summary};
use crate::commands::papers;
use crate::context::Context;
use crate::index;

macro_rules! demo_files {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!("../../demo/", $name)))),*]
    };
}

/// The files of the demo corpus, by name (the names carry the listing dates).
pub(crate) const DEMO_FILES: &[(&str, &[u8])] = demo_files!(
    "2026-08-03.json.gz",
    "2026-08-04.json.gz",
    "2026-08-05.json.gz",
    "2026-08-06.json.gz",
    "2026-08-07.json.gz",
    "2026-08-10.json.gz",
    "2026-08-11.json.gz",
    "2026-08-12.json.gz",
    "2026-08-13.json.gz",
    "2026-08-14.json.gz",
    "2026-08-17.json.gz",
    "2026-08-18.json.gz",
    "2026-08-19.json.gz",
    "2026-08-20.json.gz",
    "2026-08-21.json.gz",
    "seed-listing.txt.gz",
);

/// `paperboy demo`: the demo corpus imported and indexed, and its newest papers shown.
pub(crate) async fn run(ctx: &Context, indexing: &IndexingArgs) -> anyhow::Result<Outcome> {
    let report = import(ctx.store()).await?;
    index::after_import(ctx, report.summary.changed(), indexing).await?;
    show_newest(ctx.store()).await?;
    Ok(Outcome::of_import(&report))
}

/// Imports the demo corpus; returns what it did.
pub(crate) async fn import(store: &dyn Store) -> anyhow::Result<ImportReport> {
    let started = Instant::now();
    let total: u64 = DEMO_FILES.iter().map(|(_, bytes)| bytes.len() as u64).sum();
    let progress = Arc::new(CliProgress::new(total));
    let mut report = ImportReport::default();
    for (name, bytes) in DEMO_FILES {
        let observer = Arc::clone(&progress) as Arc<dyn ImportObserver>;
        let file = import_stream(store, name, bytes.len() as u64, *bytes, observer).await?;
        report.add(&file);
    }
    progress.finish();
    print_summary(store, &report, started.elapsed()).await?;
    Ok(report)
}

/// Prints the newest papers, to show what the demo brought in.
async fn show_newest(store: &dyn Store) -> anyhow::Result<()> {
    println!("The newest papers (more with `paperboy papers list --help`):");
    let newest = ListArgs {
        from: None,
        until: None,
        category: None,
        limit: 10,
        offset: 0,
        json: false,
    };
    papers::list(store, &newest).await?;
    println!("Search them with `paperboy search \"…\"`.");
    Ok(())
}
