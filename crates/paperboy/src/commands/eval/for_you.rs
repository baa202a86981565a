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
//!
//! Interest folders are measured the same way: each reader's liked papers are a folder's
//! relevant papers, and the reader rates "not relevant" the first [`SEEN`] papers "for you"
//! shows them that are not theirs (their own later papers, the held-out ones, they leave
//! unrated). The folder's classifier ([`train_folder`]) then ranks everything unrated, against
//! the centroid with the rejected papers hidden, which is what "not relevant" could do without
//! a classifier. Its settings are chosen on the tuning half of the readers and reported on the
//! other.

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;
use paperboy_core::{PaperId, PaperRecord};
use paperboy_digest::compose::MIN_FOR_YOU_COSINE;
use paperboy_search::eval::EvalDocument;
use paperboy_search::off_async_threads;
use paperboy_search::recommend::{
    BACKGROUND_SHARE, FOLDER_TRAINING, Training, recommend, train_folder,
};
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

/// The papers of "for you" a simulated reader looks at and rates.
const SEEN: usize = 20;

/// The classifier settings compared on the tuning readers.
fn trainings() -> Vec<Training> {
    let mut grid = Vec::new();
    for l2 in [0.1, 0.3] {
        for background_weight in [2.0, 4.0, 8.0] {
            for not_relevant_weight in [1.0, 0.25] {
                grid.push(Training {
                    l2,
                    background_weight,
                    not_relevant_weight,
                    ..FOLDER_TRAINING
                });
            }
        }
    }
    grid
}

/// A ranking's tallies on the tuning readers and on the reported ones.
#[derive(Debug, Default)]
struct Halves {
    tuning: Tally,
    reported: Tally,
}

impl Halves {
    fn add(&mut self, tuning: bool, ranking: &[PaperId], held_out: &[PaperId]) {
        let half = if tuning {
            &mut self.tuning
        } else {
            &mut self.reported
        };
        half.add(ranking, held_out);
    }
}

/// A bar a new paper must reach to be called relevant to a folder (its digest section).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Bar {
    /// Closer than all but this share of the background sample.
    Background(f32),
    /// As close as the folder's relevant paper at this quantile of theirs.
    Relevant(f32),
    /// A logistic probability of one half.
    Logistic,
}

const BARS: [Bar; 7] = [
    Bar::Background(0.05),
    Bar::Background(0.02),
    Bar::Background(0.01),
    Bar::Background(0.005),
    Bar::Relevant(0.0),
    Bar::Relevant(0.5),
    Bar::Logistic,
];

/// Per bar, summed over readers: held-out papers called relevant, all held-out papers, and
/// other unrated papers called relevant.
#[derive(Debug, Default, Clone, Copy)]
struct Called {
    held_out_called: usize,
    held_out: usize,
    others_called: usize,
}

/// How the folder rankings did.
#[derive(Debug, Default)]
struct Folders {
    centroid: Halves,
    centroid_hiding_rejected: Halves,
    /// One per [`trainings`], on the tuning readers.
    classifiers: Vec<Tally>,
    /// With [`FOLDER_TRAINING`], per bar: (tuning readers, reported readers).
    bars: [(Called, Called); BARS.len()],
    /// With [`FOLDER_TRAINING`], on the reported readers (the others are in `classifiers`).
    used: Tally,
}

