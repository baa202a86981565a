//! Keeping the vector index in step with the store.
//!
//! Every paper is embedded as `title + ". " + abstract`; the embedding is stored under a hash of
//! the model and that text, so a re-import or a reindex never embeds an unchanged paper again,
//! and an embedding run killed half-way keeps what it finished (it is saved chunk by chunk).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use paperboy_store::{Store, StoreError, for_each_paper};
use sha2::{Digest, Sha256};

use crate::bm25::{Bm25Builder, Bm25Index, Document};
use crate::embedder::{EmbedError, Embedder, paper_text};
use crate::model::MODEL_NAME;
use crate::vectors::VectorIndex;

/// Embeddings looked up in the store at a time.
const PAGE: u32 = 2_000;
/// Papers embedded (and saved) at a time.
const EMBED_CHUNK: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error("the keyword index failed: {0}")]
    Keyword(#[from] tantivy::TantivyError),
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

/// Builds the vector index of every paper in the store, embedding those without a stored
/// embedding.
pub async fn build_vector_index(
    store: &dyn Store,
    embedder: Arc<Embedder>,
    progress: &dyn EmbedProgress,
) -> Result<(VectorIndex, IndexReport), IndexError> {
    let mut ids = Vec::new();
    let mut texts = Vec::new();
    for_each_paper(store, |paper| -> Result<(), IndexError> {
        ids.push(paper.id);
        texts.push(paper_text(&paper.record.title, &paper.record.abstract_text));
        Ok(())
    })
    .await?;
    let (vectors, embedded) = embed_cached(&texts, &embedder, store, progress).await?;
    let mut index = VectorIndex::with_capacity(ids.len());
    for (id, vector) in ids.iter().zip(&vectors) {
        index.push(*id, vector);
    }
    let report = IndexReport {
        papers: ids.len() as u64,
        embedded,
        reused: ids.len() as u64 - embedded,
    };
    Ok((index, report))
}

/// Embeds texts, taking the embeddings `cache` already holds (by [`content_hash`]) and saving
/// the new ones every [`EMBED_CHUNK`] texts. Returns the vectors in order and how many were
/// embedded now.
pub async fn embed_cached(
    texts: &[String],
    embedder: &Arc<Embedder>,
    cache: &dyn Store,
    progress: &dyn EmbedProgress,
) -> Result<(Vec<Vec<f32>>, u64), IndexError> {
    let hashes: Vec<String> = texts.iter().map(|text| content_hash(text)).collect();
    let mut known: HashMap<String, Vec<f32>> = HashMap::with_capacity(texts.len());
    for chunk in hashes.chunks(PAGE as usize) {
        known.extend(cache.embeddings(chunk).await?);
    }
    // Texts without a stored embedding, each distinct text once.
    let mut seen = HashSet::new();
    let missing: Vec<usize> = (0..texts.len())
        .filter(|&i| !known.contains_key(&hashes[i]) && seen.insert(hashes[i].as_str()))
        .collect();
    progress.started(missing.len() as u64);
    let mut done = 0u64;
    for chunk in missing.chunks(EMBED_CHUNK) {
        let batch: Vec<String> = chunk.iter().map(|&i| texts[i].clone()).collect();
        let model = Arc::clone(embedder);
        let vectors = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
            model.embed(&refs)
        })
        .await
        .unwrap_or_else(|join_error| std::panic::resume_unwind(join_error.into_panic()))?;
        let entries: Vec<(String, Vec<f32>)> = chunk
            .iter()
            .map(|&i| hashes[i].clone())
            .zip(vectors)
            .collect();
        cache.put_embeddings(&entries).await?;
        known.extend(entries);
        done += chunk.len() as u64;
        progress.embedded(done);
    }
    let vectors = hashes
        .iter()
        .map(|hash| known.get(hash).cloned().unwrap_or_default())
        .collect();
    Ok((vectors, done))
}

/// Builds the keyword index of every paper in the store into `dir` (replacing it).
pub async fn build_keyword_index(store: &dyn Store, dir: &Path) -> Result<Bm25Index, IndexError> {
    let mut builder = Bm25Builder::new(Some(dir))?;
    for_each_paper(store, |paper| -> Result<(), IndexError> {
        builder.add(&Document {
            id: paper.id,
            title: &paper.record.title,
            abstract_text: &paper.record.abstract_text,
            authors: &paper.record.authors,
        })?;
        Ok(())
    })
    .await?;
    Ok(builder.finish()?)
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
