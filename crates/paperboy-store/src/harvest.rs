//! What the store keeps about harvesting, per source: how far complete harvests got, where a
//! harvest in flight continues, and how the runs went (shown on `/metrics` and `/admin`).

use chrono::{DateTime, Utc};

/// One source's harvest state (`arxiv:cs`, `hf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarvestState {
    pub source: String,
    /// How far complete harvests got, in the harvester's terms (arXiv: the newest datestamp).
    pub cursor: Option<String>,
    /// Where a harvest in flight continues, as the harvester wrote it with its last stored page;
    /// `None` when no harvest is in flight.
    pub pending: Option<String>,
    pub last_run_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    /// Why the last run failed; `None` once a run succeeds.
    pub last_error: Option<String>,
    pub runs: u64,
    pub failures: u64,
    /// Records written by all runs.
    pub records: u64,
}

/// How a harvest run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HarvestOutcome {
    /// Complete: the cursor moves on (when `Some`) and nothing is left pending.
    Succeeded { cursor: Option<String> },
    /// Stopped by a failure: the pending state stays, so the next run continues from it.
    Failed { error: String },
}
