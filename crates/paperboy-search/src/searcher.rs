//! The query path: one [`Searcher`] answers searches and "similar papers" in every mode, with
//! date and category filters and pagination, for the CLI, the website and the evaluations
//! alike, so that what is measured is what users get.
//!
//! A query is ranked from two candidate lists, each [`Searcher::depth`] deep (deeper when a page
//! asks for more): BM25 over the keyword index and cosine over the vector index. Filters are
//! applied inside both searches (not to their results), so a narrow filter still fills a page.
//! The semantic candidates are also scored by their best sentence (see [`crate::sentences`]);
//! semantic ranking mixes the two cosines, hybrid ranking all three signals (see
//! [`crate::fusion`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::NaiveDate;
use paperboy_core::{Category, PaperId};
use serde::{Deserialize, Serialize};

use crate::bm25::Bm25Index;
use crate::embedder::{EmbedError, Embedder};
use crate::facets::{CompiledFilters, FacetTable};
use crate::fusion::{WEIGHTS, Weights, fuse};
use crate::query_cache::QueryCache;
use crate::sentences::SentenceIndex;
use crate::vectors::{VectorIndex, dot};

/// Query text beyond this many bytes is ignored: a pasted abstract is a few thousand; the
/// embedder reads 256 tokens anyway, and BM25 over a whole book would be slow for nothing.
pub const MAX_QUERY_BYTES: usize = 10_000;
/// Candidates taken from each ranking before fusing.
pub const DEPTH: usize = 100;
/// The deepest a query may reach (its offset plus its limit): each ranking is read that deep and
/// held in memory, so an unbounded page number would be an unbounded allocation. Results past it
/// are never returned; 1,000 is 40 pages of 25, far past where readers stop.
pub const MAX_DEPTH: usize = 1_000;

/// How results are ranked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// BM25 over titles, abstracts and authors.
    Keyword,
    /// Cosine similarity of MiniLM embeddings.
    Semantic,
    /// Both, mixed.
    #[default]
    Hybrid,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Keyword => "keyword",
            Mode::Semantic => "semantic",
            Mode::Hybrid => "hybrid",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "keyword" => Ok(Mode::Keyword),
            "semantic" => Ok(Mode::Semantic),
            "hybrid" => Ok(Mode::Hybrid),
            other => Err(format!(
                "unknown search mode {other:?} (expected keyword, semantic or hybrid)"
            )),
        }
    }
}

/// What a paper can be filtered by.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaperFacets {
    /// The publication date and every listing date.
    pub dates: Vec<NaiveDate>,
    pub categories: Vec<String>,
}

/// Date and category filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// Papers with a date (published or listed) on or after this day.
    pub from: Option<NaiveDate>,
    /// Papers with a date (published or listed) on or before this day.
    pub until: Option<NaiveDate>,
    /// Papers in any of these categories (`cs.IR`) or archives (`cs`); none means all.
    pub categories: Vec<Category>,
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        self.from.is_none() && self.until.is_none() && self.categories.is_empty()
    }

    pub fn admits(&self, facets: &PaperFacets) -> bool {
        let dated = (self.from.is_none() && self.until.is_none())
            || facets.dates.iter().any(|date| {
                self.from.is_none_or(|from| *date >= from)
                    && self.until.is_none_or(|until| *date <= until)
            });
        let filed = self.categories.is_empty()
            || facets
                .categories
                .iter()
                .any(|code| self.categories.iter().any(|wanted| wanted.contains(code)));
        dated && filed
    }
}

/// A search, built step by step: `Query::new("mutual information").mode(Mode::Keyword).limit(20)`.
#[derive(Debug, Clone)]
pub struct Query {
    text: String,
    mode: Mode,
    filters: Filters,
    limit: usize,
    offset: usize,
    like: Option<PaperId>,
    within: Option<Arc<HashSet<PaperId>>>,
}

