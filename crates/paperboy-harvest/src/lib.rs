//! Paperboy's harvesters: new papers from arXiv ([`oai`] for whole sets, [`arxiv_api`] for
//! single papers and small queries) and from the Hugging Face daily list ([`hf`]), fetched
//! politely ([`Fetcher`]) and written to the store so that an interrupted harvest continues
//! where it stopped and never loses or duplicates a paper.
//!
//! Responses are read by the same importers as files ([`paperboy_ingest`]): a malformed record
//! is named by its page and position and the rest of the page is still stored.

pub mod arxiv_api;
pub mod backfill;
pub mod fetch;
pub mod hf;
pub mod oai;
pub mod page;

use chrono::{NaiveDate, Utc};
use paperboy_core::day::parse_day;
use paperboy_ingest::RecordError;
use paperboy_store::harvest::{HarvestOutcome, HarvestState};
use paperboy_store::{Store, StoreError, UpsertSummary};

pub use fetch::{FetchError, Fetcher, Politeness};

/// Why a harvest stopped.
#[derive(Debug, thiserror::Error)]
pub enum HarvestError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("{source_name}, page {page}: the server reported {code}: {message}")]
    Server {
        source_name: String,
        page: u64,
        code: String,
        message: String,
    },
    #[error("{source_name}, page {page}: the response cannot be read: {message}")]
    Malformed {
        source_name: String,
        page: u64,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

/// What a harvest did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HarvestReport {
    /// Pages stored, counting those stored by the run this one resumed.
    pub pages: u64,
    pub summary: UpsertSummary,
    pub rejected: u64,
    /// Whether this run continued an interrupted one.
    pub resumed: bool,
    /// How far the source has now been harvested (OAI: the newest datestamp; HF: the date).
    pub newest: Option<NaiveDate>,
}

/// Hears about a harvest as it goes (a progress bar, a log).
pub trait HarvestObserver: Send + Sync {
    /// A page of `records` was stored; `list_size` is the server's count of the whole list.
    fn page(&self, _source: &str, _page: u64, _records: usize, _list_size: Option<u64>) {}
    /// A backfill starts a window (see [`backfill`]); the window's pages follow.
    fn window(&self, _source: &str, _progress: &backfill::BackfillProgress) {}
    /// A record of `page` was rejected; the rest were stored.
    fn rejected(&self, _page: &str, _error: &RecordError) {}
}

/// An observer that ignores everything.
#[derive(Debug)]
pub struct Quiet;

impl HarvestObserver for Quiet {}

/// The day a source's cursor reached, if it has one.
fn cursor_of(state: &HarvestState) -> Option<NaiveDate> {
    parse_day(state.cursor.as_deref()?)
}

/// Records how a run of `source` ended and hands its result on: a success moves the source's
/// cursor to the newer of where it was and where this run got (`report.newest`, updated to
/// that); a failure is recorded, best effort, since the failure is what the caller must hear.
async fn record_run(
    store: &dyn Store,
    source: &str,
    result: Result<HarvestReport, HarvestError>,
) -> Result<HarvestReport, HarvestError> {
    let now = Utc::now();
    match result {
        Ok(mut report) => {
            let stored = store.harvest_state(source).await?;
            report.newest = report.newest.max(stored.as_ref().and_then(cursor_of));
            let cursor = report.newest.map(|day| day.to_string());
            store
                .finish_harvest(source, HarvestOutcome::Succeeded { cursor }, now)
                .await?;
            Ok(report)
        }
        Err(error) => {
            let outcome = HarvestOutcome::Failed {
                error: error.to_string(),
            };
            if let Err(store_error) = store.finish_harvest(source, outcome, now).await {
                tracing::error!(%store_error, source, "recording a failed harvest");
            }
            Err(error)
        }
    }
}
