//! Building the search index from the store: the keyword index, the vectors and the facets
//! filters read, in one folder.
//!
//! Every paper is embedded as `title + ". " + abstract`, and its title and each sentence of its
//! abstract alone (`sentences`); the embeddings are stored under a hash of the model and that
//! text, so a re-import or a reindex never embeds an unchanged paper again, and an embedding run
//! killed half-way keeps what it finished (it is saved chunk by chunk).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use paperboy_store::{Store, StoreError, for_each_paper};
use sha2::{Digest, Sha256};

use paperboy_core::PaperId;

use crate::bm25::{Bm25Builder, Bm25Index, Document};
use crate::embedder::{EmbedError, Embedder, paper_text};
use crate::facets::FacetTable;
use crate::model::MODEL_NAME;
use crate::searcher::{PaperFacets, SearchIndex, off_async_threads};
use crate::sentences::{self, SentenceIndex, sentence_texts};
use crate::vectors::VectorIndex;

/// Embeddings looked up in the store at a time.
const PAGE: u32 = 2_000;
/// Papers embedded (and saved) at a time.
const EMBED_CHUNK: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error("the keyword index failed: {0}")]
    Keyword(#[from] tantivy::TantivyError),
    #[error("the search index cannot be read or written: {0}")]
    Io(#[from] std::io::Error),
}

/// The key an embedding is stored under: the model and the exact text embedded.
pub fn content_hash(text: &str) -> String {
    let digest = Sha256::new()
        .chain_update(MODEL_NAME.as_bytes())
        .chain_update([0u8])
        .chain_update(text.as_bytes())
        .finalize();
    digest[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Hears how embedding goes (a progress bar).
pub trait EmbedProgress: Send + Sync {
    /// `missing` papers need embedding.
    fn started(&self, _missing: u64) {}
    /// `done` of them are embedded.
    fn embedded(&self, _done: u64) {}
}

/// Progress that goes nowhere.
#[derive(Debug)]
pub struct Silent;

impl EmbedProgress for Silent {}

/// What building the index did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IndexReport {
    pub papers: u64,
    /// Papers embedded now.
    pub embedded: u64,
    /// Papers whose stored embedding was used.
    pub reused: u64,
}

/// Builds the search index of every paper in the store into the folder `dir`, embedding the
/// papers without a stored embedding. The new index is written beside the old one and swapped
/// in when complete, so a reader (or a crash) never sees half an index.
pub async fn build_search_index(
    store: &dyn Store,
    embedder: Arc<Embedder>,
    progress: &dyn EmbedProgress,
    dir: &Path,
) -> Result<(SearchIndex, IndexReport), IndexError> {
    let staging = sibling(dir, "new");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    std::fs::create_dir_all(&staging)?;
    // Read before the walk: a change committed during it is applied again by the follower,
    // which is harmless, and none is missed.
    let changes = store.latest_paper_change().await?;
    let mut keyword = Bm25Builder::new(Some(&staging.join(KEYWORD_DIR)))?;
    let mut ids = Vec::new();
    let mut papers = Vec::new();
    let mut facets = FacetTable::default();
    for_each_paper(store, |paper| -> Result<(), IndexError> {
        let record = &paper.record;
        keyword.add(&Document {
            id: paper.id,
            title: &record.title,
            abstract_text: &record.abstract_text,
            authors: &record.authors,
        })?;
        ids.push(paper.id);
        papers.push((record.title.clone(), record.abstract_text.clone()));
        facets.insert(paper.id, &facets_of(record));
        Ok(())
    })
    .await?;
    // Committed in the staging folder; opened again below from where it ends up.
    keyword.finish()?;
    let embedded = embed_cached(&papers, &embedder, store, progress).await?;
    let (index, sentences) = vector_indexes(&ids, &embedded);
    index.save(&staging.join(VECTORS_FILE))?;
    sentences.save(&staging.join(SENTENCES_FILE))?;
    write_facets(&staging.join(FACETS_FILE), &facets)?;
    write_changes(&staging, changes)?;
    swap_in(&staging, dir)?;
    let report = IndexReport {
        papers: ids.len() as u64,
        embedded: embedded.embedded,
        reused: ids.len() as u64 - embedded.embedded,
    };
    let built = SearchIndex::open(dir)?;
    Ok((built, report))
}

/// The papers' vectors and sentence vectors, in the order of `ids`.
pub(crate) fn vector_indexes(ids: &[PaperId], embedded: &Embedded) -> (VectorIndex, SentenceIndex) {
    let mut vectors = VectorIndex::with_capacity(ids.len());
    let mut sentences = SentenceIndex::new();
    for ((id, vector), encoded) in ids.iter().zip(&embedded.vectors).zip(&embedded.sentences) {
        vectors.push(*id, vector);
        sentences.push(*id, encoded);
    }
    (vectors, sentences)
}

/// The keyword index's folder inside a search index folder.
const KEYWORD_DIR: &str = "bm25";
/// The vectors' base file (mapped), and the papers changed since it was written.
const VECTORS_FILE: &str = "vectors.bin";
const VECTORS_DELTA: &str = "vectors.delta";
/// Written by the versions that rank by sentences; an index without it is built again.
const SENTENCES_FILE: &str = "sentences.bin";
const SENTENCES_DELTA: &str = "sentences.delta";
const FACETS_FILE: &str = "facets.json";
/// A follower's delta is compacted into new base files once it holds this many papers, or
/// this share of the index (1 / `COMPACT_SHARE`), whichever is more.
const COMPACT_MIN: usize = 2_000;
const COMPACT_SHARE: usize = 32;

fn sibling(dir: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{suffix}"));
    dir.with_file_name(name)
}

/// Replaces `dir` with `staging`: `dir` moves aside, `staging` takes its place, the old one is
/// removed. Should a crash fall between the two renames, [`SearchIndex::open`] finds the old
/// index aside and uses it.
fn swap_in(staging: &Path, dir: &Path) -> std::io::Result<()> {
    let old = sibling(dir, "old");
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    if dir.exists() {
        std::fs::rename(dir, &old)?;
    }
    std::fs::rename(staging, dir)?;
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    Ok(())
}

fn write_facets(path: &Path, facets: &FacetTable) -> std::io::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut out = std::io::BufWriter::new(file);
    facets.write_json(&mut out)?;
    out.into_inner()
        .map_err(|error| error.into_error())?
        .sync_all()
}

/// What filters see of a paper: its dates (publication and listings) and categories.
pub(crate) fn facets_of(record: &paperboy_core::PaperRecord) -> PaperFacets {
    PaperFacets {
        dates: record
            .published
            .iter()
            .chain(&record.listing_dates)
            .copied()
            .collect(),
        categories: record.categories.clone(),
    }
}

/// The file holding the number of the last change to papers an index holds (see
/// [`crate::follow`]).
const CHANGES_FILE: &str = "changes";

/// Records that the index in `dir` holds every change to papers up to number `changes`.
pub(crate) fn write_changes(dir: &Path, changes: i64) -> std::io::Result<()> {
    crate::vectors::write_replacing(&dir.join(CHANGES_FILE), |out| {
        std::io::Write::write_all(out, changes.to_string().as_bytes())
    })
}

/// The last change to papers the index in `dir` holds; 0 (every change) for an index written
/// before changes were recorded.
pub(crate) fn read_changes(dir: &Path) -> i64 {
    std::fs::read_to_string(SearchIndex::current(dir).join(CHANGES_FILE))
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

impl SearchIndex {
    /// A new index with `papers` (each with its vector and encoded sentences) added, or put in
    /// place of their earlier version; the rest is as in this one. The keyword index is
    /// changed in place (it is shared with this index, which then finds the new text too);
    /// vectors, sentences and facets are copied. Papers whose vector is not of the model's size
    /// are left out.
    pub fn with_papers(
        &self,
        papers: &[(paperboy_core::Paper, Vec<f32>, Vec<u8>)],
    ) -> Result<SearchIndex, IndexError> {
        let papers: Vec<_> = papers
            .iter()
            .filter(|(_, vector, _)| vector.len() == crate::DIMENSIONS)
            .collect();
        let documents: Vec<Document<'_>> = papers
            .iter()
            .map(|(paper, _, _)| Document {
                id: paper.id,
                title: &paper.record.title,
                abstract_text: &paper.record.abstract_text,
                authors: &paper.record.authors,
            })
            .collect();
        self.keyword.replace(&documents)?;
        let vectors = self.vectors.with_papers(
            papers
                .iter()
                .map(|(paper, vector, _)| (paper.id, vector.as_slice())),
        );
        let sentences = self.sentences.with_papers(
            papers
                .iter()
                .map(|(paper, _, encoded)| (paper.id, encoded.as_slice())),
        );
        let mut facets = FacetTable::clone(&self.facets);
        for (paper, _, _) in papers {
            facets.insert(paper.id, &facets_of(&paper.record));
        }
        Ok(SearchIndex {
            keyword: Arc::clone(&self.keyword),
            vectors,
            sentences,
            facets: Arc::new(facets),
        })
    }

    /// Writes the parts [`SearchIndex::with_papers`] changes into `dir` (the keyword index is
    /// there already) and, last, that it holds every change up to number `changes`. The
    /// vectors' and sentences' deltas are written beside their base files; once the delta is
    /// large ([`COMPACT_MIN`], [`COMPACT_SHARE`]) both are compacted into new base files
    /// instead, and the index returned reads those. Every file is replaced by a rename, in an
    /// order where a crash between two leaves a folder that opens to the same papers: new
    /// bases first (a delta still beside one shadows rows it holds already), deltas removed
    /// after.
    pub(crate) fn save_changed(self, dir: &Path, changes: i64) -> Result<SearchIndex, IndexError> {
        let SearchIndex {
            keyword,
            mut vectors,
            mut sentences,
            facets,
        } = self;
        let compact = vectors.delta_len() >= COMPACT_MIN.max(vectors.len() / COMPACT_SHARE);
        if compact {
            vectors = vectors.save(&dir.join(VECTORS_FILE))?;
            sentences = sentences.save(&dir.join(SENTENCES_FILE))?;
        }
        vectors.save_delta(&dir.join(VECTORS_DELTA))?;
        sentences.save_delta(&dir.join(SENTENCES_DELTA))?;
        write_facets(&dir.join(FACETS_FILE), &facets)?;
        write_changes(dir, changes)?;
        Ok(SearchIndex {
            keyword,
            vectors,
            sentences,
            facets,
        })
    }

    /// Whether a search index was built in `dir` (or left beside it by an interrupted swap)
    /// by this version: an index from before sentence vectors, or with vectors in an earlier
    /// format, counts as none, so that it is built again (from the embeddings in the store).
    pub fn exists(dir: &Path) -> bool {
        let built = |dir: &Path| {
            dir.join(SENTENCES_FILE).exists() && crate::vectors::is_current(&dir.join(VECTORS_FILE))
        };
        built(dir) || built(&sibling(dir, "old"))
    }

    /// Whether `dir` holds an index written by an earlier version, which is built again.
    pub fn is_outdated(dir: &Path) -> bool {
        let dir = Self::current(dir);
        dir.join(VECTORS_FILE).exists() && !crate::vectors::is_current(&dir.join(VECTORS_FILE))
    }

    /// The folder the index in `dir` is read from: `dir`, or the copy an interrupted swap left
    /// beside it.
    pub(crate) fn current(dir: &Path) -> std::borrow::Cow<'_, Path> {
        let aside = sibling(dir, "old");
        if !dir.join(SENTENCES_FILE).exists() && aside.join(SENTENCES_FILE).exists() {
            aside.into()
        } else {
            dir.into()
        }
    }

    /// How many papers the index in `dir` holds, without opening it.
    pub fn count_papers(dir: &Path) -> Result<usize, IndexError> {
        let dir = Self::current(dir);
        Ok(VectorIndex::count_in(
            &dir.join(VECTORS_FILE),
            Some(&dir.join(VECTORS_DELTA)),
        )?)
    }

    /// Opens the search index built in `dir` by [`build_search_index`]: its files are mapped,
    /// not read, apart from the deltas and the facets.
    pub fn open(dir: &Path) -> Result<Self, IndexError> {
        let dir = Self::current(dir);
        let dir = dir.as_ref();
        let keyword = Bm25Index::open(&dir.join(KEYWORD_DIR))?;
        let vectors = VectorIndex::open(&dir.join(VECTORS_FILE), Some(&dir.join(VECTORS_DELTA)))?;
        let sentences =
            SentenceIndex::open(&dir.join(SENTENCES_FILE), Some(&dir.join(SENTENCES_DELTA)))?;
        let file = std::fs::File::open(dir.join(FACETS_FILE))?;
        let facets =
            FacetTable::read_json(std::io::BufReader::new(file)).map_err(std::io::Error::from)?;
        Ok(SearchIndex {
            keyword: Arc::new(keyword),
            vectors,
            sentences,
            facets: Arc::new(facets),
        })
    }
}

/// Writes a new index folder paper by paper, without holding the corpus's vectors in memory:
/// what `paperboy bench scale` builds a million papers with. Papers must come in ascending
/// order of id; the folder is swapped in by [`IndexWriter::finish`].
pub struct IndexWriter {
    dir: PathBuf,
    staging: PathBuf,
    keyword: Bm25Builder,
    vectors: crate::vectors::BaseWriter,
    sentences: crate::sentences::SentenceWriter,
    facets: FacetTable,
    ann_from: usize,
}

impl std::fmt::Debug for IndexWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexWriter")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl IndexWriter {
    /// Starts the index of `count` papers that will replace the one in `dir`.
    pub fn create(dir: &Path, count: usize) -> Result<Self, IndexError> {
        let staging = sibling(dir, "new");
        if staging.exists() {
            std::fs::remove_dir_all(&staging)?;
        }
        std::fs::create_dir_all(&staging)?;
        Ok(IndexWriter {
            dir: dir.to_path_buf(),
            keyword: Bm25Builder::new(Some(&staging.join(KEYWORD_DIR)))?,
            vectors: crate::vectors::BaseWriter::create(&staging.join(VECTORS_FILE), count, 0)?,
            sentences: crate::sentences::SentenceWriter::create(
                &staging.join(SENTENCES_FILE),
                count,
            )?,
            facets: FacetTable::default(),
            staging,
            ann_from: crate::vectors::ANN_FROM,
        })
    }

    /// Builds the graph from `papers` papers up instead of [`crate::vectors::ANN_FROM`].
    pub fn with_ann_from(mut self, papers: usize) -> Self {
        self.ann_from = papers;
        self
    }

    /// Adds the next paper: its text, its facets, its vector and its encoded sentences.
    pub fn add(
        &mut self,
        document: &Document<'_>,
        facets: PaperFacets,
        vector: &[f32],
        sentences: &[u8],
    ) -> Result<(), IndexError> {
        self.keyword.add(document)?;
        self.vectors.push(document.id.0, vector)?;
        self.sentences.push(document.id.0, sentences)?;
        self.facets.insert(document.id, &facets);
        Ok(())
    }

    /// Writes what is left (the graph too, when the index is large enough), swaps the folder
    /// in and opens it.
    pub fn finish(self, changes: i64) -> Result<SearchIndex, IndexError> {
        self.keyword.finish()?;
        self.vectors.finish()?;
        self.sentences.finish()?;
        VectorIndex::open_building(&self.staging.join(VECTORS_FILE), None, self.ann_from)?;
        write_facets(&self.staging.join(FACETS_FILE), &self.facets)?;
        drop(self.facets);
        write_changes(&self.staging, changes)?;
        swap_in(&self.staging, &self.dir)?;
        SearchIndex::open(&self.dir)
    }
}

