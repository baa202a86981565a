//! `paperboy bench`: measuring how fast things run on this machine.

use std::io::BufRead as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::Utc;
use paperboy_core::EmailAddress;
use paperboy_core::subscription::{Frequency, Preferences};
use paperboy_digest::compose::{Schedule, compose};
use paperboy_search::sentences::sentence_texts;
use paperboy_search::{
    ComputePath, Embedder, Hit, Mode, Query, Searcher, VectorIndex, off_async_threads, paper_text,
};
use paperboy_store::Store;

use crate::Outcome;
use crate::cli::{BenchCommand, BenchDigestArgs, BenchEmbedArgs, BenchSearchArgs};
use crate::context::Context;
use crate::mail::OFFLINE_URL;

mod scale;

/// Papers embedded to measure throughput by `bench search`.
const THROUGHPUT_SAMPLE: u32 = 64;

pub(crate) async fn run(ctx: &Context, command: &BenchCommand) -> anyhow::Result<Outcome> {
    match command {
        BenchCommand::Digest(args) => digest(ctx, args).await,
        BenchCommand::Embed(args) => embed(ctx, args).await,
        BenchCommand::Search(args) => search(ctx, args).await,
        BenchCommand::Scale(args) => scale::scale(ctx, args).await,
    }
}

/// `paperboy bench embed`: every compute path the CPU has (or those asked for), one after the
/// other on the same papers, so that their speeds compare within one run.
async fn embed(ctx: &Context, args: &BenchEmbedArgs) -> anyhow::Result<Outcome> {
    let paths = if args.paths.is_empty() {
        ComputePath::available()
    } else {
        args.paths.clone()
    };
    if let Some(path) = paths.iter().find(|path| !path.is_available()) {
        bail!(
            "this CPU cannot run the {path} path; it has {}",
            path_names(&ComputePath::available())
        );
    }
    let sample = Sample::of(ctx.store(), args.count).await?;
    let model = ctx.model.dir()?;
    let mut measured = Vec::new();
    for path in paths {
        let model = model.clone();
        let embedder = tokio::task::spawn_blocking(move || Embedder::load_for(&model, path))
            .await?
            .with_context(|| format!("loading the embedding model for {path}"))?;
        let throughput = sample.measure(Arc::new(embedder)).await?;
        if !args.json {
            println!("{}", throughput.line());
        }
        measured.push(throughput);
    }
    if args.json {
        let paths: Vec<serde_json::Value> = measured.iter().map(Throughput::json).collect();
        println!(
            "{}",
            serde_json::json!({ "papers": sample.texts.len(), "paths": paths })
        );
    }
    Ok(Outcome::Success)
}

fn path_names(paths: &[ComputePath]) -> String {
    paths
        .iter()
        .map(|path| path.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The papers an embedding benchmark embeds: whole, and sentence by sentence as the index does.
struct Sample {
    texts: Arc<Vec<String>>,
    sentences: Arc<Vec<String>>,
}

/// How fast one compute path embedded a [`Sample`].
struct Throughput {
    path: ComputePath,
    papers: usize,
    sentences: usize,
    /// Seconds for the papers whole, and for their sentences.
    whole_s: f64,
    sentences_s: f64,
    /// Tokens per text on average, whole and per sentence.
    tokens: f64,
    sentence_tokens: f64,
}

impl Sample {
    /// The first `count` papers of the store.
    async fn of(store: &dyn Store, count: u32) -> anyhow::Result<Self> {
        let papers = store.papers_after(None, count).await?;
        if papers.is_empty() {
            bail!("the store has no papers: import some first (e.g. paperboy demo)");
        }
        Ok(Sample {
            texts: Arc::new(
                papers
                    .iter()
                    .map(|paper| paper_text(&paper.record.title, &paper.record.abstract_text))
                    .collect(),
            ),
            sentences: Arc::new(
                papers
                    .iter()
                    .flat_map(|paper| {
                        sentence_texts(&paper.record.title, &paper.record.abstract_text)
                    })
                    .collect(),
            ),
        })
    }

    async fn measure(&self, embedder: Arc<Embedder>) -> anyhow::Result<Throughput> {
        let (texts, sentences) = (Arc::clone(&self.texts), Arc::clone(&self.sentences));
        tokio::task::spawn_blocking(move || -> anyhow::Result<Throughput> {
            let timed = |texts: &[String]| -> anyhow::Result<(f64, f64)> {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                let tokens: usize = refs
                    .iter()
                    .map(|text| embedder.tokens(text).map(|ids| ids.len()))
                    .sum::<Result<usize, _>>()?;
                let started = Instant::now();
                embedder.embed(&refs)?;
                Ok((
                    started.elapsed().as_secs_f64(),
                    tokens as f64 / refs.len().max(1) as f64,
                ))
            };
            // Warm up (the first products page the weights in).
            timed(&texts[..texts.len().min(16)])?;
            let (whole_s, tokens) = timed(&texts)?;
            let (sentences_s, sentence_tokens) = timed(&sentences)?;
            Ok(Throughput {
                path: embedder.path(),
                papers: texts.len(),
                sentences: sentences.len(),
                whole_s,
                sentences_s,
                tokens,
                sentence_tokens,
            })
        })
        .await?
    }
}

impl Throughput {
    fn docs_per_s(&self) -> f64 {
        self.papers as f64 / self.whole_s
    }

    /// Papers an index embeds a second: whole and sentence by sentence.
    fn papers_per_s_with_sentences(&self) -> f64 {
        self.papers as f64 / (self.whole_s + self.sentences_s)
    }

    fn line(&self) -> String {
        format!(
            "{:<11} {:>7.1} docs/s whole ({} papers, {:.0} tokens each), {:>6.1} papers/s with \
             sentences ({} sentences and titles, {:.0} tokens each)",
            self.path.name(),
            self.docs_per_s(),
            self.papers,
            self.tokens,
            self.papers_per_s_with_sentences(),
            self.sentences,
            self.sentence_tokens
        )
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.path.name(),
            "docs_per_s": self.docs_per_s(),
            "papers_per_s_with_sentences": self.papers_per_s_with_sentences(),
            "sentences_per_s": self.sentences as f64 / self.sentences_s,
        })
    }
}

