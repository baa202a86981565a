//! Rendered answers kept for a few seconds ("micro-caching").
//!
//! Under load the same front page, paper page or search is asked for many times a second.
//! Rendering it once per [`FRESH_FOR`] instead of once per request is what lets two cores serve
//! thousands of pages a second (docs/benchmarks.md). A page may therefore be up to that old
//! after papers arrive — what any cache in front of the site would give. Only anonymous GETs
//! are kept (a request with a cookie may be personal), only `200 OK` answers that do not ask to
//! stay private, and only for the routes named in [`SHARED_ROUTES`], whose answers depend on
//! nothing but the address and the store: a new route is not cached until it is added there.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use paperboy_core::recent::Recent;

/// How long an answer is reused.
pub(crate) const FRESH_FOR: Duration = Duration::from_secs(10);
/// Answers kept; the least recently used goes first. With [`MAX_BODY`], at most 64 MiB.
const CAPACITY: usize = 512;
/// Larger bodies are not kept (a page of results is tens of kilobytes).
const MAX_BODY: usize = 128 << 10;
/// Paths (exact, or prefixes when they end in `/`) whose answers are the same for everyone.
const SHARED_ROUTES: [&str; 11] = [
    "/",
    "/trending",
    "/search",
    "/similar",
    "/about",
    "/papers/",
    "/static/",
    "/feeds/",
    "/api/daily_papers",
    "/api/papers/",
    "/api/openapi.json",
];

#[derive(Debug)]
pub(crate) struct ResponseCache {
    answers: Mutex<Recent<Answer>>,
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
}

/// A kept `200 OK`: its headers (ETag included) and body.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    kept_at: Instant,
}

impl Default for ResponseCache {
    fn default() -> Self {
        ResponseCache {
            answers: Mutex::new(Recent::new(CAPACITY)),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }
}

impl ResponseCache {
    /// The key `request` is kept under, when its answer may be kept.
    pub(crate) fn key_of(request: &Request) -> Option<String> {
        let path = request.uri().path();
        let shared = SHARED_ROUTES.iter().any(|route| {
            path == *route || (route.len() > 1 && route.ends_with('/') && path.starts_with(route))
        });
        // A reader's credentials (a cookie, an access token) make an answer theirs alone.
        let carries_token = request.headers().contains_key(header::AUTHORIZATION)
            || request
                .uri()
                .query()
                .is_some_and(|query| query.split('&').any(|pair| pair.starts_with("token=")));
        let keep = shared
            && request.method() == Method::GET
            && !request.headers().contains_key(header::COOKIE)
            && !carries_token;
        keep.then(|| request.uri().to_string())
    }

    /// A fresh kept answer for `key`.
    pub(crate) fn get(&self, key: &str) -> Option<Answer> {
        let Ok(mut answers) = self.answers.lock() else {
            return None;
        };
        let fresh = answers
            .get(key)
            .filter(|answer| answer.kept_at.elapsed() < FRESH_FOR)
            .cloned();
        match fresh {
            Some(answer) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(answer)
            }
            None => {
                answers.remove(key);
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Keeps a `200 OK` for `key`, unless it sets a cookie, asks to stay private or is large.
    pub(crate) fn keep(&self, key: String, headers: &HeaderMap, body: &Bytes) {
        let private = headers
            .get_all(header::CACHE_CONTROL)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(|value| value.contains("private") || value.contains("no-store"));
        if private || headers.contains_key(header::SET_COOKIE) || body.len() > MAX_BODY {
            return;
        }
        if let Ok(mut answers) = self.answers.lock() {
            answers.insert(
                key,
                Answer {
                    headers: headers.clone(),
                    body: body.clone(),
                    kept_at: Instant::now(),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, uri: &str, cookie: bool) -> Request {
        let mut builder = Request::builder().method(method).uri(uri);
        if cookie {
            builder = builder.header(header::COOKIE, "session=1");
        }
        builder.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn keeps_only_anonymous_gets_of_pages() {
        // Method, address, with a cookie, and the key it is kept under (if any).
        for (method, uri, cookie, key) in [
            (Method::GET, "/search?q=mine", false, Some("/search?q=mine")),
            (
                Method::GET,
                "/papers/2601.00001",
                false,
                Some("/papers/2601.00001"),
            ),
            (Method::POST, "/", false, None),
            (Method::GET, "/", true, None),
            (Method::GET, "/metrics", false, None),
            (Method::GET, "/healthz", false, None),
            (Method::GET, "/me", false, None),
            (Method::GET, "/papersx", false, None),
            (Method::GET, "/feeds/daily.atom?token=abc", false, None),
            (Method::GET, "/search?q=x&token=abc", false, None),
            (
                Method::GET,
                "/search?q=token%3D",
                false,
                Some("/search?q=token%3D"),
            ),
        ] {
            assert_eq!(
                ResponseCache::key_of(&request(method.clone(), uri, cookie)).as_deref(),
                key,
                "{method} {uri} (cookie: {cookie})"
            );
        }
    }

    #[test]
    fn answers_to_access_tokens_are_not_kept() {
        let request = Request::builder()
            .uri("/api/daily_papers")
            .header(header::AUTHORIZATION, "Bearer abc")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(ResponseCache::key_of(&request), None);
    }

    #[test]
    fn answers_are_reused_and_counted_but_not_ones_that_set_cookies() {
        let cache = ResponseCache::default();
        let body = Bytes::from_static(b"<p>page</p>");
        assert!(cache.get("/").is_none());
        cache.keep("/".to_owned(), &HeaderMap::new(), &body);
        assert_eq!(cache.get("/").map(|answer| answer.body), Some(body.clone()));
        let mut cookie = HeaderMap::new();
        cookie.insert(header::SET_COOKIE, "session=1".parse().unwrap());
        cache.keep("/me".to_owned(), &cookie, &body);
        assert!(cache.get("/me").is_none());
        let mut private = HeaderMap::new();
        private.insert(
            header::CACHE_CONTROL,
            "private, max-age=60".parse().unwrap(),
        );
        cache.keep("/mine".to_owned(), &private, &body);
        assert!(cache.get("/mine").is_none());
        let large = Bytes::from(vec![b'x'; MAX_BODY + 1]);
        cache.keep("/large".to_owned(), &HeaderMap::new(), &large);
        assert!(cache.get("/large").is_none());
        assert_eq!(cache.hits.load(Ordering::Relaxed), 1);
        assert_eq!(cache.misses.load(Ordering::Relaxed), 4);
    }
}
