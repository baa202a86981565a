//! `paperboy bench scale`: the search index at a corpus size the data folder does not have.
//!
//! A synthetic corpus of `--papers` papers is made from real samples, so that nothing but the
//! index is synthetic: titles and abstracts of `../shared/data` (arXiv cs 2019 and SciFact)
//! recombined, with their authors, categories and dates; vectors made from real embeddings.
//! Embedding a million abstracts would take days, so `--seeds` abstracts (4,000) are embedded
//! once, with the real model, and each paper's vector is one of them moved part of the way
//! towards [`MIXED`] of its [`NEIGHBOURS`] nearest seeds, plus a little Gaussian noise
//! ([`NOISE`] of its length), normalised again. Papers then fill the neighbourhoods of real
//! topics along the directions real embeddings vary in, instead of sitting in tight clusters
//! around the seeds or spreading into all 384 directions (an earlier generator added noise of
//! 0.45 in every direction and mixed unrelated seeds: a corpus of far higher intrinsic
//! dimension than real embeddings, on which every graph index loses recall). The report prints
//! the mean cosine of the queries' exact top 1 and top 10 in the corpus next to the same among
//! the real seeds alone. Each sentence vector is its paper's vector with noise of
//! [`SENTENCE_NOISE`], as many as the abstract has sentences. Queries are real: SciFact's
//! claims, through the real model.
//!
//! It reports the build time, the folder's size, the vector search alone (graph against the
//! exact scan: latency and recall@10/@100), hybrid queries with query embedding included, as
//! `paperboy search` runs them (p50/p95/p99), and the peak resident memory while serving
//! (`VmHWM` of a child process that only opens the index, loads the model and runs the
//! queries: the building process's allocator keeps the build's memory). With
//! `--compare N` it first builds graphs of N of the same vectors with each library and storage
//! kind and measures them side by side, in the same run.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use chrono::NaiveDate;
use paperboy_core::{Category, PaperId};
use paperboy_search::ann_bench::{
    CONNECTIVITY, EXPANSION_ADD, EXPANSION_SEARCH, ScalarKind, build_in_memory, codes,
    expansion_for,
};
use paperboy_search::bm25::Document;
use paperboy_search::indexing::IndexWriter;
use paperboy_search::sentences::{encode, split_sentences};
use paperboy_search::vectors::dot;
use paperboy_search::{
    Embedder, Filters, Hit, Mode, PaperFacets, Query, SearchIndex, Searcher, VectorIndex,
    off_async_threads, paper_text,
};
use rayon::prelude::*;

use super::{duration_ms, percentile, read_queries};
use crate::Outcome;
use crate::cli::BenchScaleArgs;
use crate::context::Context;

/// Nearest seeds a paper's vector may move towards.
const NEIGHBOURS: usize = 16;
/// How many of them it moves towards, each part of the way (up to [`MIXED_WEIGHT`]).
const MIXED: usize = 3;
const MIXED_WEIGHT: f32 = 0.4;
/// Noise added to a paper's mix of real embeddings, as a share of its length.
const NOISE: f32 = 0.1;
/// Noise added to a paper's vector for each of its sentences.
const SENTENCE_NOISE: f32 = 0.8;
/// Papers generated at a time (in parallel) before they are written.
const CHUNK: usize = 8_192;

/// A real paper's text and facets, to recombine.
struct Sample {
    title: String,
    abstract_text: String,
    authors: Vec<String>,
    categories: Vec<String>,
    date: Option<NaiveDate>,
}

pub(super) async fn scale(ctx: &Context, args: &BenchScaleArgs) -> anyhow::Result<Outcome> {
    if args.papers == 0 {
        bail!("--papers must be at least 1");
    }
    let queries = read_queries(&args.queries, args.count)?;
    if let Some(dir) = std::env::var_os(SERVING_ONLY) {
        // The child of a run (below): the serving phase alone, in a process that never built.
        let embedder = Arc::new(ctx.model.load().await?);
        let args = args.clone();
        let serving =
            off_async_threads(move || serve(&args, &queries, &embedder, Path::new(&dir))).await?;
        println!("{}", serde_json::Value::Object(serving));
        return Ok(Outcome::Success);
    }
    let samples = read_samples(&args.data)?;
    let embedder = Arc::new(ctx.model.load().await?);
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| ctx.data_dir.bench_scale());
    let args = args.clone();
    let report = off_async_threads(move || run(&args, &samples, &queries, &embedder, &dir)).await?;
    println!("{report}");
    Ok(Outcome::Success)
}

