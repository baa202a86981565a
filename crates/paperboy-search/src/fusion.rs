//! Combining the ranking signals: keyword (BM25), the whole abstract's cosine and the best
//! sentence's cosine.
//!
//! Each signal's scores are divided by its best score among the candidates (BM25 scores have no
//! fixed scale, and how far a cosine is below the best one says how much worse the match is),
//! then mixed: meaning is `(1 − sentence) · abstract + sentence · best sentence`, and hybrid is
//! `keyword · BM25 + (1 − keyword) · meaning`. A candidate missing from a ranking gets 0 there
//! (the searcher gives every candidate its true cosines, so only BM25 can be missing). The method
//! and the weights were chosen on SciFact's train split (docs/search.md).

use std::collections::HashMap;

use paperboy_core::PaperId;

/// The shares of the ranking signals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    /// Hybrid: the keyword share; the rest is meaning.
    pub keyword: f32,
    /// Meaning (semantic and hybrid): the best sentence's share; the rest is the whole abstract's.
    pub sentence: f32,
}

/// Chosen on SciFact's train split (809 queries), nDCG@10; see docs/search.md for the grid.
pub const WEIGHTS: Weights = Weights {
    keyword: 0.3,
    sentence: 0.7,
};

/// Mixes rankings (each best first, each with its share) into one, best first.
pub fn fuse(rankings: &[(&[(PaperId, f32)], f32)]) -> Vec<(PaperId, f32)> {
    let mut combined: HashMap<PaperId, f32> =
        HashMap::with_capacity(rankings.iter().map(|(ranking, _)| ranking.len()).sum());
    for (ranking, weight) in rankings {
        let best = ranking
            .iter()
            .map(|(_, score)| *score)
            .fold(f32::NEG_INFINITY, f32::max);
        for (id, score) in *ranking {
            let normalised = if best > 0.0 { score / best } else { 0.0 };
            *combined.entry(*id).or_insert(0.0) += weight * normalised;
        }
    }
    let mut fused: Vec<(PaperId, f32)> = combined.into_iter().collect();
    fused.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    fused
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ranking_counts_and_missing_means_zero() {
        let keyword = [(PaperId(1), 12.0), (PaperId(2), 6.0), (PaperId(3), 2.0)];
        let semantic = [(PaperId(3), 0.9), (PaperId(4), 0.8), (PaperId(1), 0.5)];
        let fused = fuse(&[(&keyword, 0.5), (&semantic, 0.5)]);
        let order: Vec<i64> = fused.iter().map(|(id, _)| id.0).collect();
        // 1: 0.5·1 + 0.5·0.5/0.9 = 0.778; 3: 0.5·2/12 + 0.5·1 = 0.583; 4: 0.5·0.8/0.9 = 0.444;
        // 2: 0.5·0.5 = 0.25.
        assert_eq!(order, [1, 3, 4, 2]);
        assert!((fused[0].1 - (0.5 + 0.25 / 0.9)).abs() < 1e-6);
        assert_eq!(fuse(&[(&keyword, 1.0), (&[], 0.0)])[0].0, PaperId(1));
        assert_eq!(fuse(&[(&[], 0.0), (&semantic, 1.0)])[0].0, PaperId(3));
        assert!(fuse(&[(&[], 0.5), (&[], 0.5)]).is_empty());

        // A third ranking can turn the order: 4's best sentence is the closest of all.
        let sentence = [(PaperId(4), 0.8), (PaperId(3), 0.4), (PaperId(1), 0.2)];
        let fused = fuse(&[(&keyword, 0.2), (&semantic, 0.2), (&sentence, 0.6)]);
        assert_eq!(fused[0].0, PaperId(4));
    }
}
