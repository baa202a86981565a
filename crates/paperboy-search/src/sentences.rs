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

use std::collections::{HashMap, HashSet};
use std::io::{BufReader, Read, Write};
use std::path::Path;

use paperboy_core::PaperId;

use crate::embedder::DIMENSIONS;
use crate::vectors::{dot_codes, quantise, write_replacing};

/// Sentences embedded per paper, the title included; an abstract longer than this (rare: arXiv
/// abstracts have about seven) keeps its first ones.
pub const MAX_SENTENCES: usize = 32;

const MAGIC: &[u8; 8] = b"PBSEN001";
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

/// Every paper's sentence vectors.
#[derive(Debug, Default, Clone)]
pub struct SentenceIndex {
    ids: Vec<PaperId>,
    rows: HashMap<PaperId, usize>,
    /// Row `r`'s sentences are `starts[r]..starts[r + 1]`.
    starts: Vec<u32>,
    scales: Vec<f32>,
    codes: Vec<i8>,
}

impl SentenceIndex {
    pub fn new() -> Self {
        SentenceIndex {
            starts: vec![0],
            ..SentenceIndex::default()
        }
    }

    /// Adds a paper's sentences, encoded by [`encode`] (a blob of the wrong length adds none).
    pub fn push(&mut self, id: PaperId, encoded: &[u8]) {
        if is_encoded(encoded) {
            for sentence in encoded.chunks_exact(ENCODED_SENTENCE) {
                let (scale, codes) = sentence.split_at(4);
                self.scales
                    .push(f32::from_le_bytes([scale[0], scale[1], scale[2], scale[3]]));
                self.codes.extend(codes.iter().map(|&code| code as i8));
            }
        }
        self.rows.insert(id, self.ids.len());
        self.ids.push(id);
        self.starts.push(self.scales.len() as u32);
    }

