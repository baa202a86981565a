//! Paperboy's website and JSON API: the daily papers, search, paper pages with similar papers,
//! and `/api` for programs. Pages are server-rendered from templates compiled into the binary
//! (askama, escaped by default), styled by one small stylesheet, and need no JavaScript.
//!
//! Everything a handler needs is in [`AppState`]; searches run on the blocking pool, off the
//! async threads, since they embed the query and scan the vectors.

// Shared modules: what every feature needs. They never import a feature module.
mod access;
mod cache;
mod client;
mod error;
mod for_you;
mod limits;
mod lists;
mod metrics;
mod middleware;
mod params;
mod period;
mod reader;
mod respond;
mod server;
mod state;
mod view;

// Feature modules: the routes, one area of the site each. They import shared modules only,
// never each other.
mod accounts;
mod admin;
mod api;
mod feeds;
mod folders;
mod ops;
mod pages;
mod subscriptions;
mod tokens;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;

pub use access::AccessPolicy;
pub use client::TrustedProxies;
pub use server::ServerLimits;
pub use state::{AppState, DEFAULT_MAX_QUEUED_SEARCHES, Subscriptions};

use error::{ApiError, PageError};

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
        .route_layer(from_fn_with_state(state.clone(), lists::search_queue));
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
        .route("/folders", get(folders::list).post(folders::make))
        .route("/folders/{id}", get(folders::page))
        .route("/folders/{id}/delete", post(folders::delete))
        .route("/folders/{id}/rate", get(folders::rate_page))
        .route("/ratings", post(folders::rate))
        .route("/feeds/folders/{id}", get(feeds::folder_feed))
        .route("/me/tokens", post(tokens::make))
        .route("/me/tokens/{id}/revoke", post(tokens::revoke))
        .route(
            "/api/papers/{key}/upvote",
            put(accounts::api_upvote).delete(accounts::api_upvote),
        )
        .route(
            "/api/papers/{key}/saved",
            put(accounts::api_save).delete(accounts::api_save),
        )
        .route("/papers/{key}/upvote", post(accounts::upvote))
        .route("/papers/{key}/save", post(accounts::save))
        .route("/admin", get(admin::page))
        .route("/admin/papers/{key}/hidden", post(admin::hide_paper))
        .route("/admin/users/hidden", post(admin::hide_user))
        .route("/admin/invitations", post(admin::invite));
    if !state.metrics_elsewhere {
        site = site.route("/metrics", get(ops::metrics));
    }
    site.fallback(not_found)
        .layer(from_fn_with_state(
            Arc::clone(&state.responses),
            ops::validators,
        ))
        // Outside the cache of shared answers, so that none is served to a stranger.
        .layer(from_fn_with_state(state.clone(), access::wall))
        .layer(axum::middleware::from_fn(middleware::same_origin_writes))
        .layer(from_fn_with_state(
            state.limits.body_timeout,
            limits::bounded_bodies,
        ))
        .layer(axum::middleware::from_fn(limits::host_required))
        .layer(CompressionLayer::new())
        .layer(from_fn_with_state(
            state.public_url.starts_with("https://"),
            middleware::security_headers,
        ))
        .layer(from_fn_with_state(state.clone(), middleware::observe))
        .layer(CatchPanicLayer::custom(panicked))
        .with_state(state)
}

/// A handler that panicked: logged, answered 500, and the server goes on.
fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    PageError::internal("a request's handler panicked").into_response()
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
        ApiError::not_found("no such API route").into_response()
    } else {
        PageError::NotFound("There is no page at this address.".to_owned()).into_response()
    }
}
