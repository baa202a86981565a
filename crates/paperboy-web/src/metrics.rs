//! The server's counters: requests and their latencies by route and status, and the request
//! ids. [`crate::middleware::observe`] counts every request; `/metrics` ([`crate::ops`]) shows
//! them.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;

/// Upper bounds of the latency histogram's buckets, in seconds.
pub(crate) const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];
/// Request counts and latencies by route.
#[derive(Debug, Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<(String, u16), RouteStats>>,
    next_request: AtomicU64,
    /// A per-process random prefix, so request ids differ across restarts.
    prefix: u32,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct RouteStats {
    pub(crate) count: u64,
    pub(crate) seconds: f64,
    /// Requests at or under each of [`BUCKETS`].
    pub(crate) buckets: [u64; BUCKETS.len()],
}

impl Metrics {
    pub fn new() -> Self {
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Metrics {
            prefix: (random >> 32) as u32,
            ..Metrics::default()
        }
    }

    pub(crate) fn next_request_id(&self) -> String {
        let number = self.next_request.fetch_add(1, Ordering::Relaxed);
        format!("{:08x}-{number:x}", self.prefix)
    }

    pub(crate) fn record(&self, route: &str, status: StatusCode, seconds: f64) {
        let Ok(mut routes) = self.routes.lock() else {
            return;
        };
        let stats = routes
            .entry((route.to_owned(), status.as_u16()))
            .or_default();
        stats.count += 1;
        stats.seconds += seconds;
        for (bucket, bound) in stats.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
    }

    pub(crate) fn snapshot(&self) -> BTreeMap<(String, u16), RouteStats> {
        self.routes
            .lock()
            .map(|routes| routes.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_fall_into_cumulative_buckets() {
        let metrics = Metrics::new();
        metrics.record("/search", StatusCode::OK, 0.003);
        metrics.record("/search", StatusCode::OK, 0.2);
        metrics.record("/search", StatusCode::BAD_REQUEST, 0.0005);
        let snapshot = metrics.snapshot();
        let ok = &snapshot[&("/search".to_owned(), 200)];
        assert_eq!(ok.count, 2);
        assert_eq!(ok.buckets[0], 0, "≤ 1 ms");
        assert_eq!(ok.buckets[2], 1, "≤ 5 ms");
        assert_eq!(ok.buckets[7], 2, "≤ 250 ms");
        assert_eq!(snapshot[&("/search".to_owned(), 400)].buckets[0], 1);
    }

    #[test]
    fn request_ids_differ() {
        let metrics = Metrics::new();
        assert_ne!(metrics.next_request_id(), metrics.next_request_id());
    }
}
