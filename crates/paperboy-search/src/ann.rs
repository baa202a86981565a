//! The approximate vector index: an HNSW graph over a base file's vectors, from usearch.
//!
//! Why usearch (docs/search.md, "Approximate search", has the side-by-side measurements): it
//! stores vectors at one byte per value, so the graph of a million papers is about 0.5 GB
//! instead of 1.6; it maps a saved graph (`view`) instead of loading it, so opening costs no
//! read of the file; it filters inside the walk (a predicate on the key), which is how date
//! and category filters still fill a page; and it adds and removes vectors in a loaded graph,
//! which is how a compaction updates the graph instead of building it again. The pure-Rust
//! `hnsw_rs`, measured beside it, builds and searches slower at the same recall and keeps its
//! graph in memory.
//!
//! Keys are paper ids. The graph holds each paper's codes from [`crate::vectors`] (its values
//! rounded to bytes at the paper's own scale, the largest magnitude at 127) and is searched with
//! the query's codes; the metric is the cosine, which no scale changes. The graph only
//! proposes candidates, which [`crate::vectors`] rescores with the exact vectors.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind, VectorType};

use crate::embedder::DIMENSIONS;
use crate::mapped::temporary_beside;

/// Edges per node (HNSW's `M`), and candidates kept while inserting (`ef_construction`). At a
/// million papers M 16 / 128 found 0.963 of the exact top 10 at ef 1,200 with one-byte
/// storage (0.970 with f16), M 24 / 200 finds 0.995 at the same ef, for a graph 12% larger
/// and a build of about 4 minutes (docs/benchmarks.md, "Scale").
pub const CONNECTIVITY: usize = 24;
pub const EXPANSION_ADD: usize = 200;
/// Candidates kept while searching (`ef`) in a graph of up to 1.56 million papers; a search
/// asking for more keeps that many. Swept with `paperboy bench scale` on a million papers:
/// ef 800 finds 0.979 of the exact top 10, 1,200 0.989–0.995 (and 0.990 of the top 100) in
/// 3 ms, 1,600 0.9997. A smaller graph only finds more with it.
pub const EXPANSION_SEARCH: usize = 1_200;
/// Past 1.56 million papers `ef` grows with the graph, one candidate per this many papers: at
/// 2.6 million papers ef 1,200 found 0.959 of the exact top 10 and 2,000 (this rule's value
/// there) 0.984, in 4.9 ms (docs/benchmarks.md, "Scale").
const PAPERS_PER_EXPANSION: usize = 1_300;
/// The most candidates a search keeps, however large the graph (10 million papers).
const MAX_EXPANSION: usize = 8_000;

/// The `ef` a graph of `papers` papers is searched with (see [`PAPERS_PER_EXPANSION`]).
pub fn expansion_for(papers: usize) -> usize {
    (papers / PAPERS_PER_EXPANSION).clamp(EXPANSION_SEARCH, MAX_EXPANSION)
}
/// How the graph stores its vectors: one byte per value, the codes of [`crate::vectors`].
/// Given floats, usearch would round them itself at a scale of 1/127 of the vector's length,
/// too coarse for 384 values of about 0.05 each (recall@10 before the exact rescore 0.92 at
/// 100,000 papers); at each paper's own scale the graph finds 0.992 (f16: 0.9997), and the
/// exact rescore of its shortlist makes up the difference, at 58% of f16's size at equal M
/// (docs/benchmarks.md, "Scale"). A graph saved with another kind (an earlier version's f16)
/// is read as it is: usearch takes the kind from the file and converts the codes it is given.
pub const STORAGE: ScalarKind = ScalarKind::I8;

/// A graph mapped from its file.
pub(crate) struct Ann {
    index: Index,
    path: PathBuf,
}

impl std::fmt::Debug for Ann {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ann")
            .field("path", &self.path)
            .field("size", &self.index.size())
            .finish()
    }
}

fn failed(path: &Path, error: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("{}: the vector graph: {error}", path.display()))
}

/// How the graph is built: the storage kind is the one thing a caller may choose (measured).
pub fn options(quantization: ScalarKind) -> IndexOptions {
    IndexOptions {
        dimensions: DIMENSIONS,
        metric: MetricKind::Cos,
        quantization,
        connectivity: CONNECTIVITY,
        expansion_add: EXPANSION_ADD,
        expansion_search: EXPANSION_SEARCH,
        multi: false,
    }
}

