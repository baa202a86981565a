//! Measuring search quality on public relevance judgements (BEIR SciFact).
//!
//! The corpus is indexed straight from its file with its own document ids: stored as papers, the
//! store's title de-duplication would merge distinct documents that share a title (SciFact has
//! three such titles). Embeddings are cached by content hash in a store, so a second run only
//! embeds the queries.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use paperboy_core::PaperId;
use paperboy_store::Store;
use serde::Deserialize;

use crate::bm25::{Bm25Index, Document};
use crate::embedder::Embedder;
use crate::indexing::{EmbedProgress, embed_cached, vector_indexes};
use crate::searcher::SearchIndex;

/// The depth Recall and MAP are computed to.
pub const DEPTH: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}: {message}")]
    Data { path: String, message: String },
    #[error(transparent)]
    Index(#[from] crate::indexing::IndexError),
    #[error(transparent)]
    Store(#[from] paperboy_store::StoreError),
    #[error(transparent)]
    Embed(#[from] crate::embedder::EmbedError),
    #[error("the keyword index failed: {0}")]
    Keyword(#[from] tantivy::TantivyError),
}

/// A document of an evaluation corpus.
#[derive(Debug, Clone, Deserialize)]
pub struct EvalDocument {
    #[serde(rename = "_id")]
    pub id: String,
    pub title: String,
    pub text: String,
}

/// A corpus, its queries and their judgements.
#[derive(Debug, Default)]
pub struct Dataset {
    pub documents: Vec<EvalDocument>,
    pub queries: Vec<(String, String)>,
    /// Query id → document id → graded relevance.
    pub judgements: HashMap<String, HashMap<String, u32>>,
}

#[derive(Deserialize)]
struct BeirQuery {
    #[serde(rename = "_id")]
    id: String,
    text: String,
}

fn data_error(path: &Path, message: impl ToString) -> EvalError {
    EvalError::Data {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

fn read_lines(path: &Path) -> Result<Vec<String>, EvalError> {
    let file = std::fs::File::open(path).map_err(|error| data_error(path, error))?;
    let reader: Box<dyn BufRead> = if path.extension().is_some_and(|extension| extension == "gz") {
        Box::new(std::io::BufReader::new(flate2::read::MultiGzDecoder::new(
            file,
        )))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    reader
        .lines()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| data_error(path, error))
}

/// Loads a BEIR dataset folder (`corpus.jsonl.gz`, `queries.jsonl`, `qrels/SPLIT.tsv`), keeping
/// the queries judged in `split`.
pub fn load_beir(dir: &Path, split: &str) -> Result<Dataset, EvalError> {
    let mut dataset = Dataset::default();
    let corpus = dir.join("corpus.jsonl.gz");
    for line in read_lines(&corpus)? {
        dataset
            .documents
            .push(serde_json::from_str(&line).map_err(|error| data_error(&corpus, error))?);
    }
    let qrels = dir.join("qrels").join(format!("{split}.tsv"));
    for line in read_lines(&qrels)?.iter().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [query, document, score] = fields[..] else {
            return Err(data_error(
                &qrels,
                format!("expected three columns in {line:?}"),
            ));
        };
        let score: u32 = score
            .trim()
            .parse()
            .map_err(|error| data_error(&qrels, error))?;
        dataset
            .judgements
            .entry(query.to_owned())
            .or_default()
            .insert(document.to_owned(), score);
    }
    let queries = dir.join("queries.jsonl");
    for line in read_lines(&queries)? {
        let query: BeirQuery =
            serde_json::from_str(&line).map_err(|error| data_error(&queries, error))?;
        if dataset.judgements.contains_key(&query.id) {
            dataset.queries.push((query.id, query.text));
        }
    }
    Ok(dataset)
}

/// Indexes an evaluation corpus in memory (document `i` gets id `i`; no facets), embedding it
/// with the embeddings cached in `cache` reused.
pub async fn index_documents(
    documents: &[EvalDocument],
    embedder: &Arc<Embedder>,
    cache: &dyn Store,
    progress: &dyn EmbedProgress,
) -> Result<SearchIndex, EvalError> {
    let no_authors: Vec<String> = Vec::new();
    let keyword = Bm25Index::build(
        None,
        documents
            .iter()
            .enumerate()
            .map(|(index, document)| Document {
                id: PaperId(index as i64),
                title: &document.title,
                abstract_text: &document.text,
                authors: &no_authors,
            }),
    )?;
    let papers: Vec<(String, String)> = documents
        .iter()
        .map(|document| (document.title.clone(), document.text.clone()))
        .collect();
    let embedded = embed_cached(&papers, embedder, cache, progress).await?;
    let ids: Vec<PaperId> = (0..documents.len())
        .map(|row| PaperId(row as i64))
        .collect();
    let (vectors, sentences) = vector_indexes(&ids, &embedded);
    Ok(SearchIndex {
        keyword: Arc::new(keyword),
        vectors,
        sentences,
        facets: Arc::default(),
    })
}

/// Mean metrics over queries.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Metrics {
    pub ndcg_at_10: f64,
    pub recall_at_100: f64,
    /// Mean average precision over the top [`DEPTH`].
    pub map: f64,
    pub queries: usize,
}

/// Scores one query's ranking (document ids, best first) against its judgements.
pub fn score_query(ranking: &[&str], judged: &HashMap<String, u32>) -> Metrics {
    let relevant: Vec<u32> = judged
        .values()
        .copied()
        .filter(|&grade| grade > 0)
        .collect();
    if relevant.is_empty() {
        return Metrics::default();
    }
    let dcg: f64 = ranking
        .iter()
        .take(10)
        .enumerate()
        .map(|(rank, id)| {
            f64::from(judged.get(*id).copied().unwrap_or(0)) / (rank as f64 + 2.0).log2()
        })
        .sum();
    let mut ideal = relevant.clone();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(10)
        .enumerate()
        .map(|(rank, grade)| f64::from(*grade) / (rank as f64 + 2.0).log2())
        .sum();
    let is_relevant = |id: &str| judged.get(id).is_some_and(|&grade| grade > 0);
    let found = ranking
        .iter()
        .take(DEPTH)
        .filter(|id| is_relevant(id))
        .count();
    let mut hits = 0.0;
    let mut precision_sum = 0.0;
    for (rank, id) in ranking.iter().take(DEPTH).enumerate() {
        if is_relevant(id) {
            hits += 1.0;
            precision_sum += hits / (rank as f64 + 1.0);
        }
    }
    Metrics {
        ndcg_at_10: dcg / idcg,
        recall_at_100: found as f64 / relevant.len() as f64,
        map: precision_sum / relevant.len() as f64,
        queries: 1,
    }
}

/// Averages per-query metrics.
pub fn mean(all: &[Metrics]) -> Metrics {
    let count = all.iter().map(|m| m.queries).sum::<usize>().max(1) as f64;
    Metrics {
        ndcg_at_10: all.iter().map(|m| m.ndcg_at_10).sum::<f64>() / count,
        recall_at_100: all.iter().map(|m| m.recall_at_100).sum::<f64>() / count,
        map: all.iter().map(|m| m.map).sum::<f64>() / count,
        queries: count as usize,
    }
}

/// CSFCube: query papers, each with a pool of candidates graded 0–3 for one facet.
#[derive(Debug, Default)]
pub struct CsfCube {
    /// Title and abstract of every query and candidate paper.
    pub documents: Vec<EvalDocument>,
    pub facets: Vec<Facet>,
}

/// One facet (background, method or result) of CSFCube.
#[derive(Debug, Default)]
pub struct Facet {
    pub name: String,
    /// Query paper id → its pool: candidate paper ids and their grades, in pool order.
    pub pools: Vec<(String, Vec<(String, u32)>)>,
    /// The two test folds (query paper ids); the paper averages the folds' means.
    pub folds: [Vec<String>; 2],
}

/// The CSFCube facets, in the paper's order.
pub const CSFCUBE_FACETS: [&str; 3] = ["background", "method", "result"];

#[derive(Deserialize)]
struct CsfCubePaper {
    paper_id: String,
    title: String,
    #[serde(rename = "abstract")]
    sentences: Vec<String>,
}

#[derive(Deserialize)]
struct CsfCubePool {
    cands: Vec<String>,
    relevance_adju: Vec<u32>,
}

/// Loads a CSFCube folder (`corpus.jsonl.gz` and the untouched `original/` judgements).
pub fn load_csfcube(dir: &Path) -> Result<CsfCube, EvalError> {
    let mut cube = CsfCube::default();
    let corpus = dir.join("corpus.jsonl.gz");
    for line in read_lines(&corpus)? {
        let paper: CsfCubePaper =
            serde_json::from_str(&line).map_err(|error| data_error(&corpus, error))?;
        cube.documents.push(EvalDocument {
            id: paper.paper_id,
            title: paper.title,
            text: paper.sentences.join(" "),
        });
    }
    let splits_path = dir.join("original").join("evaluation_splits.json");
    let splits: HashMap<String, HashMap<String, Vec<String>>> = read_json(&splits_path)?;
    for name in CSFCUBE_FACETS {
        let path = dir
            .join("original")
            .join(format!("test-pid2anns-csfcube-{name}.json"));
        let pools: HashMap<String, CsfCubePool> = read_json(&path)?;
        let mut pools: Vec<(String, Vec<(String, u32)>)> = pools
            .into_iter()
            .map(|(query, pool)| {
                if pool.cands.len() != pool.relevance_adju.len() {
                    return Err(data_error(
                        &path,
                        format!("query {query}: candidates and grades differ in number"),
                    ));
                }
                Ok((
                    query,
                    pool.cands.into_iter().zip(pool.relevance_adju).collect(),
                ))
            })
            .collect::<Result<_, _>>()?;
        pools.sort_by(|a, b| a.0.cmp(&b.0));
        let fold = |key: &str| -> Result<Vec<String>, EvalError> {
            let ids = splits
                .get(name)
                .and_then(|folds| folds.get(key))
                .ok_or_else(|| data_error(&splits_path, format!("no {name} {key}")))?;
            Ok(ids
                .iter()
                .map(|id| id.trim_end_matches(&format!("_{name}")).to_owned())
                .collect())
        };
        cube.facets.push(Facet {
            name: name.to_owned(),
            pools,
            folds: [fold("fold1_test")?, fold("fold2_test")?],
        });
    }
    Ok(cube)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|error| data_error(path, error))?;
    serde_json::from_str(&text).map_err(|error| data_error(path, error))
}

/// CSFCube's measures of one query's ranked pool, as its evaluation script computes them.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct PoolMetrics {
    /// nDCG at 20% of the pool's size, graded gains, the first two ranks undiscounted.
    pub ndcg_pct20: f64,
    /// Average precision, grade ≥ 2 counting as relevant.
    pub map: f64,
    /// Recall in the first 20, grade ≥ 2 counting as relevant.
    pub recall_at_20: f64,
}

/// Scores the grades of a pool in the order a method ranked it.
pub fn score_pool(ranked_grades: &[u32]) -> PoolMetrics {
    let dcg = |grades: &[u32], k: usize| -> f64 {
        grades
            .iter()
            .take(k)
            .enumerate()
            .map(|(rank, grade)| {
                let discount = if rank == 0 {
                    1.0
                } else {
                    (rank as f64 + 1.0).log2()
                };
                f64::from(*grade) / discount
            })
            .sum()
    };
    let cutoff = ranked_grades.len() / 5;
    let mut ideal = ranked_grades.to_vec();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let ideal_dcg = dcg(&ideal, cutoff);
    let ndcg_pct20 = if ideal_dcg > 0.0 {
        dcg(ranked_grades, cutoff) / ideal_dcg
    } else {
        0.0
    };
    let relevant: Vec<bool> = ranked_grades.iter().map(|grade| *grade >= 2).collect();
    let total = relevant.iter().filter(|r| **r).count();
    let mut hits = 0.0;
    let mut precisions = 0.0;
    for (rank, is_relevant) in relevant.iter().enumerate() {
        if *is_relevant {
            hits += 1.0;
            precisions += hits / (rank as f64 + 1.0);
        }
    }
    let (map, recall_at_20) = if total == 0 {
        (0.0, 0.0)
    } else {
        let found = relevant.iter().take(20).filter(|r| **r).count();
        (precisions / hits, found as f64 / total as f64)
    };
    PoolMetrics {
        ndcg_pct20,
        map,
        recall_at_20,
    }
}

/// The mean of the two folds' means, as the CSFCube paper reports a split.
pub fn fold_mean(
    per_query: &HashMap<String, PoolMetrics>,
    folds: &[Vec<String>; 2],
) -> PoolMetrics {
    let fold_means: Vec<PoolMetrics> = folds
        .iter()
        .map(|fold| {
            let metrics: Vec<&PoolMetrics> =
                fold.iter().filter_map(|id| per_query.get(id)).collect();
            let count = metrics.len().max(1) as f64;
            PoolMetrics {
                ndcg_pct20: metrics.iter().map(|m| m.ndcg_pct20).sum::<f64>() / count,
                map: metrics.iter().map(|m| m.map).sum::<f64>() / count,
                recall_at_20: metrics.iter().map(|m| m.recall_at_20).sum::<f64>() / count,
            }
        })
        .collect();
    PoolMetrics {
        ndcg_pct20: (fold_means[0].ndcg_pct20 + fold_means[1].ndcg_pct20) / 2.0,
        map: (fold_means[0].map + fold_means[1].map) / 2.0,
        recall_at_20: (fold_means[0].recall_at_20 + fold_means[1].recall_at_20) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(pairs: &[(&str, u32)]) -> HashMap<String, u32> {
        pairs
            .iter()
            .map(|(id, grade)| (id.to_string(), *grade))
            .collect()
    }

    #[test]
    fn metrics_match_hand_computed_values() {
        let judgements = judged(&[("a", 1), ("b", 1), ("z", 0)]);
        // Relevant at ranks 1 and 3.
        let metrics = score_query(&["a", "x", "b", "y"], &judgements);
        let dcg = 1.0 + 1.0 / 4f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2();
        assert!((metrics.ndcg_at_10 - dcg / idcg).abs() < 1e-12);
        assert!((metrics.recall_at_100 - 1.0).abs() < 1e-12);
        assert!((metrics.map - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);

        let perfect = score_query(&["a", "b"], &judgements);
        assert!((perfect.ndcg_at_10 - 1.0).abs() < 1e-12);
        let missed = score_query(&["x", "y"], &judgements);
        assert_eq!(
            (missed.ndcg_at_10, missed.recall_at_100, missed.map),
            (0.0, 0.0, 0.0)
        );

        let average = mean(&[perfect, missed]);
        assert!((average.ndcg_at_10 - 0.5).abs() < 1e-12);
        assert_eq!(average.queries, 2);
    }

    #[test]
    fn pool_metrics_follow_the_csfcube_script() {
        // Ten candidates: cut-off 2; ranks 1 and 2 are both undiscounted.
        let ranked = [1, 3, 0, 0, 2, 0, 0, 0, 0, 0];
        let metrics = score_pool(&ranked);
        assert!((metrics.ndcg_pct20 - (1.0 + 3.0) / (3.0 + 2.0)).abs() < 1e-12);
        // Relevant (grade ≥ 2) at ranks 2 and 5.
        assert!((metrics.map - (1.0 / 2.0 + 2.0 / 5.0) / 2.0).abs() < 1e-12);
        assert!((metrics.recall_at_20 - 1.0).abs() < 1e-12);
        assert_eq!(score_pool(&[0, 0, 0, 0, 0]), PoolMetrics::default());
        let per_query: HashMap<String, PoolMetrics> = [("a", 1.0), ("b", 0.0), ("c", 0.8)]
            .into_iter()
            .map(|(id, value)| {
                (
                    id.to_owned(),
                    PoolMetrics {
                        ndcg_pct20: value,
                        map: value,
                        recall_at_20: value,
                    },
                )
            })
            .collect();
        let folds = [vec!["a".to_owned(), "b".to_owned()], vec!["c".to_owned()]];
        // Folds 0.5 and 0.8: 0.65, not the plain mean 0.6.
        assert!((fold_mean(&per_query, &folds).ndcg_pct20 - 0.65).abs() < 1e-12);
    }

    #[test]
    fn graded_relevance_counts_its_grade() {
        let judgements = judged(&[("a", 3), ("b", 1)]);
        let best = score_query(&["a", "b"], &judgements);
        let swapped = score_query(&["b", "a"], &judgements);
        assert!((best.ndcg_at_10 - 1.0).abs() < 1e-12);
        assert!(swapped.ndcg_at_10 < best.ndcg_at_10);
    }
}