fn run(
    args: &BenchScaleArgs,
    samples: &[Sample],
    queries: &[String],
    embedder: &Arc<Embedder>,
    dir: &Path,
) -> anyhow::Result<String> {
    let started = Instant::now();
    let stride = (samples.len() / args.seeds.max(1)).max(1);
    let seed_texts: Vec<String> = samples
        .iter()
        .step_by(stride)
        .take(args.seeds)
        .map(|sample| paper_text(&sample.title, &sample.abstract_text))
        .collect();
    eprintln!("Embedding {} real abstracts as seeds…", seed_texts.len());
    let seeds = embed_all(embedder, &seed_texts)?;
    let query_vectors = embed_all(embedder, queries)?;
    eprintln!(
        "Embedded {} seeds and {} queries in {:.1} s.",
        seeds.len(),
        query_vectors.len(),
        started.elapsed().as_secs_f64()
    );
    let corpus = Corpus::new(samples, &seeds);
    let mut json = serde_json::Map::new();
    let mut report = String::new();
    if let Some(compared) = args.compare {
        report.push_str(&compare_libraries(
            &corpus,
            compared.min(args.papers),
            &query_vectors,
        )?);
    }

    let kept = args
        .reuse
        .then(|| SearchIndex::open(dir).ok())
        .flatten()
        .filter(|index| index.vectors.len() == args.papers);
    let reused = kept.is_some();
    json.insert("papers".into(), args.papers.into());
    let index = match kept {
        Some(index) => {
            report.push_str(&format!(
                "{} papers: the index already in {} (--reuse), not built again.\n",
                args.papers,
                dir.display()
            ));
            index
        }
        None => {
            let (index, built) = build(args, &corpus, dir, &mut json)?;
            report.push_str(&built);
            index
        }
    };

    // The vectors alone: the graph (when there is one) against the exact scan.
    let vectors = &index.vectors;
    let exact: Vec<Vec<Hit>> = query_vectors
        .iter()
        .map(|query| vectors.search_exact(query, 100))
        .collect();
    let mean_cosine = |top: usize| {
        exact
            .iter()
            .map(|hits| hits.iter().take(top).map(|hit| hit.score).sum::<f32>() / top as f32)
            .sum::<f32>()
            / exact.len() as f32
    };
    // The same among the real seeds alone, to compare: a corpus of N papers around them should
    // hold closer neighbours than the seeds do, not farther ones.
    let seed_top = |top: usize| {
        query_vectors
            .iter()
            .map(|query| {
                let mut scores: Vec<f32> = seeds.iter().map(|seed| dot(query, seed)).collect();
                scores.sort_by(|a, b| b.total_cmp(a));
                scores.iter().take(top).sum::<f32>() / top as f32
            })
            .sum::<f32>()
            / query_vectors.len() as f32
    };
    report.push_str(&format!(
        "The queries' exact neighbours: mean cosine {:.3} at top 1, {:.3} over the top 10 \
         (among the {} real seeds alone: {:.3} and {:.3}).\n",
        mean_cosine(1),
        mean_cosine(10),
        seeds.len(),
        seed_top(1),
        seed_top(10)
    ));
    let mut expansions = args.expansions.clone();
    if expansions.is_empty() {
        expansions.push(expansion_for(args.papers));
    }
    for &expansion in &expansions {
        vectors.set_ann_expansion(expansion);
        let (at_10, at_100, graph_ms) = vector_recall(vectors, &query_vectors, &exact);
        report.push_str(&format!(
            "vector search ({}, ef {expansion}): top 100 p50 {graph_ms:.2} ms, recall@10 \
             {at_10:.4}, recall@100 {at_100:.4}\n",
            if vectors.has_ann() {
                "graph"
            } else {
                "quantised scan"
            },
        ));
        if Some(&expansion) == expansions.last() {
            json.insert("ann".into(), vectors.has_ann().into());
            json.insert("ann_expansion".into(), expansion.into());
            json.insert("recall_at_10".into(), round4(at_10).into());
            json.insert("recall_at_100".into(), round4(at_100).into());
            json.insert("vector_p50_ms".into(), round(graph_ms).into());
        }
    }
    let scan_ms = percentile(
        &sorted(query_vectors.iter().map(|query| {
            let started = Instant::now();
            vectors.search_scanning(query, 100, |_| true);
            duration_ms(started.elapsed())
        })),
        0.5,
    );
    report.push_str(&format!(
        "vector search (quantised scan of every vector): top 100 p50 {scan_ms:.2} ms\n"
    ));
    json.insert("scan_p50_ms".into(), round(scan_ms).into());
    drop(exact);
    drop(index);

    // Serving, in a fresh process: this one's allocator keeps the build's memory, and its peak
    // would be the build's.
    let serving = serve_in_child(dir)?;
    report.push_str(&serving_report(&serving, queries.len()));
    json.extend(serving);
    if !args.keep && !reused {
        std::fs::remove_dir_all(dir).ok();
    }
    if args.json {
        return Ok(serde_json::Value::Object(json).to_string());
    }
    Ok(report)
}