    /// A copy without the papers in `left_out`, in the same order (what replacing papers
    /// starts from).
    pub fn without(&self, left_out: &HashSet<PaperId>) -> Self {
        let mut copy = SentenceIndex::new();
        for (row, id) in self.ids.iter().enumerate() {
            if left_out.contains(id) {
                continue;
            }
            let sentences = self.starts[row] as usize..self.starts[row + 1] as usize;
            copy.scales
                .extend_from_slice(&self.scales[sentences.clone()]);
            copy.codes.extend_from_slice(
                &self.codes[sentences.start * DIMENSIONS..sentences.end * DIMENSIONS],
            );
            copy.rows.insert(*id, copy.ids.len());
            copy.ids.push(*id);
            copy.starts.push(copy.scales.len() as u32);
        }
        copy
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Sentences held, over all papers.
    pub fn sentences(&self) -> usize {
        self.scales.len()
    }

    /// Quantises a query vector once for [`SentenceIndex::best_cosine`].
    pub fn prepare(query: &[f32]) -> PreparedQuery {
        let mut codes = Vec::with_capacity(DIMENSIONS);
        let scale = quantise(query, &mut codes);
        PreparedQuery { scale, codes }
    }

    /// The cosine of the paper's sentence closest to the query, if the paper has sentences.
    pub fn best_cosine(&self, id: PaperId, query: &PreparedQuery) -> Option<f32> {
        let row = *self.rows.get(&id)?;
        let sentences = self.starts[row] as usize..self.starts[row + 1] as usize;
        sentences
            .map(|sentence| {
                let codes = &self.codes[sentence * DIMENSIONS..(sentence + 1) * DIMENSIONS];
                dot_codes(&query.codes, codes) as f32 * query.scale * self.scales[sentence]
            })
            .reduce(f32::max)
    }

    /// Writes the index to `path` (via a temporary file renamed into place).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        write_replacing(path, |out| {
            out.write_all(MAGIC)?;
            out.write_all(&(DIMENSIONS as u32).to_le_bytes())?;
            out.write_all(&(self.ids.len() as u64).to_le_bytes())?;
            out.write_all(&(self.scales.len() as u64).to_le_bytes())?;
            for id in &self.ids {
                out.write_all(&id.0.to_le_bytes())?;
            }
            for start in &self.starts {
                out.write_all(&start.to_le_bytes())?;
            }
            for scale in &self.scales {
                out.write_all(&scale.to_le_bytes())?;
            }
            let codes: Vec<u8> = self.codes.iter().map(|&code| code as u8).collect();
            out.write_all(&codes)
        })
    }

    /// Reads an index written by [`SentenceIndex::save`], checking that it is whole.
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let invalid = |what: &str| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {what}", path.display()),
            )
        };
        let mut input = BufReader::new(std::fs::File::open(path)?);
        let mut header = [0u8; 28];
        input.read_exact(&mut header)?;
        if &header[..8] != MAGIC {
            return Err(invalid("not a Paperboy sentence index"));
        }
        if u32::from_le_bytes(header[8..12].try_into().expect("4 bytes")) as usize != DIMENSIONS {
            return Err(invalid("vectors of another size"));
        }
        let too_many = || invalid("too many vectors");
        let papers = usize::try_from(u64::from_le_bytes(header[12..20].try_into().expect("8")))
            .map_err(|_| too_many())?;
        let sentences = usize::try_from(u64::from_le_bytes(header[20..28].try_into().expect("8")))
            .map_err(|_| too_many())?;
        let expected = (papers as u64)
            .checked_mul(12)
            .and_then(|bytes| bytes.checked_add(4))
            .and_then(|bytes| {
                bytes.checked_add((sentences as u64).checked_mul(ENCODED_SENTENCE as u64)?)
            })
            .and_then(|bytes| bytes.checked_add(28))
            .ok_or_else(too_many)?;
        if std::fs::metadata(path)?.len() != expected {
            return Err(invalid("truncated"));
        }
        let mut read = |count: usize| -> std::io::Result<Vec<u8>> {
            let mut bytes = vec![0u8; count];
            input.read_exact(&mut bytes)?;
            Ok(bytes)
        };
        let ids: Vec<PaperId> = read(papers * 8)?
            .chunks_exact(8)
            .map(|bytes| PaperId(i64::from_le_bytes(bytes.try_into().expect("8 bytes"))))
            .collect();
        let starts: Vec<u32> = read((papers + 1) * 4)?
            .chunks_exact(4)
            .map(|bytes| u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
            .collect();
        let scales: Vec<f32> = read(sentences * 4)?
            .chunks_exact(4)
            .map(|bytes| f32::from_le_bytes(bytes.try_into().expect("4 bytes")))
            .collect();
        let codes: Vec<i8> = read(sentences * DIMENSIONS)?
            .into_iter()
            .map(|code| code as i8)
            .collect();
        let ordered = starts.first() == Some(&0)
            && starts.windows(2).all(|pair| pair[0] <= pair[1])
            && starts.last().copied() == Some(sentences as u32);
        if !ordered {
            return Err(invalid("sentence offsets out of order"));
        }
        let rows = ids.iter().enumerate().map(|(row, id)| (*id, row)).collect();
        Ok(SentenceIndex {
            ids,
            rows,
            starts,
            scales,
            codes,
        })
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
        index.save(&path).unwrap();
        let loaded = SentenceIndex::load(&path).unwrap();
        assert_eq!(loaded.len(), 3);
        assert_eq!(loaded.best_cosine(PaperId(7), &prepared), Some(best));
        assert_eq!(loaded.best_cosine(PaperId(8), &prepared), None);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(
            SentenceIndex::load(&path)
                .unwrap_err()
                .to_string()
                .contains("truncated")
        );
        std::fs::write(&path, b"garbage!garbage!garbage!garbage!").unwrap();
        assert!(SentenceIndex::load(&path).is_err());
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
