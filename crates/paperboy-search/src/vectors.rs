//! The vector index: every paper's embedding in one contiguous matrix.
//!
//! A search is a dot product per paper (the vectors are L2-normalised, so it is the cosine). An
//! exact scan of 46k papers reads a 70 MB matrix and is bound by memory (about 8 ms), so the scan
//! reads a copy quantised to one byte per value instead, a quarter of the bytes, split over the
//! cores, and rescores a shortlist longer than the page with the exact vectors: the scores returned are
//! exact, and only a paper the quantisation pushed out of the shortlist could be missed
//! (`paperboy bench search` measures that recall against the exact scan). The index is derived
//! from the store's embeddings and saved as one file of exact vectors, rewritten whole and
//! renamed into place; the quantised copy is made when it is loaded.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use paperboy_core::PaperId;
use rayon::prelude::*;

use crate::embedder::DIMENSIONS;

const MAGIC: &[u8; 8] = b"PBVEC001";

/// Candidates rescored exactly per hit asked for, and at least this many more.
const SHORTLIST_FACTOR: usize = 2;
const SHORTLIST_EXTRA: usize = 64;

/// Embeddings of papers, searchable by cosine similarity.
#[derive(Debug, Default, Clone)]
pub struct VectorIndex {
    ids: Vec<PaperId>,
    vectors: Vec<f32>,
    rows: HashMap<PaperId, usize>,
    /// Each vector divided by its own scale and rounded to a byte: `vector ≈ codes * scale`.
    codes: Vec<i8>,
    scales: Vec<f32>,
}

/// A paper found by [`VectorIndex::search`] with its cosine similarity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub id: PaperId,
    pub score: f32,
}

impl VectorIndex {
    pub fn with_capacity(papers: usize) -> Self {
        VectorIndex {
            ids: Vec::with_capacity(papers),
            vectors: Vec::with_capacity(papers * DIMENSIONS),
            rows: HashMap::with_capacity(papers),
            codes: Vec::with_capacity(papers * DIMENSIONS),
            scales: Vec::with_capacity(papers),
        }
    }

    /// Adds a paper; `vector` must have [`DIMENSIONS`] values.
    pub fn push(&mut self, id: PaperId, vector: &[f32]) {
        debug_assert_eq!(vector.len(), DIMENSIONS);
        self.rows.insert(id, self.ids.len());
        self.ids.push(id);
        self.vectors.extend_from_slice(vector);
        self.scales.push(quantise(vector, &mut self.codes));
    }

