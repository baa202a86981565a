//! Every paper's dates and categories, the way filters read them: packed columns, not a map of
//! strings.
//!
//! A filtered search asks about a paper for every candidate it meets (each match of a filtered
//! keyword query, each node of a filtered graph walk), up to hundreds of thousands a query at a
//! million papers. Kept as a map of [`PaperFacets`] (two vectors and a string per category
//! each), the table took 300 MB at a million papers and each question a hash of the id, a walk
//! over the dates and string comparisons: more than half of a filtered query's time. Here a
//! paper is a row of day numbers and category codes in shared arrays, and a filter is compiled
//! once per query ([`CompiledFilters`]): a day range and a table of admitted codes, run over
//! every row in order (a few milliseconds at a million papers) into a bitmap indexed by paper
//! id, so that each question is one bit. Looking each paper up by id instead (a hash and three
//! arrays, cache misses all) still took half of a filtered query's time at a million papers,
//! asked for each of the 700,000 papers a long keyword query matches. Ids too sparse for a
//! bitmap (more than [`SPARSE`] times the papers) are looked up.

use std::collections::HashMap;

use chrono::{Datelike as _, NaiveDate};
use paperboy_core::PaperId;
use serde::de::{SeqAccess, Visitor};

use crate::searcher::{Filters, PaperFacets};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Every paper's facets by id. A paper stored again gets a new row; its old one is left unused
/// (papers change rarely, and a rebuild writes the table afresh).
#[derive(Debug, Clone, Default)]
pub struct FacetTable {
    rows: FastMap<PaperId, u32>,
    /// Each row's paper, and whether the row is its paper's current one.
    ids: Vec<PaperId>,
    live: Vec<bool>,
    /// The largest id held.
    largest: i64,
    /// Where each row's days and codes start; a row ends where the next starts, the last at
    /// the end of `days` and `codes`.
    starts: Vec<(u32, u32)>,
    /// Days since the common era of each row's dates.
    days: Vec<i32>,
    /// Each row's categories, as indexes into `names`.
    codes: Vec<u32>,
    names: Vec<String>,
    codes_by_name: FastMap<String, u32>,
}

/// A query's filters against one table: its days as numbers, and for each category code of
/// the table whether the query admits it (an archive admits each of its categories).
#[derive(Debug)]
pub(crate) struct CompiledFilters {
    from: Option<i32>,
    until: Option<i32>,
    /// `None` when the query names no category.
    codes: Option<Vec<bool>>,
    /// Bit `id` is set for each paper admitted; `None` when ids are too sparse for it.
    admitted: Option<Vec<u64>>,
}

/// Ids at most this many times the number of papers get a bitmap.
const SPARSE: i64 = 64;

impl CompiledFilters {
    fn admits_row(&self, days: &[i32], codes: &[u32]) -> bool {
        let dated = (self.from.is_none() && self.until.is_none())
            || days.iter().any(|day| {
                self.from.is_none_or(|from| *day >= from)
                    && self.until.is_none_or(|until| *day <= until)
            });
        dated
            && self.codes.as_ref().is_none_or(|admitted| {
                codes
                    .iter()
                    .any(|code| admitted.get(*code as usize).copied().unwrap_or(false))
            })
    }
}

