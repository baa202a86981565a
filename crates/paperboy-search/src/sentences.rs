//! Sentence vectors: a paper's title and each sentence of its abstract, embedded alone.
//!
//! A claim or a question is usually answered by one sentence of an abstract, and the embedding
//! of the whole abstract averages that sentence with the rest. The best cosine between the query
//! and any one of a paper's sentences is therefore a ranking signal of its own: on SciFact's
//! train split it alone scores nDCG@10 0.685 against the whole abstract's 0.660, and the hybrid
//! ranking with it 0.750 against 0.735 (docs/search.md). Late chunking (pooling the sentences'
//! tokens out of the whole abstract's pass, which would cost nothing extra) was measured too and
//! gained almost nothing (hybrid 0.737): a sentence has to be read on its own.
//!
//! Only the candidates a query already found are scored against their sentences, so the vectors
//! are kept at one byte per value with a scale per sentence (a quarter of the memory; the
//! candidates' order barely moves). Each paper's sentences are encoded as one blob, which is
//! both what the store keeps under the paper's content hash and what the index file holds.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use paperboy_core::PaperId;

use crate::embedder::DIMENSIONS;
use crate::mapped::{Mapped, invalid, temporary_beside};
use crate::vectors::{dot_codes, quantise};

/// Sentences embedded per paper, the title included; an abstract longer than this (rare: arXiv
/// abstracts have about seven) keeps its first ones.
pub const MAX_SENTENCES: usize = 32;

const MAGIC: &[u8; 8] = b"PBSEN002";
/// Bytes of one encoded sentence: its scale, then its codes.
const ENCODED_SENTENCE: usize = 4 + DIMENSIONS;

/// The texts embedded for a paper's sentences: its title, then the sentences of its abstract.
pub fn sentence_texts(title: &str, abstract_text: &str) -> Vec<String> {
    let title = title.trim();
    std::iter::once(title)
        .filter(|title| !title.is_empty())
        .chain(split_sentences(abstract_text))
        .take(MAX_SENTENCES)
        .map(str::to_owned)
        .collect()
}

/// Splits text after `.`, `?` or `!` followed by white space and a capital letter, a digit or an
/// opening bracket (so "e.g. the" and "1.5" stay whole), trimming each sentence.
pub fn split_sentences(text: &str) -> Vec<&str> {
    let mut sentences = Vec::new();
    let mut start = 0;
    for (at, ch) in text.char_indices() {
        if !matches!(ch, '.' | '?' | '!') {
            continue;
        }
        let end = at + ch.len_utf8();
        let rest = &text[end..];
        let after_space = rest.trim_start();
        let spaced = after_space.len() < rest.len();
        let opens = after_space
            .chars()
            .next()
            .is_some_and(|next| next.is_uppercase() || next.is_ascii_digit() || next == '(');
        if spaced && opens {
            let sentence = text[start..end].trim();
            if !sentence.is_empty() {
                sentences.push(sentence);
            }
            start = end;
        }
    }
    let last = text[start..].trim();
    if !last.is_empty() {
        sentences.push(last);
    }
    sentences
}

/// One paper's sentence vectors as stored: per sentence its scale (`f32`, little-endian), then
/// its values as bytes at that scale.
pub fn encode(vectors: &[Vec<f32>]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(vectors.len() * ENCODED_SENTENCE);
    let mut codes = Vec::with_capacity(DIMENSIONS);
    for vector in vectors {
        codes.clear();
        let scale = quantise(vector, &mut codes);
        bytes.extend_from_slice(&scale.to_le_bytes());
        bytes.extend(codes.iter().map(|&code| code as u8));
    }
    bytes
}

/// Whether `bytes` is a whole number of encoded sentences.
pub fn is_encoded(bytes: &[u8]) -> bool {
    bytes.len().is_multiple_of(ENCODED_SENTENCE)
}

/// Every paper's sentence vectors: a base file, mapped, and a delta in memory of the papers
/// changed since it was written, which shadow their base rows (the segments of
/// [`crate::vectors`]).
///
/// File format (`PBSEN002`, little-endian): a 64-byte header (magic, dimensions, papers, bytes
/// of sentences), then, each on a 64-byte boundary, the ids (`i64`, ascending), where each
/// paper's sentences start (`u64`, one more than the papers) and the sentences, each paper's
/// as [`encode`] gives them. Earlier versions' files (`PBSEN001`) are not read; their index is
/// built again.
#[derive(Debug, Default, Clone)]
pub struct SentenceIndex {
    base: Option<Arc<SentenceBase>>,
    delta: Arc<HashMap<i64, Vec<u8>>>,
    /// Papers of the delta in the base too, and their sentences there.
    shadowed: usize,
    shadowed_sentences: usize,
    delta_sentences: usize,
}

