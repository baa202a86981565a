//! `paperboy check`: the data folder checked without changing it (database integrity, stored
//! embeddings, the search index against the store), every problem named with its remedy.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use paperboy_core::{Paper, PaperId};
use paperboy_search::indexing::content_hash;
use paperboy_search::model::MODEL_NAME;
use paperboy_search::sentences::is_encoded;
use paperboy_search::vectors::dot;
use paperboy_search::{DIMENSIONS, Embedder, SearchIndex, paper_text};
use paperboy_store::Store;

use crate::Outcome;
use crate::cli::CheckArgs;
use crate::context::{Context, ModelLocation};

/// Papers read from the store at a time.
const PAGE: u32 = 2_000;
/// Problems of one kind listed by id before the rest are counted.
const LISTED: usize = 10;

/// What `check` found, kind by kind.
#[derive(Default)]
struct Findings {
    problems: Vec<String>,
}

impl Findings {
    fn add(&mut self, problem: String) {
        self.problems.push(problem);
    }

    /// One problem for papers sharing it, naming the first few.
    fn add_papers(&mut self, ids: &[PaperId], what: &str, remedy: &str) {
        if ids.is_empty() {
            return;
        }
        let mut named: Vec<String> = ids.iter().take(LISTED).map(|id| id.0.to_string()).collect();
        if ids.len() > LISTED {
            named.push(format!("and {} more", ids.len() - LISTED));
        }
        self.add(format!(
            "{} papers {what} (ids {}); {remedy}",
            ids.len(),
            named.join(", ")
        ));
    }
}

/// What the walk over the papers gathered for the checks after it.
struct Sample {
    paper: PaperId,
    text: String,
    stored: Vec<f32>,
}

