//! `paperboy eval for-you`: how high "for you" ranks the papers a reader goes on to like.
//!
//! Nobody's likes are public, so readers are simulated from the Hugging Face daily lists: every
//! author with at least [`MIN_PAPERS`] papers there is a reader who liked their own papers (an
//! author's papers are one person's interests, the closest public stand-in for a reading
//! history). Each reader's newest [`HELD_OUT_SHARE`] of papers (at least one) are held out; "for
//! you" ranks the whole corpus from the rest through the same [`recommend`] and the same
//! embeddings as `/me`, the liked papers left out, and the held-out papers' ranks are
//! reported. The baseline is what a reader gets without an account: every paper by its
//! upvotes. The same run compares cosine floors for the digest's "new for you" section (the
//! share of held-out papers and of all others that a floor keeps), on alternate halves of the
//! readers: the floor is chosen on one half and reported on the other. Homonyms (two people called "Yang Liu") make some readers' tastes broader than
//! any one person's, which lowers the numbers for both rankings alike.

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;
use paperboy_core::{PaperId, PaperRecord};
use paperboy_digest::compose::MIN_FOR_YOU_COSINE;
use paperboy_search::eval::EvalDocument;
use paperboy_search::off_async_threads;
use paperboy_search::recommend::recommend;
use paperboy_search::vectors::Hit;
use paperboy_search::vectors::VectorIndex;

use super::{read_lists, searcher_for};
use crate::Outcome;
use crate::cli::DailyListsArgs;
use crate::context::Context;

/// The fewest papers that make an author a simulated reader.
const MIN_PAPERS: usize = 5;
/// The share of a reader's papers held out, newest first.
const HELD_OUT_SHARE: f64 = 0.2;
/// The list lengths recall is reported at: the ten on `/me`, and a longer scroll.
const CUTOFFS: [usize; 2] = [10, 50];

/// A simulated reader: the papers they liked and the newer ones held out.
#[derive(Debug, PartialEq)]
struct Reader {
    liked: Vec<PaperId>,
    held_out: Vec<PaperId>,
}

/// A paper as the simulation sees it: when it appeared and who wrote it.
struct Authored<'a> {
    id: PaperId,
    day: NaiveDate,
    authors: &'a [String],
}