#[derive(Debug)]
struct SentenceBase {
    file: Mapped,
    count: usize,
    blobs: usize,
}

const HEADER: usize = 64;

fn align(offset: usize) -> usize {
    offset.div_ceil(64) * 64
}

/// Where the ids, the starts and the sentences of a file with `count` papers begin.
fn layout(count: usize) -> (usize, usize, usize) {
    let ids = HEADER;
    let starts = align(ids + count * 8);
    let blobs = align(starts + (count + 1) * 8);
    (ids, starts, blobs)
}

impl SentenceBase {
    fn open(path: &Path) -> std::io::Result<SentenceBase> {
        let file = Mapped::open(path)?;
        let bytes = file.bytes();
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return Err(file.invalid(
                "not a sentence index of this version (an earlier version's is built again)",
            ));
        }
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
        if u32::from_le_bytes(bytes[8..12].try_into().unwrap_or([0; 4])) as usize != DIMENSIONS {
            return Err(file.invalid("vectors of another size"));
        }
        let count = usize::try_from(word(16)).map_err(|_| file.invalid("too many papers"))?;
        let blobs = usize::try_from(word(24)).map_err(|_| file.invalid("too many sentences"))?;
        if count > bytes.len() || blobs > bytes.len() || layout(count).2 + blobs != bytes.len() {
            return Err(file.invalid("truncated"));
        }
        let base = SentenceBase { file, count, blobs };
        let (ids, starts) = base.try_sections()?;
        let ordered = starts.first() == Some(&0)
            && starts.windows(2).all(|pair| pair[0] <= pair[1])
            && starts.last().copied() == Some(blobs as u64)
            && ids.windows(2).all(|pair| pair[0] < pair[1]);
        if !ordered {
            return Err(base.file.invalid("sentence offsets out of order"));
        }
        Ok(base)
    }

    fn try_sections(&self) -> std::io::Result<(&[i64], &[u64])> {
        let bytes = self.file.bytes();
        let (ids, starts, blobs) = layout(self.count);
        let misaligned = |_| self.file.invalid("misaligned");
        Ok((
            bytemuck::try_cast_slice(&bytes[ids..ids + self.count * 8]).map_err(misaligned)?,
            bytemuck::try_cast_slice(&bytes[starts..blobs.min(starts + (self.count + 1) * 8)])
                .map_err(misaligned)?,
        ))
    }

    fn ids(&self) -> &[i64] {
        self.try_sections().map_or(&[][..], |(ids, _)| ids)
    }

    /// The encoded sentences of the paper in `row`.
    fn blob(&self, row: usize) -> &[u8] {
        let Ok((_, starts)) = self.try_sections() else {
            return &[];
        };
        let from = layout(self.count).2;
        &self.file.bytes()[from + starts[row] as usize..from + starts[row + 1] as usize]
    }

    fn row_of(&self, id: i64) -> Option<usize> {
        self.ids().binary_search(&id).ok()
    }

    /// How many sentences the paper in `row` has.
    fn sentences_in(&self, row: usize) -> usize {
        self.try_sections().map_or(0, |(_, starts)| {
            (starts[row + 1] - starts[row]) as usize / ENCODED_SENTENCE
        })
    }

    /// The encoded sentences of the paper in `row`, read from the file rather than through the
    /// mapping ([`crate::mapped`] says why).
    fn read_blob(&self, row: usize) -> std::io::Result<Vec<u8>> {
        let (_, starts) = self.try_sections()?;
        let (from, to) = (starts[row] as usize, starts[row + 1] as usize);
        let mut blob = vec![0; to - from];
        self.file
            .read_exact_at(&mut blob, layout(self.count).2 + from)?;
        Ok(blob)
    }
}

impl SentenceIndex {
    pub fn new() -> Self {
        SentenceIndex::default()
    }

