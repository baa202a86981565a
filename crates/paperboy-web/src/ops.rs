//! What operators need of the server: a request id on every request and its log line,
//! Prometheus metrics at `/metrics`, and validators (ETags) so readers re-fetch only what
//! changed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hash::Hasher;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use paperboy_store::StoreError;
use paperboy_store::harvest::HarvestState;

use crate::cache::ResponseCache;
use crate::metrics::{BUCKETS, RouteStats};
use crate::state::AppState;

/// Bodies above this size are sent without an ETag rather than buffered to hash them.
const MAX_ETAG_BODY: usize = 4 << 20;

/// `/metrics` in the Prometheus text format. A store read that fails is logged with what it
/// was for, and the scraper gets a bare 500 (it records the scrape as failed).
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<Response, StatusCode> {
    let failed = |what: &'static str| {
        move |error: StoreError| {
            tracing::error!(%error, "{what} for /metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    let papers = state
        .store
        .count_papers()
        .await
        .map_err(failed("counting papers"))?;
    let outbox = state
        .store
        .outbox_summary()
        .await
        .map_err(failed("counting the outbox"))?;
    let harvests = state
        .store
        .harvest_states()
        .await
        .map_err(failed("reading harvest states"))?;
    let indexed = state.searcher.current().index().vectors.len() as u64;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# HELP paperboy_http_requests_total Requests answered, by route and status.\n\
         # TYPE paperboy_http_requests_total counter"
    );
    let routes = state.metrics.snapshot();
    for ((route, status), stats) in &routes {
        let _ = writeln!(
            text,
            "paperboy_http_requests_total{{route=\"{}\",status=\"{status}\"}} {}",
            label(route),
            stats.count
        );
    }
    let _ = writeln!(
        text,
        "# HELP paperboy_http_request_duration_seconds Time to answer, by route.\n\
         # TYPE paperboy_http_request_duration_seconds histogram"
    );
    let mut by_route: BTreeMap<&str, RouteStats> = BTreeMap::new();
    for ((route, _), stats) in &routes {
        let total = by_route.entry(route).or_default();
        total.count += stats.count;
        total.seconds += stats.seconds;
        for (sum, add) in total.buckets.iter_mut().zip(stats.buckets) {
            *sum += add;
        }
    }
    for (route, stats) in &by_route {
        let route = label(route);
        for (bound, count) in BUCKETS.iter().zip(stats.buckets) {
            let _ = writeln!(
                text,
                "paperboy_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            text,
            "paperboy_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\n\
             paperboy_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\n\
             paperboy_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
            stats.count, stats.seconds, stats.count
        );
    }
    let _ = writeln!(
        text,
        "# HELP paperboy_papers Papers in the store.\n# TYPE paperboy_papers gauge\n\
         paperboy_papers {papers}\n\
         # HELP paperboy_index_papers Papers in the search index this server loaded.\n\
         # TYPE paperboy_index_papers gauge\npaperboy_index_papers {indexed}\n\
         # HELP paperboy_embedding_backlog Papers in the store not yet in the search index.\n\
         # TYPE paperboy_embedding_backlog gauge\npaperboy_embedding_backlog {}\n\
         # HELP paperboy_response_cache_hits_total Answers served again from the response cache.\n\
         # TYPE paperboy_response_cache_hits_total counter\npaperboy_response_cache_hits_total {}\n\
         # HELP paperboy_response_cache_misses_total Cacheable requests rendered afresh.\n\
         # TYPE paperboy_response_cache_misses_total counter\npaperboy_response_cache_misses_total {}",
        papers.saturating_sub(indexed),
        state.responses.hits.load(Ordering::Relaxed),
        state.responses.misses.load(Ordering::Relaxed),
    );
    let _ = writeln!(
        text,
        "# HELP paperboy_outbox_messages Mail in the outbox, by state (sent and failed are kept \
         as records).\n# TYPE paperboy_outbox_messages gauge\n\
         paperboy_outbox_messages{{state=\"queued\"}} {}\n\
         paperboy_outbox_messages{{state=\"sent\"}} {}\n\
         paperboy_outbox_messages{{state=\"failed\"}} {}",
        outbox.queued, outbox.sent, outbox.failed
    );
    write_harvests(&mut text, &harvests);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// A metric family of harvest states: name, type, help, and its value for a source.
type HarvestFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&HarvestState) -> Option<f64>,
);

/// Each harvested source's runs, failures, records and times (see `paperboy harvest`).
fn write_harvests(text: &mut String, harvests: &[HarvestState]) {
    let families: [HarvestFamily; 6] = [
        (
            "paperboy_harvest_runs_total",
            "counter",
            "Harvest runs, by source.",
            |state| Some(state.runs as f64),
        ),
        (
            "paperboy_harvest_failures_total",
            "counter",
            "Harvest runs that failed, by source.",
            |state| Some(state.failures as f64),
        ),
        (
            "paperboy_harvest_records_total",
            "counter",
            "Records harvested and stored, by source.",
            |state| Some(state.records as f64),
        ),
        (
            "paperboy_harvest_failing",
            "gauge",
            "1 while a source's last run failed.",
            |state| Some(if state.last_error.is_some() { 1.0 } else { 0.0 }),
        ),
        (
            "paperboy_harvest_last_run_timestamp_seconds",
            "gauge",
            "When a source was last harvested.",
            |state| state.last_run_at.map(|at| at.timestamp() as f64),
        ),
        (
            "paperboy_harvest_last_success_timestamp_seconds",
            "gauge",
            "When a source was last harvested without failing.",
            |state| state.last_success_at.map(|at| at.timestamp() as f64),
        ),
    ];
    for (name, kind, help, value) in families {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for state in harvests {
            if let Some(value) = value(state) {
                let _ = writeln!(
                    text,
                    "{name}{{source=\"{}\"}} {value}",
                    label(&state.source)
                );
            }
        }
    }
}

/// Escapes a Prometheus label value.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Adds a weak ETag to successful GET answers without one and answers `304 Not Modified` when
/// the reader already has that version. Pages also get `Cache-Control: no-cache` (revalidate
/// every time: they change as papers arrive) unless the handler chose a policy. Answers that may
/// be shared are kept for a few seconds and served again from the [`ResponseCache`].
pub(crate) async fn validators(
    State(responses): State<Arc<ResponseCache>>,
    request: Request,
    next: Next,
) -> Response {
    let known = request.headers().get(header::IF_NONE_MATCH).cloned();
    let key = ResponseCache::key_of(&request);
    if let Some(answer) = key.as_deref().and_then(|key| responses.get(key)) {
        let mut response = Response::new(Body::empty());
        *response.headers_mut() = answer.headers;
        let (parts, _) = response.into_parts();
        return revalidated(parts, answer.body, known.as_ref());
    }
    let is_get = request.method() == axum::http::Method::GET;
    let response = next.run(request).await;
    if !is_get
        || response.status() != StatusCode::OK
        || response.headers().contains_key(header::ETAG)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // A body too large to hold in memory for a hash, or of unknown length (a stream), goes out
    // as it is, without a tag.
    if body
        .size_hint()
        .upper()
        .is_none_or(|upper| upper > MAX_ETAG_BODY as u64)
    {
        return Response::from_parts(parts, body);
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ETAG_BODY).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut hasher = Fnv1a::default();
    hasher.write(&bytes);
    let tag = format!("W/\"{:016x}-{:x}\"", hasher.finish(), bytes.len());
    let Ok(value) = HeaderValue::from_str(&tag) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    parts
        .headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-cache"));
    parts.headers.insert(header::ETAG, value);
    if let Some(key) = key {
        responses.keep(key, &parts.headers, &bytes);
    }
    revalidated(parts, bytes, known.as_ref())
}

/// The answer, or `304 Not Modified` when `known` (the request's `If-None-Match`) names its
/// ETag.
fn revalidated(
    mut parts: axum::http::response::Parts,
    body: Bytes,
    known: Option<&HeaderValue>,
) -> Response {
    let tag = parts
        .headers
        .get(header::ETAG)
        .and_then(|tag| tag.to_str().ok());
    let matches = known
        .and_then(|known| known.to_str().ok())
        .zip(tag)
        .is_some_and(|(known, tag)| known.split(',').any(|candidate| candidate.trim() == tag));
    if matches {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(body))
}

/// FNV-1a, 64 bits: a stable hash for ETags (std's hasher is seeded per process, which would
/// change every tag on restart).
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// `/readyz`: whether this node can answer readers, for a load balancer to route by. Unlike
/// `/healthz` (the process answers at all), it reads the store and searches the keyword index;
/// either failing makes it 503. What failed goes to the log only, not to whoever asks.
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    let store = state.store.count_papers().await;
    let searcher = state.searcher.current();
    let index = tokio::task::spawn_blocking(move || {
        searcher.search(
            &paperboy_search::Query::new("paper")
                .mode(paperboy_search::Mode::Keyword)
                .limit(1),
        )
    })
    .await;
    let failed = match (&store, &index) {
        (Err(error), _) => Some(format!("the store: {error}")),
        (_, Err(error)) => Some(format!("the search index: {error}")),
        (_, Ok(Err(error))) => Some(format!("the search index: {error}")),
        _ => None,
    };
    match failed {
        None => (StatusCode::OK, "ready\n").into_response(),
        Some(failure) => {
            tracing::error!(failure, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "failed\n").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Large answers pass through whole and untagged instead of failing; small ones are tagged.
    #[tokio::test]
    async fn answers_too_large_to_tag_pass_through() {
        use axum::routing::get;
        use tower::ServiceExt;

        let large = "x".repeat(MAX_ETAG_BODY + 1);
        let app = axum::Router::new()
            .route("/large", get(move || async move { large }))
            .route("/small", get(|| async { "small" }))
            .layer(axum::middleware::from_fn_with_state(
                Arc::new(ResponseCache::default()),
                validators,
            ));
        let get_path = |path: &str| {
            Request::get(path)
                .body(Body::empty())
                .expect("a valid request")
        };
        let response = app
            .clone()
            .oneshot(get_path("/large"))
            .await
            .expect("answers");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get(header::ETAG).is_none());
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("the whole body");
        assert_eq!(body.len(), MAX_ETAG_BODY + 1);

        let response = app.oneshot(get_path("/small")).await.expect("answers");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get(header::ETAG).is_some());
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
