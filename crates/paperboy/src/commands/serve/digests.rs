//! The digest schedule `serve` runs: the day's digests composed at `--digest-time`, then handed
//! to the outbox worker.

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use paperboy_digest::Mailer;
use paperboy_digest::compose::{Schedule, compose};
use paperboy_search::LiveSearcher;
use paperboy_store::Store;

use super::leader::Leadership;
use tokio::sync::Notify;

/// Composes the day's digests at the configured time (and at start-up, if that time has
/// passed and the day's digests are not all queued: composing is idempotent), then wakes the
/// outbox worker. Topics are matched with the site's searcher, which the follower keeps up
/// with papers imported since the server started.
pub(crate) async fn run_schedule(
    store: Arc<dyn Store>,
    live: Arc<LiveSearcher>,
    mailer: Mailer,
    mail_schedule: Schedule,
    at: chrono::NaiveTime,
    wake: Arc<Notify>,
    mut leadership: Leadership,
) {
    let mut done: Option<NaiveDate> = None;
    loop {
        leadership.until_leading().await;
        let now = Utc::now();
        let today = now.date_naive();
        let due_at = today.and_time(at).and_utc();
        if now >= due_at && done != Some(today) {
            let searcher = live.current();
            match compose(
                &*store,
                &searcher,
                &mailer,
                mail_schedule.clone(),
                today,
                now,
            )
            .await
            {
                Ok(_) => {
                    done = Some(today);
                    wake.notify_one();
                }
                Err(error) => {
                    tracing::error!(%error, "composing digests failed; retrying in 10 minutes")
                }
            }
        }
        let next = if done == Some(today) {
            due_at + chrono::Duration::days(1)
        } else {
            due_at.max(now + chrono::Duration::minutes(10))
        };
        // Woken at least hourly, so a changed clock never delays the run by more.
        let wait = (next - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(3600));
        tokio::time::sleep(wait.max(Duration::from_secs(1))).await;
    }
}
