//! Who may read this instance, and who may sign in and ask for the digest.
//!
//! Sign-in and the digest are open to anyone (the default), to addresses on the operator's
//! domains (`--allowed-email-domains`), or to invited addresses only (`--invite-only`): one
//! rule for both doors, since a digest carries the site's papers as a page does. Reading is
//! open, or (`--private`) for signed-in readers only: [`private_reading`] stands in front of
//! every route but sign-in, the links mail carries, health checks and the stylesheet and
//! script the sign-in page needs, and in front of the cache of shared answers too.
//!
//! An invited address is one with an account: made by `paperboy users add`, invited from
//! `/admin`, or signed in before the rule was set. It is always let in (a hidden user is still
//! kept out, by the sign-in itself), so an operator can invite a guest from outside the
//! domains. Domains match exactly and without case: `lab.example` does not admit
//! `ada@mail.lab.example`.

use std::fmt;
use std::str::FromStr;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use paperboy_core::EmailAddress;
use paperboy_store::{Store, StoreError};

use crate::error::{ApiError, ErrorCode, PageError};
use crate::reader::{sign_in_url, signed_in};
use crate::respond::{ErrorPage, no_store, render, see_other};
use crate::state::AppState;

/// The rules; [`AccessPolicy::default`] lets anyone read and sign in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    /// Lower-case domains whose addresses may sign in without an invitation; empty: any.
    allowed_domains: Vec<String>,
    /// Only invited addresses may sign in (the domains then admit nobody more).
    invite_only: bool,
    /// Reading needs a signed-in reader.
    private: bool,
}

/// What the rule says of one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    Admitted,
    /// Refused, and the requester is told why: the allowed domains are no secret.
    OutsideDomains,
    /// Refused without saying so: the answer is the one an invited address gets, so that the
    /// site does not tell strangers who its readers are.
    NotInvited,
}

impl AccessPolicy {
    pub fn new(allowed_domains: AllowedDomains, invite_only: bool) -> Self {
        AccessPolicy {
            allowed_domains: allowed_domains.0,
            invite_only,
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

    pub fn invite_only(&self) -> bool {
        self.invite_only
    }

    /// Whether `email` may sign in or ask for the digest.
    pub(crate) async fn admits(
        &self,
        store: &dyn Store,
        email: &EmailAddress,
    ) -> Result<Admission, StoreError> {
        let on_allowed_domain = self.allowed_domains.is_empty()
            || self
                .allowed_domains
                .iter()
                .any(|domain| domain.eq_ignore_ascii_case(email.domain()));
        if !self.invite_only && on_allowed_domain {
            return Ok(Admission::Admitted);
        }
        if store.user_by_email(email).await?.is_some() {
            return Ok(Admission::Admitted);
        }
        Ok(if self.invite_only {
            Admission::NotInvited
        } else {
            Admission::OutsideDomains
        })
    }

    /// What the sign-in page says of who the site is for; `None` on a site open to anyone.
    pub(crate) fn sign_in_notice(&self) -> Option<String> {
        let who = if self.invite_only {
            Some("by invitation: sign in with the address you were invited at".to_owned())
        } else if !self.allowed_domains.is_empty() {
            Some(format!(
                "for addresses at {}, and invited ones",
                self.allowed_domains.join(", ")
            ))
        } else {
            None
        };
        match (self.private, who) {
            (true, Some(who)) => Some(format!("This site is private, and {who}.")),
            (true, None) => Some("This site is private: sign in to read it.".to_owned()),
            (false, Some(who)) => Some(format!("This site is {who}.")),
            (false, None) => None,
        }
    }

    /// The message that refuses an address outside the domains.
    pub(crate) fn outside_domains_message(&self) -> String {
        format!(
            "This site takes addresses at {} only; ask its administrators for an invitation \
             to use another.",
            self.allowed_domains.join(", ")
        )
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

/// On a private site, refuses every request but the open ones (see [`open_on_private_site`])
/// that does not come from a signed-in reader: a page asked for is answered with the way to
/// sign in and come back, the API with its JSON error, anything else with a 401 page.
pub(crate) async fn private_reading(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if !state.access_policy.is_private() || open_on_private_site(path) {
        return next.run(request).await;
    }
    match signed_in(&state, request.headers()).await {
        // Handed on, so that the handler's `Reader` does not look the session up again.
        Ok(Some(signed_in)) => {
            request.extensions_mut().insert(signed_in);
            return next.run(request).await;
        }
        Ok(None) => {}
        Err(error) => return PageError::from(error).into_response(),
    }
    let path = request.uri().path();
    const MESSAGE: &str = "This site is private: sign in to read it.";
    if path.starts_with("/api/") {
        return ApiError::new(ErrorCode::Unauthorized, MESSAGE).into_response();
    }
    let is_read = matches!(*request.method(), Method::GET | Method::HEAD);
    if is_read && !path.starts_with("/feeds/") && !path.starts_with("/me/saved.") {
        let here = request
            .uri()
            .path_and_query()
            .map_or(path, |whole| whole.as_str());
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

/// A comma-separated list of mail domains, as `--allowed-email-domains` takes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedDomains(Vec<String>);

impl FromStr for AllowedDomains {
    type Err = String;

    fn from_str(list: &str) -> Result<Self, String> {
        let mut domains = Vec::new();
        for domain in list
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
        {
            let domain = domain
                .strip_prefix('@')
                .unwrap_or(domain)
                .to_ascii_lowercase();
            // Checked as the domain of an address would be, so that a typo is an error at
            // start rather than a site nobody can sign in to.
            if domain.len() > 253 || format!("check@{domain}").parse::<EmailAddress>().is_err() {
                return Err(format!("{domain:?} is not a mail domain"));
            }
            if !domains.contains(&domain) {
                domains.push(domain);
            }
        }
        Ok(AllowedDomains(domains))
    }
}

impl fmt::Display for AllowedDomains {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0.join(","))
    }
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

    #[test]
    fn domain_lists_are_read_leniently_and_checked() {
        let domains: AllowedDomains = " Example.org, @lab.example ,,example.org".parse().unwrap();
        assert_eq!(domains.to_string(), "example.org,lab.example");
        assert_eq!(
            "".parse::<AllowedDomains>().unwrap(),
            AllowedDomains::default()
        );
        for bad in [
            "exa mple.org",
            "ada@example.org",
            "example..org",
            "<script>",
        ] {
            assert!(bad.parse::<AllowedDomains>().is_err(), "{bad}");
        }
    }
}
