//! The follower every node runs: every [`INTERVAL`] its search index catches up with the papers
//! any node or command stored, changed, hid or showed (see [`paperboy_search::follow`]), and the
//! site answers with the new index from then on. The node running the schedules also embeds
//! papers nobody embedded.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use paperboy_search::follow::Follower;
use paperboy_search::{LiveSearcher, Searcher};
use paperboy_store::Store;
use tokio::sync::watch;

use super::leader::Leadership;

/// How often the store is asked for changes: a paper stored anywhere is searchable on every
/// node within about this long (plus the time to load its embeddings).
pub(crate) const INTERVAL: Duration = Duration::from_secs(2);

pub(crate) async fn run(
    store: Arc<dyn Store>,
    live: Arc<LiveSearcher>,
    index_dir: &Path,
    leadership: Leadership,
    mut stop: watch::Receiver<bool>,
) {
    let mut follower = Follower::new(index_dir);
    loop {
        tokio::select! {
            () = tokio::time::sleep(INTERVAL) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        let current = live.current();
        let embedder = current.embedder().cloned();
        let embeds = embedder.as_ref().filter(|_| leadership.is_leading());
        match follower.catch_up(&*store, current.index(), embeds).await {
            Ok(caught_up) => {
                if let Some(index) = caught_up.index {
                    live.replace(Searcher::new(Arc::new(index), embedder));
                    tracing::info!(
                        papers = caught_up.applied,
                        embedded = caught_up.embedded,
                        waiting = caught_up.waiting,
                        reopened = caught_up.reopened,
                        changes = follower.applied(),
                        "search index caught up with the store"
                    );
                }
            }
            Err(error) => tracing::warn!(%error, "catching up with the store failed; trying again"),
        }
    }
}
