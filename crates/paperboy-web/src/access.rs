//! Who may read this instance: anyone (the default), or (`--private`) signed-in readers only.
//! Who may sign in and ask for the digest is the [`Membership`] rule, which mail shares.
//!
//! On a private site [`wall`] stands in front of every route but sign-in, the links mail
//! carries, health checks and the stylesheet and script the sign-in page needs, and in front
//! of the cache of shared answers too.
//!
//! Feed readers and scripts cannot sign in, so a reader makes them access tokens on `/me`:
//! random, shown once, stored hashed, scoped to reading or to reading and writing, revocable.
//! The API, the feeds and the reading list's files take one ([`takes_access_tokens`]); pages
//! and forms never do.

use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use paperboy_core::account::TokenScope;
use paperboy_core::token::Token;
use paperboy_digest::membership::Membership;
use paperboy_store::account::TokenCheck;

use crate::error::{ApiError, ErrorCode, PageError};
use crate::reader::{Credential, SignedIn, sign_in_url, signed_in};
use crate::respond::{ErrorPage, no_store, render, see_other};
use crate::state::AppState;

/// The rules; [`AccessPolicy::default`] lets anyone read and sign in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    /// Who may sign in and ask for the digest.
    pub(crate) membership: Membership,
    /// Reading needs a signed-in reader.
    private: bool,
}

impl AccessPolicy {
    pub fn new(membership: Membership) -> Self {
        AccessPolicy {
            membership,
            private: false,
        }
    }

    /// The same rules, with reading for signed-in readers only.
    pub fn private(self) -> Self {
        AccessPolicy {
            private: true,
            ..self
        }
    }

    pub fn is_private(&self) -> bool {
        self.private
    }

    /// What the sign-in page says of who the site is for; `None` on a site open to anyone.
    pub(crate) fn sign_in_notice(&self) -> Option<String> {
        match (self.private, self.membership.who()) {
            (true, Some(who)) => Some(format!("This site is private, and {who}.")),
            (true, None) => Some("This site is private: sign in to read it.".to_owned()),
            (false, Some(who)) => Some(format!("This site is {who}.")),
            (false, None) => None,
        }
    }
}

/// The paths a private site still answers without sign-in: signing in, the links mail carries
/// (their tokens are their access), health checks for the supervisor and the load balancer,
/// and what the sign-in page loads.
fn open_on_private_site(path: &str) -> bool {
    const EXACT: [&str; 7] = [
        "/signin",
        "/signout",
        "/signout/everywhere",
        "/healthz",
        "/readyz",
        "/static/style.css",
        "/static/app.js",
    ];
    const UNDER: [&str; 3] = ["/signin/", "/subscriptions/confirm/", "/subscription/"];
    EXACT.contains(&path) || UNDER.iter().any(|prefix| path.starts_with(prefix))
}

/// The routes that take an access token (see [`presented_token`]): the API, the feeds and the
/// reading list's files, what feed readers and scripts fetch. Pages never do, so a token in a
/// link cannot stand in for a browser's session.
fn takes_access_tokens(path: &str) -> bool {
    path.starts_with("/api/")
        || path.starts_with("/feeds/")
        || (path.starts_with("/me/")
            && [".atom", ".bib", ".jsonl"]
                .iter()
                .any(|extension| path.ends_with(extension)))
}

/// The access token a request presents: `Authorization: Bearer …`, or a `token` query
/// parameter for feed readers that cannot set headers. `Some(None)` for one that is present
/// but malformed.
fn presented_token(request: &Request) -> Option<Option<Token>> {
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let bearer = value
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "));
        return Some(bearer.and_then(|token| token.trim().parse().ok()));
    }
    request.uri().query()?;
    let Ok(Query(pairs)) = Query::<Vec<(String, String)>>::try_from_uri(request.uri()) else {
        return Some(None);
    };
    let (_, token) = pairs.into_iter().find(|(name, _)| name == "token")?;
    Some(token.parse().ok())
}

/// Why a presented access token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenRefusal {
    Malformed,
    Unknown,
    Revoked,
    /// A read token sent with a write.
    ReadOnly,
}

