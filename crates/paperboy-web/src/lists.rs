//! The lists pages, the API and the feeds share: a day's papers and the trending papers.

use chrono::NaiveDate;
use paperboy_core::Paper;
use paperboy_core::trending::{Window, score};
use paperboy_store::{PaperQuery, Store, StoreError};

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

/// The trending papers of a window ending on the newest listing day, best first, with their
/// scores (see [`paperboy_core::trending`]).
pub(crate) async fn trending(
    store: &dyn Store,
    window: Window,
) -> Result<Vec<(Paper, f64)>, StoreError> {
    let Some(reference) = store.listing_dates().await?.last().copied() else {
        return Ok(Vec::new());
    };
    let papers =
        listed_between(store, window.first_day(reference), reference, MAX_LISTED, 0).await?;
    let mut scored: Vec<(Paper, f64)> = papers
        .into_iter()
        .map(|paper| {
            let listed = paper.record.sort_date().unwrap_or(reference);
            let trend = score(paper.record.external_upvotes, listed, reference);
            (paper, trend)
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.id.cmp(&b.0.id)));
    Ok(scored)
}
