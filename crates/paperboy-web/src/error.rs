//! How a request fails, in one place, so that handlers can use `?`:
//!
//! - [`ErrorCode`] is the API's table of error codes with their HTTP statuses (the README lists
//!   the same, and a test keeps the two in step);
//! - [`ApiError`] is the API's one error body, `{"code": "...", "message": "..."}`;
//! - [`PageError`] is a page handler's failure, answered with the friendly error page;
//! - [`refusal`] answers a request refused before any handler ran, in whichever of the two
//!   shapes its path calls for.
//!
//! Store and search errors convert into both. An internal failure is logged here, once, as
//! `tracing::error!` inside the request's span (see [`crate::middleware::observe`]), so the log
//! line carries the request id that the reader's response shows; the reader sees only that the
//! server failed.

use std::fmt::Display;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use paperboy_search::SearchError;
use paperboy_store::StoreError;
use serde::Serialize;

use crate::respond::{ErrorPage, NoticePage, no_store, render};

/// What went wrong, as the API names it. Serialised as its snake-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    RequestTimeout,
    PayloadTooLarge,
    TooManyRequests,
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// Every code, in the order the README lists them.
    #[cfg(test)]
    const ALL: [ErrorCode; 9] = [
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::RequestTimeout,
        ErrorCode::PayloadTooLarge,
        ErrorCode::TooManyRequests,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    pub(crate) fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Logs a failure of the server (not of the request) once, in the request's span.
fn log_failure(error: &dyn Display) {
    tracing::error!(%error, "request failed");
}

/// An error in the API's one shape.
#[derive(Debug, Serialize)]
pub(crate) struct ApiError {
    code: ErrorCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::BadRequest, message)
    }

    pub(crate) fn code(&self) -> ErrorCode {
        self.code
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::NotFound, message)
    }

    pub(crate) fn too_many_requests() -> Self {
        ApiError::new(
            ErrorCode::TooManyRequests,
            "too many requests from this network; try again later (see Retry-After)",
        )
    }

    /// A failure of the server: logged, and answered without its details.
    pub(crate) fn internal(error: impl Display) -> Self {
        log_failure(&error);
        ApiError::new(
            ErrorCode::Internal,
            "the server failed to answer; the error is in its log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.code.status(), Json(&self)).into_response()
    }
}

impl From<SearchError> for ApiError {
    fn from(error: SearchError) -> Self {
        match error {
            SearchError::EmptyQuery => ApiError::bad_request(error.to_string()),
            other => ApiError::internal(other),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::internal(error)
    }
}

/// Why a page could not be shown. Messages are whole sentences, shown to the reader.
#[derive(Debug)]
pub(crate) enum PageError {
    /// 400: the address or the form asked for something that makes no sense.
    BadRequest(String),
    /// 403: the reader may not do this (a closed account, a form of another session).
    Forbidden(String),
    /// 404
    NotFound(String),
    /// 500: the server failed; already logged.
    Internal,
}

impl PageError {
    /// A failure of the server: logged here, and answered without its details.
    pub(crate) fn internal(error: impl Display) -> Self {
        log_failure(&error);
        PageError::Internal
    }

    /// The answer for a paper key that names no paper shown here.
    pub(crate) fn no_paper(key: &str) -> Self {
        PageError::NotFound(format!("There is no paper {key} here."))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::BadRequest(message) => render(
                StatusCode::BAD_REQUEST,
                &ErrorPage {
                    heading: "That request did not make sense",
                    message,
                },
            ),
            PageError::Forbidden(message) => no_store(render(
                StatusCode::FORBIDDEN,
                &NoticePage {
                    heading: "Not allowed",
                    message,
                    link: None,
                },
            )),
            PageError::NotFound(message) => render(
                StatusCode::NOT_FOUND,
                &ErrorPage {
                    heading: "Not found",
                    message,
                },
            ),
            PageError::Internal => render(
                StatusCode::INTERNAL_SERVER_ERROR,
                &ErrorPage {
                    heading: "Something went wrong",
                    message: "The server failed to answer; the error is in its log.".to_owned(),
                },
            ),
        }
    }
}

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> Self {
        PageError::internal(error)
    }
}

impl From<SearchError> for PageError {
    fn from(error: SearchError) -> Self {
        PageError::internal(error)
    }
}

/// What a page handler answers: the page, or why not.
pub(crate) type PageResult = Result<Response, PageError>;

/// Seconds a client refused for load is asked to wait.
pub(crate) const RETRY_AFTER_BUSY: u64 = 2;

/// A request refused before any handler ran (too large, too slow, too many): the API's JSON
/// error under `/api`, a page elsewhere. A 503 says when to come back.
pub(crate) fn refusal(path: &str, code: ErrorCode, message: &str) -> Response {
    let response = if path.starts_with("/api/") {
        ApiError::new(code, message).into_response()
    } else {
        let heading = match code {
            ErrorCode::Unavailable => "Busy",
            ErrorCode::RequestTimeout => "Too slow",
            _ => "That request was refused",
        };
        render(
            code.status(),
            &ErrorPage {
                heading,
                message: message.to_owned(),
            },
        )
    };
    if code == ErrorCode::Unavailable {
        retry_after(RETRY_AFTER_BUSY, response)
    } else {
        response
    }
}

/// `response` with a `Retry-After` of `seconds`: when a refused client may ask again.
pub(crate) fn retry_after(seconds: u64, response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_lists_every_api_error_code_with_its_status() {
        let readme = include_str!("../../../README.md").replace('\n', " ");
        for code in ErrorCode::ALL {
            let name = serde_json::to_value(code).unwrap();
            let listed = format!("`{}` ({}", name.as_str().unwrap(), code.status().as_u16());
            assert!(readme.contains(&listed), "the README lacks {listed}");
        }
    }

    #[test]
    fn api_errors_have_one_shape() {
        let body = serde_json::to_value(ApiError::bad_request("limit must be 1 to 100")).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"code": "bad_request", "message": "limit must be 1 to 100"})
        );
    }
}