/// `paperboy bench search`: query latency per mode over the data folder's search index, query
/// embedding included.
async fn search(ctx: &Context, args: &BenchSearchArgs) -> anyhow::Result<Outcome> {
    let queries = read_queries(&args.queries, args.count)?;
    let loaded = ctx.searcher(true).await?;
    let index = Arc::clone(loaded.index());
    let embedder = Arc::clone(loaded.embedder().context("the embedding model")?);
    let papers = index.vectors.len();
    println!(
        "{} queries (SciFact claims) over {papers} papers, 10 results each, one at a time:",
        queries.len()
    );
    let query_embedder = Arc::clone(&embedder);
    let report = off_async_threads(move || -> anyhow::Result<String> {
        let mut report = String::from("mode       p50 ms  p95 ms  p99 ms  mean ms\n");
        // `None`: embedding the query alone, the part of semantic search outside the index.
        for mode in [
            Some(Mode::Keyword),
            Some(Mode::Semantic),
            Some(Mode::Hybrid),
            None,
        ] {
            // A fresh searcher per mode: its cache of query embeddings must not carry one
            // mode's queries into the next.
            let searcher = Searcher::new(Arc::clone(&index), Some(Arc::clone(&query_embedder)));
            let timings = time_each(&queries, |query| -> anyhow::Result<()> {
                match mode {
                    Some(mode) => {
                        searcher.search(&Query::new(query).mode(mode).limit(10))?;
                    }
                    None => {
                        query_embedder.embed(&[query])?;
                    }
                }
                Ok(())
            })?;
            report.push_str(&format!(
                "{:<9}  {:>6.2}  {:>6.2}  {:>6.2}  {:>7.2}\n",
                mode.map_or("(embed)", Mode::name),
                percentile(&timings, 0.50),
                percentile(&timings, 0.95),
                percentile(&timings, 0.99),
                timings.iter().sum::<f64>() / timings.len().max(1) as f64
            ));
        }
        let texts: Vec<&str> = queries.iter().map(String::as_str).collect();
        report.push_str(&scan_report(&index.vectors, &query_embedder.embed(&texts)?));
        Ok(report)
    })
    .await?;
    print!("{report}");
    let sample = Sample::of(ctx.store(), THROUGHPUT_SAMPLE).await?;
    println!("{}", sample.measure(embedder).await?.line());
    Ok(Outcome::Success)
}

/// The vector scan alone, quantised (what searches use) against exact, and the share of the
/// exact top hits the quantised scan finds.
fn scan_report(vectors: &VectorIndex, queries: &[Vec<f32>]) -> String {
    let mut report = String::new();
    for limit in [10, 100] {
        let time = |search: &dyn Fn(&[f32]) -> Vec<Hit>| {
            let mut timings: Vec<f64> = queries
                .iter()
                .map(|query| {
                    let started = Instant::now();
                    search(query);
                    duration_ms(started.elapsed())
                })
                .collect();
            timings.sort_by(f64::total_cmp);
            percentile(&timings, 0.50)
        };
        let exact_ms = time(&|query| vectors.search_exact(query, limit));
        let quantised_ms = time(&|query| vectors.search(query, limit, |_| true));
        let found: usize = queries
            .iter()
            .map(|query| {
                let exact = vectors.search_exact(query, limit);
                let quantised = vectors.search(query, limit, |_| true);
                exact
                    .iter()
                    .filter(|hit| quantised.iter().any(|other| other.id == hit.id))
                    .count()
            })
            .sum();
        let wanted = queries.len() * limit.min(vectors.len());
        report.push_str(&format!(
            "vector scan, top {limit}: exact p50 {exact_ms:.2} ms, quantised p50 {quantised_ms:.2} ms, \
             recall@{limit} {:.4}\n",
            found as f64 / wanted.max(1) as f64
        ));
    }
    report
}

