//! "For you": papers ranked for one reader from the papers they upvoted or saved, and for one
//! of their interest folders from the papers they rated in it.
//!
//! The reader's taste is the centroid of their liked papers' embeddings (normalised), and
//! papers are ranked by cosine similarity to it, the liked ones left out: it needs no
//! negatives, no training per request, and is one vector scan (a few milliseconds over 46k
//! papers).
//!
//! A folder has negatives too ("not relevant"), so it gets a classifier, as arxiv-sanity's
//! tags get an SVM: L2-regularised logistic regression over the embeddings, the folder's
//! relevant papers against its not-relevant ones and a sample of all papers (the background:
//! most papers are not what a folder is about). It is linear, so ranking every paper by it is
//! a vector search along its weights; its bias says which of them it calls relevant (the
//! digest's folder sections keep those only). Training takes a few milliseconds: a few hundred
//! examples of 384 numbers, and [`TRAINING_STEPS`] steps of accelerated gradient descent.
//! `paperboy eval for-you` measures it against the centroid and chose its settings
//! ([`FOLDER_TRAINING`]) on half of its simulated readers.

use std::collections::HashSet;

use paperboy_core::PaperId;

use crate::embedder::DIMENSIONS;
use crate::vectors::{Hit, VectorIndex, dot};

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

/// How a folder's classifier is trained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Training {
    /// The L2 penalty on the weights, per unit of example weight.
    pub l2: f32,
    /// Papers sampled as the background.
    pub background: usize,
    /// The background's weight in all, as a multiple of the relevant papers' (each relevant
    /// paper weighs 1).
    pub background_weight: f32,
    /// Each not-relevant paper's weight.
    pub not_relevant_weight: f32,
}

/// The settings `paperboy eval for-you` chose on its tuning readers (docs/web.md).
pub const FOLDER_TRAINING: Training = Training {
    l2: 0.1,
    background: 400,
    background_weight: 2.0,
    not_relevant_weight: 0.25,
};

/// Steps of gradient descent: the loss is smooth and the examples unit vectors, so it has
/// settled well before.
pub const TRAINING_STEPS: usize = 120;

/// What a new paper must reach to be called relevant to a folder (its digest section): closer
/// to the folder than all but this share of the background sample. Chosen by `paperboy eval
/// for-you` on its tuning readers (docs/web.md).
pub const BACKGROUND_SHARE: f32 = 0.01;

/// A folder's trained classifier: papers rank by their cosine with `direction` (the weights,
/// normalised); a paper's probability of being relevant is `σ(scale · cosine + bias)`.
#[derive(Debug, Clone)]
pub struct FolderModel {
    pub direction: Vec<f32>,
    /// The weights' length.
    pub scale: f32,
    pub bias: f32,
    /// The cosines of the folder's relevant papers, lowest first.
    pub relevant_cosines: Vec<f32>,
    /// The cosines of the background sample, highest first.
    pub background_cosines: Vec<f32>,
}

impl FolderModel {
    /// The cosine of the folder's relevant paper at `quantile` of theirs, from the lowest.
    pub fn relevant_at(&self, quantile: f32) -> f32 {
        quantile_of(&self.relevant_cosines, quantile)
    }

    /// The cosine that all but `share` of the background sample stay below.
    pub fn background_above(&self, share: f32) -> f32 {
        quantile_of(&self.background_cosines, share)
    }

    /// The cosine from which a new paper is called relevant: closer to the folder than all but
    /// [`BACKGROUND_SHARE`] of the background. (The logistic probability is no bar: with few
    /// ratings the penalty keeps every probability near the share of relevant examples; nor is
    /// a relevant paper's own score, which in a folder of one paper only that paper reaches.)
    pub fn relevant_from(&self) -> f32 {
        self.background_above(BACKGROUND_SHARE)
    }

    /// Whether a search hit's cosine reaches [`FolderModel::relevant_from`]. The search and
    /// the training sum the same products in different orders, so a paper of the background
    /// can come back a rounding error below its own bar; a millionth makes up for it.
    pub fn calls_relevant(&self, cosine: f32) -> bool {
        cosine >= self.relevant_from() - 1e-6
    }
}

