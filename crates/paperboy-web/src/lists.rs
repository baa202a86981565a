//! What pages, the API and the feeds share: a day's papers, the trending papers, one paper by
//! its key, and search results with their papers (searches wait for a core, or are refused
//! when too many wait).

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use chrono::NaiveDate;
use paperboy_core::trending::{Voters, Window};
use paperboy_core::{Paper, PaperKey};
use paperboy_search::{Query, SearchError, SearchHit};
use paperboy_store::{PaperQuery, Store, StoreError};

use crate::error::{ErrorCode, refusal};
use crate::state::AppState;

/// The most papers one list reads from the store.
const MAX_LISTED: u32 = 10_000;

/// Papers listed from `from` to `until` (inclusive), most upvoted first within a day.
pub(crate) async fn listed_between(
    store: &dyn Store,
    from: NaiveDate,
    until: NaiveDate,
    limit: u32,
    offset: u32,
) -> Result<Vec<Paper>, StoreError> {
    store
        .list_papers(&PaperQuery {
            from: Some(from),
            until: Some(until),
            category: None,
            limit,
            offset,
        })
        .await
}

/// The trending papers of a window ending now by `voters`' upvotes, best first, with their
/// scores (see [`paperboy_core::trending`]).
pub(crate) async fn trending(
    store: &dyn Store,
    window: Window,
    voters: Voters,
) -> Result<Vec<(Paper, f64)>, StoreError> {
    paperboy_store::trending(store, window, voters, chrono::Utc::now(), MAX_LISTED).await
}

/// The paper `key` (an arXiv id or the store's number) names, unless an administrator hid it
/// and `with_hidden` is false. A key that cannot name a paper names none.
pub(crate) async fn visible_paper(
    store: &dyn Store,
    key: &str,
    with_hidden: bool,
) -> Result<Option<Paper>, StoreError> {
    let Ok(key) = PaperKey::parse(key) else {
        return Ok(None);
    };
    Ok(paperboy_store::paper_by_key(store, &key)
        .await?
        .filter(|paper| with_hidden || !paper.hidden))
}

/// Runs a query off the async threads, once one of the search slots is free: a search keeps
/// the cores busy (embedding, scanning), so running more at once than there are cores only makes
/// every one of them slower. Waiting searches go first come, first served.
pub(crate) async fn run_search(
    state: &AppState,
    query: Query,
) -> Result<Vec<SearchHit>, SearchError> {
    let searcher = state.searcher.current();
    // The semaphore is never closed; were it, the search would simply run unthrottled.
    let _slot = state.search_slots.acquire().await.ok();
    Ok(searcher.search_off_thread(query).await?.hits)
}

/// The papers of search hits, in order; a hit whose paper left the store since indexing, or
/// was hidden, is skipped.
pub(crate) async fn papers_of(
    store: &dyn Store,
    hits: Vec<SearchHit>,
) -> Result<Vec<(SearchHit, Paper)>, StoreError> {
    let ids: Vec<_> = hits.iter().map(|hit| hit.id).collect();
    let mut papers: std::collections::HashMap<_, _> = store
        .papers(&ids)
        .await?
        .into_iter()
        .filter(|paper| !paper.hidden)
        .map(|paper| (paper.id, paper))
        .collect();
    Ok(hits
        .into_iter()
        .filter_map(|hit| papers.remove(&hit.id).map(|paper| (hit, paper)))
        .collect())
}

/// Refuses a search with 503 and `Retry-After` when every core is searching and
/// [`AppState::with_max_queued_searches`] more already wait: past that, a reader would wait
/// longer than they would for a retry, and the queue (each waiting request holding its
/// connection) would grow as fast as requests come.
pub(crate) async fn search_queue(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let in_flight = InFlight::enter(&state.searches_in_flight);
    let capacity = state.search_slots_total + state.max_queued_searches;
    if in_flight.ahead >= capacity {
        tracing::warn!(in_flight = in_flight.ahead, "search queue full: refused");
        return refusal(
            request.uri().path(),
            ErrorCode::Unavailable,
            "Too many searches are waiting; please try again in a moment.",
        );
    }
    next.run(request).await
}

/// A request counted in a gauge while it lives (dropped when answered or abandoned).
struct InFlight<'a> {
    gauge: &'a AtomicUsize,
    /// Requests counted before this one.
    ahead: usize,
}

impl<'a> InFlight<'a> {
    fn enter(gauge: &'a AtomicUsize) -> Self {
        let ahead = gauge.fetch_add(1, Ordering::SeqCst);
        InFlight { gauge, ahead }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.gauge.fetch_sub(1, Ordering::SeqCst);
    }
}