/// One reader per author with at least [`MIN_PAPERS`] papers, in name order; each holds out
/// their newest papers (by day, then id).
fn readers(papers: &[Authored<'_>]) -> Vec<Reader> {
    let mut by_author: BTreeMap<&str, Vec<(NaiveDate, PaperId)>> = BTreeMap::new();
    for paper in papers {
        let distinct: HashSet<&str> = paper.authors.iter().map(|name| name.trim()).collect();
        for author in distinct.into_iter().filter(|name| !name.is_empty()) {
            by_author
                .entry(author)
                .or_default()
                .push((paper.day, paper.id));
        }
    }
    by_author
        .into_values()
        .filter(|papers| papers.len() >= MIN_PAPERS)
        .map(|mut papers| {
            papers.sort_unstable();
            let held_out = ((papers.len() as f64 * HELD_OUT_SHARE).ceil() as usize).max(1);
            let (liked, newest) = papers.split_at(papers.len() - held_out);
            Reader {
                liked: liked.iter().map(|(_, id)| *id).collect(),
                held_out: newest.iter().map(|(_, id)| *id).collect(),
            }
        })
        .collect()
}

/// What one ranking did for all readers.
#[derive(Debug, Default)]
struct Tally {
    /// Per reader, the share of their held-out papers in the top `CUTOFFS[i]`.
    recall: [Vec<f64>; CUTOFFS.len()],
    /// Every held-out paper's 1-based rank.
    ranks: Vec<usize>,
}

impl Tally {
    /// Records a reader's ranking (their liked papers already left out).
    fn add(&mut self, ranking: &[PaperId], held_out: &[PaperId]) {
        let ranks: Vec<usize> = held_out
            .iter()
            .map(|id| {
                ranking
                    .iter()
                    .position(|ranked| ranked == id)
                    .map_or(ranking.len() + 1, |position| position + 1)
            })
            .collect();
        for (recall, cutoff) in self.recall.iter_mut().zip(CUTOFFS) {
            let found = ranks.iter().filter(|rank| **rank <= cutoff).count();
            recall.push(found as f64 / held_out.len().max(1) as f64);
        }
        self.ranks.extend(ranks);
    }

    /// Recall at each of [`CUTOFFS`], the mean over readers.
    fn mean_recall(&self) -> [f64; CUTOFFS.len()] {
        self.recall
            .each_ref()
            .map(|shares| shares.iter().sum::<f64>() / shares.len().max(1) as f64)
    }

    fn median_rank(&self) -> usize {
        let mut ranks = self.ranks.clone();
        ranks.sort_unstable();
        ranks.get(ranks.len() / 2).copied().unwrap_or(0)
    }
}

/// Cosine floors compared for the digest's "new for you" section.
const FLOORS: [f32; 9] = [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7];

/// Per reader and floor, the share of held-out papers and of all other papers at least that
/// close to the reader's taste; readers alternate between a tuning and a reported half.
#[derive(Debug, Default)]
struct Floors {
    tuning: FloorShares,
    reported: FloorShares,
}

#[derive(Debug, Default)]
struct FloorShares {
    /// Per reader, per floor: (held-out share, others' share).
    readers: Vec<Vec<(f64, f64)>>,
}

impl Floors {
    fn add(&mut self, tuning: bool, hits: &[Hit], held_out: &[PaperId]) {
        let held: HashSet<PaperId> = held_out.iter().copied().collect();
        let others = hits.len().saturating_sub(held.len()).max(1) as f64;
        let shares = FLOORS
            .iter()
            .map(|floor| {
                let (near_held, near_other) = hits.iter().filter(|hit| hit.score >= *floor).fold(
                    (0usize, 0usize),
                    |(near_held, near_other), hit| {
                        if held.contains(&hit.id) {
                            (near_held + 1, near_other)
                        } else {
                            (near_held, near_other + 1)
                        }
                    },
                );
                (
                    near_held as f64 / held.len().max(1) as f64,
                    near_other as f64 / others,
                )
            })
            .collect();
        let part = if tuning {
            &mut self.tuning
        } else {
            &mut self.reported
        };
        part.readers.push(shares);
    }
}

impl FloorShares {
    /// The mean shares at `FLOORS[at]`.
    fn shares(&self, at: usize) -> (f64, f64) {
        let count = self.readers.len().max(1) as f64;
        let (held, others) = self
            .readers
            .iter()
            .map(|shares| shares[at])
            .fold((0.0, 0.0), |(a, b), (held, other)| (a + held, b + other));
        (held / count, others / count)
    }
}

pub(crate) async fn run(ctx: &Context, args: &DailyListsArgs) -> anyhow::Result<Outcome> {
    let path = &args.path;
    let records: Vec<PaperRecord> = read_lists(path).await?;
    let documents: Vec<EvalDocument> = records
        .iter()
        .enumerate()
        .map(|(row, record)| EvalDocument {
            id: row.to_string(),
            title: record.title.clone(),
            text: record.abstract_text.clone(),
        })
        .collect();
    let papers: Vec<Authored<'_>> = records
        .iter()
        .enumerate()
        .filter_map(|(row, record)| {
            Some(Authored {
                id: PaperId(row as i64),
                day: record.sort_date()?,
                authors: &record.authors,
            })
        })
        .collect();
    let readers = readers(&papers);
    anyhow::ensure!(
        !readers.is_empty(),
        "no author has {MIN_PAPERS} papers in {}",
        path.display()
    );
    let held_out: usize = readers.iter().map(|reader| reader.held_out.len()).sum();
    eprintln!(
        "{} papers; {} readers (authors of at least {MIN_PAPERS}), {held_out} papers held out.",
        records.len(),
        readers.len()
    );
    let searcher = searcher_for(ctx, &documents).await?;
    let mut by_upvotes: Vec<PaperId> = (0..records.len()).map(|row| PaperId(row as i64)).collect();
    by_upvotes.sort_by_key(|id| std::cmp::Reverse(records[id.0 as usize].external_upvotes));

    let (centroid, popularity, floors) = off_async_threads(move || {
        let vectors: &VectorIndex = &searcher.index().vectors;
        let mut centroid = Tally::default();
        let mut popularity = Tally::default();
        let mut floors = Floors::default();
        for (index, reader) in readers.iter().enumerate() {
            let hits = recommend(vectors, &reader.liked, vectors.len(), |_| true);
            let ranking: Vec<PaperId> = hits.iter().map(|hit| hit.id).collect();
            centroid.add(&ranking, &reader.held_out);
            floors.add(index % 2 == 0, &hits, &reader.held_out);

            let liked: HashSet<PaperId> = reader.liked.iter().copied().collect();
            let ranking: Vec<PaperId> = by_upvotes
                .iter()
                .copied()
                .filter(|id| !liked.contains(id))
                .collect();
            popularity.add(&ranking, &reader.held_out);
        }
        (centroid, popularity, floors)
    })
    .await;

    let candidates = records.len() as f64;
    println!(
        "held-out papers: recall@10, recall@50 (mean over readers), median rank (of {} papers)",
        records.len()
    );
    println!("ranking                          recall@10  recall@50  median rank");
    for (name, tally) in [
        ("for you (centroid of likes)", &centroid),
        ("popularity (imported upvotes)", &popularity),
    ] {
        let [at_10, at_50] = tally.mean_recall();
        println!(
            "{name:<32} {at_10:>9.3}  {at_50:>9.3}  {:>11}",
            tally.median_rank()
        );
    }
    println!(
        "{:<32} {:>9.3}  {:>9.3}  {:>11.0}",
        "random (expected)",
        10.0 / candidates,
        50.0 / candidates,
        candidates / 2.0
    );
    println!("\n'new for you' in digests keeps papers at least this close to the reader's taste;");
    println!("the share of held-out papers kept and of all others, mean over readers");
    println!("                 tuning readers      reported readers");
    println!("cosine floor     held-out  others    held-out  others");
    for (at, floor) in FLOORS.iter().enumerate() {
        let [tuning, reported] = [&floors.tuning, &floors.reported].map(|part| part.shares(at));
        let used = if *floor == MIN_FOR_YOU_COSINE {
            "  (used)"
        } else {
            ""
        };
        println!(
            "{floor:>12.2}     {:>7.1}%  {:>5.1}%    {:>7.1}%  {:>5.1}%{used}",
            100.0 * tuning.0,
            100.0 * tuning.1,
            100.0 * reported.0,
            100.0 * reported.1
        );
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, n).unwrap_or_default()
    }

    #[test]
    fn an_author_of_five_papers_holds_out_the_newest_and_fewer_papers_make_no_reader() {
        let ada = vec!["Ada".to_owned(), " Ada ".to_owned()];
        let both = vec!["Ada".to_owned(), "Bob".to_owned()];
        let bob = vec!["Bob".to_owned()];
        let papers: Vec<Authored<'_>> = [
            (1, 5, &ada),
            (2, 1, &both),
            (3, 3, &ada),
            (4, 2, &bob),
            (5, 4, &both),
            (6, 9, &ada),
            (7, 7, &bob),
        ]
        .into_iter()
        .map(|(id, on, authors)| Authored {
            id: PaperId(id),
            day: day(on),
            authors,
        })
        .collect();
        // Ada wrote 1, 2, 3, 5, 6 (named twice on some, counted once); Bob only four.
        assert_eq!(
            readers(&papers),
            vec![Reader {
                liked: vec![PaperId(2), PaperId(3), PaperId(5), PaperId(1)],
                held_out: vec![PaperId(6)],
            }]
        );
    }

    #[test]
    fn recall_counts_held_out_papers_within_each_cutoff_and_ranks_missing_ones_last() {
        let ranking: Vec<PaperId> = (1..=100).map(PaperId).collect();
        let mut tally = Tally::default();
        tally.add(&ranking, &[PaperId(3), PaperId(40), PaperId(500)]);
        tally.add(&ranking, &[PaperId(60)]);
        let [at_10, at_50] = tally.mean_recall();
        assert!((at_10 - (1.0 / 3.0) / 2.0).abs() < 1e-9, "{at_10}");
        assert!((at_50 - (2.0 / 3.0) / 2.0).abs() < 1e-9, "{at_50}");
        assert_eq!(tally.ranks, vec![3, 40, 101, 60]);
        assert_eq!(tally.median_rank(), 60);
    }
}
