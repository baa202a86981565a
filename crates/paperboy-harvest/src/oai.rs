//! arXiv's OAI-PMH interface: `ListRecords` for a set from a date, page by page.
//!
//! Each page's papers are stored together with the token of the next page, in one transaction
//! ([`Store::store_harvest_page`]), so a harvest stopped at any moment (a crash, `kill -9`, a
//! server that gives up) continues at the first page not stored; a page stored twice changes
//! nothing, as the same record merges into itself. A finished harvest moves the source's
//! cursor to the newest datestamp seen, and the next harvest asks `from` that day (inclusive:
//! records updated later that day are not missed). When the server no longer knows a saved
//! token (they expire), the harvest starts over from the same `from`.
//!
//! `metadataPrefix=arXiv` is asked for first (authors split into names, categories, dates);
//! a server that cannot give it (`cannotDisseminateFormat`) is asked for `oai_dc`.

use chrono::{NaiveDate, Utc};
use paperboy_store::Store;
use serde::{Deserialize, Serialize};

use crate::page::{Papers, envelope, read_papers};
use crate::{Fetcher, HarvestError, HarvestObserver, HarvestReport, cursor_of, record_run};

/// The arXiv OAI-PMH endpoint.
pub const ARXIV_OAI_URL: &str = "https://oaipmh.arxiv.org/oai";

/// What to harvest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OaiRequest {
    pub base_url: String,
    /// An OAI set (`cs`, `stat`, `physics:hep-th`); `None` for everything.
    pub set: Option<String>,
    /// The first datestamp wanted; by default the day the last harvest reached, or yesterday
    /// for a first harvest.
    pub from: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
}

impl OaiRequest {
    /// The name the store keeps this set's state under: `arxiv:cs`, or `arxiv`.
    pub fn source(&self) -> String {
        match &self.set {
            Some(set) => format!("arxiv:{set}"),
            None => "arxiv".to_owned(),
        }
    }
}

/// A harvest in flight: saved as it starts (so a first harvest keeps the day it began from),
/// then with every stored page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pending {
    /// The next page's token; `None` before the first page is stored.
    pub(crate) token: Option<String>,
    pub(crate) prefix: String,
    pub(crate) from: Option<NaiveDate>,
    pub(crate) until: Option<NaiveDate>,
    /// Pages stored so far.
    pub(crate) pages: u64,
    /// Records on those pages (rejected ones included), for progress.
    #[serde(default)]
    pub(crate) records: u64,
    pub(crate) newest: Option<NaiveDate>,
}

impl Pending {
    /// A harvest of `from..=until` that has not asked for its first page yet.
    pub(crate) fn start(from: Option<NaiveDate>, until: Option<NaiveDate>) -> Pending {
        Pending {
            token: None,
            prefix: ARXIV.to_owned(),
            from,
            until,
            pages: 0,
            records: 0,
            newest: None,
        }
    }
}

