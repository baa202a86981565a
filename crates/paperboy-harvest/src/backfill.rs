//! Backfilling a set's back catalogue over OAI-PMH: every record from a day (`2007-01-01`) to
//! another (or to now), in windows of a calendar month harvested one after the other, oldest
//! first, each window page by page as [`crate::oai`] harvests.
//!
//! What must stay true:
//! - **A prefix in time.** Windows run in order and one at a time, so what is stored is every
//!   window before the one in flight and a part of that one. Months also bound what a lost
//!   resumption token costs (arXiv's expire): that window starts over, not the backfill.
//! - **Resumable at the page.** Each page is stored with where the backfill continues (the
//!   window, the next page's token) in one transaction; the last page of a window carries the
//!   next window's start. A backfill stopped at any moment and run again with the same range
//!   continues at the first page not stored. A different range starts a new backfill.
//! - **Its own row.** The backfill keeps its state under `"{source} backfill"` (`arxiv:cs
//!   backfill`), apart from the set's row that the daily schedule resumes from, so that neither
//!   overwrites where the other stopped.
//! - **The schedule's cursor.** Only a finished backfill touches the set's row, and only as one
//!   harvest of the whole range did before backfills had windows: when the backfill started at
//!   or before the set's cursor (or the set has none), the cursor moves to the newest datestamp
//!   the backfill saw, if that is later, and the set records a successful run. A backfill that
//!   started after the cursor leaves it alone (the days between are a gap the schedule fills).
//!
//! Order here is OAI-PMH's: by datestamp, the day arXiv last changed a record, which for an
//! old paper may be years after it was submitted.

use chrono::{Datelike as _, NaiveDate, Utc};
use paperboy_store::Store;
use serde::{Deserialize, Serialize};

use crate::oai::{OaiRequest, Pending, as_json, list_size, run, save};
use crate::{HarvestError, HarvestObserver, HarvestReport, cursor_of, record_run};

/// Why a backfill's range cannot be harvested.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("the backfill would start on {from}, after it ends on {until}")]
    Reversed { from: NaiveDate, until: NaiveDate },
    #[error("the backfill would start on {from}, after today ({today}, UTC): nothing is there yet")]
    Future { from: NaiveDate, today: NaiveDate },
}

/// Days to backfill: `from` to `until` inclusive, or to now when `until` is `None`. Parsed
/// against a day taken as today, so that `from` is not in the future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackfillRange {
    from: NaiveDate,
    until: Option<NaiveDate>,
}

/// One window of a backfill: a calendar month (the first from the range's first day), the last
/// ending at the range's end, or open when the range is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: NaiveDate,
    pub until: Option<NaiveDate>,
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.until {
            Some(until) => write!(f, "{} to {until}", self.from),
            None => write!(f, "{} on", self.from),
        }
    }
}

/// Months from `from`'s to `to`'s.
fn months_between(from: NaiveDate, to: NaiveDate) -> u32 {
    let months = |day: NaiveDate| i64::from(day.year()) * 12 + i64::from(day.month0());
    u32::try_from((months(to) - months(from)).max(0)).unwrap_or(u32::MAX)
}

/// The first day of the month `index` months after `day`'s.
fn month_start(day: NaiveDate, index: u32) -> NaiveDate {
    let month0 = i64::from(day.month0()) + i64::from(index);
    let year = i64::from(day.year()) + month0.div_euclid(12);
    let month = u32::try_from(month0.rem_euclid(12)).unwrap_or(0) + 1;
    i32::try_from(year)
        .ok()
        .and_then(|year| NaiveDate::from_ymd_opt(year, month, 1))
        .unwrap_or(NaiveDate::MAX)
}

impl BackfillRange {
    pub fn new(
        from: NaiveDate,
        until: Option<NaiveDate>,
        today: NaiveDate,
    ) -> Result<BackfillRange, RangeError> {
        if let Some(until) = until
            && until < from
        {
            return Err(RangeError::Reversed { from, until });
        }
        if from > today {
            return Err(RangeError::Future { from, today });
        }
        Ok(BackfillRange { from, until })
    }

