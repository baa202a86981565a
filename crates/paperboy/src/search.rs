//! `paperboy reindex`, `search` and `similar`: building the indexes from the store, and
//! querying them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use paperboy_core::text::shorten;

use paperboy_search::highlight::{Highlighter, mark};
use paperboy_search::indexing::{EmbedProgress, build_search_index};
use paperboy_search::{Embedder, ModelDir, Query, SearchIndex, Searcher, paper_text};
use paperboy_store::Store;
use serde::Serialize;

use crate::Outcome;
use crate::cli::{Cli, IndexingArgs, ResultArgs, SearchArgs, SimilarArgs};
use crate::papers::find;

/// Where the search index lives in a data folder.
pub(crate) fn index_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("index")
}

pub(crate) async fn reindex(
    store: &dyn Store,
    model: ModelDir,
    data_dir: &Path,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let embedder = tokio::task::spawn_blocking(move || Embedder::load(&model))
        .await?
        .context("loading the embedding model")?;
    let progress = EmbeddingBar::new();
    let dir = index_dir(data_dir);
    let (index, report) = build_search_index(store, Arc::new(embedder), &progress, &dir)
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
pub(crate) async fn index_after_import(
    store: &dyn Store,
    cli: &Cli,
    changed: bool,
    indexing: &IndexingArgs,
) -> anyhow::Result<()> {
    if indexing.no_index || store.count_papers().await? == 0 {
        return Ok(());
    }
    // An unchanged import still indexes what an earlier, interrupted one stored; the index is
    // read only when nothing changed.
    let up_to_date = SearchIndex::exists(&index_dir(&cli.data_dir))
        && !changed
        && !index_is_behind(store, &cli.data_dir).await?;
    if up_to_date {
        return Ok(());
    }
    reindex(store, cli.model()?, &cli.data_dir).await?;
    Ok(())
}

/// Whether the store holds papers the search index on disk does not (a harvest or import was
/// stopped before it indexed what it stored).
pub(crate) async fn index_is_behind(
    store: &dyn Store,
    data_dir: &std::path::Path,
) -> anyhow::Result<bool> {
    let dir = index_dir(data_dir);
    if !SearchIndex::exists(&dir) {
        return Ok(false);
    }
    let indexed = SearchIndex::count_papers(&dir).context("reading the search index")?;
    Ok(store.count_papers().await? > indexed as u64)
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

/// One result as `--json` prints it.
#[derive(Serialize)]
struct Found {
    id: i64,
    arxiv_id: Option<String>,
    title: String,
    score: f32,
    /// BM25 score, when the paper was among the keyword matches.
    keyword_score: Option<f32>,
    /// Cosine similarity to the query, in semantic and hybrid modes.
    semantic_score: Option<f32>,
    published: Option<NaiveDate>,
    categories: Vec<String>,
    /// The words of the title and abstract that match the query, as written there.
    matched_words: Vec<String>,
    /// The part of the abstract with the most matches.
    snippet: String,
}

/// Opens the data folder's search index, with the embedding model if `with_model`.
pub(crate) async fn open_searcher(cli: &Cli, with_model: bool) -> anyhow::Result<Searcher> {
    let dir = index_dir(&cli.data_dir);
    if !SearchIndex::exists(&dir) {
        bail!("there is no search index yet: run `paperboy reindex` first");
    }
    let model = if with_model { Some(cli.model()?) } else { None };
    let (index, embedder) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let index = SearchIndex::open(&dir)
            .with_context(|| format!("cannot read the search index in {}", dir.display()))?;
        let embedder = model
            .map(|model| Embedder::load(&model).context("loading the embedding model"))
            .transpose()?;
        Ok((index, embedder))
    })
    .await??;
    Ok(Searcher::new(Arc::new(index), embedder.map(Arc::new)))
}

pub(crate) async fn search(
    store: &dyn Store,
    cli: &Cli,
    args: &SearchArgs,
) -> anyhow::Result<Outcome> {
    let query = args
        .results
        .apply(Query::new(&args.query).mode(args.mode.into()));
    let searcher = open_searcher(cli, query.needs_embedding()).await?;
    let heading = format!("Papers for \"{}\":", shorten(&args.query, 80));
    run_query(store, searcher, query, &args.query, &args.results, &heading).await
}

