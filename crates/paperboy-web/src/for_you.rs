//! The "for you" list of `/me`: papers like the ones the reader upvoted and saved, and each
//! interest folder's recommendations, from its classifier (see [`paperboy_search::recommend`]);
//! hidden papers left out.

use paperboy_core::{Paper, PaperId};
use paperboy_search::off_async_threads;
use paperboy_search::recommend::{recommend as rank, recommend_in_folder};
use paperboy_store::StoreError;
use paperboy_store::account::{Likes, Marked};
use paperboy_store::folder::{Rating, split_ratings};

use crate::state::AppState;

/// Papers shown for the reader.
const SHOWN: usize = 10;

/// Papers for a reader who saved `saved` and upvoted `voted` (newest first), best first.
pub(crate) async fn recommend(
    state: &AppState,
    saved: &[Marked],
    voted: &[Marked],
) -> Result<Vec<Paper>, StoreError> {
    let Likes { recent, marked } = Likes::new(saved, voted);
    if recent.is_empty() {
        return Ok(Vec::new());
    }
    let searcher = state.searcher.current();
    let _slot = state.search_slots.acquire().await.ok();
    // A few more than shown, in case some were hidden since indexing.
    let hits = off_async_threads(move || {
        rank(&searcher.index().vectors, &recent, SHOWN * 2, |id| {
            !marked.contains(&id)
        })
    })
    .await;
    visible_papers(state, hits.iter().map(|hit| hit.id).collect()).await
}

/// Papers a folder's classifier ranks highest among those not rated in it, best first.
pub(crate) async fn in_folder(
    state: &AppState,
    ratings: &[Rating],
) -> Result<Vec<Paper>, StoreError> {
    let (relevant, not_relevant) = split_ratings(ratings);
    if relevant.is_empty() {
        return Ok(Vec::new());
    }
    let searcher = state.searcher.current();
    let _slot = state.search_slots.acquire().await.ok();
    let hits = off_async_threads(move || {
        recommend_in_folder(
            &searcher.index().vectors,
            &relevant,
            &not_relevant,
            SHOWN * 2,
            |_| true,
        )
        .map(|(_, hits)| hits)
        .unwrap_or_default()
    })
    .await;
    visible_papers(state, hits.iter().map(|hit| hit.id).collect()).await
}

/// The first [`SHOWN`] of `ids`' papers that are not hidden, in order.
async fn visible_papers(state: &AppState, ids: Vec<PaperId>) -> Result<Vec<Paper>, StoreError> {
    let mut papers: Vec<Paper> = state
        .store
        .papers(&ids)
        .await?
        .into_iter()
        .filter(|paper| !paper.hidden)
        .collect();
    papers.truncate(SHOWN);
    Ok(papers)
}