    pub fn from(&self) -> NaiveDate {
        self.from
    }

    pub fn until(&self) -> Option<NaiveDate> {
        self.until
    }

    /// How many windows the range has on `today`: one a month to the month of its end, or of
    /// today when it ends later or is open.
    pub fn windows(&self, today: NaiveDate) -> u32 {
        let end = self.until.map_or(today, |until| until.min(today));
        months_between(self.from, end.max(self.from)) + 1
    }

    /// Window `index` of the range on `today` (the last of [`Self::windows`] ends where the
    /// range does).
    pub fn window(&self, index: u32, today: NaiveDate) -> Window {
        let from = if index == 0 {
            self.from
        } else {
            month_start(self.from, index)
        };
        let until = if index + 1 >= self.windows(today) {
            self.until
        } else {
            month_start(self.from, index + 1).pred_opt()
        };
        Window { from, until }
    }
}

/// Where a backfill is, as its row keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Progress {
    from: NaiveDate,
    until: Option<NaiveDate>,
    /// The window in flight, counted from 0, and where it continues.
    window: u32,
    pending: Pending,
    /// Pages and records of the windows before it.
    pages: u64,
    records: u64,
    /// The newest datestamp of the windows before it.
    newest: Option<NaiveDate>,
    /// The server's count of the whole range's records, when it gave one.
    planned: Option<u64>,
}

impl Progress {
    /// The state once window `index`'s list, ended at `last`, is stored: the next window's
    /// start, or, after the last window, that window again until the run is recorded (a kill
    /// in between repeats it rather than skip it).
    fn after(&self, last: &Pending, range: BackfillRange, windows: u32, today: NaiveDate) -> Self {
        let next = self.window + 1;
        if next >= windows {
            return Progress {
                pending: last.clone(),
                ..self.clone()
            };
        }
        let window = range.window(next, today);
        Progress {
            window: next,
            pending: Pending::start(Some(window.from), window.until),
            pages: self.pages + last.pages,
            records: self.records + last.records,
            newest: self.newest.max(last.newest),
            ..self.clone()
        }
    }
}

/// Where a backfill stands, told as each window starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillProgress {
    /// The window starting, counted from 0, of `windows`.
    pub window: u32,
    pub windows: u32,
    pub range: Window,
    /// Records stored by the backfill so far, earlier runs included.
    pub records: u64,
    /// The server's count of the whole range's records, when it gave one.
    pub planned: Option<u64>,
}

/// Where a resumed backfill continued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumedAt {
    /// The window, counted from 0.
    pub window: u32,
    pub range: Window,
    /// The first page asked for in it, counted from 1.
    pub page: u64,
}

/// What a backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillReport {
    /// This run's records; `pages` counts the whole backfill's, earlier runs included, and
    /// `newest` is the set's cursor afterwards (where the schedule continues).
    pub harvest: HarvestReport,
    pub windows: u32,
    /// Records stored by the whole backfill, earlier runs included.
    pub records: u64,
    pub resumed_at: Option<ResumedAt>,
}

/// The row a set's backfill keeps its state in.
pub fn backfill_row(request: &OaiRequest) -> String {
    format!("{} backfill", request.source())
}

