//! Limits on what one request may make the server hold: its body is read whole, up to
//! [`MAX_BODY_BYTES`], within the body deadline, before any handler runs, so that a handler
//! never waits on a slow client and nothing reads an unbounded body. Every form and JSON body
//! the site takes is a few hundred bytes.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Version, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::{ErrorCode, refusal};

/// The largest request body read.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// Reads the body within `deadline`, refusing one too large (413) or too slow (408).
pub(crate) async fn bounded_bodies(
    State(deadline): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return too_large(&path);
    }
    let (parts, body) = request.into_parts();
    let bytes =
        match tokio::time::timeout(deadline, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(error)) => {
                // Over the limit while streaming, or the client broke off mid-body.
                tracing::debug!(%error, "reading a request body failed");
                return too_large(&path);
            }
            Err(_) => {
                return refusal(
                    &path,
                    ErrorCode::RequestTimeout,
                    "The request's body did not arrive in time.",
                );
            }
        };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn too_large(path: &str) -> Response {
    refusal(
        path,
        ErrorCode::PayloadTooLarge,
        &format!("A request's body may hold at most {MAX_BODY_BYTES} bytes."),
    )
}

/// HTTP/1.1 requires `Host` (RFC 9112, section 3.2): without it the site cannot tell which
/// address the reader used, and same-origin checks compare against it. HTTP/1.0 clients, which
/// may omit it, are still served.
pub(crate) async fn host_required(request: Request, next: Next) -> Response {
    if request.version() == Version::HTTP_11 && !request.headers().contains_key(header::HOST) {
        return refusal(
            request.uri().path(),
            ErrorCode::BadRequest,
            "An HTTP/1.1 request must name the site's host in a Host header.",
        );
    }
    next.run(request).await
}
