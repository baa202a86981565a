//! What pages, the API and the feeds share: a day's papers, the trending papers, and search
//! results with their papers.

use chrono::NaiveDate;
use paperboy_core::Paper;
use paperboy_core::trending::Window;
use paperboy_search::{Query, SearchError, SearchHit};
use paperboy_store::{PaperQuery, Store, StoreError};

use crate::AppState;

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

/// The trending papers of a window ending now, best first, with their scores (see
/// [`paperboy_core::trending`]).
pub(crate) async fn trending(
    store: &dyn Store,
    window: Window,
) -> Result<Vec<(Paper, f64)>, StoreError> {
    paperboy_store::trending(store, window, chrono::Utc::now(), MAX_LISTED).await
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
    match tokio::task::spawn_blocking(move || searcher.search(&query)).await {
        Ok(page) => Ok(page?.hits),
        Err(panic) => std::panic::resume_unwind(panic.into_panic()),
    }
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
