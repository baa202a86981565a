//! The outbox worker: claims due messages, sends their stored bytes, records the outcome.
//!
//! A message is claimed with a lease before it is sent and marked sent only after the server
//! accepted it. If the process dies in between, the lease runs out and the message is sent
//! again: delivery is at least once, and the only messages that can repeat are the ones in
//! flight when the process died (at most [`CONNECTIONS`]), repeated byte for byte (same `Message-ID`, which mail providers use
//! to drop the copy). Marking a message sent before sending it would lose it instead.
//!
//! Transient failures (4xx, a server that is down) are retried with exponential backoff;
//! permanent ones are recorded, and an address refused [`MAX_REFUSALS`] times in a row is no
//! longer mailed.
//!
//! [`MAX_REFUSALS`]: paperboy_store::mail::MAX_REFUSALS

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::future::join_all;

use chrono::{DateTime, Utc};
use paperboy_mail::{Outgoing, SendError, Transport};
use paperboy_store::mail::{ClaimedMessage, Delivery, after};
use paperboy_store::{Store, StoreError};
use tokio::sync::{Notify, watch};

/// How long a claimed message is reserved for the worker that claimed it: longer than one SMTP
/// conversation may take (30 s), so that a slow send is never taken over by another worker;
/// short, so that a message whose worker died goes out soon after. Messages are claimed one at
/// a time, so one lease covers one send.
pub const LEASE: Duration = Duration::from_secs(60);
/// The first retry comes after this long, then twice as long each time...
const FIRST_RETRY: Duration = Duration::from_secs(60);
/// ...up to this.
const LONGEST_RETRY: Duration = Duration::from_secs(6 * 3600);
/// Attempts before a message that keeps failing for now is given up: the waits add up to 1 +
/// 2 + … + 256 minutes, then 6 hours each, about three days in all.
pub const MAX_ATTEMPTS: u32 = 20;
/// Messages sent at once. Each SMTP conversation spends most of its time waiting on the
/// network and the server (about 40 ms a message against a local server: lettre writes the
/// final dot in a packet of its own, which waits for the server's delayed acknowledgement), so
/// a few connections multiply throughput; mail servers commonly allow ten per client.
pub const CONNECTIONS: usize = 8;
/// Transient failures in a row after which a pass stops: the server is down, and every other
/// message would fail the same way.
const FAILURES_BEFORE_PAUSE: u32 = 3;

/// What a pass over the outbox did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub sent: u64,
    /// Failed for now, to be retried.
    pub deferred: u64,
    /// Given up.
    pub failed: u64,
}

impl std::ops::AddAssign for DeliveryReport {
    fn add_assign(&mut self, other: DeliveryReport) {
        self.sent += other.sent;
        self.deferred += other.deferred;
        self.failed += other.failed;
    }
}

/// The delay before attempt `attempts + 1`.
pub fn retry_delay(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(20);
    FIRST_RETRY
        .saturating_mul(1 << doublings)
        .min(LONGEST_RETRY)
}

/// What to record for an attempt that ended with `error`.
fn outcome(error: &SendError, attempts: u32, now: DateTime<Utc>) -> Delivery {
    match error {
        SendError::Transient(message) if attempts < MAX_ATTEMPTS => Delivery::Retry {
            at: after(now, retry_delay(attempts)),
            error: message.clone(),
        },
        SendError::Transient(message) | SendError::Permanent(message) => Delivery::Failed {
            error: message.clone(),
            refused_recipient: false,
        },
        SendError::Recipient(message) => Delivery::Failed {
            error: message.clone(),
            refused_recipient: true,
        },
    }
}

/// Sends every message due now, until none is left or the server keeps failing, over
/// [`CONNECTIONS`] connections at once.
pub async fn deliver_due(
    store: &dyn Store,
    transport: &Transport,
) -> Result<DeliveryReport, StoreError> {
    deliver_due_unless(store, transport, &|| false).await
}

/// [`deliver_due`], claiming no further message once `stopping` says so: each message already
/// claimed is sent and its delivery recorded, so that stopping never leaves a sent message
/// unrecorded (to be sent again).
pub async fn deliver_due_unless(
    store: &dyn Store,
    transport: &Transport,
    stopping: &(dyn Fn() -> bool + Sync),
) -> Result<DeliveryReport, StoreError> {
    let failures_in_a_row = AtomicU32::new(0);
    let lanes = (0..CONNECTIONS).map(|_| lane(store, transport, &failures_in_a_row, stopping));
    let mut report = DeliveryReport::default();
    for lane in join_all(lanes).await {
        report += lane?;
    }
    Ok(report)
}

