//! `paperboy reindex`, `search` and `similar`: building the indexes from the store, and
//! querying them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use paperboy_core::PaperId;
use paperboy_search::bm25::Bm25Index;
use paperboy_search::eval::DEPTH;
use paperboy_search::fusion::{KEYWORD_WEIGHT, fuse};
use paperboy_search::indexing::{EmbedProgress, build_keyword_index, build_vector_index};
use paperboy_search::{Embedder, ModelDir, VectorIndex};
use paperboy_store::Store;
use serde::Serialize;

use crate::Outcome;
use crate::cli::{Cli, SearchMode};
use crate::papers::find;

/// Where the indexes live in a data folder.
fn vector_path(data_dir: &Path) -> PathBuf {
    data_dir.join("vectors").join("minilm.bin")
}

fn keyword_path(data_dir: &Path) -> PathBuf {
    data_dir.join("index").join("bm25")
}

pub(crate) async fn reindex(
    store: &dyn Store,
    model: ModelDir,
    data_dir: &Path,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let keyword = build_keyword_index(store, &keyword_path(data_dir)).await?;
    eprintln!("The keyword index holds {} papers.", keyword.len());
    let index_path = vector_path(data_dir);
    let embedder = tokio::task::spawn_blocking(move || Embedder::load(&model))
        .await?
        .context("loading the embedding model")?;
    let progress = EmbeddingBar::new();
    let (index, report) = build_vector_index(store, Arc::new(embedder), &progress).await?;
    progress.bar.finish_and_clear();
    index
        .save(&index_path)
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
struct Found {
    id: i64,
    arxiv_id: Option<String>,
    title: String,
    score: f32,
}

async fn load_vectors(data_dir: &Path) -> anyhow::Result<VectorIndex> {
    let path = vector_path(data_dir);
    if !path.exists() {
        bail!("there is no search index yet: run `paperboy reindex` first");
    }
    let reading = path.clone();
    tokio::task::spawn_blocking(move || VectorIndex::load(&reading))
        .await?
        .with_context(|| format!("cannot read the vector index {}", path.display()))
}

fn load_keyword(data_dir: &Path) -> anyhow::Result<Bm25Index> {
    let path = keyword_path(data_dir);
    if !path.exists() {
        bail!("there is no search index yet: run `paperboy reindex` first");
    }
    Bm25Index::open(&path)
        .with_context(|| format!("cannot read the keyword index {}", path.display()))
}

pub(crate) async fn similar(
    store: &dyn Store,
    data_dir: &Path,
    id: &str,
    limit: u32,
    json: bool,
) -> anyhow::Result<Outcome> {
    let paper = find(store, id).await?;
    let index = load_vectors(data_dir).await?;
    let Some(query) = index.vector_of(paper.id) else {
        bail!("{id} was added after the last reindex: run `paperboy reindex` to include it");
    };
    let hits: Vec<(PaperId, f32)> = index
        .search(query, limit as usize, |other| other != paper.id)
        .into_iter()
        .map(|hit| (hit.id, hit.score))
        .collect();
    let heading = format!("Papers most like \"{}\":", paper.record.title);
    print_results(store, &hits, json, &heading).await
}

pub(crate) async fn search(
    store: &dyn Store,
    cli: &Cli,
    query: &str,
    mode: SearchMode,
    limit: u32,
    json: bool,
) -> anyhow::Result<Outcome> {
    if query.trim().is_empty() {
        bail!("the query is empty: give some words to search for");
    }
    let depth = (limit as usize).max(DEPTH);
    let keyword = match mode {
        SearchMode::Semantic => Vec::new(),
        SearchMode::Keyword | SearchMode::Hybrid => {
            load_keyword(&cli.data_dir)?.search(query, depth)?
        }
    };
    let semantic = match mode {
        SearchMode::Keyword => Vec::new(),
        SearchMode::Semantic | SearchMode::Hybrid => {
            let index = load_vectors(&cli.data_dir).await?;
            let model = cli.model()?;
            let text = query.to_owned();
            let vector = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<f32>> {
                let embedder = Embedder::load(&model)?;
                Ok(embedder.embed(&[&text])?.pop().unwrap_or_default())
            })
            .await??;
            index
                .search(&vector, depth, |_| true)
                .into_iter()
                .map(|hit| (hit.id, hit.score))
                .collect()
        }
    };
    let mut hits = match mode {
        SearchMode::Keyword => keyword,
        SearchMode::Semantic => semantic,
        SearchMode::Hybrid => fuse(&keyword, &semantic, KEYWORD_WEIGHT),
    };
    hits.truncate(limit as usize);
    let heading = format!(
        "Papers for \"{}\":",
        query.chars().take(80).collect::<String>()
    );
    print_results(store, &hits, json, &heading).await
}

async fn print_results(
    store: &dyn Store,
    hits: &[(PaperId, f32)],
    json: bool,
    heading: &str,
) -> anyhow::Result<Outcome> {
    let mut results = Vec::with_capacity(hits.len());
    for (id, score) in hits {
        if let Some(found) = store.paper(*id).await? {
            results.push(Found {
                id: found.id.0,
                arxiv_id: found.record.arxiv_id.map(|arxiv_id| arxiv_id.to_string()),
                title: found.record.title,
                score: *score,
            });
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!("{heading}");
        if results.is_empty() {
            println!("(nothing found)");
        }
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
