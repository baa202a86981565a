//! Planning an upsert, apart from any SQL: which incoming records are new, which change a
//! stored paper, which change nothing.
//!
//! Records are matched to papers by arXiv id; a record without one matches a paper with the same
//! title key, and a record with an id may claim a stored paper that had none (a title first seen
//! in a listing, later harvested from arXiv). Duplicates inside one batch are folded first, so
//! each paper is written once per batch.

use std::collections::{HashMap, HashSet};
use std::ops::AddAssign;

use paperboy_core::{ArxivId, Paper, PaperId, PaperRecord};

/// How the records of an upsert ended.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UpsertSummary {
    /// Records that added a paper.
    pub inserted: u64,
    /// Records that changed a paper already there.
    pub updated: u64,
    /// Records that changed nothing.
    pub unchanged: u64,
}

impl UpsertSummary {
    pub fn total(&self) -> u64 {
        self.inserted + self.updated + self.unchanged
    }

    /// Whether any paper was added or changed.
    pub fn changed(&self) -> bool {
        self.inserted + self.updated > 0
    }
}

impl AddAssign for UpsertSummary {
    fn add_assign(&mut self, other: Self) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
    }
}

/// A record with its title key, computed once.
#[derive(Debug, Clone)]
pub(crate) struct Keyed {
    pub(crate) record: PaperRecord,
    pub(crate) title_key: String,
}

impl Keyed {
    fn new(record: PaperRecord) -> Self {
        let title_key = record.title_key();
        Keyed { record, title_key }
    }

    /// Merges `incoming` in, keeping the key in step with the title.
    fn merge(&mut self, incoming: PaperRecord) -> bool {
        let changed = self.record.merge(incoming);
        if changed {
            self.title_key = self.record.title_key();
        }
        changed
    }
}

/// An incoming batch with its duplicates folded together.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) records: Vec<Keyed>,
    /// Outcomes of the records folded into earlier ones.
    folded: UpsertSummary,
}

impl Batch {
    pub(crate) fn new(records: Vec<PaperRecord>) -> Self {
        let mut unique: Vec<Keyed> = Vec::with_capacity(records.len());
        let mut by_arxiv: HashMap<ArxivId, usize> = HashMap::new();
        let mut by_title: HashMap<String, usize> = HashMap::new();
        let mut folded = UpsertSummary::default();
        for record in records {
            let keyed = Keyed::new(record);
            let target = match &keyed.record.arxiv_id {
                Some(id) => by_arxiv.get(id).copied().or_else(|| {
                    by_title
                        .get(&keyed.title_key)
                        .copied()
                        .filter(|&at| unique[at].record.arxiv_id.is_none())
                }),
                None => by_title.get(&keyed.title_key).copied(),
            };
            match target {
                Some(at) => {
                    if unique[at].merge(keyed.record) {
                        folded.updated += 1;
                    } else {
                        folded.unchanged += 1;
                    }
                    if let Some(id) = &unique[at].record.arxiv_id {
                        by_arxiv.insert(id.clone(), at);
                    }
                }
                None => {
                    let at = unique.len();
                    if let Some(id) = &keyed.record.arxiv_id {
                        by_arxiv.insert(id.clone(), at);
                    }
                    by_title.entry(keyed.title_key.clone()).or_insert(at);
                    unique.push(keyed);
                }
            }
        }
        Batch {
            records: unique,
            folded,
        }
    }

    /// What to look up among stored papers for this batch.
    pub(crate) fn lookup_keys(&self) -> LookupKeys {
        let mut keys = LookupKeys::default();
        for keyed in &self.records {
            match &keyed.record.arxiv_id {
                Some(id) => {
                    keys.arxiv_ids.push(id.to_string());
                    keys.titles_of_id_less.push(keyed.title_key.clone());
                }
                None => keys.titles_of_any.push(keyed.title_key.clone()),
            }
        }
        for titles in [&mut keys.titles_of_id_less, &mut keys.titles_of_any] {
            titles.sort_unstable();
            titles.dedup();
        }
        keys
    }
}

/// The stored papers a batch may match.
#[derive(Debug, Default)]
pub(crate) struct LookupKeys {
    /// Papers with these arXiv ids.
    pub(crate) arxiv_ids: Vec<String>,
    /// Papers without an arXiv id whose title has one of these keys (records with an id may
    /// claim them).
    pub(crate) titles_of_id_less: Vec<String>,
    /// Any paper whose title has one of these keys (records without an id match them).
    pub(crate) titles_of_any: Vec<String>,
}

/// What to write for a batch.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) inserts: Vec<Keyed>,
    pub(crate) updates: Vec<(PaperId, Keyed)>,
    pub(crate) summary: UpsertSummary,
}