impl Folders {
    /// Rates the first [`SEEN`] papers of `centroid_ranking` that are not held out "not
    /// relevant", then ranks with each classifier and the centroid.
    fn add(
        &mut self,
        vectors: &VectorIndex,
        tuning: bool,
        reader: &Reader,
        centroid_ranking: &[PaperId],
        trainings: &[Training],
    ) {
        let held: HashSet<PaperId> = reader.held_out.iter().copied().collect();
        let rejected: Vec<PaperId> = centroid_ranking
            .iter()
            .filter(|id| !held.contains(id))
            .take(SEEN)
            .copied()
            .collect();
        let rated: HashSet<PaperId> = reader.liked.iter().chain(&rejected).copied().collect();
        self.centroid
            .add(tuning, centroid_ranking, &reader.held_out);
        let hiding: Vec<PaperId> = centroid_ranking
            .iter()
            .filter(|id| !rated.contains(id))
            .copied()
            .collect();
        self.centroid_hiding_rejected
            .add(tuning, &hiding, &reader.held_out);
        // Every setting on the tuning readers; the one used on the reported readers.
        self.classifiers
            .resize_with(trainings.len(), Tally::default);
        let compared: Vec<(Option<&mut Tally>, Training)> = if tuning {
            self.classifiers
                .iter_mut()
                .zip(trainings)
                .map(|(tally, training)| (Some(tally), *training))
                .collect()
        } else {
            vec![(None, FOLDER_TRAINING)]
        };
        for (tally, training) in compared {
            let Some(model) = train_folder(vectors, &reader.liked, &rejected, training) else {
                tally.unwrap_or(&mut self.used).add(&[], &reader.held_out);
                continue;
            };
            let hits = vectors.search(&model.direction, vectors.len(), |id| !rated.contains(&id));
            let ranking: Vec<PaperId> = hits.iter().map(|hit| hit.id).collect();
            tally
                .unwrap_or(&mut self.used)
                .add(&ranking, &reader.held_out);
            if training != FOLDER_TRAINING {
                continue;
            }
            for (bar, (tuning_called, reported_called)) in BARS.iter().zip(&mut self.bars) {
                let from = match bar {
                    Bar::Background(share) => model.background_above(*share),
                    Bar::Relevant(quantile) => model.relevant_at(*quantile),
                    Bar::Logistic => -model.bias / model.scale,
                };
                let called = if tuning {
                    tuning_called
                } else {
                    reported_called
                };
                called.held_out += held.len();
                for hit in hits.iter().take_while(|hit| hit.score >= from) {
                    if held.contains(&hit.id) {
                        called.held_out_called += 1;
                    } else {
                        called.others_called += 1;
                    }
                }
            }
        }
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

    let trainings = trainings();
    let (centroid, popularity, floors, folders) = off_async_threads(move || {
        let vectors: &VectorIndex = &searcher.index().vectors;
        let mut centroid = Tally::default();
        let mut popularity = Tally::default();
        let mut floors = Floors::default();
        let mut folders = Folders::default();
        for (index, reader) in readers.iter().enumerate() {
            let hits = recommend(vectors, &reader.liked, vectors.len(), |_| true);
            let ranking: Vec<PaperId> = hits.iter().map(|hit| hit.id).collect();
            centroid.add(&ranking, &reader.held_out);
            floors.add(index % 2 == 0, &hits, &reader.held_out);
            folders.add(vectors, index % 2 == 0, reader, &ranking, &trainings);
            if (index + 1) % 500 == 0 {
                eprintln!("{} of {} readers", index + 1, readers.len());
            }

            let liked: HashSet<PaperId> = reader.liked.iter().copied().collect();
            let ranking: Vec<PaperId> = by_upvotes
                .iter()
                .copied()
                .filter(|id| !liked.contains(id))
                .collect();
            popularity.add(&ranking, &reader.held_out);
        }
        (centroid, popularity, floors, folders)
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
    print_folders(&folders, &self::trainings());
    Ok(Outcome::Success)
}

/// The folder rankings' table: recall@10 and @50 on both halves, the settings chosen on the
/// tuning half marked.
fn print_folders(folders: &Folders, trainings: &[Training]) {
    println!(
        "\ninterest folders: each reader's likes are a folder's relevant papers, and they rate \
         \"not relevant\"\nthe first {SEEN} papers \"for you\" shows them that are not theirs; \
         held-out papers among the unrated ones"
    );
    println!("                                        tuning readers       reported readers");
    println!(
        "ranking                                 recall@10 recall@50  recall@10 recall@50 median rank"
    );
    let row = |name: &str, halves: &Halves, note: &str| {
        let [tuning_10, tuning_50] = halves.tuning.mean_recall();
        let [reported_10, reported_50] = halves.reported.mean_recall();
        println!(
            "{name:<40} {tuning_10:>8.3} {tuning_50:>9.3}  {reported_10:>9.3} {reported_50:>9.3} {:>11}{note}",
            halves.reported.median_rank()
        );
    };
    row("centroid of likes (today)", &folders.centroid, "");
    row(
        "centroid, rejected papers hidden",
        &folders.centroid_hiding_rejected,
        "",
    );
    let best = folders
        .classifiers
        .iter()
        .zip(trainings)
        .max_by(|(a, _), (b, _)| {
            let (a, b) = (a.mean_recall(), b.mean_recall());
            a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal)
        })
        .map(|(_, training)| *training);
    for (tally, training) in folders.classifiers.iter().zip(trainings) {
        let [at_10, at_50] = tally.mean_recall();
        let mut note = String::new();
        if Some(*training) == best {
            note.push_str("  (best on tuning)");
        }
        if *training == FOLDER_TRAINING {
            let [reported_10, reported_50] = folders.used.mean_recall();
            note.push_str(&format!(
                "  (used)  {reported_10:>9.3} {reported_50:>9.3} {:>11}",
                folders.used.median_rank()
            ));
        }
        println!(
            "{:<40} {at_10:>8.3} {at_50:>9.3}{note}",
            format!(
                "classifier l2={} bg={} not-rel={}",
                training.l2, training.background_weight, training.not_relevant_weight
            )
        );
    }
    println!(
        "\nwhich papers a folder calls relevant (its digest section), with the settings used:\n\
         held-out papers called relevant (recall), other papers called relevant per reader, and\n\
         the held-out share of all papers called relevant (precision over the whole corpus)"
    );
    println!("                                tuning readers                reported readers");
    println!(
        "bar                             recall  others  precision     recall  others  precision"
    );
    for (bar, (tuning, reported)) in BARS.iter().zip(&folders.bars) {
        let name = match bar {
            Bar::Background(share) => format!("above all but {share} of background"),
            Bar::Relevant(quantile) => format!("relevant paper at quantile {quantile}"),
            Bar::Logistic => "logistic probability 0.5".to_owned(),
        };
        let used = if *bar == Bar::Background(BACKGROUND_SHARE) {
            "  (used)"
        } else {
            ""
        };
        let columns = |called: &Called, readers: usize| {
            let recall = called.held_out_called as f64 / called.held_out.max(1) as f64;
            let others = called.others_called as f64 / readers.max(1) as f64;
            let precision = called.held_out_called as f64
                / (called.held_out_called + called.others_called).max(1) as f64;
            format!("{recall:>6.3} {others:>7.1} {precision:>10.3}")
        };
        println!(
            "{name:<31} {}    {}{used}",
            columns(tuning, folders.centroid.tuning.recall[0].len()),
            columns(reported, folders.centroid.reported.recall[0].len())
        );
    }
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