/// A new graph in memory holding `ids` with their `vectors` (row after row, floats or codes),
/// added by every core at once.
pub fn build_in_memory<T: VectorType + Sync>(
    ids: &[i64],
    vectors: &[T],
    quantization: ScalarKind,
) -> Result<Index, String> {
    let index = Index::new(&options(quantization)).map_err(|error| error.to_string())?;
    index
        .reserve_capacity_and_threads(ids.len(), rayon::current_num_threads())
        .map_err(|error| error.to_string())?;
    add_all(&index, ids, vectors)?;
    Ok(index)
}

fn add_all<T: VectorType + Sync>(index: &Index, ids: &[i64], vectors: &[T]) -> Result<(), String> {
    ids.par_iter()
        .zip(vectors.par_chunks_exact(DIMENSIONS))
        .try_for_each(|(id, vector)| index.add(*id as u64, vector))
        .map_err(|error| error.to_string())
}

/// Saves `index` to `path` whole: written under a temporary name, synced, renamed.
fn save_replacing(index: &Index, path: &Path) -> std::io::Result<()> {
    let temporary = temporary_beside(path)?;
    let name = temporary.to_string_lossy();
    index.save(&name).map_err(|error| failed(path, error))?;
    std::fs::File::open(&temporary)?.sync_all()?;
    std::fs::rename(&temporary, path)
}

impl Ann {
    /// Builds the graph of `ids` with their `codes` and saves it at `path`.
    pub(crate) fn build(path: &Path, ids: &[i64], codes: &[i8]) -> std::io::Result<()> {
        let index = build_in_memory(ids, codes, STORAGE).map_err(|e| failed(path, e))?;
        save_replacing(&index, path)
    }

    /// Maps the graph saved at `path`, which must hold `count` papers.
    pub(crate) fn view(path: &Path, count: usize) -> std::io::Result<Ann> {
        let index = Index::new(&options(STORAGE)).map_err(|error| failed(path, error))?;
        index
            .view(&path.to_string_lossy())
            .map_err(|error| failed(path, error))?;
        if index.size() != count || index.dimensions() != DIMENSIONS {
            return Err(failed(
                path,
                format!("holds {} vectors, the index {count}", index.size()),
            ));
        }
        index.change_expansion_search(expansion_for(count));
        Ok(Ann {
            index,
            path: path.to_path_buf(),
        })
    }

    pub(crate) fn set_expansion(&self, expansion: usize) {
        self.index.change_expansion_search(expansion);
    }

    /// The ids of up to `count` papers nearest the query whose codes are `query` that `keep`
    /// admits.
    pub(crate) fn search(
        &self,
        query: &[i8],
        count: usize,
        keep: &dyn Fn(i64) -> bool,
    ) -> Vec<i64> {
        let found = self
            .index
            .filtered_search(query, count, |key| keep(key as i64));
        match found {
            Ok(matches) => matches.keys.into_iter().map(|key| key as i64).collect(),
            // Only a failed allocation can fail a search: the caller then scans.
            Err(_) => Vec::new(),
        }
    }

    /// Writes at `path` this graph with the papers in `removed` taken out and `ids` (with
    /// their `codes`) added: a compaction's graph, without building it again.
    pub(crate) fn updated(
        &self,
        path: &Path,
        removed: &[i64],
        ids: &[i64],
        codes: &[i8],
    ) -> std::io::Result<()> {
        let index = Index::new(&options(STORAGE)).map_err(|error| failed(path, error))?;
        index
            .load(&self.path.to_string_lossy())
            .map_err(|error| failed(&self.path, error))?;
        index
            .reserve_capacity_and_threads(index.size() + ids.len(), rayon::current_num_threads())
            .map_err(|error| failed(path, error))?;
        for id in removed {
            index
                .remove(*id as u64)
                .map_err(|error| failed(path, error))?;
        }
        add_all(&index, ids, codes).map_err(|error| failed(path, error))?;
        save_replacing(&index, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ef_grows_with_the_graph_past_the_size_it_was_chosen_at() {
        assert_eq!(expansion_for(100_000), EXPANSION_SEARCH);
        assert_eq!(expansion_for(1_000_000), EXPANSION_SEARCH);
        assert_eq!(expansion_for(2_600_000), 2_000);
        assert_eq!(expansion_for(usize::MAX), MAX_EXPANSION);
    }
}
