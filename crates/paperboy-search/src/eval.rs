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
use crate::embedder::{Embedder, paper_text};
use crate::fusion::fuse;
use crate::indexing::{EmbedProgress, embed_cached};
use crate::vectors::VectorIndex;

/// Papers with their scores, best first.
pub type Ranking = Vec<(PaperId, f32)>;

/// Candidates taken from each ranking, and the depth metrics are computed to.
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

/// How to rank.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Keyword,
    Semantic,
    /// Keyword and semantic mixed with this keyword weight.
    Hybrid(f32),
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

/// The indexes of a corpus, ready to rank.
pub struct Retriever {
    keyword: Bm25Index,
    vectors: Option<(VectorIndex, Arc<Embedder>)>,
}

impl std::fmt::Debug for Retriever {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retriever").finish_non_exhaustive()
    }
}

impl Retriever {
    /// Indexes the documents (document `i` gets id `i`); with an embedder, also embeds them,
    /// reusing embeddings cached in `cache`.
    pub async fn build(
        documents: &[EvalDocument],
        embedder: Option<Arc<Embedder>>,
        cache: &dyn Store,
        progress: &dyn EmbedProgress,
    ) -> Result<Self, EvalError> {
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
        let vectors = match embedder {
            None => None,
            Some(embedder) => {
                let texts: Vec<String> = documents
                    .iter()
                    .map(|document| paper_text(&document.title, &document.text))
                    .collect();
                let (vectors, _) = embed_cached(&texts, &embedder, cache, progress).await?;
                let mut index = VectorIndex::with_capacity(documents.len());
                for (row, vector) in vectors.iter().enumerate() {
                    index.push(PaperId(row as i64), vector);
                }
                Some((index, embedder))
            }
        };
        Ok(Retriever { keyword, vectors })
    }

    /// Both rankings of a query, [`DEPTH`] deep: (keyword, semantic).
    pub fn candidates(&self, query: &str) -> Result<(Ranking, Ranking), EvalError> {
        let keyword = self.keyword.search(query, DEPTH)?;
        let semantic = match &self.vectors {
            None => Vec::new(),
            Some((index, embedder)) => {
                let vector = embedder.embed(&[query])?.pop().unwrap_or_default();
                index
                    .search(&vector, DEPTH, |_| true)
                    .into_iter()
                    .map(|hit| (hit.id, hit.score))
                    .collect()
            }
        };
        Ok((keyword, semantic))
    }
}

/// Ranks candidates by a mode.
pub fn rank(mode: Mode, keyword: &[(PaperId, f32)], semantic: &[(PaperId, f32)]) -> Vec<PaperId> {
    let ranked: Vec<(PaperId, f32)> = match mode {
        Mode::Keyword => keyword.to_vec(),
        Mode::Semantic => semantic.to_vec(),
        Mode::Hybrid(weight) => fuse(keyword, semantic, weight),
    };
    ranked.into_iter().take(DEPTH).map(|(id, _)| id).collect()
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
    fn graded_relevance_counts_its_grade() {
        let judgements = judged(&[("a", 3), ("b", 1)]);
        let best = score_query(&["a", "b"], &judgements);
        let swapped = score_query(&["b", "a"], &judgements);
        assert!((best.ndcg_at_10 - 1.0).abs() < 1e-12);
        assert!(swapped.ndcg_at_10 < best.ndcg_at_10);
    }
}