    /// Adds a paper's sentences, encoded by [`encode`], or replaces those it has (a blob of the
    /// wrong length adds none).
    pub fn push(&mut self, id: PaperId, encoded: &[u8]) {
        let encoded = if is_encoded(encoded) { encoded } else { &[] };
        let delta = Arc::make_mut(&mut self.delta);
        match delta.insert(id.0, encoded.to_vec()) {
            Some(old) => self.delta_sentences -= old.len() / ENCODED_SENTENCE,
            None => {
                if let Some(base) = &self.base
                    && let Some(row) = base.row_of(id.0)
                {
                    self.shadowed += 1;
                    self.shadowed_sentences += base.sentences_in(row);
                }
            }
        }
        self.delta_sentences += encoded.len() / ENCODED_SENTENCE;
    }

    /// A copy with `papers` added or put in place of their earlier sentences: the base is
    /// shared, the delta copied.
    pub fn with_papers<'a>(&self, papers: impl IntoIterator<Item = (PaperId, &'a [u8])>) -> Self {
        let mut copy = self.clone();
        for (id, encoded) in papers {
            copy.push(id, encoded);
        }
        copy
    }

    pub fn len(&self) -> usize {
        self.base.as_ref().map_or(0, |base| base.count) + self.delta.len() - self.shadowed
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sentences held, over all papers.
    pub fn sentences(&self) -> usize {
        self.base
            .as_ref()
            .map_or(0, |base| base.blobs / ENCODED_SENTENCE)
            + self.delta_sentences
            - self.shadowed_sentences
    }

    /// Quantises a query vector once for [`SentenceIndex::best_cosine`].
    pub fn prepare(query: &[f32]) -> PreparedQuery {
        let mut codes = Vec::with_capacity(DIMENSIONS);
        let scale = quantise(query, &mut codes);
        PreparedQuery { scale, codes }
    }

    fn blob_of(&self, id: PaperId) -> Option<Cow<'_, [u8]>> {
        match self.delta.get(&id.0) {
            Some(blob) => Some(Cow::Borrowed(blob)),
            None => {
                let base = self.base.as_ref()?;
                base.read_blob(base.row_of(id.0)?)
                    .inspect_err(|error| tracing::warn!(%error, "cannot read a paper's sentences"))
                    .ok()
                    .map(Cow::Owned)
            }
        }
    }

    /// The cosine of the paper's sentence closest to the query, if the paper has sentences.
    pub fn best_cosine(&self, id: PaperId, query: &PreparedQuery) -> Option<f32> {
        self.blob_of(id)?
            .chunks_exact(ENCODED_SENTENCE)
            .map(|sentence| {
                let (scale, codes) = sentence.split_at(4);
                let scale = f32::from_le_bytes([scale[0], scale[1], scale[2], scale[3]]);
                let codes: &[i8] = bytemuck::cast_slice(codes);
                dot_codes(&query.codes, codes) as f32 * query.scale * scale
            })
            .reduce(f32::max)
    }

    /// Every paper's id with its encoded sentences, in ascending order of id.
    fn merged(&self) -> Vec<(i64, &[u8])> {
        let mut rows: Vec<(i64, &[u8])> = self
            .delta
            .iter()
            .map(|(id, blob)| (*id, blob.as_slice()))
            .collect();
        if let Some(base) = &self.base {
            rows.extend(
                base.ids()
                    .iter()
                    .enumerate()
                    .filter(|(_, id)| !self.delta.contains_key(id))
                    .map(|(row, id)| (*id, base.blob(row))),
            );
        }
        rows.sort_unstable_by_key(|(id, _)| *id);
        rows
    }

    /// Writes the whole index (base and delta, compacted) as a new base file at `path` and
    /// returns it read back from there, with an empty delta.
    pub fn save(&self, path: &Path) -> std::io::Result<SentenceIndex> {
        let rows = self.merged();
        let mut writer = SentenceWriter::create(path, rows.len())?;
        for (id, blob) in rows {
            writer.push(id, blob)?;
        }
        writer.finish()?;
        SentenceIndex::open(path, None)
    }

    /// Writes the delta alone at `path`, or removes the file when the delta is empty.
    pub fn save_delta(&self, path: &Path) -> std::io::Result<()> {
        if self.delta.is_empty() {
            return match std::fs::remove_file(path) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
                _ => Ok(()),
            };
        }
        let mut rows: Vec<(&i64, &Vec<u8>)> = self.delta.iter().collect();
        rows.sort_unstable_by_key(|(id, _)| **id);
        let mut writer = SentenceWriter::create(path, rows.len())?;
        for (id, blob) in rows {
            writer.push(*id, blob)?;
        }
        writer.finish()
    }

    /// Opens the base file at `path` (mapped), with the delta saved at `delta` read into
    /// memory.
    pub fn open(path: &Path, delta: Option<&Path>) -> std::io::Result<Self> {
        let mut index = SentenceIndex {
            base: Some(Arc::new(SentenceBase::open(path)?)),
            ..SentenceIndex::default()
        };
        if let Some(delta) = delta.filter(|delta| delta.exists()) {
            let saved = SentenceBase::open(delta)?;
            for (row, id) in saved.ids().iter().enumerate() {
                index.push(PaperId(*id), saved.blob(row));
            }
        }
        Ok(index)
    }
}