impl Query {
    /// A search for `text` (cut at [`MAX_QUERY_BYTES`]): hybrid, ten results, no filters.
    pub fn new(text: &str) -> Self {
        let mut end = text.len().min(MAX_QUERY_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Query {
            text: text[..end].to_owned(),
            mode: Mode::Hybrid,
            filters: Filters::default(),
            limit: 10,
            offset: 0,
            like: None,
            within: None,
        }
    }

    /// Papers like an indexed paper whose title and abstract are `text`: its stored embedding
    /// is used, and the paper itself is left out.
    pub fn like_paper(id: PaperId, text: &str) -> Self {
        Query {
            like: Some(id),
            ..Query::new(text).mode(Mode::Semantic)
        }
    }

    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    pub fn filters(mut self, filters: Filters) -> Self {
        self.filters = filters;
        self
    }

    pub fn from(mut self, day: NaiveDate) -> Self {
        self.filters.from = Some(day);
        self
    }

    pub fn until(mut self, day: NaiveDate) -> Self {
        self.filters.until = Some(day);
        self
    }

    pub fn category(mut self, category: &str) -> Self {
        self.filters.categories.push(Category::new(category));
        self
    }

    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    pub fn offset(mut self, offset: usize) -> Self {
        self.offset = offset;
        self
    }

    /// Only rank these papers (an evaluation's candidate pool).
    pub fn within(mut self, papers: Arc<HashSet<PaperId>>) -> Self {
        self.within = Some(papers);
        self
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The paper this query asks for papers like.
    pub fn like(&self) -> Option<PaperId> {
        self.like
    }

    /// Whether answering needs the embedding model (to embed the query text).
    pub fn needs_embedding(&self) -> bool {
        self.mode != Mode::Keyword && self.like.is_none()
    }

    fn has_words(&self) -> bool {
        self.text.chars().any(char::is_alphanumeric)
    }
}

/// A paper found, with its scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchHit {
    pub id: PaperId,
    /// The score it was ranked by: BM25 in keyword mode, else the mix of the signals (0–1, the
    /// best candidate of each signal counting 1).
    pub score: f32,
    /// Its BM25 score, when it was among the keyword candidates.
    pub keyword: Option<f32>,
    /// Its cosine similarity to the query, in semantic and hybrid modes.
    pub semantic: Option<f32>,
}

/// A page of results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    /// Whether a next page has results.
    pub more: bool,
}