/// One connection's share of [`deliver_due`]: claim a message, send it, record the outcome.
async fn lane(
    store: &dyn Store,
    transport: &Transport,
    failures_in_a_row: &AtomicU32,
    stopping: &(dyn Fn() -> bool + Sync),
) -> Result<DeliveryReport, StoreError> {
    let mut report = DeliveryReport::default();
    while failures_in_a_row.load(Ordering::Relaxed) < FAILURES_BEFORE_PAUSE && !stopping() {
        let Some(message) = store.claim_messages(Utc::now(), LEASE, 1).await?.pop() else {
            break;
        };
        let result = transport.send(&outgoing(&message)).await;
        let now = Utc::now();
        let delivery = match &result {
            Ok(()) => Delivery::Sent,
            Err(error) => outcome(error, message.attempts, now),
        };
        let to = message.recipient.masked();
        match &delivery {
            Delivery::Sent => {
                report.sent += 1;
                failures_in_a_row.store(0, Ordering::Relaxed);
            }
            Delivery::Retry { error, at } => {
                report.deferred += 1;
                failures_in_a_row.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(id = message.id, %to, %error, retry_at = %at, "mail deferred");
            }
            Delivery::Failed { error, .. } => {
                report.failed += 1;
                tracing::warn!(id = message.id, %to, %error, "mail failed for good");
            }
        }
        if !store.record_delivery(&message, delivery, now).await? {
            tracing::warn!(
                id = message.id,
                "a send outlived its lease; another worker has the message now"
            );
        }
    }
    Ok(report)
}

fn outgoing(message: &ClaimedMessage) -> Outgoing {
    Outgoing {
        message_id: message.message_id.clone(),
        from: message.sender.clone(),
        to: message.recipient.clone(),
        bytes: message.bytes.clone(),
    }
}

/// Delivers in the background until `stop` turns true: a pass whenever `wake` is notified (a
/// message was queued), when the earliest deferred message comes due, and at least every
/// minute (messages queued by another process). On `stop`, the messages being sent are
/// finished and recorded, and no more are claimed.
pub async fn run_worker(
    store: Arc<dyn Store>,
    transport: Transport,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    const IDLE: Duration = Duration::from_secs(60);
    while !*stop.borrow() {
        let stopping = {
            let stop = stop.clone();
            move || *stop.borrow()
        };
        let paused = match deliver_due_unless(&*store, &transport, &stopping).await {
            // The server kept failing: others are due now but would fail alike.
            Ok(report) => report.deferred > 0 && report.sent == 0,
            Err(error) => {
                tracing::error!(%error, "delivering mail failed");
                true
            }
        };
        let wait = if paused {
            FIRST_RETRY
        } else {
            match store.outbox_summary().await {
                Ok(summary) => summary
                    .next_due
                    .and_then(|due| (due - Utc::now()).to_std().ok())
                    .map_or(IDLE, |until| until.min(IDLE)),
                Err(_) => IDLE,
            }
        };
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(wait.max(Duration::from_millis(200))) => {}
            changed = stop.changed() => {
                // A dropped sender stops the worker too.
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_a_cap() {
        assert_eq!(retry_delay(1), Duration::from_secs(60));
        assert_eq!(retry_delay(2), Duration::from_secs(120));
        assert_eq!(retry_delay(4), Duration::from_secs(480));
        assert_eq!(retry_delay(12), LONGEST_RETRY);
        assert_eq!(retry_delay(u32::MAX), LONGEST_RETRY);
    }

    #[test]
    fn failures_are_classed_by_whether_waiting_helps() {
        let now = Utc::now();
        let transient = SendError::Transient("451".into());
        assert!(matches!(
            outcome(&transient, 1, now),
            Delivery::Retry { .. }
        ));
        assert!(matches!(
            outcome(&transient, MAX_ATTEMPTS, now),
            Delivery::Failed {
                refused_recipient: false,
                ..
            }
        ));
        assert!(matches!(
            outcome(&SendError::Recipient("550".into()), 1, now),
            Delivery::Failed {
                refused_recipient: true,
                ..
            }
        ));
        assert!(matches!(
            outcome(&SendError::Permanent("535".into()), 1, now),
            Delivery::Failed {
                refused_recipient: false,
                ..
            }
        ));
    }
}