/// A paper's embeddings: the vector of its whole text and its sentences' vectors, encoded
/// ([`sentences::encode`]).
#[derive(Debug, Default)]
pub struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    pub sentences: Vec<Vec<u8>>,
    /// Papers embedded now (wholly, or only their sentences).
    pub embedded: u64,
}

/// What the store holds for some papers: each paper's content hash, and the vectors and
/// encoded sentences stored under those hashes.
pub(crate) struct Stored {
    pub(crate) hashes: Vec<String>,
    pub(crate) vectors: HashMap<String, Vec<f32>>,
    pub(crate) encoded: HashMap<String, Vec<u8>>,
}

/// Looks up the stored embeddings of papers (title, abstract), embedding nothing.
pub(crate) async fn stored_embeddings(
    papers: &[(String, String)],
    cache: &dyn Store,
) -> Result<Stored, IndexError> {
    let hashes: Vec<String> = papers
        .iter()
        .map(|(title, abstract_text)| content_hash(&paper_text(title, abstract_text)))
        .collect();
    let mut vectors: HashMap<String, Vec<f32>> = HashMap::with_capacity(papers.len());
    let mut encoded: HashMap<String, Vec<u8>> = HashMap::with_capacity(papers.len());
    for chunk in hashes.chunks(PAGE as usize) {
        vectors.extend(cache.embeddings(chunk).await?);
        encoded.extend(cache.sentence_embeddings(chunk).await?);
    }
    Ok(Stored {
        hashes,
        vectors,
        encoded,
    })
}

