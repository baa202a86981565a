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
mod client;
mod feeds;
mod for_you;
mod limits;
mod lists;
mod ops;
mod pages;
mod period;
mod server;
mod subscriptions;
mod view;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use cache::ResponseCache;
use ops::Metrics;
use paperboy_search::LiveSearcher;
use paperboy_store::Store;
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;

pub use client::TrustedProxies;
pub use server::ServerLimits;
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
    search_slots_total: usize,
    /// Searches waiting for a slot beyond which more are refused (see [`lists::search_queue`]).
    max_queued_searches: usize,
    searches_in_flight: Arc<AtomicUsize>,
    subscriptions: Arc<Subscriptions>,
    /// Whose `X-Forwarded-For` names the client (see [`client`]).
    trusted_proxies: Arc<TrustedProxies>,
    limits: ServerLimits,
    /// `/metrics` is served on its own address (see [`serve_metrics`]), not on the site.
    metrics_elsewhere: bool,
}

impl AppState {
    /// The site's public address (for feeds' absolute links) is the one mail links point to.
    pub fn new(
        store: Arc<dyn Store>,
        searcher: Arc<LiveSearcher>,
        subscriptions: Subscriptions,
    ) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        AppState {
            store,
            searcher,
            public_url: subscriptions.mailer().public_url().to_owned(),
            subscriptions: Arc::new(subscriptions),
            metrics: Arc::new(Metrics::new()),
            responses: Arc::new(ResponseCache::default()),
            search_slots: Arc::new(Semaphore::new(cores)),
            search_slots_total: cores,
            max_queued_searches: DEFAULT_MAX_QUEUED_SEARCHES,
            searches_in_flight: Arc::default(),
            trusted_proxies: Arc::default(),
            limits: ServerLimits::default(),
            metrics_elsewhere: false,
        }
    }

    /// Reads `X-Forwarded-For` from connections of these proxies (none by default).
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = Arc::new(proxies);
        self
    }

    pub fn with_limits(mut self, limits: ServerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Searches that may wait for a free core before more are answered 503.
    pub fn with_max_queued_searches(mut self, queued: usize) -> Self {
        self.max_queued_searches = queued;
        self
    }

    /// Leaves `/metrics` off the site, for [`serve_metrics`] to answer on another address.
    pub fn with_metrics_elsewhere(mut self) -> Self {
        self.metrics_elsewhere = true;
        self
    }
}

/// Searches that may wait for a core by default: about two seconds of searching on two cores.
pub const DEFAULT_MAX_QUEUED_SEARCHES: usize = 64;

/// The whole site: pages, API, static files and headers.
pub fn router(state: AppState) -> Router {
    // The routes that search: past the queue limit they are answered 503 at once.
    let searching = Router::new()
        .route("/search", get(pages::search))
        .route("/similar", get(pages::similar_to_text))
        .route("/papers/{key}", get(pages::paper))
        .route("/feeds/search.atom", get(feeds::search))
        .route("/api/papers/search", get(api::search))
        .route("/api/papers/{key}/similar", get(api::similar))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            lists::search_queue,
        ));
    let mut site = Router::new()
        .merge(searching)
        .route("/", get(pages::daily))
        .route("/trending", get(pages::trending))
        .route("/papers/{key}/{number}", get(pages::old_style_paper))
        .route("/about", get(pages::about))
        .route("/static/style.css", get(pages::stylesheet))
        .route("/static/app.js", get(pages::script))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ops::ready))
        .route("/feeds/daily.atom", get(feeds::daily))
        .route("/feeds/trending.atom", get(feeds::trending_feed))
        .route("/api/openapi.json", get(pages::openapi))
        .route("/api/daily_papers", get(api::daily_papers))
        .route("/api/papers/{key}", get(api::paper))
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
        .route("/admin/users/hidden", post(admin::hide_user));
    if !state.metrics_elsewhere {
        site = site.route("/metrics", get(ops::metrics));
    }
    site.fallback(not_found)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state.responses),
            ops::validators,
        ))
        .layer(middleware::from_fn(subscriptions::same_origin_writes))
        .layer(middleware::from_fn_with_state(
            state.limits.body_timeout,
            limits::bounded_bodies,
        ))
        .layer(middleware::from_fn(limits::host_required))
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn_with_state(
            state.public_url.starts_with("https://"),
            security_headers,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), ops::observe))
        .layer(CatchPanicLayer::custom(panicked))
        .with_state(state)
}

/// A handler that panicked: logged, answered 500, and the server goes on.
fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request's handler panicked");
    pages::refusal(
        "/",
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "The server failed to answer; the error is in its log.",
    )
}

/// Serves the site on `listener` until `shutdown` completes, then finishes the requests in
/// flight (up to the shutdown deadline of the state's [`ServerLimits`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state.clone());
    serve_app(listener, app, &state, shutdown).await
}

/// Serves `/metrics` alone on `listener` (an address only the monitoring reaches), with the
/// same connection limits as the site.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(ops::metrics))
        .with_state(state.clone());
    serve_app(listener, app, &state, shutdown).await
}

/// Serves `app` with the limits and trusted proxies of `state`.
async fn serve_app(
    listener: tokio::net::TcpListener,
    app: Router,
    state: &AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let trusted = Arc::clone(&state.trusted_proxies);
    server::run(listener, app, state.limits.clone(), trusted, shutdown).await
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

/// How long browsers that reached the site over HTTPS keep to HTTPS: a year.
const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

async fn security_headers(State(https): State<bool>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        );
    }
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
