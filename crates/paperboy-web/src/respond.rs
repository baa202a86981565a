//! Building responses that every kind of page needs: rendering a template, the notice and
//! error pages, and the headers of private pages. Feature modules answer through these, so a
//! change to how pages are sent is made once.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

/// A page saying what went wrong with a request.
#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub(crate) heading: &'static str,
    pub(crate) message: String,
}

/// A page saying what happened (a mail sent, a link that no longer works), with a link onward.
#[derive(Template)]
#[template(path = "notice.html")]
pub(crate) struct NoticePage {
    pub(crate) heading: &'static str,
    pub(crate) message: String,
    /// A link to offer next, as (href, text).
    pub(crate) link: Option<(String, &'static str)>,
}

/// Renders a template, or a plain 500 if rendering itself failed.
pub(crate) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "rendering a page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

/// Pages behind a secret link or for one reader: never stored by a cache, never sent on as a
/// referrer.
pub(crate) fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// A 303 to `location`: where a form sends the reader after it was done.
pub(crate) fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

/// A message of the core crates (`the address has no @`) as a sentence on a page.
pub(crate) fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    chars.next().map_or_else(String::new, |first| {
        format!("{}{}.", first.to_uppercase(), chars.as_str())
    })
}

/// A form refused for what it asked (a name too long, a limit reached): a 400 notice with the
/// way back to `back`.
pub(crate) fn not_done(heading: &'static str, message: String, back: String) -> Response {
    no_store(render(
        StatusCode::BAD_REQUEST,
        &NoticePage {
            heading,
            message,
            link: Some((back, "Back")),
        },
    ))
}

/// A path on this site to go to next (after signing in, after a form): only local paths, so a
/// link cannot send the reader elsewhere.
pub(crate) fn local_path(next: Option<&str>) -> Option<String> {
    let next = next?.trim();
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && next.len() <= 2_000;
    local.then(|| next.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_signing_in() {
        assert_eq!(local_path(Some("/me")), Some("/me".to_owned()));
        assert_eq!(
            local_path(Some("/papers/2601.00001?x=1")),
            Some("/papers/2601.00001?x=1".to_owned())
        );
        for outside in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "evil",
            "/me\r\nSet-Cookie: x",
            "",
        ] {
            assert_eq!(local_path(Some(outside)), None, "{outside:?}");
        }
        assert_eq!(local_path(None), None);
    }
}