impl TokenRefusal {
    fn refuse(self, path: &str) -> Response {
        let (code, message) = match self {
            TokenRefusal::Malformed => (
                ErrorCode::Unauthorized,
                "the access token is malformed (it may have been cut short when copied)",
            ),
            TokenRefusal::Unknown => (
                ErrorCode::Unauthorized,
                "this access token is not known here; make one on your page at /me",
            ),
            TokenRefusal::Revoked => (
                ErrorCode::Unauthorized,
                "this access token was revoked; make a new one on your page at /me",
            ),
            TokenRefusal::ReadOnly => (
                ErrorCode::Forbidden,
                "this access token may only read; make a read-write one on your page at /me",
            ),
        };
        let mut response = if path.starts_with("/api/") {
            ApiError::new(code, message).into_response()
        } else {
            render(
                code.status(),
                &ErrorPage {
                    heading: "Access token refused",
                    message: format!("{}.", crate::respond::sentence(message)),
                },
            )
        };
        // RFC 6750: a client can tell a bad token from a missing one.
        let challenge = if self == TokenRefusal::ReadOnly {
            "Bearer error=\"insufficient_scope\""
        } else {
            "Bearer error=\"invalid_token\""
        };
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        no_store(response)
    }
}

/// Who a request comes from, and whether it may go on: in front of every route, and of the
/// cache of shared answers.
///
/// - An access token, where a route takes one ([`takes_access_tokens`]), is checked whatever
///   the site: a revoked, unknown or malformed one, or a read token sent with a write, is
///   refused with the reason, and a live one makes its reader the request's.
/// - On a private site, every request but the open ones (see [`open_on_private_site`]) needs a
///   signed-in reader: a page asked for is answered with the way to sign in and come back, the
///   API with its JSON error, anything else with a 401 page.
///
/// The reader found is handed on, so that the handler's `Reader` does not look them up again;
/// answers given to a reader are marked `private` for caches on the way.
pub(crate) async fn wall(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let token = takes_access_tokens(&path)
        .then(|| presented_token(&request))
        .flatten();
    let is_read = matches!(*request.method(), Method::GET | Method::HEAD);
    if let Some(token) = token {
        let Some(token) = token else {
            return TokenRefusal::Malformed.refuse(&path);
        };
        let (user, scope) = match state
            .store
            .access_token_user(token.hash(), Utc::now())
            .await
        {
            Ok(TokenCheck::Live { user, scope }) => (user, scope),
            Ok(TokenCheck::Revoked) => return TokenRefusal::Revoked.refuse(&path),
            Ok(TokenCheck::Unknown) => return TokenRefusal::Unknown.refuse(&path),
            Err(error) => return PageError::from(error).into_response(),
        };
        if scope == TokenScope::Read && !is_read {
            return TokenRefusal::ReadOnly.refuse(&path);
        }
        request.extensions_mut().insert(SignedIn {
            user,
            credential: Credential::AccessToken,
        });
        return kept_private(next.run(request).await);
    }
    if !state.access_policy.is_private() || open_on_private_site(&path) {
        return next.run(request).await;
    }
    match signed_in(&state, request.headers()).await {
        Ok(Some(signed_in)) => {
            request.extensions_mut().insert(signed_in);
            return kept_private(next.run(request).await);
        }
        Ok(None) => {}
        Err(error) => return PageError::from(error).into_response(),
    }
    const MESSAGE: &str = "This site is private: sign in to read it.";
    if path.starts_with("/api/") {
        return ApiError::new(ErrorCode::Unauthorized, MESSAGE).into_response();
    }
    if is_read && !takes_access_tokens(&path) {
        let here = request
            .uri()
            .path_and_query()
            .map_or(path.as_str(), |whole| whole.as_str());
        return no_store(see_other(&sign_in_url(here)));
    }
    no_store(render(
        StatusCode::UNAUTHORIZED,
        &ErrorPage {
            heading: "Sign in first",
            message: MESSAGE.to_owned(),
        },
    ))
}

/// An answer for one reader: caches on the way (a proxy, a CDN) may keep it for that reader
/// only, whatever the handler said for everyone.
fn kept_private(mut response: Response) -> Response {
    let public = response
        .headers()
        .get(header::CACHE_CONTROL)
        .and_then(|value| value.to_str().ok())
        .filter(|value| value.contains("public"))
        .map(|value| value.replace("public", "private"));
    if let Some(value) = public.and_then(|value| HeaderValue::from_str(&value).ok()) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_site_opens_sign_in_mailed_links_and_health_checks_only() {
        for open in [
            "/signin",
            "/signin/abc",
            "/subscriptions/confirm/abc",
            "/subscription/abc/preferences",
            "/healthz",
            "/static/style.css",
        ] {
            assert!(open_on_private_site(open), "{open}");
        }
        for closed in [
            "/",
            "/signinx",
            "/search",
            "/api/papers/search",
            "/feeds/daily.atom",
            "/subscribe",
            "/static/other",
            "/metrics",
            "/about",
        ] {
            assert!(!open_on_private_site(closed), "{closed}");
        }
    }
}