/// Why a search could not run.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the query has no words to search for")]
    EmptyQuery,
    #[error("this search needs the embedding model, which was not loaded")]
    NoModel,
    #[error("running the embedding model failed: {0}")]
    Embed(#[from] EmbedError),
    #[error("the keyword index failed: {0}")]
    Keyword(#[from] tantivy::TantivyError),
}

/// The rankings of a query, before fusing: papers with scores, best first.
#[derive(Debug, Clone, Default)]
pub struct Candidates {
    pub keyword: Ranking,
    /// Cosines of the whole abstracts.
    pub semantic: Ranking,
    /// The semantic candidates' best sentence cosines.
    pub sentence: Ranking,
}

/// Papers with their scores, best first.
pub type Ranking = Vec<(PaperId, f32)>;

/// The indexes a [`Searcher`] reads: keyword, vectors and the facets filters look at.
#[derive(Debug)]
pub struct SearchIndex {
    /// Shared by the indexes a follower derives from one another (it changes in place).
    pub keyword: Arc<Bm25Index>,
    pub vectors: VectorIndex,
    pub sentences: SentenceIndex,
    pub facets: Arc<FacetTable>,
}

/// Searches an index.
#[derive(Debug, Clone)]
pub struct Searcher {
    index: Arc<SearchIndex>,
    embedder: Option<Arc<Embedder>>,
    query_vectors: Arc<QueryCache>,
    weights: Weights,
    depth: usize,
}

impl Searcher {
    /// A searcher; without an embedder it answers only queries that need none (see
    /// [`Query::needs_embedding`]).
    pub fn new(index: Arc<SearchIndex>, embedder: Option<Arc<Embedder>>) -> Self {
        Searcher {
            index,
            embedder,
            query_vectors: Arc::default(),
            weights: WEIGHTS,
            depth: DEPTH,
        }
    }

    /// Changes the shares of the ranking signals (for tuning; the default is [`WEIGHTS`]).
    pub fn with_weights(mut self, weights: Weights) -> Self {
        self.weights = weights;
        self
    }

    /// Changes how many candidates each ranking contributes (the default is [`DEPTH`]).
    pub fn with_depth(mut self, depth: usize) -> Self {
        self.depth = depth;
        self
    }

    pub fn index(&self) -> &Arc<SearchIndex> {
        &self.index
    }

    pub fn embedder(&self) -> Option<&Arc<Embedder>> {
        self.embedder.as_ref()
    }

    /// One page of results, best first.
    pub fn search(&self, query: &Query) -> Result<SearchPage, SearchError> {
        let offset = query.offset.min(MAX_DEPTH);
        let limit = query.limit.min(MAX_DEPTH - offset);
        if limit == 0 {
            return Ok(SearchPage {
                hits: Vec::new(),
                more: false,
            });
        }
        let candidates = self.candidates(query)?;
        let ranked = self.rank(query.mode, &candidates);
        let end = offset + limit;
        let more = ranked.len() > end && end < MAX_DEPTH;
        let semantic: HashMap<PaperId, f32> = candidates.semantic.iter().copied().collect();
        let keyword: HashMap<PaperId, f32> = candidates.keyword.iter().copied().collect();
        let hits = ranked
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(id, score)| SearchHit {
                id,
                score,
                keyword: keyword.get(&id).copied(),
                semantic: semantic.get(&id).copied(),
            })
            .collect();
        Ok(SearchPage { hits, more })
    }

    /// Mixes candidates as `mode` ranks them, best first.
    pub fn rank(&self, mode: Mode, candidates: &Candidates) -> Vec<(PaperId, f32)> {
        let Weights { keyword, sentence } = self.weights;
        let meaning = |share: f32| {
            [
                (candidates.semantic.as_slice(), share * (1.0 - sentence)),
                (candidates.sentence.as_slice(), share * sentence),
            ]
        };
        match mode {
            Mode::Keyword => candidates.keyword.clone(),
            Mode::Semantic => fuse(&meaning(1.0)),
            Mode::Hybrid => {
                let [whole, best_sentence] = meaning(1.0 - keyword);
                fuse(&[(&candidates.keyword, keyword), whole, best_sentence])
            }
        }
    }

    /// The rankings `query`'s mode needs, each deep enough for its page.
    pub fn candidates(&self, query: &Query) -> Result<Candidates, SearchError> {
        if query.like.is_none() && !query.has_words() {
            return Err(SearchError::EmptyQuery);
        }
        let depth = self
            .depth
            .max(query.offset.saturating_add(query.limit))
            .min(MAX_DEPTH);
        let keep = self.admission(query);
        // The keyword search runs while the query is embedded: a lone query leaves cores idle.
        let (keyword, semantic) = rayon::join(
            || match query.mode {
                Mode::Semantic => Ok(Vec::new()),
                _ => self.index.keyword.search_where(
                    &query.text,
                    depth,
                    keep.clone().map(Admission::into_fn),
                ),
            },
            || match query.mode {
                Mode::Keyword => Ok(None),
                _ => self
                    .semantic_candidates(query, depth, keep.as_ref())
                    .map(Some),
            },
        );
        let mut candidates = Candidates {
            keyword: keyword?,
            ..Candidates::default()
        };
        if let Some((vector, semantic)) = semantic? {
            candidates.semantic = semantic;
            if query.mode == Mode::Hybrid {
                self.add_cosines(&vector, &mut candidates);
            }
            candidates.sentence = self.sentence_cosines(&vector, &candidates.semantic);
        }
        Ok(candidates)
    }

    /// The query's vector (the stored one for a paper's neighbours) and its nearest papers.
    fn semantic_candidates(
        &self,
        query: &Query,
        depth: usize,
        keep: Option<&Admission>,
    ) -> Result<(Vec<f32>, Ranking), SearchError> {
        let stored = query.like.and_then(|id| self.index.vectors.vector_of(id));
        let vector = match stored {
            Some(vector) => vector,
            None => {
                let embedder = self.embedder.as_ref().ok_or(SearchError::NoModel)?;
                self.query_vectors
                    .get_or_embed(&query.text, || {
                        Ok::<_, EmbedError>(
                            embedder.embed(&[&query.text])?.pop().unwrap_or_default(),
                        )
                    })?
                    .to_vec()
            }
        };
        let hits = match keep {
            None => self.index.vectors.search(&vector, depth, |_| true),
            Some(keep) => self
                .index
                .vectors
                .search(&vector, depth, |id| keep.admits(id)),
        };
        let ranked = hits.into_iter().map(|hit| (hit.id, hit.score)).collect();
        Ok((vector, ranked))
    }

    /// Gives the keyword candidates missing from the semantic list their true cosine, so that
    /// fusing does not treat "not in the semantic top N" as "unrelated".
    fn add_cosines(&self, vector: &[f32], candidates: &mut Candidates) {
        let present: HashSet<PaperId> = candidates.semantic.iter().map(|(id, _)| *id).collect();
        for (id, _) in &candidates.keyword {
            if !present.contains(id)
                && let Some(other) = self.index.vectors.vector_of(*id)
            {
                candidates.semantic.push((*id, dot(vector, &other)));
            }
        }
        candidates
            .semantic
            .sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    }

    /// The best sentence cosine of each paper ranked, best first.
    fn sentence_cosines(&self, vector: &[f32], ranked: &Ranking) -> Ranking {
        let query = SentenceIndex::prepare(vector);
        let mut best: Ranking = ranked
            .iter()
            .filter_map(|(id, _)| Some((*id, self.index.sentences.best_cosine(*id, &query)?)))
            .collect();
        best.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        best
    }

    /// The papers a query may return, or `None` when it may return any.
    fn admission(&self, query: &Query) -> Option<Admission> {
        if query.filters.is_empty() && query.within.is_none() && query.like.is_none() {
            return None;
        }
        Some(Admission {
            facets: Arc::clone(&self.index.facets),
            filters: (!query.filters.is_empty())
                .then(|| Arc::new(self.index.facets.compile(&query.filters))),
            within: query.within.clone(),
            excluded: query.like,
        })
    }
}