/// Writes a sentence file paper by paper, in ascending order of id, without holding it in
/// memory; renamed into place by [`SentenceWriter::finish`].
pub(crate) struct SentenceWriter {
    path: std::path::PathBuf,
    temporary: std::path::PathBuf,
    file: std::fs::File,
    count: usize,
    ids: Vec<u8>,
    starts: Vec<u8>,
    blobs: BufWriter<std::fs::File>,
    written: u64,
    last: Option<i64>,
}

impl SentenceWriter {
    pub(crate) fn create(path: &Path, count: usize) -> std::io::Result<Self> {
        let temporary = temporary_beside(path)?;
        let file = std::fs::File::create(&temporary)?;
        let mut blobs = file.try_clone()?;
        blobs.seek(SeekFrom::Start(layout(count).2 as u64))?;
        Ok(SentenceWriter {
            path: path.to_path_buf(),
            temporary,
            file,
            count,
            ids: Vec::with_capacity(count * 8),
            starts: 0u64.to_le_bytes().to_vec(),
            blobs: BufWriter::with_capacity(1 << 20, blobs),
            written: 0,
            last: None,
        })
    }

    /// Adds the next paper's sentences (ids must ascend; a blob of the wrong length adds none).
    pub(crate) fn push(&mut self, id: i64, encoded: &[u8]) -> std::io::Result<()> {
        if self.ids.len() / 8 == self.count || self.last.is_some_and(|last| last >= id) {
            return Err(invalid(
                &self.path,
                "papers must come once each, in ascending order of id",
            ));
        }
        self.last = Some(id);
        let encoded = if is_encoded(encoded) { encoded } else { &[] };
        self.blobs.write_all(encoded)?;
        self.written += encoded.len() as u64;
        self.ids.extend_from_slice(&id.to_le_bytes());
        self.starts.extend_from_slice(&self.written.to_le_bytes());
        Ok(())
    }

    pub(crate) fn finish(self) -> std::io::Result<()> {
        if self.ids.len() / 8 != self.count {
            return Err(invalid(&self.path, "fewer papers written than announced"));
        }
        self.blobs
            .into_inner()
            .map_err(|error| error.into_error())?;
        let (ids, starts, _) = layout(self.count);
        let mut header = Vec::with_capacity(32);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&(DIMENSIONS as u32).to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&(self.count as u64).to_le_bytes());
        header.extend_from_slice(&self.written.to_le_bytes());
        self.file.write_all_at(&header, 0)?;
        self.file.write_all_at(&self.ids, ids as u64)?;
        self.file.write_all_at(&self.starts, starts as u64)?;
        // The gaps before each section's boundary are zeros the file must hold too.
        self.file
            .set_len((layout(self.count).2 as u64) + self.written)?;
        self.file.sync_all()?;
        std::fs::rename(&self.temporary, &self.path)
    }
}

/// A query vector quantised for scoring against sentences.
#[derive(Debug, Clone)]
pub struct PreparedQuery {
    scale: f32,
    codes: Vec<i8>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors::dot;

    #[test]
    fn splits_at_sentence_ends_only() {
        let text = "We study X, e.g. the effect of Y. Results improve by 1.5 points! \
                    Why? (i) Because 3 runs agree.\n Data at https://a.b/c.d is public.";
        assert_eq!(
            split_sentences(text),
            [
                "We study X, e.g. the effect of Y.",
                "Results improve by 1.5 points!",
                "Why?",
                "(i) Because 3 runs agree.",
                "Data at https://a.b/c.d is public.",
            ]
        );
        assert!(split_sentences("  ").is_empty());
        assert_eq!(split_sentences("No end"), ["No end"]);
        assert_eq!(split_sentences("Ends. É then. "), ["Ends.", "É then."]);
        let texts = sentence_texts(" A title ", "One. Two.");
        assert_eq!(texts, ["A title", "One.", "Two."]);
        assert_eq!(sentence_texts("", "One."), ["One."]);
        let long = "Word. ".repeat(100);
        assert_eq!(sentence_texts("T", &long).len(), MAX_SENTENCES);
    }

