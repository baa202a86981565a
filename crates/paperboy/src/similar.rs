//! `paperboy reindex` and `paperboy similar`: embedding the papers and finding the ones most
//! alike.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use paperboy_search::indexing::{EmbedProgress, build_vector_index};
use paperboy_search::{Embedder, ModelDir, VectorIndex};
use paperboy_store::Store;
use serde::Serialize;

use crate::Outcome;
use crate::papers::find;

pub(crate) async fn reindex(
    store: &dyn Store,
    model: ModelDir,
    index_path: &Path,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let embedder = tokio::task::spawn_blocking(move || Embedder::load(&model))
        .await?
        .context("loading the embedding model")?;
    let progress = EmbeddingBar::new();
    let (index, report) = build_vector_index(store, Arc::new(embedder), &progress).await?;
    progress.bar.finish_and_clear();
    index
        .save(index_path)
        .with_context(|| format!("cannot write the vector index {}", index_path.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "Embedded {} papers ({} unchanged ones reused) in {seconds:.1} s; the vector index holds {} papers.",
        report.embedded,
        report.reused,
        index.len()
    );
    Ok(Outcome::Success)
}

/// A progress bar with the embedding rate and time left; plain lines every 30 s off a terminal.
struct EmbeddingBar {
    bar: ProgressBar,
    started: Instant,
    last_line: std::sync::Mutex<Instant>,
}

impl EmbeddingBar {
    fn new() -> Self {
        let target = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(0), target);
        bar.set_style(
            ProgressStyle::with_template(
                "embedding [{elapsed_precise}] {bar:30} {pos}/{len} ({per_sec}, eta {eta})",
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
                    "embedded {done}/{} ({rate:.1} docs/s)",
                    self.bar.length().unwrap_or(0)
                );
            }
        }
    }
}

/// One result as `--json` prints it.
#[derive(Serialize)]
struct Similar {
    id: i64,
    arxiv_id: Option<String>,
    title: String,
    score: f32,
}

pub(crate) async fn similar(
    store: &dyn Store,
    index_path: &Path,
    id: &str,
    limit: u32,
    json: bool,
) -> anyhow::Result<Outcome> {
    let paper = find(store, id).await?;
    if !index_path.exists() {
        bail!("there is no vector index yet: run `paperboy reindex` first");
    }
    let path = index_path.to_path_buf();
    let index = tokio::task::spawn_blocking(move || VectorIndex::load(&path))
        .await?
        .with_context(|| format!("cannot read the vector index {}", index_path.display()))?;
    let Some(query) = index.vector_of(paper.id) else {
        bail!("{id} was added after the last reindex: run `paperboy reindex` to include it");
    };
    let hits = index.search(query, limit as usize, |other| other != paper.id);
    let mut results = Vec::with_capacity(hits.len());
    for hit in hits {
        if let Some(found) = store.paper(hit.id).await? {
            results.push(Similar {
                id: found.id.0,
                arxiv_id: found.record.arxiv_id.map(|arxiv_id| arxiv_id.to_string()),
                title: found.record.title,
                score: hit.score,
            });
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!("Papers most like \"{}\":", paper.record.title);
        for result in &results {
            let label = result
                .arxiv_id
                .clone()
                .unwrap_or_else(|| format!("#{}", result.id));
            println!("{:.3}  {label:<16}  {}", result.score, result.title);
        }
    }
    Ok(Outcome::Success)
}
