//! Paperboy's website and JSON API: the daily papers, search, paper pages with similar papers,
//! and `/api` for programs. Pages are server-rendered from templates compiled into the binary
//! (askama, escaped by default), styled by one small stylesheet, and need no JavaScript.
//!
//! Everything a handler needs is in [`AppState`]; searches run on the blocking pool, off the
//! async threads, since they embed the query and scan the vectors.

mod accounts;
mod admin;
mod api;
mod cache;
mod feeds;
mod for_you;
mod lists;
mod ops;
mod pages;
mod period;
mod subscriptions;
mod view;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use cache::ResponseCache;
use ops::Metrics;
use paperboy_search::LiveSearcher;
use paperboy_store::Store;
use tokio::sync::Semaphore;
use tower_http::compression::CompressionLayer;

pub use subscriptions::Subscriptions;

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    store: Arc<dyn Store>,
    /// Replaced whole when the index is rebuilt while serving.
    searcher: Arc<LiveSearcher>,
    /// The address readers reach the site at (`https://papers.example.org`), for the absolute
    /// links feeds need.
    public_url: String,
    metrics: Arc<Metrics>,
    responses: Arc<ResponseCache>,
    /// One per core: how many searches run at once (see [`lists::run_search`]).
    search_slots: Arc<Semaphore>,
    subscriptions: Arc<Subscriptions>,
}

impl AppState {
    /// The site's public address (for feeds' absolute links) is the one mail links point to.
    pub fn new(
        store: Arc<dyn Store>,
        searcher: Arc<LiveSearcher>,
        subscriptions: Subscriptions,
    ) -> Self {
        AppState {
            store,
            searcher,
            public_url: subscriptions.mailer().public_url().to_owned(),
            subscriptions: Arc::new(subscriptions),
            metrics: Arc::new(Metrics::new()),
            responses: Arc::new(ResponseCache::default()),
            search_slots: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            )),
        }
    }
}

/// The whole site: pages, API, static files and headers.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::daily))
        .route("/trending", get(pages::trending))
        .route("/search", get(pages::search))
        .route("/similar", get(pages::similar_to_text))
        .route("/papers/{key}", get(pages::paper))
        .route("/about", get(pages::about))
        .route("/static/style.css", get(pages::stylesheet))
        .route("/static/app.js", get(pages::script))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(ops::metrics))
        .route("/feeds/daily.atom", get(feeds::daily))
        .route("/feeds/trending.atom", get(feeds::trending_feed))
        .route("/feeds/search.atom", get(feeds::search))
        .route("/api/openapi.json", get(pages::openapi))
        .route("/api/daily_papers", get(api::daily_papers))
        .route("/api/papers/search", get(api::search))
        .route("/api/papers/{key}", get(api::paper))
        .route("/api/papers/{key}/similar", get(api::similar))
        .route("/api/subscriptions", post(subscriptions::api_subscribe))
        .route(
            "/subscribe",
            get(subscriptions::subscribe_form).post(subscriptions::subscribe_submit),
        )
        .route(
            "/subscriptions/confirm/{token}",
            get(subscriptions::confirm_page).post(subscriptions::confirm),
        )
        .route(
            "/subscription/{token}",
            get(subscriptions::manage_page).post(subscriptions::unsubscribe),
        )
        .route(
            "/subscription/{token}/preferences",
            post(subscriptions::save_preferences),
        )
        .route(
            "/signin",
            get(accounts::sign_in_form).post(accounts::sign_in_submit),
        )
        .route(
            "/signin/{token}",
            get(accounts::sign_in_link_page).post(accounts::sign_in_complete),
        )
        .route("/signout", post(accounts::sign_out_here))
        .route("/signout/everywhere", post(accounts::sign_out_everywhere))
        .route("/me", get(accounts::me))
        .route("/me/digest", post(accounts::me_digest))
        .route("/me/saved.bib", get(accounts::export_bibtex))
        .route("/me/saved.jsonl", get(accounts::export_jsonl))
        .route("/papers/{key}/upvote", post(accounts::upvote))
        .route("/papers/{key}/save", post(accounts::save))
        .route("/admin", get(admin::page))
        .route("/admin/papers/{key}/hidden", post(admin::hide_paper))
        .route("/admin/users/hidden", post(admin::hide_user))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state.responses),
            ops::validators,
        ))
        .layer(middleware::from_fn(subscriptions::same_origin_writes))
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn_with_state(state.clone(), ops::observe))
        .with_state(state)
}

/// Serves the site on `listener` until `shutdown` completes, then finishes the requests in
/// flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// An unknown path: a JSON error under `/api`, a page elsewhere.
async fn not_found(request: Request) -> Response {
    if request.uri().path().starts_with("/api/") {
        api::ApiError::not_found("no such API route").into_response_value()
    } else {
        pages::not_found_page("There is no page at this address.")
    }
}

/// The content security policy: everything from this host only, no inline scripts or styles,
/// not framed by other sites.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ] {
        // A handler's own choice (a stricter referrer policy on private pages) stands.
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    response
}