    /// A copy without the papers in `left_out`, in the same order (what replacing papers
    /// starts from).
    pub fn without(&self, left_out: &HashSet<PaperId>) -> Self {
        let kept = self.ids.len().saturating_sub(left_out.len());
        let mut copy = VectorIndex::with_capacity(kept);
        for (row, id) in self.ids.iter().enumerate() {
            if left_out.contains(id) {
                continue;
            }
            copy.rows.insert(*id, copy.ids.len());
            copy.ids.push(*id);
            copy.vectors.extend_from_slice(self.row(row));
            copy.codes
                .extend_from_slice(&self.codes[row * DIMENSIONS..(row + 1) * DIMENSIONS]);
            copy.scales.push(self.scales[row]);
        }
        copy
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The embedding of a paper in the index.
    pub fn vector_of(&self, id: PaperId) -> Option<&[f32]> {
        Some(self.row(*self.rows.get(&id)?))
    }

    /// The `limit` papers most similar to `query`, best first, leaving out any paper `keep`
    /// refuses: the quantised scan's shortlist, rescored exactly.
    pub fn search(
        &self,
        query: &[f32],
        limit: usize,
        keep: impl Fn(PaperId) -> bool + Sync,
    ) -> Vec<Hit> {
        if limit == 0 || query.len() != DIMENSIONS {
            return Vec::new();
        }
        let mut query_codes = Vec::with_capacity(DIMENSIONS);
        quantise(query, &mut query_codes);
        let shortlist = limit.saturating_mul(SHORTLIST_FACTOR) + SHORTLIST_EXTRA;
        // Each core scans a share of the rows; the union of their shortlists is rescored.
        let rows_per_share = self
            .len()
            .div_ceil(rayon::current_num_threads().max(1))
            .max(1);
        let candidates: Vec<usize> = self
            .codes
            .par_chunks(rows_per_share * DIMENSIONS)
            .enumerate()
            .flat_map_iter(|(share, codes)| {
                pulp::Arch::new().dispatch(ShareScan {
                    index: self,
                    query: &query_codes,
                    codes,
                    first: share * rows_per_share,
                    count: shortlist,
                    keep: &keep,
                })
            })
            .collect();
        let mut hits = self.rescored(query, candidates);
        hits.truncate(limit);
        hits
    }

    /// The exact top `limit`: every stored vector scored in full. What [`VectorIndex::search`]
    /// is measured against.
    pub fn search_exact(&self, query: &[f32], limit: usize) -> Vec<Hit> {
        if limit == 0 || query.len() != DIMENSIONS {
            return Vec::new();
        }
        let rows = top_rows(
            self.vectors.chunks_exact(DIMENSIONS).enumerate(),
            limit,
            |_, vector| dot(query, vector),
            |_| true,
        );
        self.rescored(query, rows)
    }

    /// Rows scored with their exact vectors, best first; equal scores by id, so results are
    /// deterministic.
    fn rescored(&self, query: &[f32], rows: Vec<usize>) -> Vec<Hit> {
        let mut hits: Vec<Hit> = rows
            .into_iter()
            .map(|row| Hit {
                id: self.ids[row],
                score: dot(query, self.row(row)),
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        hits
    }

    fn row(&self, row: usize) -> &[f32] {
        &self.vectors[row * DIMENSIONS..(row + 1) * DIMENSIONS]
    }

    /// Writes the index to `path` (via a temporary file renamed into place).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        write_replacing(path, |out| {
            out.write_all(MAGIC)?;
            out.write_all(&(DIMENSIONS as u32).to_le_bytes())?;
            out.write_all(&(self.ids.len() as u64).to_le_bytes())?;
            for id in &self.ids {
                out.write_all(&id.0.to_le_bytes())?;
            }
            for value in &self.vectors {
                out.write_all(&value.to_le_bytes())?;
            }
            Ok(())
        })
    }

    /// How many papers an index written by [`VectorIndex::save`] holds, from its header alone.
    pub fn count_in(path: &Path) -> std::io::Result<usize> {
        read_header(&mut BufReader::new(std::fs::File::open(path)?), path)
    }

    /// Reads an index written by [`VectorIndex::save`].
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let mut input = BufReader::new(std::fs::File::open(path)?);
        let count = read_header(&mut input, path)?;
        let mut eight = [0u8; 8];
        let mut index = VectorIndex::with_capacity(count);
        for row in 0..count {
            input.read_exact(&mut eight)?;
            let id = PaperId(i64::from_le_bytes(eight));
            index.rows.insert(id, row);
            index.ids.push(id);
        }
        let mut bytes = vec![0u8; count * DIMENSIONS * 4];
        input.read_exact(&mut bytes)?;
        index.vectors = bytes
            .chunks_exact(4)
            .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
            .collect();
        for vector in index.vectors.chunks_exact(DIMENSIONS) {
            index.scales.push(quantise(vector, &mut index.codes));
        }
        Ok(index)
    }
}

/// Writes a file whole: `write` fills a temporary file beside `path` (its folder is made if
/// missing), which is synced and then renamed over `path`, so a reader never sees half a file.
pub(crate) fn write_replacing(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let temporary = path.with_extension("partial");
    let mut out = BufWriter::new(std::fs::File::create(&temporary)?);
    write(&mut out)?;
    out.into_inner()
        .map_err(|error| error.into_error())?
        .sync_all()?;
    std::fs::rename(&temporary, path)
}

