//! Recent query embeddings, so that the next page of a search, a repeated search or a saved
//! topic does not embed the same words again (the embedding is most of a semantic search's
//! time).

use std::sync::{Arc, Mutex};

use paperboy_core::recent::Recent;

/// Queries remembered; the least recently used goes first.
const CAPACITY: usize = 512;

#[derive(Debug)]
pub(crate) struct QueryCache {
    vectors: Mutex<Recent<Arc<[f32]>>>,
}

impl Default for QueryCache {
    fn default() -> Self {
        QueryCache {
            vectors: Mutex::new(Recent::new(CAPACITY)),
        }
    }
}

impl QueryCache {
    /// The vector of `text`, computing it with `embed` when it is not remembered.
    pub(crate) fn get_or_embed<E>(
        &self,
        text: &str,
        embed: impl FnOnce() -> Result<Vec<f32>, E>,
    ) -> Result<Arc<[f32]>, E> {
        if let Ok(mut vectors) = self.vectors.lock()
            && let Some(vector) = vectors.get(text)
        {
            return Ok(Arc::clone(vector));
        }
        // Embedded outside the lock: other queries go on meanwhile.
        let vector: Arc<[f32]> = embed()?.into();
        if let Ok(mut vectors) = self.vectors.lock() {
            vectors.insert(text.to_owned(), Arc::clone(&vector));
        }
        Ok(vector)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.vectors
            .lock()
            .map(|vectors| vectors.len())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn embed_count(cache: &QueryCache, text: &str, calls: &mut u32) -> Arc<[f32]> {
        cache
            .get_or_embed(text, || -> Result<Vec<f32>, ()> {
                *calls += 1;
                Ok(vec![text.len() as f32])
            })
            .unwrap_or_else(|()| Arc::from(Vec::new()))
    }

    #[test]
    fn embeds_each_text_once_and_forgets_the_least_recently_used() {
        let cache = QueryCache::default();
        let mut calls = 0;
        assert_eq!(
            &*embed_count(&cache, "mutual information", &mut calls),
            &[18.0]
        );
        assert_eq!(
            &*embed_count(&cache, "mutual information", &mut calls),
            &[18.0]
        );
        assert_eq!(calls, 1);
        for n in 0..CAPACITY {
            embed_count(&cache, &format!("query {n}"), &mut calls);
            // Keep the first query in use, so it is never the oldest.
            embed_count(&cache, "mutual information", &mut calls);
        }
        assert_eq!(cache.len(), CAPACITY);
        assert_eq!(calls, 1 + CAPACITY as u32);
        embed_count(&cache, "mutual information", &mut calls);
        assert_eq!(calls, 1 + CAPACITY as u32, "still remembered");
        embed_count(&cache, "query 0", &mut calls);
        assert_eq!(calls, 2 + CAPACITY as u32, "the oldest was forgotten");
    }

    #[test]
    fn failures_are_not_remembered() {
        let cache = QueryCache::default();
        assert!(
            cache
                .get_or_embed("x", || Err::<Vec<f32>, _>("no model"))
                .is_err()
        );
        assert_eq!(cache.len(), 0);
    }
}