/// Decides which papers a filtered query may return.
#[derive(Debug, Clone)]
struct Admission {
    facets: Arc<FacetTable>,
    /// `None` when the query has no date or category filter.
    filters: Option<Arc<CompiledFilters>>,
    within: Option<Arc<HashSet<PaperId>>>,
    excluded: Option<PaperId>,
}

impl Admission {
    fn admits(&self, id: PaperId) -> bool {
        self.excluded != Some(id)
            && self
                .within
                .as_ref()
                .is_none_or(|within| within.contains(&id))
            && self
                .filters
                .as_ref()
                .is_none_or(|filters| self.facets.admits(id, filters))
    }

    fn into_fn(self) -> impl Fn(PaperId) -> bool + Clone + Send + Sync + 'static {
        move |id| self.admits(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn filters_match_any_date_and_category_or_archive() {
        let facets = PaperFacets {
            dates: vec![day("2024-01-10"), day("2026-08-03")],
            categories: vec!["cs.LG".into(), "stat.ML".into()],
        };
        let admits = |filters: Filters| filters.admits(&facets);
        assert!(admits(Filters::default()));
        assert!(admits(Filters {
            from: Some(day("2026-08-01")),
            ..Filters::default()
        }));
        assert!(!admits(Filters {
            from: Some(day("2024-01-11")),
            until: Some(day("2026-08-02")),
            ..Filters::default()
        }));
        assert!(admits(Filters {
            categories: vec!["cs".into()],
            ..Filters::default()
        }));
        assert!(admits(Filters {
            categories: vec!["math.ST".into(), "stat.ML".into()],
            ..Filters::default()
        }));
        assert!(!admits(Filters {
            categories: vec!["c".into(), "cs.L".into(), "math".into()],
            ..Filters::default()
        }));
        assert!(
            !Filters {
                until: Some(day("2030-01-01")),
                ..Filters::default()
            }
            .admits(&PaperFacets::default())
        );
    }

    #[test]
    fn queries_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_QUERY_BYTES);
        let query = Query::new(&long);
        assert!(query.text().len() <= MAX_QUERY_BYTES);
        assert!(query.text().chars().all(|ch| ch == 'é'));
        assert!(!Query::new(" \u{0}?! ").has_words());
        assert_eq!("semantic".parse::<Mode>(), Ok(Mode::Semantic));
        assert!("fuzzy".parse::<Mode>().is_err());
    }
}

/// The searcher a running server answers with, replaced whole when the index is rebuilt (after
/// a scheduled harvest, say). A request keeps the searcher it started with.
#[derive(Debug)]
pub struct LiveSearcher(std::sync::RwLock<Arc<Searcher>>);

impl LiveSearcher {
    pub fn new(searcher: Searcher) -> Self {
        LiveSearcher(std::sync::RwLock::new(Arc::new(searcher)))
    }

    /// The searcher to answer a request with.
    pub fn current(&self) -> Arc<Searcher> {
        // The lock only guards an Arc swap: a poisoned one still holds a whole searcher.
        Arc::clone(
            &self
                .0
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// Answers new requests with `searcher` from now on.
    pub fn replace(&self, searcher: Searcher) {
        *self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(searcher);
    }
}

/// Runs CPU-bound search work (embedding a query, scanning vectors) on tokio's blocking pool,
/// off the async threads that answer requests; a panic in `work` is raised again in the caller.
pub async fn off_async_threads<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|failed| std::panic::resume_unwind(failed.into_panic()))
}

impl Searcher {
    /// [`Searcher::search`] on the blocking pool (see [`off_async_threads`]).
    pub async fn search_off_thread(
        self: Arc<Self>,
        query: Query,
    ) -> Result<SearchPage, SearchError> {
        off_async_threads(move || self.search(&query)).await
    }
}
