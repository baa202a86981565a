//! `paperboy import`: a progress bar on a terminal, plain lines otherwise, every rejected
//! record named, and a summary at the end.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use paperboy_ingest::RecordError;
use paperboy_ingest::pipeline::{FileReport, ImportObserver, ImportReport, import_paths};
use paperboy_store::Store;

use crate::Outcome;
use crate::cli::ImportArgs;
use crate::context::Context;
use crate::index;
use crate::progress::draw_target;

/// Rejections printed per file before the rest are only counted.
const MAX_REJECTIONS_SHOWN: u64 = 20;

/// `paperboy import`: the files imported, then the search index brought up to date.
pub(crate) async fn run(ctx: &Context, args: &ImportArgs) -> anyhow::Result<Outcome> {
    let report = import(ctx.store(), &args.paths).await?;
    index::after_import(ctx, report.summary.changed(), &args.indexing).await?;
    Ok(Outcome::of_import(&report))
}

/// Imports files; returns what it did.
async fn import(store: &dyn Store, paths: &[PathBuf]) -> anyhow::Result<ImportReport> {
    let started = Instant::now();
    let total_bytes = paperboy_ingest::expand_paths(paths)
        .files
        .iter()
        .filter_map(|path| std::fs::metadata(path).ok())
        .map(|metadata| metadata.len())
        .sum();
    let progress = Arc::new(CliProgress::new(total_bytes));
    let report = import_paths(
        store,
        paths,
        Arc::clone(&progress) as Arc<dyn ImportObserver>,
    )
    .await?;
    progress.finish();
    print_summary(store, &report, started.elapsed()).await?;
    Ok(report)
}

pub(crate) async fn print_summary(
    store: &dyn Store,
    report: &ImportReport,
    elapsed: Duration,
) -> anyhow::Result<()> {
    if !report.skipped_files.is_empty() {
        eprintln!(
            "Skipped {} file(s) in folders whose extension is not a paper format (e.g. {}).",
            report.skipped_files.len(),
            report.skipped_files[0].display()
        );
    }
    let seconds = elapsed.as_secs_f64();
    let records = report.summary.total() + report.rejected;
    eprintln!(
        "Imported {} new, {} updated, {} unchanged, {} rejected from {} file(s){} in {:.2} s ({:.0} records/s).",
        report.summary.inserted,
        report.summary.updated,
        report.summary.unchanged,
        report.rejected,
        report.files,
        if report.failed_files > 0 {
            format!(" ({} failed)", report.failed_files)
        } else {
            String::new()
        },
        seconds,
        records as f64 / seconds.max(1e-9),
    );
    eprintln!("The store holds {} papers.", store.count_papers().await?);
    Ok(())
}

/// Draws a byte-based progress bar over all files on a terminal; elsewhere, prints one line per
/// file.
pub(crate) struct CliProgress {
    bar: ProgressBar,
    finished_bytes: AtomicU64,
    current_size: AtomicU64,
    rejections: Mutex<HashMap<String, u64>>,
}

impl CliProgress {
    pub(crate) fn new(total_bytes: u64) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total_bytes), draw_target());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg:24!} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        CliProgress {
            bar,
            finished_bytes: AtomicU64::new(0),
            current_size: AtomicU64::new(0),
            rejections: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn say(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }
}

impl ImportObserver for CliProgress {
    fn file_started(&self, name: &str, size: u64) {
        self.current_size.store(size, Ordering::Relaxed);
        let file_name = std::path::Path::new(name).file_name().map_or_else(
            || name.to_owned(),
            |file_name| file_name.to_string_lossy().into_owned(),
        );
        self.bar.set_message(file_name);
    }

    fn progress(&self, bytes: u64) {
        self.bar
            .set_position(self.finished_bytes.load(Ordering::Relaxed) + bytes);
    }

    fn rejected(&self, name: &str, error: &RecordError) {
        let count = {
            let mut rejections = self
                .rejections
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let count = rejections.entry(name.to_owned()).or_insert(0);
            *count += 1;
            *count
        };
        if count <= MAX_REJECTIONS_SHOWN {
            self.say(&format!("paperboy: {name}: {error}"));
        }
    }

    fn file_finished(&self, name: &str, report: &FileReport) {
        let size = self.current_size.swap(0, Ordering::Relaxed);
        let done = self.finished_bytes.fetch_add(size, Ordering::Relaxed) + size;
        self.bar.set_position(done);
        if report.rejected > MAX_REJECTIONS_SHOWN {
            self.say(&format!(
                "paperboy: {name}: … and {} more rejected records",
                report.rejected - MAX_REJECTIONS_SHOWN
            ));
        }
        let counts = format!(
            "{} new, {} updated, {} unchanged, {} rejected",
            report.summary.inserted,
            report.summary.updated,
            report.summary.unchanged,
            report.rejected
        );
        match (&report.error, report.format) {
            (Some(error), _) if report.summary.total() == 0 => {
                self.say(&format!("paperboy: {name}: {error}"))
            }
            (Some(error), _) => self.say(&format!(
                "paperboy: {name}: {error} (before that: {counts})"
            )),
            (None, Some(format)) => self.say(&format!("{name}: {format}: {counts}")),
            (None, None) => self.say(&format!("{name}: {counts}")),
        }
    }
}
