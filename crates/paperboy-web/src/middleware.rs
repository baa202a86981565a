//! The layers every request passes through, around the handlers: its id, log line and metrics
//! ([`observe`]), the same-origin check on writes ([`same_origin_writes`]) and the security
//! headers of every answer ([`security_headers`]). The limits on bodies and hosts are in
//! [`crate::limits`], the ETag validators in [`crate::ops`].
//!
//! The one-click unsubscribe URL of every digest (RFC 8058) is the one write the same-origin
//! check leaves alone: a mail client posts it without a browser, and its token is its
//! authority.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::error::{ApiError, ErrorCode};
use crate::respond::{NoticePage, render};
use crate::state::AppState;

/// Gives the request an id (kept from `X-Request-Id` when a proxy set a sane one), logs it
/// when it ends, and counts it by route.
pub(crate) async fn observe(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|value| {
            !value.is_empty()
                && value.len() <= 64
                && value
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        })
        .map_or_else(|| state.metrics.next_request_id(), str::to_owned);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().clone();
    // Everything logged while answering (a failure, say) carries the request's id.
    let span = tracing::error_span!("request", request_id = %id);
    let mut response = next.run(request).instrument(span).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status();
    state.metrics.record(&route, status, seconds);
    // The route, not the path: paths hold search words, which are the readers' business.
    tracing::info!(
        request_id = %id,
        %method,
        route = %route,
        status = status.as_u16(),
        ms = format_args!("{:.1}", seconds * 1000.0),
        "request"
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Refuses state-changing requests that a browser says come from another site (the
/// `Sec-Fetch-Site` header, else `Origin` against `Host`): a page elsewhere cannot submit
/// Paperboy's forms in a reader's name. Programs that send neither header are not browsers
/// and carry no reader's credentials. The one-click unsubscribe URL is exempt (see the module
/// docs).
pub(crate) async fn same_origin_writes(request: Request, next: Next) -> Response {
    let writes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let one_click = request
        .uri()
        .path()
        .strip_prefix("/subscription/")
        .is_some_and(|rest| !rest.contains('/'));
    if writes && !one_click && is_cross_site(request.headers()) {
        let message = "this form was sent from another site; open the page on this site and send it from there";
        return if request.uri().path().starts_with("/api/") {
            ApiError::new(ErrorCode::Forbidden, message).into_response()
        } else {
            render(
                StatusCode::FORBIDDEN,
                &NoticePage {
                    heading: "Sent from another site",
                    message: format!("{message}."),
                    link: None,
                },
            )
        };
    }
    next.run(request).await
}

fn is_cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers.get(header::HOST).map(HeaderValue::as_bytes);
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|origin| origin.split_once("://"))
        .map(|(_, host)| host.as_bytes());
    origin_host.is_none() || origin_host != host
}

/// The content security policy: everything from this host only, no inline scripts or styles,
/// not framed by other sites.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// How long browsers that reached the site over HTTPS keep to HTTPS: a year.
const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

pub(crate) async fn security_headers(
    State(https): State<bool>,
    request: Request,
    next: Next,
) -> Response {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_site_writes_are_recognised() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, HeaderValue::from_static(value));
            }
            map
        };
        assert!(!is_cross_site(&headers(&[])));
        assert!(!is_cross_site(&headers(&[(
            "sec-fetch-site",
            "same-origin"
        )])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(!is_cross_site(&headers(&[
            ("origin", "http://papers.example.org"),
            ("host", "papers.example.org")
        ])));
        assert!(is_cross_site(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "papers.example.org")
        ])));
        assert!(is_cross_site(&headers(&[
            ("origin", "null"),
            ("host", "papers.example.org")
        ])));
    }
}