/// Backfills `request.set` over `range` into `store` (see the module documentation);
/// `request.from` and `request.until` are not read.
pub async fn backfill(
    store: &dyn Store,
    fetcher: &crate::Fetcher,
    request: &OaiRequest,
    range: BackfillRange,
    observer: &dyn HarvestObserver,
) -> Result<BackfillReport, HarvestError> {
    let row = backfill_row(request);
    let today = Utc::now().date_naive();
    let windows = range.windows(today);
    let stored = store
        .harvest_state(&row)
        .await?
        .and_then(|state| state.pending)
        .and_then(|json| serde_json::from_str::<Progress>(&json).ok())
        .filter(|progress| progress.from == range.from && progress.until == range.until);
    let resumed_at = stored
        .as_ref()
        .filter(|progress| progress.window > 0 || progress.pending.pages > 0)
        .map(|progress| ResumedAt {
            window: progress.window,
            range: range.window(progress.window, today),
            page: progress.pending.pages + 1,
        });
    let progress = match stored {
        Some(progress) => progress,
        None => match start(store, fetcher, request, &row, range, today).await {
            Ok(started) => started,
            // Recorded on the row as a failed run; `record_run` hands the error back.
            Err(error) => {
                return record_run(store, &row, Err(error))
                    .await
                    .map(|_| BackfillReport::default());
            }
        },
    };
    let result = windows_from(store, fetcher, request, observer, range, today, progress).await;
    // The backfill's own row records the run (it has no cursor: the set's is below).
    let (run, totals) = match result {
        Ok((run, totals)) => (Ok(run), totals),
        Err(error) => (Err(error), Totals::default()),
    };
    let mut harvest = record_run(store, &row, run).await?;
    harvest.pages = totals.pages;
    let source = request.source();
    let cursor = store
        .harvest_state(&source)
        .await?
        .as_ref()
        .and_then(cursor_of);
    let reaches = cursor.is_none_or(|cursor| range.from <= cursor);
    harvest.newest = if reaches && totals.newest > cursor {
        // Everything from the backfill's start, so from the cursor, to what it saw is stored:
        // a harvest of the set as far as that, and the schedule goes on from there.
        let finished = HarvestReport {
            newest: totals.newest,
            ..HarvestReport::default()
        };
        record_run(store, &source, Ok(finished)).await?.newest
    } else {
        cursor
    };
    Ok(BackfillReport {
        harvest,
        windows,
        records: totals.records,
        resumed_at,
    })
}

/// A new backfill's state, saved before its first page: the first window, and the whole
/// range's size when the server gives it (one request, so that progress has an end; a backfill
/// of one window learns it from its first page).
async fn start(
    store: &dyn Store,
    fetcher: &crate::Fetcher,
    request: &OaiRequest,
    row: &str,
    range: BackfillRange,
    today: NaiveDate,
) -> Result<Progress, HarvestError> {
    let first = range.window(0, today);
    let planned = if range.windows(today) > 1 {
        list_size(
            fetcher,
            &request.base_url,
            request.set.as_deref(),
            Some(range.from),
            range.until,
        )
        .await?
    } else {
        None
    };
    let started = Progress {
        from: range.from,
        until: range.until,
        window: 0,
        pending: Pending::start(Some(first.from), first.until),
        pages: 0,
        records: 0,
        newest: None,
        planned,
    };
    save(store, row, Vec::new(), &as_json(&started)?).await?;
    Ok(started)
}

/// The whole backfill's counts at its end.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    pages: u64,
    records: u64,
    newest: Option<NaiveDate>,
}