/// Writes the corpus's index into `dir` and opens it; its build figures go into `json`, and
/// their line of the report comes back with the index.
fn build(
    args: &BenchScaleArgs,
    corpus: &Corpus<'_>,
    dir: &Path,
    json: &mut serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<(SearchIndex, String)> {
    let started = Instant::now();
    let mut writer = IndexWriter::create(dir, args.papers)?;
    if let Some(ann_from) = args.ann_from {
        writer = writer.with_ann_from(ann_from);
    }
    for first in (0..args.papers).step_by(CHUNK) {
        let papers: Vec<Synthetic> = (first..(first + CHUNK).min(args.papers))
            .into_par_iter()
            .map(|n| corpus.paper(n))
            .collect();
        for paper in &papers {
            let sample = &corpus.samples[paper.text];
            let abstract_from = &corpus.samples[paper.abstract_from];
            writer.add(
                &Document {
                    id: paper.id,
                    title: &sample.title,
                    abstract_text: &abstract_from.abstract_text,
                    authors: &sample.authors,
                },
                PaperFacets {
                    dates: paper.date.into_iter().collect(),
                    categories: abstract_from.categories.clone(),
                },
                &paper.vector,
                &paper.sentences,
            )?;
        }
        if (first / CHUNK) % 16 == 15 {
            eprintln!(
                "written {} papers ({:.0} s)",
                first + papers.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    eprintln!("Committing the keyword index and building the graph…");
    let index = writer.finish(0)?;
    let build_s = started.elapsed().as_secs_f64();
    let build_rss = peak_rss_mb();
    let disk_mb = folder_bytes(dir)? as f64 / 1e6;
    json.insert("build_s".into(), round(build_s).into());
    json.insert("disk_mb".into(), round(disk_mb).into());
    json.insert("build_rss_mb".into(), round(build_rss).into());

    let line = format!(
        "{} papers: built in {build_s:.1} s, {disk_mb:.0} MB on disk, peak RSS while building \
         {build_rss:.0} MB.\n",
        args.papers
    );
    Ok((index, line))
}

/// Set (to the index folder) in the child that measures serving.
const SERVING_ONLY: &str = "PAPERBOY_BENCH_SCALE_SERVING";

/// Runs this command again, as a child measuring only the serving phase on the index in `dir`,
/// and returns its figures.
fn serve_in_child(dir: &Path) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let output = std::process::Command::new(std::env::current_exe()?)
        .args(std::env::args_os().skip(1))
        .env(SERVING_ONLY, dir)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot start the serving measurement")?;
    if !output.status.success() {
        bail!("the serving measurement failed ({})", output.status);
    }
    let last = String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    serde_json::from_str(&last).context("the serving measurement's figures")
}

fn serving_report(serving: &serde_json::Map<String, serde_json::Value>, queries: usize) -> String {
    let number = |key: &str| {
        serving
            .get(key)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(f64::NAN)
    };
    let line = |name: &str, key: &str| {
        format!(
            "{name}: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
            number(&format!("{key}_p50_ms")),
            number(&format!("{key}_p95_ms")),
            number(&format!("{key}_p99_ms")),
        )
    };
    format!(
        "Serving (a fresh process): opened in {:.2} s; {queries} queries (SciFact claims), one at \
         a time:\n{}\n{}\n{}\n{}\nthe query embedding alone: p50 {:.2} ms\n\
         Peak RSS while serving (opening, the model, the queries): {:.0} MB; at the end {:.0} MB \
         of heap and {:.0} MB of mapped files ({}).",
        number("open_s"),
        line("hybrid (query embedding included)", "hybrid"),
        line(
            "hybrid, cs.LG since 2015 (query embedding included)",
            "hybrid_filtered"
        ),
        line("keyword alone", "keyword"),
        line("semantic alone (query embedding included)", "semantic"),
        number("embed_p50_ms"),
        number("rss_mb"),
        number("rss_anon_mb"),
        number("rss_file_mb"),
        serving
            .get("rss_by_file_mb")
            .and_then(serde_json::Value::as_object)
            .map(|by_file| {
                by_file
                    .iter()
                    .map(|(name, mb)| format!("{name} {mb} MB"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
    )
}

/// The serving phase: the index in `dir` opened (mapped), then the queries one at a time, as
/// `paperboy search` runs them, hybrid and filtered; latency percentiles and the peak RSS.
fn serve(
    args: &BenchScaleArgs,
    queries: &[String],
    embedder: &Arc<Embedder>,
    dir: &Path,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let mut json = serde_json::Map::new();
    let opened = Instant::now();
    let index = Arc::new(SearchIndex::open(dir)?);
    let open_s = opened.elapsed().as_secs_f64();
    if let Some(&expansion) = args.expansions.last() {
        index.vectors.set_ann_expansion(expansion);
    }
    let filters = Filters {
        from: NaiveDate::from_ymd_opt(2015, 1, 1),
        until: None,
        categories: vec![Category::new("cs.LG")],
    };
    // Each kind of query with a searcher of its own: its cache of query vectors never answers.
    let kinds: [(&str, Mode, bool); 4] = [
        ("hybrid", Mode::Hybrid, false),
        ("hybrid_filtered", Mode::Hybrid, true),
        ("keyword", Mode::Keyword, false),
        ("semantic", Mode::Semantic, false),
    ];
    for (key, mode, filtered) in kinds {
        let searcher = Searcher::new(Arc::clone(&index), Some(Arc::clone(embedder)));
        let timings = time_queries(queries, &searcher, |query| {
            let query = query.mode(mode).limit(10);
            if filtered {
                query.filters(filters.clone())
            } else {
                query
            }
        })?;
        for (name, share) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)] {
            json.insert(
                format!("{key}_{name}_ms"),
                round(percentile(&timings, share)).into(),
            );
        }
    }
    let embedding = sorted(queries.iter().map(|query| {
        let started = Instant::now();
        embedder.embed(&[query.as_str()]).ok();
        duration_ms(started.elapsed())
    }));
    json.insert(
        "embed_p50_ms".into(),
        round(percentile(&embedding, 0.5)).into(),
    );
    json.insert("open_s".into(), round(open_s).into());
    json.insert("rss_mb".into(), round(peak_rss_mb()).into());
    // What the resident memory is at the end: the heap, and pages of the mapped files (which the
    // kernel may drop under pressure and read again).
    json.insert("rss_anon_mb".into(), round(memory_mb("RssAnon:")).into());
    json.insert("rss_file_mb".into(), round(memory_mb("RssFile:")).into());
    let by_file = resident_by_file()
        .into_iter()
        .map(|(name, mb)| (name, round(mb).into()))
        .collect();
    json.insert("rss_by_file_mb".into(), serde_json::Value::Object(by_file));
    Ok(json)
}

/// Recall@10 and @100 of [`VectorIndex::search`] against `exact` (each query's exact top 100),
/// and its median time for a top 100.
fn vector_recall(
    vectors: &VectorIndex,
    queries: &[Vec<f32>],
    exact: &[Vec<Hit>],
) -> (f64, f64, f64) {
    let mut timings = Vec::with_capacity(queries.len());
    let (mut at_10, mut at_100) = (0.0, 0.0);
    for (query, exact) in queries.iter().zip(exact) {
        let started = Instant::now();
        let found = vectors.search(query, 100, |_| true);
        timings.push(duration_ms(started.elapsed()));
        at_100 += recall(&found, exact, 100);
        at_10 += recall(&vectors.search(query, 10, |_| true), exact, 10);
    }
    let count = queries.len().max(1) as f64;
    (
        at_10 / count,
        at_100 / count,
        percentile(&sorted(timings.into_iter()), 0.5),
    )
}

/// The share of the exact top `k` found.
fn recall(found: &[Hit], exact: &[Hit], k: usize) -> f64 {
    let wanted: Vec<PaperId> = exact.iter().take(k).map(|hit| hit.id).collect();
    let hits = found
        .iter()
        .take(k)
        .filter(|hit| wanted.contains(&hit.id))
        .count();
    hits as f64 / wanted.len().max(1) as f64
}

fn time_queries(
    queries: &[String],
    searcher: &Searcher,
    build: impl Fn(Query) -> Query,
) -> anyhow::Result<Vec<f64>> {
    for warm_up in ["warm-up: protein folding", "warm-up: graph neural networks"] {
        searcher.search(&build(Query::new(warm_up)))?;
    }
    let mut timings = Vec::with_capacity(queries.len());
    for query in queries {
        // A new query text each time: the searcher's cache of query vectors never answers.
        let started = Instant::now();
        searcher.search(&build(Query::new(query)))?;
        timings.push(duration_ms(started.elapsed()));
    }
    Ok(sorted(timings.into_iter()))
}

fn sorted(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values
}

fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

fn embed_all(embedder: &Embedder, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
    let mut vectors = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(64) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        vectors.extend(embedder.embed(&refs)?);
    }
    Ok(vectors)
}

/// The real samples the corpus is made from.
struct Corpus<'a> {
    samples: &'a [Sample],
    seeds: &'a [Vec<f32>],
    /// Each seed's [`NEIGHBOURS`] nearest other seeds.
    neighbours: Vec<Vec<usize>>,
}

/// One synthetic paper.
struct Synthetic {
    id: PaperId,
    /// The sample giving its title and authors, and the one giving its abstract and categories.
    text: usize,
    abstract_from: usize,
    date: Option<NaiveDate>,
    vector: Vec<f32>,
    sentences: Vec<u8>,
}

impl<'a> Corpus<'a> {
    fn new(samples: &'a [Sample], seeds: &'a [Vec<f32>]) -> Self {
        let neighbours = seeds
            .par_iter()
            .enumerate()
            .map(|(seed, vector)| {
                let mut nearest: Vec<(f32, usize)> = seeds
                    .iter()
                    .enumerate()
                    .filter(|&(other, _)| other != seed)
                    .map(|(other, to)| (dot(vector, to), other))
                    .collect();
                let keep = NEIGHBOURS.min(nearest.len());
                if keep < nearest.len() {
                    nearest.select_nth_unstable_by(keep, |a, b| b.0.total_cmp(&a.0));
                }
                nearest.truncate(keep);
                nearest.into_iter().map(|(_, other)| other).collect()
            })
            .collect();
        Corpus {
            samples,
            seeds,
            neighbours,
        }
    }

    /// Paper `n`'s vector alone (the same as [`Corpus::paper`] gives).
    fn vector(&self, random: &mut Random) -> Vec<f32> {
        let seed = random.below(self.seeds.len());
        let mut mixed = self.seeds[seed].clone();
        let neighbours = &self.neighbours[seed];
        for _ in 0..MIXED.min(neighbours.len()) {
            let towards = &self.seeds[neighbours[random.below(neighbours.len())]];
            let weight = MIXED_WEIGHT * random.uniform() as f32;
            for (value, (to, from)) in mixed.iter_mut().zip(towards.iter().zip(&self.seeds[seed])) {
                *value += weight * (to - from);
            }
        }
        random.near(&normalised(mixed), NOISE)
    }

    fn paper(&self, n: usize) -> Synthetic {
        let mut random = Random::new(n as u64);
        let vector = self.vector(&mut random);
        let text = random.below(self.samples.len());
        let abstract_from = random.below(self.samples.len());
        let count = 1 + split_sentences(&self.samples[abstract_from].abstract_text)
            .len()
            .min(31);
        let sentences: Vec<Vec<f32>> = (0..count)
            .map(|_| random.near(&vector, SENTENCE_NOISE))
            .collect();
        let date = self.samples[text].date.map(|date| {
            // Spread over 2007–2026, keeping the sample's day of the year.
            let year = 2007 + random.below(20) as i32;
            chrono::Datelike::with_year(&date, year).unwrap_or(date)
        });
        Synthetic {
            id: PaperId(n as i64 + 1),
            text,
            abstract_from,
            date,
            vector,
            sentences: encode(&sentences),
        }
    }
}

fn normalised(vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    vector.into_iter().map(|x| x / norm).collect()
}

/// Deterministic random numbers (splitmix64), and normal ones by Box–Muller.
struct Random(u64);

impl Random {
    fn new(seed: u64) -> Self {
        Random(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x5DEE_CE66)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound.max(1) as u64) as usize
    }

    /// `centre` moved by Gaussian noise of about `spread` of its length, normalised again.
    fn near(&mut self, centre: &[f32], spread: f32) -> Vec<f32> {
        let step = spread / (centre.len() as f32).sqrt();
        let mut moved = Vec::with_capacity(centre.len());
        while moved.len() < centre.len() {
            let (u, v) = (self.uniform().max(1e-12), self.uniform());
            let radius = (-2.0 * u.ln()).sqrt();
            let angle = std::f64::consts::TAU * v;
            for normal in [radius * angle.cos(), radius * angle.sin()] {
                if let Some(value) = centre.get(moved.len()) {
                    moved.push(value + step * normal as f32);
                }
            }
        }
        normalised(moved)
    }
}

/// Graphs of the first `count` papers' vectors built with each library and storage kind, and
/// searched with the same queries: build time, search time, recall against the exact top hits.
fn compare_libraries(
    corpus: &Corpus<'_>,
    count: usize,
    queries: &[Vec<f32>],
) -> anyhow::Result<String> {
    eprintln!("Comparing the graph libraries on {count} vectors…");
    let vectors: Vec<Vec<f32>> = (0..count)
        .into_par_iter()
        .map(|n| corpus.vector(&mut Random::new(n as u64)))
        .collect();
    let flat: Vec<f32> = vectors.iter().flatten().copied().collect();
    let ids: Vec<i64> = (0..count as i64).collect();
    let exact: Vec<Vec<usize>> = queries
        .par_iter()
        .map(|query| {
            let mut scored: Vec<(f32, usize)> = vectors
                .iter()
                .enumerate()
                .map(|(row, vector)| (dot(query, vector), row))
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            scored.into_iter().take(100).map(|(_, row)| row).collect()
        })
        .collect();
    let measure = |search: &TopRows<'_>| {
        let mut timings = Vec::with_capacity(queries.len());
        let (mut at_10, mut at_100) = (0.0, 0.0);
        for (query, exact) in queries.iter().zip(&exact) {
            let started = Instant::now();
            let found = search(query, 100);
            timings.push(duration_ms(started.elapsed()));
            at_100 += found.iter().filter(|row| exact.contains(row)).count() as f64 / 100.0;
            let top: Vec<usize> = search(query, 10);
            at_10 += top.iter().filter(|row| exact[..10].contains(row)).count() as f64 / 10.0;
        }
        let n = queries.len().max(1) as f64;
        (
            percentile(&sorted(timings.into_iter()), 0.5),
            at_10 / n,
            at_100 / n,
        )
    };
    let mut report = format!(
        "Graph libraries side by side, {count} vectors, M {CONNECTIVITY}, ef_construction \
         {EXPANSION_ADD}, ef {EXPANSION_SEARCH}, top 100 without the exact rescore:\n\
         library                build s   MB    p50 ms  recall@10  recall@100\n"
    );
    let row_codes = codes(&flat);
    // The graph as served (codes at each row's scale), then usearch rounding floats itself,
    // then half-precision floats.
    for (name, kind, scaled) in [
        ("usearch i8 (ours)", ScalarKind::I8, true),
        ("usearch i8 (its)", ScalarKind::I8, false),
        ("usearch f16", ScalarKind::F16, false),
    ] {
        let started = Instant::now();
        let index = if scaled {
            build_in_memory(&ids, &row_codes, kind)
        } else {
            build_in_memory(&ids, &flat, kind)
        }
        .map_err(anyhow::Error::msg)?;
        let build_s = started.elapsed().as_secs_f64();
        index.change_expansion_search(EXPANSION_SEARCH);
        let (p50, at_10, at_100) = measure(&|query, k| {
            let found = if scaled {
                index.search(&codes(query), k)
            } else {
                index.search(query, k)
            };
            found
                .map(|found| found.keys.into_iter().map(|key| key as usize).collect())
                .unwrap_or_default()
        });
        report.push_str(&format!(
            "{name:<20}  {build_s:>8.1}  {:>5.0}  {p50:>6.2}  {at_10:>9.4}  {at_100:>10.4}\n",
            index.serialized_length() as f64 / 1e6
        ));
    }
    report.push_str(&compare_hnsw_rs(&vectors, &measure));
    Ok(report)
}

/// A graph's top `k` rows for a query.
type TopRows<'a> = dyn Fn(&[f32], usize) -> Vec<usize> + 'a;
/// Measures a graph's search: its median time, recall@10 and recall@100.
type Measure<'a> = dyn Fn(&TopRows<'_>) -> (f64, f64, f64) + 'a;