/// The value at `quantile` of sorted `values`; infinity when there are none.
fn quantile_of(values: &[f32], quantile: f32) -> f32 {
    let last = values.len().saturating_sub(1);
    let at = ((last as f32) * quantile.clamp(0.0, 1.0)).round() as usize;
    values.get(at).copied().unwrap_or(f32::INFINITY)
}

/// One training example: a paper's vector, whether it is relevant, whether it is from the
/// background sample, and its weight.
struct Example {
    vector: Vec<f32>,
    relevant: bool,
    background: bool,
    weight: f32,
}

/// Trains the classifier of a folder whose `relevant` and `not_relevant` papers are given;
/// `None` without an indexed relevant paper.
pub fn train_folder(
    vectors: &VectorIndex,
    relevant: &[PaperId],
    not_relevant: &[PaperId],
    training: Training,
) -> Option<FolderModel> {
    let rated: HashSet<PaperId> = relevant.iter().chain(not_relevant).copied().collect();
    let mut examples: Vec<Example> = Vec::new();
    for (ids, is_relevant) in [(relevant, true), (not_relevant, false)] {
        examples.extend(ids.iter().filter_map(|id| {
            Some(Example {
                vector: vectors.vector_of(*id)?,
                relevant: is_relevant,
                background: false,
                weight: if is_relevant {
                    1.0
                } else {
                    training.not_relevant_weight
                },
            })
        }));
    }
    let positives = examples.iter().filter(|example| example.relevant).count();
    if positives == 0 {
        return None;
    }
    // Every n-th paper, the rated ones left out: the same sample for the same index.
    let stride = (vectors.len() / training.background.max(1)).max(1);
    let background: Vec<Vec<f32>> = vectors
        .ids()
        .step_by(stride)
        .filter(|id| !rated.contains(id))
        .take(training.background)
        .filter_map(|id| vectors.vector_of(id))
        .collect();
    let weight = training.background_weight * positives as f32 / background.len().max(1) as f32;
    examples.extend(background.into_iter().map(|vector| Example {
        vector,
        relevant: false,
        background: true,
        weight,
    }));
    let (weights, bias) = logistic_regression(&examples, training.l2);
    let scale = weights
        .iter()
        .map(|value| value * value)
        .sum::<f32>()
        .sqrt();
    if scale == 0.0 || !scale.is_finite() {
        return None;
    }
    let direction: Vec<f32> = weights.iter().map(|value| value / scale).collect();
    let cosines = |relevant: bool, background: bool| {
        let mut cosines: Vec<f32> = examples
            .iter()
            .filter(|example| example.relevant == relevant && example.background == background)
            .map(|example| dot(&direction, &example.vector))
            .collect();
        cosines.sort_by(f32::total_cmp);
        cosines
    };
    let relevant_cosines = cosines(true, false);
    let mut background_cosines = cosines(false, true);
    background_cosines.reverse();
    Some(FolderModel {
        direction,
        scale,
        bias,
        relevant_cosines,
        background_cosines,
    })
}

/// The weights and bias minimising the examples' weighted logistic loss plus `l2`/2 times the
/// squared weights (per unit of total example weight), by Nesterov-accelerated gradient
/// descent. Examples are unit vectors, so the loss's curvature is at most a quarter of the
/// largest weight of the mean example plus `l2`, which sets a step that always descends.
fn logistic_regression(examples: &[Example], l2: f32) -> (Vec<f32>, f32) {
    let total: f32 = examples.iter().map(|example| example.weight).sum();
    let step = 1.0 / (0.25 * 2.0 + l2);
    let mut weights = vec![0f32; DIMENSIONS + 1];
    let mut previous = weights.clone();
    let mut gradient = vec![0f32; DIMENSIONS + 1];
    for iteration in 0..TRAINING_STEPS {
        let momentum = iteration as f32 / (iteration as f32 + 3.0);
        let look_ahead: Vec<f32> = weights
            .iter()
            .zip(&previous)
            .map(|(now, before)| now + momentum * (now - before))
            .collect();
        gradient.iter_mut().for_each(|value| *value = 0.0);
        for example in examples {
            let margin = dot(&look_ahead[..DIMENSIONS], &example.vector) + look_ahead[DIMENSIONS];
            let probability = 1.0 / (1.0 + (-margin).exp());
            let error = example.weight * (probability - f32::from(u8::from(example.relevant)));
            for (slot, value) in gradient.iter_mut().zip(&example.vector) {
                *slot += error * value;
            }
            gradient[DIMENSIONS] += error;
        }
        previous = weights;
        weights = look_ahead
            .iter()
            .zip(&gradient)
            .enumerate()
            .map(|(index, (value, slope))| {
                // The bias is not penalised.
                let penalty = if index < DIMENSIONS { l2 * value } else { 0.0 };
                value - step * (slope / total + penalty)
            })
            .collect();
    }
    let bias = weights[DIMENSIONS];
    weights.truncate(DIMENSIONS);
    (weights, bias)
}