/// Checks the header of a saved index (and that the file is as long as it says) and returns
/// the number of papers in it.
fn read_header(input: &mut impl Read, path: &Path) -> std::io::Result<usize> {
    let invalid = |what: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: {what}", path.display()),
        )
    };
    let mut magic = [0u8; 8];
    input.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(invalid("not a Paperboy vector index"));
    }
    let mut four = [0u8; 4];
    input.read_exact(&mut four)?;
    if u32::from_le_bytes(four) as usize != DIMENSIONS {
        return Err(invalid("vectors of another size"));
    }
    let mut eight = [0u8; 8];
    input.read_exact(&mut eight)?;
    let count =
        usize::try_from(u64::from_le_bytes(eight)).map_err(|_| invalid("too many vectors"))?;
    let expected = 20 + count as u64 * (8 + 4 * DIMENSIONS as u64);
    if std::fs::metadata(path)?.len() != expected {
        return Err(invalid("truncated"));
    }
    Ok(count)
}

/// The quantised scan of one share of the rows, `codes` starting at row `first`: the rows of
/// its `count` best candidates that `keep` admits. Run through [`pulp::Arch::dispatch`], it is
/// compiled for AVX2 as well and that version is taken where the CPU has it: the byte products
/// then take 32 values per instruction instead of 8 (the scan of 46k papers goes from 4.8 ms to
/// 1.7 ms), and other CPUs still run it.
struct ShareScan<'a, K> {
    index: &'a VectorIndex,
    query: &'a [i8],
    codes: &'a [i8],
    first: usize,
    count: usize,
    keep: &'a K,
}

impl<K: Fn(PaperId) -> bool> pulp::WithSimd for ShareScan<'_, K> {
    type Output = Vec<usize>;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> Vec<usize> {
        let ShareScan {
            index,
            query,
            codes,
            first,
            count,
            keep,
        } = self;
        top_rows(
            codes
                .chunks_exact(DIMENSIONS)
                .enumerate()
                .map(|(offset, codes)| (first + offset, codes)),
            count,
            |row, codes| dot_codes(query, codes) as f32 * index.scales[row],
            |row| keep(index.ids[row]),
        )
    }
}

/// The rows of the `count` best-scoring items that `keep` admits, in no particular order; the
/// heap's ties go to the earlier row. Inlined into its callers so that [`ShareScan`]'s AVX2
/// version covers the loop.
#[inline(always)]
fn top_rows<'a, T: 'a>(
    items: impl Iterator<Item = (usize, &'a [T])>,
    count: usize,
    score: impl Fn(usize, &[T]) -> f32,
    keep: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let mut best: BinaryHeap<Reverse<Ranked>> = BinaryHeap::with_capacity(count + 1);
    for (row, item) in items {
        let score = score(row, item);
        if best.len() == count && best.peek().is_some_and(|worst| score <= worst.0.score) {
            continue;
        }
        if !keep(row) {
            continue;
        }
        best.push(Reverse(Ranked { score, row }));
        if best.len() > count {
            best.pop();
        }
    }
    best.into_iter().map(|Reverse(ranked)| ranked.row).collect()
}

/// Appends `vector` rounded to bytes at its own scale (its largest magnitude maps to 127) and
/// returns the scale.
pub(crate) fn quantise(vector: &[f32], codes: &mut Vec<i8>) -> f32 {
    let largest = vector
        .iter()
        .fold(0f32, |largest, value| largest.max(value.abs()));
    let scale = if largest > 0.0 { largest / 127.0 } else { 1.0 };
    codes.extend(
        vector
            .iter()
            .map(|value| (value / scale).round().clamp(-127.0, 127.0) as i8),
    );
    scale
}

/// The dot product of two quantised vectors (integer sums vectorise as written).
#[inline(always)]
pub(crate) fn dot_codes(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum()
}

#[derive(Debug, Clone, Copy)]
struct Ranked {
    score: f32,
    row: usize,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    /// By score; on ties the earlier row ranks higher.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then(other.row.cmp(&self.row))
    }
}

