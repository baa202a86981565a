//! Keeping the data folder's search index in step with the store: built whole by `reindex` and
//! on `serve`'s first start, brought up to date after an import or a harvest.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use paperboy_search::SearchIndex;
use paperboy_search::indexing::{EmbedProgress, build_search_index};

use crate::Outcome;
use crate::cli::IndexingArgs;
use crate::context::Context;
use crate::progress::draw_target;

/// Builds the search index from the store, embedding the papers not embedded yet.
pub(crate) async fn rebuild(ctx: &Context) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let embedder = ctx.model.load().await?;
    let progress = EmbeddingBar::new();
    let dir = ctx.data_dir.index();
    let (index, report) = build_search_index(ctx.store(), Arc::new(embedder), &progress, &dir)
        .await
        .with_context(|| format!("cannot build the search index in {}", dir.display()))?;
    progress.bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "Indexed {} papers in {seconds:.1} s ({} embedded now, {} embeddings reused).",
        index.vectors.len(),
        report.embedded,
        report.reused,
    );
    Ok(Outcome::Success)
}

/// Brings the search index up to date after an import or a harvest: when it added or changed
/// papers, or when there is no index yet (unless `--no-index`).
pub(crate) async fn after_import(
    ctx: &Context,
    changed: bool,
    indexing: &IndexingArgs,
) -> anyhow::Result<()> {
    if indexing.no_index || ctx.store().count_papers().await? == 0 {
        return Ok(());
    }
    // An unchanged import still indexes what an earlier, interrupted one stored; the index is
    // read only when nothing changed.
    let up_to_date =
        SearchIndex::exists(&ctx.data_dir.index()) && !changed && !is_behind(ctx).await?;
    if up_to_date {
        return Ok(());
    }
    rebuild(ctx).await?;
    Ok(())
}

/// Whether the store holds papers the search index on disk does not (a harvest or import was
/// stopped before it indexed what it stored).
pub(crate) async fn is_behind(ctx: &Context) -> anyhow::Result<bool> {
    let dir = ctx.data_dir.index();
    if !SearchIndex::exists(&dir) {
        return Ok(false);
    }
    let indexed = SearchIndex::count_papers(&dir).context("reading the search index")?;
    Ok(ctx.store().count_papers().await? > indexed as u64)
}

/// A progress bar with the embedding rate and time left; plain lines every 30 s off a terminal.
struct EmbeddingBar {
    bar: ProgressBar,
    started: Instant,
    last_line: std::sync::Mutex<Instant>,
}

impl EmbeddingBar {
    fn new() -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), draw_target());
        bar.set_style(
            ProgressStyle::with_template(
                "embedding [{elapsed_precise}] {bar:30} {pos}/{len} papers ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        EmbeddingBar {
            bar,
            started: Instant::now(),
            last_line: std::sync::Mutex::new(Instant::now()),
        }
    }
}

impl EmbedProgress for EmbeddingBar {
    fn started(&self, missing: u64) {
        self.bar.set_length(missing);
        if missing > 0 {
            self.bar
                .suspend(|| eprintln!("Embedding {missing} papers…"));
        }
    }

    fn embedded(&self, done: u64) {
        self.bar.set_position(done);
        if self.bar.is_hidden() {
            let mut last = self
                .last_line
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if last.elapsed() >= Duration::from_secs(30) {
                *last = Instant::now();
                let rate = done as f64 / self.started.elapsed().as_secs_f64();
                eprintln!(
                    "embedded {done}/{} ({rate:.1} papers/s)",
                    self.bar.length().unwrap_or(0)
                );
            }
        }
    }
}