impl FacetTable {
    /// The number of papers.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Every paper's id, in no particular order.
    pub fn ids(&self) -> impl Iterator<Item = PaperId> + '_ {
        self.rows.keys().copied()
    }

    /// Sets `id`'s facets, in place of any it had.
    pub fn insert(&mut self, id: PaperId, facets: &PaperFacets) {
        let row = u32::try_from(self.starts.len()).unwrap_or(u32::MAX);
        self.starts.push((
            u32::try_from(self.days.len()).unwrap_or(u32::MAX),
            u32::try_from(self.codes.len()).unwrap_or(u32::MAX),
        ));
        self.days
            .extend(facets.dates.iter().map(NaiveDate::num_days_from_ce));
        for name in &facets.categories {
            let code = match self.codes_by_name.get(name) {
                Some(code) => *code,
                None => {
                    let code = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
                    self.names.push(name.clone());
                    self.codes_by_name.insert(name.clone(), code);
                    code
                }
            };
            self.codes.push(code);
        }
        if let Some(old) = self.rows.insert(id, row) {
            self.live[old as usize] = false;
        }
        self.ids.push(id);
        self.live.push(true);
        self.largest = self.largest.max(id.0);
    }

    /// `id`'s facets, as they were given.
    pub fn get(&self, id: PaperId) -> Option<PaperFacets> {
        Some(self.facets_at(*self.rows.get(&id)?))
    }

    /// The facets of `row`, unpacked.
    fn facets_at(&self, row: u32) -> PaperFacets {
        let (days, codes) = self.row(row);
        PaperFacets {
            dates: days
                .iter()
                .filter_map(|day| NaiveDate::from_num_days_from_ce_opt(*day))
                .collect(),
            categories: codes
                .iter()
                .map(|code| self.names[*code as usize].clone())
                .collect(),
        }
    }

    fn row(&self, row: u32) -> (&[i32], &[u32]) {
        let row = row as usize;
        let (days_from, codes_from) = self.starts[row];
        let (days_to, codes_to) = self
            .starts
            .get(row + 1)
            .copied()
            .unwrap_or((self.days.len() as u32, self.codes.len() as u32));
        (
            &self.days[days_from as usize..days_to as usize],
            &self.codes[codes_from as usize..codes_to as usize],
        )
    }

    /// `filters` made ready to ask about this table's papers.
    pub(crate) fn compile(&self, filters: &Filters) -> CompiledFilters {
        let mut compiled = CompiledFilters {
            from: filters.from.map(|day| day.num_days_from_ce()),
            until: filters.until.map(|day| day.num_days_from_ce()),
            codes: (!filters.categories.is_empty()).then(|| {
                self.names
                    .iter()
                    .map(|name| {
                        filters
                            .categories
                            .iter()
                            .any(|wanted| wanted.contains(name))
                    })
                    .collect()
            }),
            admitted: None,
        };
        let dense = self.largest < SPARSE.saturating_mul(self.len().max(1) as i64);
        if dense && self.largest >= 0 {
            let mut bits = vec![0u64; (self.largest as usize >> 6) + 1];
            for (row, (id, live)) in self.ids.iter().zip(&self.live).enumerate() {
                let (days, codes) = self.row(row as u32);
                if *live && id.0 >= 0 && compiled.admits_row(days, codes) {
                    bits[id.0 as usize >> 6] |= 1 << (id.0 & 63);
                }
            }
            compiled.admitted = Some(bits);
        }
        compiled
    }

    /// Whether `filters` admit paper `id` (as [`Filters::admits`] its facets); a paper the
    /// table does not hold is not admitted.
    pub(crate) fn admits(&self, id: PaperId, filters: &CompiledFilters) -> bool {
        if let Some(bits) = &filters.admitted {
            return usize::try_from(id.0)
                .ok()
                .and_then(|id| bits.get(id >> 6).map(|word| word >> (id & 63) & 1 == 1))
                .unwrap_or(false);
        }
        self.rows.get(&id).is_some_and(|row| {
            let (days, codes) = self.row(*row);
            filters.admits_row(days, codes)
        })
    }

    /// Writes the table as a JSON list of `[id, facets]` pairs (the format of `facets.json`).
    pub(crate) fn write_json(&self, out: impl std::io::Write) -> serde_json::Result<()> {
        use serde::ser::SerializeSeq as _;
        let mut serializer = serde_json::Serializer::new(out);
        let mut list = serde::Serializer::serialize_seq(&mut serializer, Some(self.len()))?;
        for (id, row) in &self.rows {
            list.serialize_element(&(id.0, self.facets_at(*row)))?;
        }
        list.end()
    }

    /// Reads what [`FacetTable::write_json`] wrote, a pair at a time: the whole list is never
    /// held as strings.
    pub(crate) fn read_json(input: impl std::io::Read) -> serde_json::Result<FacetTable> {
        struct Rows;
        impl<'de> Visitor<'de> for Rows {
            type Value = FacetTable;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of [paper id, facets] pairs")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut pairs: A) -> Result<FacetTable, A::Error> {
                let mut table = FacetTable::default();
                while let Some((id, facets)) = pairs.next_element::<(i64, PaperFacets)>()? {
                    table.insert(PaperId(id), &facets);
                }
                Ok(table)
            }
        }
        let mut deserializer = serde_json::Deserializer::from_reader(input);
        let table = serde::Deserializer::deserialize_seq(&mut deserializer, Rows)?;
        deserializer.end()?;
        Ok(table)
    }
}