/// The pure-Rust `hnsw_rs` on the same vectors, with the same M, ef_construction and ef: a row
/// of the comparison. Behind a cargo feature, so that a build that does not compare does not
/// compile it.
#[cfg(feature = "compare-hnsw-rs")]
fn compare_hnsw_rs(vectors: &[Vec<f32>], measure: &Measure<'_>) -> String {
    use hnsw_rs::prelude::{DistDot, Hnsw};

    let started = Instant::now();
    let hnsw =
        Hnsw::<f32, DistDot>::new(CONNECTIVITY, vectors.len(), 16, EXPANSION_ADD, DistDot {});
    let rows: Vec<(&[f32], usize)> = vectors
        .iter()
        .enumerate()
        .map(|(row, vector)| (vector.as_slice(), row))
        .collect();
    hnsw.parallel_insert_slice(&rows);
    let build_s = started.elapsed().as_secs_f64();
    let (p50, at_10, at_100) = measure(&|query, k| {
        hnsw.search(query, k, EXPANSION_SEARCH.max(k))
            .into_iter()
            .map(|neighbour| neighbour.d_id)
            .collect()
    });
    format!(
        "{:<20}  {build_s:>8.1}  {:>5}  {p50:>6.2}  {at_10:>9.4}  {at_100:>10.4}\n",
        "hnsw_rs f32", "-"
    )
}