/// The dot product, in eight independent lanes so that it compiles to SIMD.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..8 {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u32) -> Vec<f32> {
        let raw: Vec<f32> = (0..DIMENSIONS as u32)
            .map(|i| {
                ((i.wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(40_503)) % 1000) as f32 - 500.0
            })
            .collect();
        let norm = raw.iter().map(|x| x * x).sum::<f32>().sqrt();
        raw.iter().map(|x| x / norm).collect()
    }

    fn index(papers: u32) -> VectorIndex {
        let mut index = VectorIndex::with_capacity(papers as usize);
        for n in 0..papers {
            index.push(PaperId(i64::from(n) + 1), &unit(n));
        }
        index
    }

    #[test]
    fn finds_the_exact_top_hits_in_order() {
        let index = index(500);
        let query = unit(42);
        let hits = index.search(&query, 10, |_| true);
        assert_eq!(hits[0].id, PaperId(43));
        assert!((hits[0].score - 1.0).abs() < 1e-5);
        let mut brute: Vec<(f32, PaperId)> = (1..=500)
            .map(|n| {
                (
                    dot(&query, index.vector_of(PaperId(n)).unwrap()),
                    PaperId(n),
                )
            })
            .collect();
        brute.sort_by(|a, b| b.0.total_cmp(&a.0));
        let expected: Vec<PaperId> = brute.iter().take(10).map(|(_, id)| *id).collect();
        assert_eq!(hits.iter().map(|hit| hit.id).collect::<Vec<_>>(), expected);
        assert!(hits.windows(2).all(|pair| pair[0].score >= pair[1].score));
    }

    #[test]
    fn the_quantised_scan_returns_the_exact_hits_and_scores() {
        let index = index(2000);
        for seed in [3, 500, 1999, 4242] {
            let query = unit(seed);
            for limit in [1, 10, 100] {
                let exact = index.search_exact(&query, limit);
                assert_eq!(exact.len(), limit);
                assert_eq!(index.search(&query, limit, |_| true), exact, "seed {seed}");
            }
        }
    }

    #[test]
    fn quantising_keeps_a_vector_to_within_half_a_step() {
        let vector = unit(11);
        let mut codes = Vec::new();
        let scale = quantise(&vector, &mut codes);
        assert_eq!(codes.len(), DIMENSIONS);
        assert!(codes.iter().any(|&code| code.abs() == 127));
        for (value, code) in vector.iter().zip(&codes) {
            assert!((value - f32::from(*code) * scale).abs() <= scale / 2.0 + 1e-7);
        }
        let mut zero_codes = Vec::new();
        assert_eq!(quantise(&[0.0; DIMENSIONS], &mut zero_codes), 1.0);
        assert!(zero_codes.iter().all(|&code| code == 0));
    }

    #[test]
    fn filters_apply_before_the_limit() {
        let index = index(100);
        let hits = index.search(&unit(7), 5, |id| id.0 % 2 == 0 && id != PaperId(8));
        assert_eq!(hits.len(), 5);
        assert!(
            hits.iter()
                .all(|hit| hit.id.0 % 2 == 0 && hit.id != PaperId(8))
        );
        assert!(index.search(&unit(7), 0, |_| true).is_empty());
        assert!(
            index.search(&[1.0, 2.0], 5, |_| true).is_empty(),
            "a query of the wrong size finds nothing"
        );
    }

    #[test]
    fn saves_and_loads_and_rejects_damaged_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vectors/minilm.bin");
        let original = index(50);
        original.save(&path).unwrap();
        let loaded = VectorIndex::load(&path).unwrap();
        assert_eq!(loaded.len(), 50);
        assert_eq!(VectorIndex::count_in(&path).unwrap(), 50);
        assert_eq!(loaded.vector_of(PaperId(9)), original.vector_of(PaperId(9)));
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
        assert!(VectorIndex::count_in(&path).is_err());
        assert!(
            VectorIndex::load(&path)
                .unwrap_err()
                .to_string()
                .contains("truncated")
        );
        std::fs::write(&path, b"garbage!garbage!garbage!").unwrap();
        assert!(VectorIndex::load(&path).is_err());
    }
}