pub(crate) async fn similar(
    store: &dyn Store,
    cli: &Cli,
    args: &SimilarArgs,
) -> anyhow::Result<Outcome> {
    let (query, heading) = match (&args.id, &args.text) {
        (Some(id), _) => {
            let paper = find(store, id).await?;
            let record = &paper.record;
            let query =
                Query::like_paper(paper.id, &paper_text(&record.title, &record.abstract_text));
            (query, format!("Papers most like \"{}\":", record.title))
        }
        (None, Some(text)) => {
            let text = if text == "-" {
                std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
            } else {
                text.clone()
            };
            let heading = format!("Papers most like \"{}\":", shorten(&text, 80));
            (Query::new(&text), heading)
        }
        (None, None) => bail!("give a paper id or --text"),
    };
    let query = args.results.apply(query.mode(args.mode.into()));
    let searcher = open_searcher(cli, query.needs_embedding()).await?;
    if let Some(like) = query.like()
        && searcher.index().vectors.vector_of(like).is_none()
    {
        bail!(
            "{} was added after the last reindex: run `paperboy reindex` to include it",
            args.id.as_deref().unwrap_or_default()
        );
    }
    let highlight_text = query.text().to_owned();
    run_query(
        store,
        searcher,
        query,
        &highlight_text,
        &args.results,
        &heading,
    )
    .await
}

async fn run_query(
    store: &dyn Store,
    searcher: Searcher,
    query: Query,
    highlight_text: &str,
    args: &ResultArgs,
    heading: &str,
) -> anyhow::Result<Outcome> {
    let page = tokio::task::spawn_blocking(move || searcher.search(&query)).await??;
    let highlighter = Highlighter::new(highlight_text);
    let color = !args.json && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut results = Vec::with_capacity(page.hits.len());
    let mut lines = String::new();
    for (rank, hit) in page.hits.iter().enumerate() {
        let Some(paper) = store.paper(hit.id).await? else {
            continue; // indexed, then removed from the store: the next reindex drops it
        };
        let record = paper.record;
        let title_spans = highlighter.spans(&record.title);
        let snippet = highlighter.snippet(&record.abstract_text, SNIPPET_CHARS);
        let mut matched_words: Vec<String> = Vec::new();
        for (text, spans) in [
            (&record.title, &title_spans),
            (&snippet.text, &snippet.spans),
        ] {
            for span in spans {
                let word = text[span.clone()].to_lowercase();
                if !matched_words.contains(&word) {
                    matched_words.push(word);
                }
            }
        }
        let label = record
            .arxiv_id
            .as_ref()
            .map_or_else(|| format!("#{}", paper.id.0), ToString::to_string);
        let (open, close) = if color {
            ("\x1b[1m", "\x1b[0m")
        } else {
            ("", "")
        };
        lines.push_str(&format!(
            "{:>3}. {:.3}  {label:<16}  {}\n",
            args.offset as usize + rank + 1,
            hit.score,
            mark(&record.title, &title_spans, open, close)
        ));
        if !snippet.spans.is_empty() {
            lines.push_str(&format!(
                "                             {}{}{}\n",
                if snippet.cut_before { "…" } else { "" },
                mark(&snippet.text, &snippet.spans, open, close),
                if snippet.cut_after { "…" } else { "" }
            ));
        }
        results.push(Found {
            id: paper.id.0,
            arxiv_id: record.arxiv_id.map(|arxiv_id| arxiv_id.to_string()),
            title: record.title,
            score: hit.score,
            keyword_score: hit.keyword,
            semantic_score: hit.semantic,
            published: record.published,
            categories: record.categories,
            matched_words,
            snippet: snippet.text,
        });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!("{heading}");
        if results.is_empty() {
            println!("(nothing found)");
        }
        print!("{lines}");
        if page.more {
            println!(
                "(more: --offset {})",
                args.offset as usize + page.hits.len()
            );
        }
    }
    Ok(Outcome::Success)
}

/// Characters of abstract shown under each result.
const SNIPPET_CHARS: usize = 160;