#[cfg(not(feature = "compare-hnsw-rs"))]
fn compare_hnsw_rs(_: &[Vec<f32>], _: &Measure<'_>) -> String {
    "hnsw_rs f32: not compiled in (cargo build --release -p paperboy --features \
     compare-hnsw-rs)\n"
        .to_owned()
}

/// Every paper of the arXiv cs 2019 sample and of SciFact's corpus.
fn read_samples(data: &Path) -> anyhow::Result<Vec<Sample>> {
    #[derive(serde::Deserialize)]
    struct Arxiv {
        title: String,
        #[serde(rename = "abstract")]
        abstract_text: String,
        #[serde(default)]
        authors: Option<String>,
        #[serde(default)]
        categories: Vec<String>,
        #[serde(default)]
        created: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Beir {
        title: String,
        text: String,
    }
    let read = |path: PathBuf| -> anyhow::Result<Vec<String>> {
        let file = std::fs::File::open(&path)
            .with_context(|| format!("cannot read the sample {}", path.display()))?;
        let lines = std::io::BufReader::new(flate2::read::GzDecoder::new(file)).lines();
        lines
            .map(|line| line.with_context(|| format!("cannot read {}", path.display())))
            .collect()
    };
    let mut samples = Vec::new();
    for line in read(data.join("arxiv-metadata-cs-2019/papers.jsonl.gz"))? {
        let paper: Arxiv = serde_json::from_str(&line).context("an arXiv sample record")?;
        samples.push(Sample {
            title: paper.title,
            abstract_text: paper.abstract_text.trim().to_owned(),
            authors: paper
                .authors
                .unwrap_or_default()
                .split(", ")
                .map(str::to_owned)
                .collect(),
            categories: paper.categories,
            date: paper.created.and_then(|day| day.parse().ok()),
        });
    }
    for line in read(data.join("scifact/beir/corpus.jsonl.gz"))? {
        let paper: Beir = serde_json::from_str(&line).context("a SciFact record")?;
        samples.push(Sample {
            title: paper.title,
            abstract_text: paper.text,
            authors: Vec::new(),
            categories: vec!["q-bio.QM".to_owned()],
            date: None,
        });
    }
    Ok(samples)
}

/// The process's peak resident memory so far, in MB (`VmHWM`).
fn peak_rss_mb() -> f64 {
    memory_mb("VmHWM:")
}

/// A line of `/proc/self/status` in MB: `VmHWM:`, `RssAnon:` (heap), `RssFile:` (mapped files).
fn memory_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(field))
                .and_then(kb_in_mb)
        })
        .unwrap_or(0.0)
}

