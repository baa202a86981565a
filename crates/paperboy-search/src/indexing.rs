//! Keeping the vector index in step with the store.
//!
//! Every paper is embedded as `title + ". " + abstract`; the embedding is stored under a hash of
//! the model and that text, so a re-import or a reindex never embeds an unchanged paper again,
//! and an embedding run killed half-way keeps what it finished (it is saved chunk by chunk).

use std::path::Path;
use std::sync::Arc;

use paperboy_core::{Paper, PaperId};
use paperboy_store::{Store, StoreError};
use sha2::{Digest, Sha256};

use crate::bm25::{Bm25Builder, Bm25Index, Document};
use crate::embedder::{EmbedError, Embedder, paper_text};
use crate::model::MODEL_NAME;
use crate::vectors::VectorIndex;

/// Papers read from the store at a time.
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

/// The text and hash a paper is embedded under.
pub fn embedding_key(paper: &Paper) -> (String, String) {
    let text = paper_text(&paper.record.title, &paper.record.abstract_text);
    let hash = content_hash(&text);
    (text, hash)
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
    let total = store.count_papers().await? as usize;
    let mut index = VectorIndex::with_capacity(total);
    let mut rows: Vec<(PaperId, Option<Vec<f32>>, String)> = Vec::with_capacity(total);
    let mut missing: Vec<(usize, String)> = Vec::new();
    let mut after = None;
    loop {
        let papers = store.papers_after(after, PAGE).await?;
        let Some(last) = papers.last() else { break };
        after = Some(last.id);
        let keys: Vec<(String, String)> = papers.iter().map(embedding_key).collect();
        let hashes: Vec<String> = keys.iter().map(|(_, hash)| hash.clone()).collect();
        let mut stored = store.embeddings(&hashes).await?;
        for (paper, (text, hash)) in papers.iter().zip(keys) {
            let vector = stored.remove(&hash);
            if vector.is_none() {
                missing.push((rows.len(), text));
            }
            rows.push((paper.id, vector, hash));
        }
    }

    let report = IndexReport {
        papers: rows.len() as u64,
        embedded: missing.len() as u64,
        reused: (rows.len() - missing.len()) as u64,
    };
    progress.started(report.embedded);
    let mut done = 0u64;
    for chunk in missing.chunks(EMBED_CHUNK) {
        let texts: Vec<String> = chunk.iter().map(|(_, text)| text.clone()).collect();
        let model = Arc::clone(&embedder);
        let vectors = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            model.embed(&refs)
        })
        .await
        .unwrap_or_else(|join_error| std::panic::resume_unwind(join_error.into_panic()))?;
        let mut to_save = Vec::with_capacity(chunk.len());
        for ((row, _), vector) in chunk.iter().zip(vectors) {
            to_save.push((rows[*row].2.clone(), vector.clone()));
            rows[*row].1 = Some(vector);
        }
        store.put_embeddings(&to_save).await?;
        done += chunk.len() as u64;
        progress.embedded(done);
    }

    for (id, vector, _) in rows {
        if let Some(vector) = vector {
            index.push(id, &vector);
        }
    }
    Ok((index, report))
}

/// Builds the keyword index of every paper in the store into `dir` (replacing it).
pub async fn build_keyword_index(store: &dyn Store, dir: &Path) -> Result<Bm25Index, IndexError> {
    let mut builder = Bm25Builder::new(Some(dir))?;
    let mut after = None;
    loop {
        let papers = store.papers_after(after, PAGE).await?;
        let Some(last) = papers.last() else { break };
        after = Some(last.id);
        for paper in &papers {
            builder.add(&Document {
                id: paper.id,
                title: &paper.record.title,
                abstract_text: &paper.record.abstract_text,
                authors: &paper.record.authors,
            })?;
        }
    }
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