/// Harvests the windows from where `progress` says to the last: this run's report, and the
/// whole backfill's totals.
async fn windows_from(
    store: &dyn Store,
    fetcher: &crate::Fetcher,
    request: &OaiRequest,
    observer: &dyn HarvestObserver,
    range: BackfillRange,
    today: NaiveDate,
    mut progress: Progress,
) -> Result<(HarvestReport, Totals), HarvestError> {
    let row = backfill_row(request);
    let row = row.as_str();
    let windows = range.windows(today);
    let source = request.source();
    let mut run_report = HarvestReport {
        resumed: progress.window > 0 || progress.pending.pages > 0,
        ..HarvestReport::default()
    };
    loop {
        let window = range.window(progress.window, today);
        observer.window(
            &source,
            &BackfillProgress {
                window: progress.window,
                windows,
                range: window,
                records: progress.records + progress.pending.records,
                planned: progress.planned,
            },
        );
        let current = progress.clone();
        // The window's list as its last page left it, for the next window's start.
        let ended = std::sync::Mutex::new(None::<Pending>);
        let state_of = |pending: &Pending| {
            if pending.token.is_some() {
                return as_json(&Progress {
                    pending: pending.clone(),
                    ..current.clone()
                });
            }
            *ended
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(pending.clone());
            as_json(&current.after(pending, range, windows, today))
        };
        let report = run(
            store,
            fetcher,
            request,
            observer,
            row,
            progress.pending.clone(),
            &state_of,
        )
        .await?;
        run_report.summary += report.summary;
        run_report.rejected += report.rejected;
        let stored_last = ended
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // An empty window (`noRecordsMatch`) stored no page: its end is written here.
        let last = stored_last.clone().unwrap_or_else(|| Pending {
            token: None,
            ..progress.pending.clone()
        });
        if progress.window + 1 >= windows {
            let totals = Totals {
                pages: progress.pages + last.pages,
                records: progress.records + last.records,
                newest: progress.newest.max(last.newest),
            };
            return Ok((run_report, totals));
        }
        let next = progress.after(&last, range, windows, today);
        if stored_last.is_none() {
            save(store, row, Vec::new(), &as_json(&next)?).await?;
        }
        progress = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        paperboy_core::day::parse_day(text).unwrap_or(NaiveDate::MIN)
    }

    fn windows(range: BackfillRange, today: NaiveDate) -> Vec<String> {
        (0..range.windows(today))
            .map(|index| range.window(index, today).to_string())
            .collect()
    }

    #[test]
    fn an_open_range_is_cut_into_months_and_its_last_window_stays_open() {
        let range = BackfillRange::new(day("2007-12-15"), None, day("2008-03-05"));
        let Ok(range) = range else {
            panic!("{range:?}");
        };
        assert_eq!(
            windows(range, day("2008-03-05")),
            [
                "2007-12-15 to 2007-12-31",
                "2008-01-01 to 2008-01-31",
                "2008-02-01 to 2008-02-29",
                "2008-03-01 on",
            ]
        );
    }

    #[test]
    fn a_bounded_range_ends_on_its_day_and_one_inside_a_month_is_one_window() {
        let today = day("2026-12-07");
        let Ok(range) = BackfillRange::new(day("2019-01-10"), Some(day("2019-03-04")), today)
        else {
            panic!("a range");
        };
        assert_eq!(
            windows(range, today),
            [
                "2019-01-10 to 2019-01-31",
                "2019-02-01 to 2019-02-28",
                "2019-03-01 to 2019-03-04",
            ]
        );
        let Ok(one) = BackfillRange::new(day("2019-01-10"), Some(day("2019-01-10")), today) else {
            panic!("a range");
        };
        assert_eq!(windows(one, today), ["2019-01-10 to 2019-01-10"]);
        // A range that ends after today has its last window in today's month, ending where the
        // range does.
        let Ok(later) = BackfillRange::new(day("2026-11-20"), Some(day("2027-06-01")), today)
        else {
            panic!("a range");
        };
        assert_eq!(
            windows(later, today),
            ["2026-11-20 to 2026-11-30", "2026-12-01 to 2027-06-01"]
        );
    }

    #[test]
    fn a_range_that_ends_before_it_starts_or_starts_after_today_is_refused() {
        let today = day("2026-12-07");
        let reversed = BackfillRange::new(day("2020-01-01"), Some(day("2019-01-01")), today);
        assert_eq!(
            reversed.map_err(|error| error.to_string()),
            Err("the backfill would start on 2020-01-01, after it ends on 2019-01-01".to_owned())
        );
        let future = BackfillRange::new(day("2026-12-08"), None, today);
        assert!(
            matches!(future, Err(RangeError::Future { .. })),
            "{future:?}"
        );
        assert!(BackfillRange::new(today, None, today).is_ok());
    }
}