/// A `/proc` figure such as `  1234 kB`, in MB.
fn kb_in_mb(value: &str) -> Option<f64> {
    let kb: f64 = value.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb / 1024.0)
}

/// Resident MB of each mapped file holding 1 MB or more, from `/proc/self/smaps`: the keyword
/// index's segment files grouped by kind (`*.idx`, `*.pos`, …), the others by name.
fn resident_by_file() -> std::collections::BTreeMap<String, f64> {
    let mut by_file: std::collections::BTreeMap<String, f64> = Default::default();
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let mut file: Option<String> = None;
    for line in smaps.lines() {
        if let Some(value) = line.strip_prefix("Rss:") {
            if let Some(name) = &file {
                *by_file.entry(name.clone()).or_default() += kb_in_mb(value).unwrap_or(0.0);
            }
        } else if line.split_whitespace().next().is_some_and(|first| {
            first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        }) {
            // A mapping's first line: range, permissions, offset, device, inode, path.
            file = line
                .split_whitespace()
                .nth(5)
                .filter(|path| path.starts_with('/'))
                .map(|path| {
                    let name = Path::new(path).file_name().unwrap_or_default();
                    let name = name.to_string_lossy();
                    match name.split_once('.') {
                        Some((stem, kind))
                            if stem.len() == 32 && stem.chars().all(|c| c.is_ascii_hexdigit()) =>
                        {
                            format!("*.{kind}")
                        }
                        _ => name.into_owned(),
                    }
                });
        }
    }
    by_file.retain(|_, mb| *mb >= 1.0);
    by_file
}

/// Bytes of every file under `dir`.
fn folder_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let metadata = entry.metadata()?;
        total += if metadata.is_dir() {
            folder_bytes(&entry.path())?
        } else {
            metadata.len()
        };
    }
    Ok(total)
}