/// Where the next request starts.
enum Position {
    Start { prefix: &'static str },
    Resume(Pending),
}

const ARXIV: &str = "arXiv";
const DUBLIN_CORE: &str = "oai_dc";

/// Harvests `request` into `store` (see the module documentation).
pub async fn harvest(
    store: &dyn Store,
    fetcher: &Fetcher,
    request: &OaiRequest,
    observer: &dyn HarvestObserver,
) -> Result<HarvestReport, HarvestError> {
    let source = request.source();
    let state = store.harvest_state(&source).await?;
    let cursor = state.as_ref().and_then(cursor_of);
    let pending = state
        .as_ref()
        .and_then(|state| state.pending.as_deref())
        .and_then(|json| serde_json::from_str::<Pending>(json).ok())
        .filter(|pending| match (request.from, request.until) {
            // A scheduled harvest does not finish a bounded backfill someone left.
            (None, None) => pending.until.is_none(),
            // An explicit range continues only a harvest of the same range.
            (from, until) => {
                from.is_none_or(|from| pending.from == Some(from))
                    && until.is_none_or(|until| pending.until == Some(until))
            }
        });
    let pending = match pending {
        Some(pending) => pending,
        None => {
            let from = request
                .from
                .or(cursor)
                .unwrap_or_else(|| Utc::now().date_naive() - chrono::Duration::days(1));
            let started = Pending::start(Some(from), request.until);
            save(store, &source, Vec::new(), &as_json(&started)?).await?;
            started
        }
    };
    // The cursor moves only when this harvest started at or before it: a harvest from a later
    // day leaves a gap the next scheduled harvest must still fill.
    let reaches_cursor =
        cursor.is_none_or(|cursor| pending.from.is_some_and(|from| from <= cursor));
    let result = run(store, fetcher, request, observer, &source, pending, &|p| {
        as_json(p)
    })
    .await
    .map(|report| HarvestReport {
        newest: report.newest.filter(|_| reaches_cursor),
        ..report
    });
    record_run(store, &source, result).await
}

/// A state as the store keeps it.
pub(crate) fn as_json(state: &impl Serialize) -> Result<String, HarvestError> {
    serde_json::to_string(state).map_err(|error| HarvestError::Internal(error.to_string()))
}

/// Stores a page's records with the state the harvest continues from, under the store's row
/// `row`.
pub(crate) async fn save(
    store: &dyn Store,
    row: &str,
    records: Vec<paperboy_core::PaperRecord>,
    state: &str,
) -> Result<paperboy_store::UpsertSummary, HarvestError> {
    Ok(store
        .store_harvest_page(row, records, Some(state), Utc::now())
        .await?)
}

/// What the store keeps with each page: the state a harvest continues from, written as the
/// caller's row holds it (a plain harvest keeps the [`Pending`] itself, a backfill wraps it).
pub(crate) type StateOf<'a> = &'a (dyn Fn(&Pending) -> Result<String, HarvestError> + Sync);

/// Harvests page after page from where `pending` says, to the end of the list, storing each
/// page with `state_of` its continuation in the row named `row`.
pub(crate) async fn run(
    store: &dyn Store,
    fetcher: &Fetcher,
    request: &OaiRequest,
    observer: &dyn HarvestObserver,
    row: &str,
    pending: Pending,
    state_of: StateOf<'_>,
) -> Result<HarvestReport, HarvestError> {
    let source = request.source();
    let source = source.as_str();
    let (from, until) = (pending.from, pending.until);
    let resumed = pending.token.is_some();
    let mut records_so_far = if resumed { pending.records } else { 0 };
    let mut report = HarvestReport {
        resumed,
        pages: if resumed { pending.pages } else { 0 },
        newest: if resumed { pending.newest } else { None },
        ..HarvestReport::default()
    };
    let mut position = match pending.token {
        Some(_) => Position::Resume(pending),
        None if pending.prefix == DUBLIN_CORE => Position::Start {
            prefix: DUBLIN_CORE,
        },
        None => Position::Start { prefix: ARXIV },
    };
    let from_text = from.map(|day| day.to_string());
    let until_text = until.map(|day| day.to_string());
    let mut restarted = false;
    loop {
        let page_number = report.pages + 1;
        let (query, prefix): (Vec<(&str, &str)>, String) = match &position {
            Position::Start { prefix } => {
                let mut query = vec![("verb", "ListRecords"), ("metadataPrefix", *prefix)];
                if let Some(set) = &request.set {
                    query.push(("set", set));
                }
                if let Some(from) = &from_text {
                    query.push(("from", from));
                }
                if let Some(until) = &until_text {
                    query.push(("until", until));
                }
                (query, (*prefix).to_owned())
            }
            Position::Resume(pending) => (
                vec![
                    ("verb", "ListRecords"),
                    (
                        "resumptionToken",
                        pending.token.as_deref().unwrap_or_default(),
                    ),
                ],
                pending.prefix.clone(),
            ),
        };
        let (body, page) =
            fetch_page(fetcher, &request.base_url, &query, source, page_number).await?;
        if let Some((code, message)) = &page.error {
            match (code.as_str(), &position) {
                ("noRecordsMatch", _) => return Ok(report),
                ("cannotDisseminateFormat", Position::Start { prefix: ARXIV }) => {
                    tracing::warn!(source, "the server has no arXiv format; asking for oai_dc");
                    position = Position::Start {
                        prefix: DUBLIN_CORE,
                    };
                    continue;
                }
                ("badResumptionToken", Position::Resume(pending)) if !restarted => {
                    tracing::warn!(source, "the saved resumption token expired; starting over");
                    restarted = true;
                    let prefix = if pending.prefix == DUBLIN_CORE {
                        DUBLIN_CORE
                    } else {
                        ARXIV
                    };
                    position = Position::Start { prefix };
                    report.pages = 0;
                    records_so_far = 0;
                    continue;
                }
                _ => {
                    return Err(HarvestError::Server {
                        source_name: source.to_owned(),
                        page: page_number,
                        code: code.clone(),
                        message: message.clone(),
                    });
                }
            }
        }
        let name = format!("{source} page {page_number}");
        let Papers { records, rejected } =
            read_papers(&name, body)
                .await
                .map_err(|message| HarvestError::Malformed {
                    source_name: source.to_owned(),
                    page: page_number,
                    message,
                })?;
        for error in &rejected {
            observer.rejected(&name, error);
        }
        report.newest = report.newest.max(page.newest);
        let count = records.len();
        records_so_far += (count + rejected.len()) as u64;
        // After the last page the state says "start over from `from`" until the run is
        // recorded as finished: a kill in between repeats the harvest rather than skip it.
        let next = Pending {
            token: page.resumption_token,
            prefix: prefix.clone(),
            from,
            until,
            pages: page_number,
            records: records_so_far,
            newest: report.newest,
        };
        report.summary += save(store, row, records, &state_of(&next)?).await?;
        report.rejected += rejected.len() as u64;
        report.pages = page_number;
        observer.page(source, page_number, count, page.complete_list_size);
        if next.token.is_none() {
            return Ok(report);
        }
        position = Position::Resume(next);
    }
}

/// How many records the server holds for `set` from `from` to `until`, when it says: the
/// `completeListSize` of the first page of a `ListIdentifiers` (one request, far smaller than
/// a page of records), or the headers of a list that fits one page. `None` when the server does
/// not say or answers with an error other than `noRecordsMatch` (an empty list: `Some(0)`).
pub async fn list_size(
    fetcher: &Fetcher,
    base_url: &str,
    set: Option<&str>,
    from: Option<NaiveDate>,
    until: Option<NaiveDate>,
) -> Result<Option<u64>, HarvestError> {
    let from = from.map(|day| day.to_string());
    let until = until.map(|day| day.to_string());
    let mut query = vec![("verb", "ListIdentifiers"), ("metadataPrefix", ARXIV)];
    if let Some(set) = set {
        query.push(("set", set));
    }
    if let Some(from) = &from {
        query.push(("from", from));
    }
    if let Some(until) = &until {
        query.push(("until", until));
    }
    let (_, page) = fetch_page(fetcher, base_url, &query, "counting the records", 1).await?;
    Ok(match page.error.as_ref().map(|(code, _)| code.as_str()) {
        Some("noRecordsMatch") => Some(0),
        Some(_) => None,
        None if page.resumption_token.is_none() => Some(page.listed),
        None => page.complete_list_size,
    })
}

/// Fetches a page and reads its envelope, fetching it again (as a transient failure) while it
/// is not whole.
pub(crate) async fn fetch_page(
    fetcher: &Fetcher,
    url: &str,
    query: &[(&str, &str)],
    source: &str,
    page: u64,
) -> Result<(Vec<u8>, crate::page::Envelope), HarvestError> {
    let mut attempts = 0;
    loop {
        let body = fetcher.get(url, query).await?;
        match envelope(&body) {
            Ok(envelope) => return Ok((body, envelope)),
            Err(message) if attempts < fetcher.retries() => {
                attempts += 1;
                tracing::warn!(source, page, %message, "a broken page; fetching it again");
                tokio::time::sleep(fetcher.backoff(attempts - 1)).await;
            }
            Err(message) => {
                return Err(HarvestError::Malformed {
                    source_name: source.to_owned(),
                    page,
                    message,
                });
            }
        }
    }
}