/// The `limit` papers a folder's classifier ranks highest, best first, leaving out the rated
/// papers and any paper `keep` refuses; with the model, to tell which it calls relevant.
pub fn recommend_in_folder(
    vectors: &VectorIndex,
    relevant: &[PaperId],
    not_relevant: &[PaperId],
    limit: usize,
    keep: impl Fn(PaperId) -> bool + Sync,
) -> Option<(FolderModel, Vec<Hit>)> {
    let model = train_folder(vectors, relevant, not_relevant, FOLDER_TRAINING)?;
    let rated: HashSet<PaperId> = relevant.iter().chain(not_relevant).copied().collect();
    let hits = vectors.search(&model.direction, limit, |id| {
        !rated.contains(&id) && keep(id)
    });
    Some((model, hits))
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

    #[test]
    fn a_folder_learns_from_not_relevant_papers_what_the_centroid_cannot() {
        // Relevant papers lean towards axes 1 and 2; papers leaning towards axis 1 alone were
        // rated not relevant, so a paper like them should fall below one leaning towards 2.
        let mut vectors = VectorIndex::with_capacity(64);
        vectors.push(PaperId(1), &vector(0, 1, 0.6)); // relevant
        vectors.push(PaperId(2), &vector(0, 2, 0.6)); // relevant
        vectors.push(PaperId(3), &vector(1, 0, 0.3)); // not relevant
        vectors.push(PaperId(4), &vector(1, 0, 0.4)); // not relevant
        vectors.push(PaperId(5), &vector(1, 0, 0.5)); // like the rejected ones
        vectors.push(PaperId(6), &vector(2, 0, 0.5)); // like the relevant ones' other side
        for n in 0..40 {
            vectors.push(PaperId(100 + n), &vector(10 + n as usize, 50, 0.2));
        }
        // The centroid cannot tell 5 from 6: it lies between axes 1 and 2.
        let centroid = recommend(&vectors, &[PaperId(1), PaperId(2)], 2, |_| true);
        assert!(
            (centroid[0].score - centroid[1].score).abs() < 1e-6,
            "{centroid:?}"
        );

        let (model, hits) = recommend_in_folder(
            &vectors,
            &[PaperId(1), PaperId(2)],
            &[PaperId(3), PaperId(4)],
            3,
            |_| true,
        )
        .unwrap();
        let ranked: Vec<PaperId> = hits.iter().map(|hit| hit.id).collect();
        assert_eq!(ranked[0], PaperId(6), "{ranked:?}");
        assert!(!ranked.contains(&PaperId(3)) && !ranked.contains(&PaperId(1)));
        let rank_of = |id| ranked.iter().position(|ranked| *ranked == id);
        assert!(rank_of(PaperId(5)).is_none_or(|rank| rank > 0));
        // It calls the paper like the relevant ones relevant (the best of its background), and
        // neither the one like the rejected ones nor the rest of the background.
        let cosine = |id| dot(&model.direction, &vectors.vector_of(id).unwrap());
        assert!(model.calls_relevant(cosine(PaperId(6))), "{model:?}");
        assert!(!model.calls_relevant(cosine(PaperId(5))), "{model:?}");
        assert!(!model.calls_relevant(cosine(PaperId(120))), "{model:?}");
        assert_eq!(model.relevant_at(1.0), model.relevant_cosines[1]);
        assert_eq!(model.background_cosines.len(), 42, "every unrated paper");
        assert!(train_folder(&vectors, &[], &[PaperId(3)], FOLDER_TRAINING).is_none());
    }
}