/// Embeds papers (title, abstract), taking what `cache` already holds under each paper's
/// [`content_hash`] (its vector and its sentences are kept apart, so a paper stored before
/// sentences were used only has those embedded), and saving the new ones every
/// [`EMBED_CHUNK`] papers. Returns the embeddings in order.
pub async fn embed_cached(
    papers: &[(String, String)],
    embedder: &Arc<Embedder>,
    cache: &dyn Store,
    progress: &dyn EmbedProgress,
) -> Result<Embedded, IndexError> {
    let Stored {
        hashes,
        mut vectors,
        mut encoded,
    } = stored_embeddings(papers, cache).await?;
    // Papers missing either part, each distinct text once.
    let mut seen = HashSet::new();
    let missing: Vec<usize> = (0..papers.len())
        .filter(|&i| {
            (!vectors.contains_key(&hashes[i]) || !encoded.contains_key(&hashes[i]))
                && seen.insert(hashes[i].as_str())
        })
        .collect();
    progress.started(missing.len() as u64);
    let mut done = 0u64;
    for chunk in missing.chunks(EMBED_CHUNK) {
        // Every text the chunk needs, in one call so that the embedder batches them by length.
        let mut texts = Vec::new();
        let mut plan = Vec::with_capacity(chunk.len());
        for &i in chunk {
            let (title, abstract_text) = &papers[i];
            let whole = (!vectors.contains_key(&hashes[i])).then(|| {
                texts.push(paper_text(title, abstract_text));
                texts.len() - 1
            });
            let parts = (!encoded.contains_key(&hashes[i])).then(|| {
                let first = texts.len();
                texts.extend(sentence_texts(title, abstract_text));
                first..texts.len()
            });
            plan.push((i, whole, parts));
        }
        let model = Arc::clone(embedder);
        let outputs = off_async_threads(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            model.embed(&refs)
        })
        .await?;
        let mut new_vectors = Vec::new();
        let mut new_sentences = Vec::new();
        for (i, whole, parts) in plan {
            if let Some(at) = whole {
                new_vectors.push((hashes[i].clone(), outputs[at].clone()));
            }
            if let Some(range) = parts {
                new_sentences.push((hashes[i].clone(), sentences::encode(&outputs[range])));
            }
        }
        cache.put_embeddings(&new_vectors).await?;
        cache.put_sentence_embeddings(&new_sentences).await?;
        vectors.extend(new_vectors);
        encoded.extend(new_sentences);
        done += chunk.len() as u64;
        progress.embedded(done);
    }
    Ok(Embedded {
        vectors: hashes
            .iter()
            .map(|hash| vectors.get(hash).cloned().unwrap_or_default())
            .collect(),
        sentences: hashes
            .iter()
            .map(|hash| encoded.get(hash).cloned().unwrap_or_default())
            .collect(),
        embedded: done,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hashes_depend_on_the_exact_text() {
        let hash = content_hash("Title. Abstract");
        assert_eq!(hash.len(), 32);
        assert_eq!(hash, content_hash("Title. Abstract"));
        assert_ne!(hash, content_hash("Title. Abstract."));
    }
}
