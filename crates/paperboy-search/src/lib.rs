//! Paperboy's search: sentence embeddings (all-MiniLM-L6-v2 on candle), the BM25 and vector
//! indexes, hybrid ranking, highlighting, and their evaluation.
//!
//! This crate holds the heavy dependencies (candle, tokenizers) so that the rest of the
//! workspace rebuilds without them.

mod ann;
mod attention;
mod bert;
pub mod bm25;
pub mod compute;
pub mod embedder;
pub mod eval;
mod facets;
pub mod follow;
pub mod fusion;
pub mod highlight;
pub mod indexing;
mod kernels;
mod mapped;
pub mod model;
mod packed;
mod quantized;
mod query_cache;
pub mod recommend;
pub mod searcher;
pub mod sentences;
pub mod vectors;

pub use compute::ComputePath;
pub use embedder::{DIMENSIONS, EmbedError, Embedder, MAX_TOKENS, paper_text};
pub use facets::FacetTable;
pub use model::{ModelDir, ModelError};
pub use searcher::{
    Filters, LiveSearcher, MAX_DEPTH, Mode, PaperFacets, Query, SearchError, SearchHit,
    SearchIndex, SearchPage, Searcher, off_async_threads,
};
pub use vectors::{ANN_FROM, Hit, VectorIndex};

/// The approximate-search libraries, for `paperboy bench scale` to measure side by side.
pub mod ann_bench {
    pub use crate::ann::{
        CONNECTIVITY, EXPANSION_ADD, EXPANSION_SEARCH, build_in_memory, expansion_for,
    };
    pub use usearch::ScalarKind;

    /// `vectors` (row after row) as the graph stores them: each row's values rounded to bytes
    /// at its own scale.
    pub fn codes(vectors: &[f32]) -> Vec<i8> {
        let mut codes = Vec::with_capacity(vectors.len());
        for vector in vectors.chunks_exact(crate::embedder::DIMENSIONS) {
            crate::vectors::quantise(vector, &mut codes);
        }
        codes
    }
}