impl FromIterator<(PaperId, PaperFacets)> for FacetTable {
    fn from_iter<T: IntoIterator<Item = (PaperId, PaperFacets)>>(papers: T) -> Self {
        let mut table = FacetTable::default();
        for (id, facets) in papers {
            table.insert(id, &facets);
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use paperboy_core::Category;
    use proptest::prelude::*;

    use super::*;

    fn facets(dates: &[i32], categories: &[&str]) -> PaperFacets {
        PaperFacets {
            dates: dates
                .iter()
                .filter_map(|day| NaiveDate::from_num_days_from_ce_opt(*day))
                .collect(),
            categories: categories.iter().map(|name| (*name).to_owned()).collect(),
        }
    }

    const NAMES: [&str; 6] = ["cs.LG", "cs.CL", "stat.ML", "math.OC", "cs", "q-bio.QM"];

    proptest! {
        /// The packed table answers every filter as `Filters::admits` answers the facets it
        /// was given, also after papers are stored again, and gives the facets back.
        #[test]
        fn the_packed_table_admits_what_the_facets_admit(
            papers in proptest::collection::vec(
                (0i64..40, proptest::collection::vec(730_000i32..740_000, 0..4),
                 proptest::collection::vec(0usize..5, 0..4)),
                0..60,
            ),
            from in proptest::option::of(730_000i32..740_000),
            until in proptest::option::of(730_000i32..740_000),
            wanted in proptest::collection::vec(0usize..6, 0..3),
        ) {
            let mut table = FacetTable::default();
            let mut latest = HashMap::new();
            for (id, dates, codes) in &papers {
                let names: Vec<&str> = codes.iter().map(|code| NAMES[*code]).collect();
                let paper = facets(dates, &names);
                table.insert(PaperId(*id), &paper);
                latest.insert(PaperId(*id), paper);
            }
            let filters = Filters {
                from: from.and_then(NaiveDate::from_num_days_from_ce_opt),
                until: until.and_then(NaiveDate::from_num_days_from_ce_opt),
                categories: wanted.iter().map(|code| Category::new(NAMES[*code])).collect(),
            };
            let compiled = table.compile(&filters);
            prop_assert_eq!(table.len(), latest.len());
            for id in (0..41).map(PaperId) {
                let expected = latest.get(&id).is_some_and(|paper| filters.admits(paper));
                prop_assert_eq!(table.admits(id, &compiled), expected);
                prop_assert_eq!(table.get(id), latest.get(&id).cloned());
            }
            let mut json = Vec::new();
            table.write_json(&mut json).unwrap();
            let read = FacetTable::read_json(json.as_slice()).unwrap();
            for id in (0..41).map(PaperId) {
                prop_assert_eq!(read.get(id), table.get(id));
            }
        }
    }

    #[test]
    fn an_archive_admits_its_categories_and_an_unknown_paper_is_refused() {
        let table: FacetTable = [(PaperId(1), facets(&[737_000], &["cs.LG"]))]
            .into_iter()
            .collect();
        let archive = Filters {
            categories: vec![Category::new("cs")],
            ..Filters::default()
        };
        assert!(table.admits(PaperId(1), &table.compile(&archive)));
        assert!(!table.admits(PaperId(2), &table.compile(&Filters::default())));
        let other = Filters {
            categories: vec![Category::new("math")],
            ..Filters::default()
        };
        assert!(!table.admits(PaperId(1), &table.compile(&other)));
    }

    #[test]
    fn sparse_ids_are_looked_up_instead_of_set_in_a_bitmap() {
        let table: FacetTable = [
            (PaperId(3), facets(&[737_000], &["cs.LG"])),
            (PaperId(1 << 40), facets(&[737_000], &["cs.CL"])),
        ]
        .into_iter()
        .collect();
        let filters = Filters {
            categories: vec![Category::new("cs.CL")],
            ..Filters::default()
        };
        let compiled = table.compile(&filters);
        assert!(compiled.admitted.is_none());
        assert!(table.admits(PaperId(1 << 40), &compiled));
        assert!(!table.admits(PaperId(3), &compiled));
        let dense: FacetTable = [(PaperId(3), facets(&[737_000], &["cs.CL"]))]
            .into_iter()
            .collect();
        let compiled = dense.compile(&filters);
        assert!(compiled.admitted.is_some());
        assert!(dense.admits(PaperId(3), &compiled));
        assert!(!dense.admits(PaperId(-1), &compiled) && !dense.admits(PaperId(4), &compiled));
    }
}