/// Matches a batch against the stored papers found for its keys.
pub(crate) fn plan(batch: Batch, stored: Vec<Paper>) -> Plan {
    let mut by_arxiv: HashMap<&ArxivId, usize> = HashMap::new();
    let mut by_title: HashMap<String, Vec<usize>> = HashMap::new();
    for (at, paper) in stored.iter().enumerate() {
        if let Some(id) = &paper.record.arxiv_id {
            by_arxiv.insert(id, at);
        }
        by_title
            .entry(paper.record.title_key())
            .or_default()
            .push(at);
    }
    let mut claimed: HashSet<usize> = HashSet::new();
    let mut plan = Plan {
        summary: batch.folded,
        ..Plan::default()
    };
    for keyed in batch.records {
        let unclaimed_with_title = |wants_id_less: bool| {
            by_title.get(&keyed.title_key).and_then(|candidates| {
                candidates.iter().copied().find(|at| {
                    !claimed.contains(at)
                        && (!wants_id_less || stored[*at].record.arxiv_id.is_none())
                })
            })
        };
        let found = match &keyed.record.arxiv_id {
            Some(id) => by_arxiv
                .get(id)
                .copied()
                .filter(|at| !claimed.contains(at))
                .or_else(|| unclaimed_with_title(true)),
            None => unclaimed_with_title(false),
        };
        match found {
            Some(at) => {
                claimed.insert(at);
                let paper = &stored[at];
                let mut merged = Keyed::new(paper.record.clone());
                if merged.merge(keyed.record) {
                    plan.summary.updated += 1;
                    plan.updates.push((paper.id, merged));
                } else {
                    plan.summary.unchanged += 1;
                }
            }
            None => {
                plan.summary.inserted += 1;
                plan.inserts.push(keyed);
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use paperboy_core::{PaperDraft, Source};

    fn record(id: Option<&str>, title: &str, listing: &str) -> PaperRecord {
        PaperDraft {
            arxiv_id: id.map(str::to_owned),
            title: Some(title.into()),
            listing_dates: vec![listing.into()],
            ..PaperDraft::default()
        }
        .finish(Source::HfDaily)
        .unwrap()
    }

    #[test]
    fn duplicates_in_a_batch_are_folded_and_counted() {
        let batch = Batch::new(vec![
            record(Some("2101.00001"), "A", "2021-01-01"),
            record(Some("2101.00001"), "A", "2021-01-01"),
            record(Some("2101.00001"), "A", "2021-01-02"),
            record(None, "Listing Only", "2021-01-01"),
            record(None, "listing only!", "2021-01-01"),
        ]);
        assert_eq!(batch.records.len(), 2);
        assert_eq!(batch.records[0].record.listing_dates.len(), 2);
        // The second listing copy is as authoritative as the first, so its wording wins.
        assert_eq!(batch.records[1].record.title, "listing only!");
        assert_eq!(
            batch.folded,
            UpsertSummary {
                inserted: 0,
                updated: 2,
                unchanged: 1
            }
        );
    }

    #[test]
    fn an_arxiv_record_claims_a_stored_paper_known_only_by_title() {
        let stored = vec![Paper::new(
            PaperId(7),
            record(None, "Attention Is All You Need", "2017-06-12"),
        )];
        let plan = plan(
            Batch::new(vec![record(
                Some("1706.03762"),
                "Attention is all you need",
                "2017-06-13",
            )]),
            stored,
        );
        assert!(plan.inserts.is_empty());
        let (id, merged) = &plan.updates[0];
        assert_eq!(*id, PaperId(7));
        assert_eq!(
            merged.record.arxiv_id.as_ref().unwrap().as_str(),
            "1706.03762"
        );
        assert_eq!(merged.record.listing_dates.len(), 2);
    }

    #[test]
    fn papers_with_different_ids_and_the_same_title_stay_apart() {
        let stored = vec![Paper::new(
            PaperId(1),
            record(Some("2101.00001"), "Introduction", "2021-01-01"),
        )];
        let plan = plan(
            Batch::new(vec![record(
                Some("2101.00002"),
                "Introduction",
                "2021-01-01",
            )]),
            stored,
        );
        assert_eq!(plan.inserts.len(), 1);
        assert_eq!(
            plan.summary,
            UpsertSummary {
                inserted: 1,
                updated: 0,
                unchanged: 0
            }
        );
    }

    #[test]
    fn a_record_that_changes_nothing_is_unchanged() {
        let same = record(Some("2101.00001"), "A", "2021-01-01");
        let stored = vec![Paper::new(PaperId(1), same.clone())];
        let plan = plan(Batch::new(vec![same]), stored);
        assert!(plan.updates.is_empty() && plan.inserts.is_empty());
        assert_eq!(plan.summary.unchanged, 1);
    }
}