    fn unit(seed: usize) -> Vec<f32> {
        let raw: Vec<f32> = (0..DIMENSIONS)
            .map(|i| ((i * 31 + seed * 17) % 23) as f32 - 11.0)
            .collect();
        let norm = raw.iter().map(|x| x * x).sum::<f32>().sqrt();
        raw.iter().map(|x| x / norm).collect()
    }

    #[test]
    fn scores_the_closest_sentence_and_survives_a_round_trip() {
        let mut index = SentenceIndex::new();
        index.push(PaperId(7), &encode(&[unit(1), unit(2), unit(3)]));
        index.push(PaperId(8), &encode(&[]));
        index.push(PaperId(9), &encode(&[unit(4)]));
        let query = unit(2);
        let prepared = SentenceIndex::prepare(&query);
        let best = index.best_cosine(PaperId(7), &prepared).unwrap();
        let exact = [1, 2, 3]
            .map(|seed| dot(&query, &unit(seed)))
            .into_iter()
            .fold(f32::MIN, f32::max);
        assert!((best - exact).abs() < 0.01, "{best} against {exact}");
        assert_eq!(index.best_cosine(PaperId(8), &prepared), None);
        assert_eq!(index.best_cosine(PaperId(10), &prepared), None);
        assert_eq!(index.sentences(), 4);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sentences.bin");
        let loaded = index.save(&path).unwrap();
        assert_eq!(loaded.len(), 3);
        assert_eq!(loaded.best_cosine(PaperId(7), &prepared), Some(best));
        assert_eq!(loaded.best_cosine(PaperId(8), &prepared), None);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(
            SentenceIndex::open(&path, None)
                .unwrap_err()
                .to_string()
                .contains("truncated")
        );
        std::fs::write(&path, b"garbage!garbage!garbage!garbage!").unwrap();
        assert!(SentenceIndex::open(&path, None).is_err());
    }

    #[test]
    fn changed_papers_shadow_the_mapped_base_until_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let (path, delta_path) = (dir.path().join("s.bin"), dir.path().join("s.delta"));
        let mut index = SentenceIndex::new();
        for id in 1..=20 {
            index.push(PaperId(id), &encode(&[unit(id as usize), unit(100)]));
        }
        let base = index.save(&path).unwrap();
        assert_eq!((base.len(), base.sentences()), (20, 40));
        let changed = base.with_papers([
            (PaperId(3), encode(&[unit(50)]).as_slice()),
            (PaperId(21), encode(&[unit(51), unit(52)]).as_slice()),
        ]);
        let prepared = SentenceIndex::prepare(&unit(3));
        let check = |index: &SentenceIndex| {
            assert_eq!((index.len(), index.sentences()), (21, 41));
            let exact = |seed| dot(&unit(3), &unit(seed));
            let best = index.best_cosine(PaperId(3), &prepared).unwrap();
            assert!(
                (best - exact(50)).abs() < 0.01,
                "paper 3 has only its new sentence"
            );
            assert!(index.best_cosine(PaperId(21), &prepared).is_some());
            assert!(index.best_cosine(PaperId(4), &prepared).is_some());
        };
        check(&changed);
        assert_eq!(base.len(), 20, "the index it came from is unchanged");
        changed.save_delta(&delta_path).unwrap();
        check(&SentenceIndex::open(&path, Some(&delta_path)).unwrap());
        let compacted = changed.save(&path).unwrap();
        compacted.save_delta(&delta_path).unwrap();
        assert!(!delta_path.exists());
        check(&compacted);
        check(&SentenceIndex::open(&path, Some(&delta_path)).unwrap());
    }

    #[test]
    fn a_blob_of_the_wrong_length_adds_no_sentences() {
        let mut index = SentenceIndex::new();
        index.push(PaperId(1), &[1, 2, 3]);
        assert_eq!(index.len(), 1);
        assert_eq!(index.sentences(), 0);
        assert!(!is_encoded(&[0; 5]));
        assert!(is_encoded(&encode(&[unit(1)])));
    }
}