pub(crate) async fn run(ctx: &Context, args: &CheckArgs) -> anyhow::Result<Outcome> {
    let store = ctx.store();
    let started = Instant::now();
    let mut findings = Findings::default();
    println!("Checking the data folder {}", ctx.data_dir.root().display());

    let integrity = store.integrity_problems().await?;
    if integrity.is_empty() {
        println!("  database: integrity and foreign keys ok");
    }
    for problem in integrity {
        findings.add(format!("database: {problem}"));
    }
    match store.table_counts().await {
        Ok(counts) => println!(
            "  tables: {}",
            counts
                .iter()
                .filter(|(name, _)| !name.starts_with('_'))
                .map(|(name, count)| format!("{name} {count}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Err(error) => findings.add(format!("database: the tables cannot be counted: {error}")),
    }

    let dir = ctx.data_dir.index();
    let index = if SearchIndex::exists(&dir) {
        let opening = dir.clone();
        match tokio::task::spawn_blocking(move || SearchIndex::open(&opening)).await? {
            Ok(index) => Some(index),
            Err(error) => {
                findings.add(format!(
                    "search index: {} cannot be read ({error}); `paperboy reindex` builds it again",
                    dir.display()
                ));
                None
            }
        }
    } else {
        findings.add(format!(
            "search index: there is none in {}; `paperboy serve` builds it when it starts, or \
             run `paperboy reindex`",
            dir.display()
        ));
        None
    };

    let walked = walk_papers(store, index.as_ref(), args.sample, &mut findings).await;
    let papers = walked.ids.len();
    println!("  papers: {papers} read");
    if let Some(index) = &index {
        let mut counts_differ = Vec::new();
        for (what, count) in [
            ("vectors", index.vectors.len()),
            ("keyword documents", index.keyword.len() as usize),
            ("sentence rows", index.sentences.len()),
            ("facet rows", index.facets.len()),
        ] {
            if count != papers {
                counts_differ.push(format!("{count} {what}"));
            }
        }
        if !counts_differ.is_empty() {
            findings.add(format!(
                "search index: the store has {papers} papers but the index holds {}; `paperboy \
                 reindex` builds it again",
                counts_differ.join(", ")
            ));
        }
        let mut extra: Vec<PaperId> = index
            .facets
            .ids()
            .filter(|id| !walked.ids.contains(&id.0))
            .collect();
        extra.sort_unstable();
        findings.add_papers(
            &extra,
            "are in the search index but not in the store",
            "`paperboy reindex` builds the index again",
        );
        if counts_differ.is_empty() && extra.is_empty() {
            println!("  search index: {papers} papers, the same as the store");
        }
    }

    spot_check(&ctx.model, walked.sample, &mut findings).await;

    let seconds = started.elapsed().as_secs_f64();
    if findings.problems.is_empty() {
        println!("No problems found ({seconds:.1} s).");
        return Ok(Outcome::Success);
    }
    println!(
        "{} problem{} found ({seconds:.1} s):",
        findings.problems.len(),
        if findings.problems.len() == 1 {
            ""
        } else {
            "s"
        }
    );
    for problem in &findings.problems {
        println!("  - {problem}");
    }
    Ok(Outcome::Partial)
}

struct Walked {
    ids: HashSet<i64>,
    sample: Vec<Sample>,
}

/// Reads every paper with its stored embeddings, checking them (and, with `index`, the index's
/// copy of each) page by page.
async fn walk_papers(
    store: &dyn Store,
    index: Option<&SearchIndex>,
    sample: usize,
    findings: &mut Findings,
) -> Walked {
    let total = store.count_papers().await.unwrap_or(0) as usize;
    let stride = total
        .checked_div(sample)
        .map_or(usize::MAX, |stride| stride.max(1));
    let mut walked = Walked {
        ids: HashSet::with_capacity(total),
        sample: Vec::new(),
    };
    let mut no_vector = Vec::new();
    let mut no_sentences = Vec::new();
    let mut not_indexed = Vec::new();
    let mut index_differs = Vec::new();
    let mut after = None;
    loop {
        let papers = match store.papers_after(after, PAGE).await {
            Ok(papers) => papers,
            Err(error) => {
                findings.add(format!(
                    "papers: the papers after id {} cannot be read: {error}",
                    after.map_or(0, |id: PaperId| id.0)
                ));
                break;
            }
        };
        let Some(last) = papers.last() else { break };
        after = Some(last.id);
        let texts: Vec<String> = papers
            .iter()
            .map(|paper| paper_text(&paper.record.title, &paper.record.abstract_text))
            .collect();
        let hashes: Vec<String> = texts.iter().map(|text| content_hash(text)).collect();
        let mut unreadable = HashSet::new();
        let vectors = stored_vectors(store, &papers, &hashes, &mut unreadable, findings).await;
        let sentences = match store.sentence_embeddings(&hashes).await {
            Ok(sentences) => sentences,
            Err(error) => {
                findings.add(format!("sentence embeddings: cannot be read: {error}"));
                Default::default()
            }
        };
        for ((paper, hash), text) in papers.iter().zip(&hashes).zip(texts) {
            let position = walked.ids.len();
            walked.ids.insert(paper.id.0);
            match sentences.get(hash) {
                None => no_sentences.push(paper.id),
                Some(bytes) if bytes.is_empty() || !is_encoded(bytes) => findings.add(format!(
                    "paper {}: its stored sentence vectors (row {hash} of sentence_embeddings) \
                     are {} bytes, not whole sentences; `paperboy reindex` cannot mend a \
                     damaged row: restore a backup",
                    paper.id.0,
                    bytes.len()
                )),
                Some(_) => {}
            }
            let Some(vector) = vectors.get(hash) else {
                if !unreadable.contains(hash) {
                    no_vector.push(paper.id);
                }
                continue;
            };
            if let Some(problem) = vector_problem(vector) {
                findings.add(format!(
                    "paper {}: its stored embedding (row {hash} of embeddings) {problem}; \
                     restore a backup, or delete the row and run `paperboy reindex`",
                    paper.id.0
                ));
                continue;
            }
            if let Some(index) = index {
                match index.vectors.vector_of(paper.id) {
                    None => not_indexed.push(paper.id),
                    Some(indexed) if max_difference(&indexed, vector) > 1e-4 => {
                        index_differs.push(paper.id);
                    }
                    Some(_) => {}
                }
            }
            if position.is_multiple_of(stride) && walked.sample.len() < sample {
                walked.sample.push(Sample {
                    paper: paper.id,
                    text,
                    stored: vector.clone(),
                });
            }
        }
    }
    findings.add_papers(
        &no_vector,
        &format!("have no stored embedding for {MODEL_NAME}"),
        "`paperboy reindex` embeds them",
    );
    findings.add_papers(
        &no_sentences,
        "have no stored sentence vectors",
        "`paperboy reindex` embeds them",
    );
    findings.add_papers(
        &not_indexed,
        "are missing from the search index",
        "`paperboy reindex` builds it again",
    );
    findings.add_papers(
        &index_differs,
        "have a vector in the search index that differs from their stored embedding",
        "`paperboy reindex` builds the index again",
    );
    walked
}

/// The stored embeddings of a page of papers; a row that cannot be read is named as a problem
/// (and looked for one by one) instead of failing the whole page.
async fn stored_vectors(
    store: &dyn Store,
    papers: &[Paper],
    hashes: &[String],
    unreadable: &mut HashSet<String>,
    findings: &mut Findings,
) -> std::collections::HashMap<String, Vec<f32>> {
    match store.embeddings(hashes).await {
        Ok(vectors) => vectors,
        Err(_) => {
            let mut vectors = std::collections::HashMap::new();
            for (paper, hash) in papers.iter().zip(hashes) {
                match store.embeddings(std::slice::from_ref(hash)).await {
                    Ok(found) => vectors.extend(found),
                    Err(error) => {
                        unreadable.insert(hash.clone());
                        findings.add(format!(
                            "paper {}: its stored embedding cannot be read: {error}",
                            paper.id.0
                        ));
                    }
                }
            }
            vectors
        }
    }
}

/// What is wrong with a stored embedding, if anything: every one has [`DIMENSIONS`] finite
/// values and unit length.
fn vector_problem(vector: &[f32]) -> Option<String> {
    if vector.len() != DIMENSIONS {
        return Some(format!(
            "has {} values instead of {DIMENSIONS}",
            vector.len()
        ));
    }
    if !vector.iter().all(|value| value.is_finite()) {
        return Some("holds values that are not numbers".to_owned());
    }
    let length = dot(vector, vector).sqrt();
    if (length - 1.0).abs() > 1e-2 {
        return Some(format!("has length {length:.3} instead of 1"));
    }
    None
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return f32::INFINITY;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Embeds a few papers again and compares them with what is stored under their hash: the
/// stored vector must be the one of the text its key names.
async fn spot_check(model_location: &ModelLocation, sample: Vec<Sample>, findings: &mut Findings) {
    if sample.is_empty() {
        return;
    }
    let model_present = model_location.is_present();
    let model = match model_location.dir() {
        Ok(model) if model_present => model,
        _ => {
            println!("  spot check: skipped (no embedding model here; pass --model-dir)");
            return;
        }
    };
    let path = model_location.compute_path();
    let texts: Vec<String> = sample.iter().map(|sample| sample.text.clone()).collect();
    let embedded = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Vec<f32>>> {
        let embedder = Arc::new(Embedder::load_for(&model, path)?);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        Ok(embedder.embed(&refs)?)
    })
    .await;
    let embedded = match embedded {
        Ok(Ok(embedded)) => embedded,
        Ok(Err(error)) => {
            println!("  spot check: skipped (the model cannot embed: {error:#})");
            return;
        }
        Err(error) => {
            println!("  spot check: skipped ({error})");
            return;
        }
    };
    let mut differ = Vec::new();
    for (sample, fresh) in sample.iter().zip(&embedded) {
        if dot(&sample.stored, fresh) < 0.99 {
            differ.push(sample.paper);
        }
    }
    if differ.is_empty() {
        println!(
            "  spot check: {} papers embedded again match their stored embeddings",
            sample.len()
        );
    }
    findings.add_papers(
        &differ,
        "have a stored embedding that is not the one of their text",
        "restore a backup, or delete their rows of embeddings and run `paperboy reindex`",
    );
}