/// Milliseconds each query took, after a few untimed queries of other words to warm the
/// memory caches (not the query-embedding cache: every timed query is new to it).
fn time_each(
    queries: &[String],
    run: impl Fn(&str) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<f64>> {
    for warm_up in [
        "warm-up: protein folding",
        "warm-up: graph neural networks",
        "warm-up: climate models",
    ] {
        run(warm_up)?;
    }
    let mut timings = Vec::with_capacity(queries.len());
    for query in queries {
        let started = Instant::now();
        run(query)?;
        timings.push(duration_ms(started.elapsed()));
    }
    timings.sort_by(f64::total_cmp);
    Ok(timings)
}

fn duration_ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The value below which `share` of the sorted values fall (nearest rank).
fn percentile(sorted: &[f64], share: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (share * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The texts of the first `count` queries of a BEIR `queries.jsonl`.
fn read_queries(path: &Path, count: usize) -> anyhow::Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Line {
        text: String,
    }
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot read the queries {}", path.display()))?;
    let mut queries = Vec::with_capacity(count);
    for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
        if queries.len() == count {
            break;
        }
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        let parsed: Line = serde_json::from_str(&line)
            .with_context(|| format!("{}: line {}", path.display(), number + 1))?;
        queries.push(parsed.text);
    }
    if queries.is_empty() {
        bail!("{} has no queries", path.display());
    }
    Ok(queries)
}

/// Distinct topics the synthetic subscribers draw from: readers share interests, and how many
/// distinct topics there are decides how many searches composing takes.
const TOPIC_POOL: usize = 1_000;

/// `paperboy bench digest`: composes a day's digests for `--subscribers` synthetic readers with
/// `--topics` topics each, and says how long it took.
async fn digest(ctx: &Context, args: &BenchDigestArgs) -> anyhow::Result<Outcome> {
    let store = ctx.store();
    let (subscribers, topics) = (args.subscribers, args.topics);
    let Some(date) = store.newest_day(None).await? else {
        bail!("the store has no dated papers: import some first (e.g. paperboy demo)");
    };
    let pool = topic_pool(store).await?;
    let mut random = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random
    };
    let readers: Vec<(EmailAddress, Preferences)> = (0..subscribers)
        .map(|n| {
            let chosen: Vec<&str> = (0..topics)
                .map(|_| pool[(next() % pool.len() as u64) as usize].as_str())
                .collect();
            let address = format!("reader{n}@bench.invalid").parse()?;
            Ok((
                address,
                Preferences::new(chosen, Vec::<String>::new(), Frequency::Daily)?,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let started = Instant::now();
    let added = store
        .add_confirmed_subscribers(&readers, Utc::now())
        .await?;
    eprintln!(
        "Added {added} synthetic subscribers in {:.1} s ({} distinct topics).",
        started.elapsed().as_secs_f64(),
        pool.len()
    );

    let searcher = ctx.searcher(true).await?;
    let mailer = args.mail.mailer(store, OFFLINE_URL).await?;
    let started = Instant::now();
    let report = compose(
        store,
        &searcher,
        &mailer,
        Schedule::default(),
        date,
        Utc::now(),
    )
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    if report.due == 0 {
        bail!(
            "every subscriber already has a digest for {date}: run on a fresh copy of the data folder"
        );
    }
    println!(
        "Composed digests for {date}: {} due, {} queued, {} with nothing new, in {seconds:.1} s \
         ({:.2} ms a subscriber).",
        report.due,
        report.queued,
        report.empty,
        seconds * 1000.0 / report.due as f64
    );
    Ok(Outcome::Success)
}

/// Up to [`TOPIC_POOL`] topics: the first six words of titles spread over the store.
async fn topic_pool(store: &dyn Store) -> anyhow::Result<Vec<String>> {
    let total = store.count_papers().await?;
    let step = (total / TOPIC_POOL as u64).max(1);
    let mut pool = Vec::with_capacity(TOPIC_POOL);
    let mut seen = 0u64;
    paperboy_store::for_each_paper(store, |paper| -> Result<(), paperboy_store::StoreError> {
        if seen.is_multiple_of(step) && pool.len() < TOPIC_POOL {
            let words: Vec<&str> = paper.record.title.split_whitespace().take(6).collect();
            pool.push(words.join(" "));
        }
        seen += 1;
        Ok(())
    })
    .await?;
    if pool.is_empty() {
        bail!("the store has no papers to draw topics from");
    }
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.50), 50.0);
        assert_eq!(percentile(&values, 0.99), 99.0);
        assert_eq!(percentile(&[7.0], 0.95), 7.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
