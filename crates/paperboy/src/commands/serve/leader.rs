//! Which node runs the schedules. Any number of `serve` processes may share one PostgreSQL;
//! the jobs that must run once (harvests, digest composition) run only on the node holding the
//! `schedules` lease in the store. The holder renews it every [`RENEW`]; a node that dies stops
//! renewing, and another takes the lease once it expires ([`TTL`]), so a schedule is picked up
//! again within a minute. Jobs a node runs while it briefly, wrongly, believes it leads (a
//! stalled process) do no harm: composing digests is idempotent per subscriber and period, and
//! harvested pages are upserts.
//!
//! The outbox worker is not elected: each message is claimed with a lease of its own
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so workers on every node never send one message
//! twice, and each node sends the confirmation and sign-in mail its readers asked for at once.

use std::sync::Arc;
use std::time::Duration;

use paperboy_store::Store;
use tokio::sync::watch;

/// The lease's name in the store.
const LEASE: &str = "schedules";
/// How long a lease lasts unless renewed.
const TTL: Duration = Duration::from_secs(30);
/// How often the holder renews it (and the others try to take it).
const RENEW: Duration = Duration::from_secs(10);

/// Whether this node runs the schedules now; cloned into each schedule.
#[derive(Clone)]
pub(crate) struct Leadership {
    leading: watch::Receiver<bool>,
}

impl Leadership {
    /// Waits until this node holds the lease.
    pub(crate) async fn until_leading(&mut self) {
        let _ = self.leading.wait_for(|leading| *leading).await;
    }

    pub(crate) fn is_leading(&self) -> bool {
        *self.leading.borrow()
    }
}

/// Starts taking part in the election as `holder` until `stop` turns true; then the lease, if
/// held, is given up at once so that another node need not wait for it to expire.
pub(crate) fn elect(
    store: Arc<dyn Store>,
    holder: String,
    mut stop: watch::Receiver<bool>,
) -> (Leadership, tokio::task::JoinHandle<()>) {
    let (leading, receiver) = watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            let held = match store.claim_lease(LEASE, &holder, TTL).await {
                Ok(held) => held,
                Err(error) => {
                    // Unsure whether it still holds the lease: it stops running the schedules.
                    tracing::warn!(%error, "renewing the schedules' lease failed");
                    false
                }
            };
            if held != *leading.borrow() {
                if held {
                    tracing::info!(node = %holder, "this node now runs the schedules");
                } else {
                    tracing::info!(node = %holder, "another node runs the schedules");
                }
                let _ = leading.send(held);
            }
            tokio::select! {
                () = tokio::time::sleep(RENEW) => {}
                _ = stop.wait_for(|stopped| *stopped) => break,
            }
        }
        let _ = leading.send(false);
        if let Err(error) = store.release_lease(LEASE, &holder).await {
            tracing::warn!(%error, "giving up the schedules' lease failed; it expires by itself");
        }
    });
    (Leadership { leading: receiver }, task)
}

/// This node's name in the election: host, process and its start time (a restarted process
/// with a reused pid is another node).
pub(crate) fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "host".to_owned());
    let tag = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u32);
    format!("{host}:{}:{tag:08x}", std::process::id())
}
