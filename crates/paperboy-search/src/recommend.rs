//! "For you": papers ranked for one reader from the papers they upvoted or saved.
//!
//! The reader's taste is the centroid of their liked papers' embeddings (normalised), and
//! papers are ranked by cosine similarity to it, the liked ones left out. arxiv-sanity trains
//! a linear SVM per user over tf-idf instead; with sentence embeddings, the centroid needs no
//! negatives, no training per request, and is one vector scan (a few milliseconds over 46k
//! papers).

use std::collections::HashSet;

use paperboy_core::PaperId;

use crate::embedder::DIMENSIONS;
use crate::vectors::{Hit, VectorIndex};

/// The normalised mean of the liked papers' vectors; `None` when none of them is indexed.
pub fn taste(vectors: &VectorIndex, liked: &[PaperId]) -> Option<Vec<f32>> {
    let mut sum = vec![0f32; DIMENSIONS];
    let mut found = 0;
    for vector in liked.iter().filter_map(|id| vectors.vector_of(*id)) {
        for (total, value) in sum.iter_mut().zip(vector) {
            *total += value;
        }
        found += 1;
    }
    let norm = sum.iter().map(|value| value * value).sum::<f32>().sqrt();
    if found == 0 || norm == 0.0 {
        return None;
    }
    for value in &mut sum {
        *value /= norm;
    }
    Some(sum)
}

/// The `limit` papers closest to the reader's taste, best first, leaving out the liked papers
/// and any paper `keep` refuses.
pub fn recommend(
    vectors: &VectorIndex,
    liked: &[PaperId],
    limit: usize,
    keep: impl Fn(PaperId) -> bool + Sync,
) -> Vec<Hit> {
    let Some(taste) = taste(vectors, liked) else {
        return Vec::new();
    };
    let liked: HashSet<PaperId> = liked.iter().copied().collect();
    vectors.search(&taste, limit, |id| !liked.contains(&id) && keep(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit vector along `axis`, tilted towards `towards` by `tilt`.
    fn vector(axis: usize, towards: usize, tilt: f32) -> Vec<f32> {
        let mut vector = vec![0f32; DIMENSIONS];
        vector[axis] = 1.0;
        vector[towards] += tilt;
        let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
        vector.iter().map(|v| v / norm).collect()
    }

    #[test]
    fn ranks_papers_near_what_was_liked_and_leaves_the_liked_out() {
        let mut vectors = VectorIndex::with_capacity(6);
        vectors.push(PaperId(1), &vector(0, 1, 0.1)); // liked
        vectors.push(PaperId(2), &vector(0, 2, 0.1)); // liked
        vectors.push(PaperId(3), &vector(0, 3, 0.2)); // near both
        vectors.push(PaperId(4), &vector(5, 0, 0.5)); // further
        vectors.push(PaperId(5), &vector(7, 8, 0.1)); // unrelated
        vectors.push(PaperId(6), &vector(0, 4, 0.3)); // near, but refused by the filter
        let hits = recommend(&vectors, &[PaperId(1), PaperId(2)], 3, |id| {
            id != PaperId(6)
        });
        let ids: Vec<PaperId> = hits.iter().map(|hit| hit.id).collect();
        assert_eq!(ids, vec![PaperId(3), PaperId(4), PaperId(5)]);
        assert!(recommend(&vectors, &[PaperId(99)], 3, |_| true).is_empty());
        assert!(recommend(&vectors, &[], 3, |_| true).is_empty());
    }
}
