//! A private site (`--private`), every route against every kind of visitor, as one table:
//! strangers reach sign-in, the links mail carries and the health checks only; signed-in
//! readers and admins reach the rest; a session that was signed out counts as a stranger.
//! Access tokens open the API, the feeds and the reading list's files only (a read token for
//! reading only), and a revoked one is refused with its reason. The table is checked against
//! the routes `src/lib.rs` declares, so that a new route cannot be left out of it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{DAYS, Session, Site, start_configured};
use paperboy_web::AccessPolicy;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A paper of the demo's latest day.
const PAPER: &str = "2608.18580";

/// Whether a stranger may reach a route on a private site.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stranger {
    Reaches,
    /// Sent to sign in (a page), or answered 401 (the API's JSON, a feed, a form).
    Refused,
}

/// Every route of the site: its method, its pattern as `src/lib.rs` writes it, a path that
/// matches it, and whether a stranger reaches it.
fn routes() -> Vec<(Method, &'static str, String, Stranger)> {
    use Stranger::{Reaches, Refused};
    let paper = |rest: &str| format!("/papers/{PAPER}{rest}");
    vec![
        (
            Method::GET,
            "/search",
            "/search?q=attention".into(),
            Refused,
        ),
        (
            Method::GET,
            "/similar",
            "/similar?text=sparse+attention".into(),
            Refused,
        ),
        (Method::GET, "/papers/{key}", paper(""), Refused),
        (
            Method::GET,
            "/feeds/search.atom",
            "/feeds/search.atom?q=attention".into(),
            Refused,
        ),
        (
            Method::GET,
            "/api/papers/search",
            "/api/papers/search?q=attention".into(),
            Refused,
        ),
        (
            Method::GET,
            "/api/papers/{key}/similar",
            format!("/api/papers/{PAPER}/similar"),
            Refused,
        ),
        (Method::GET, "/", "/".into(), Refused),
        (Method::GET, "/trending", "/trending".into(), Refused),
        (
            Method::GET,
            "/papers/{key}/{number}",
            "/papers/2608/18580".into(),
            Refused,
        ),
        (Method::GET, "/about", "/about".into(), Refused),
        (
            Method::GET,
            "/static/style.css",
            "/static/style.css".into(),
            Reaches,
        ),
        (
            Method::GET,
            "/static/app.js",
            "/static/app.js".into(),
            Reaches,
        ),
        (Method::GET, "/healthz", "/healthz".into(), Reaches),
        (Method::GET, "/readyz", "/readyz".into(), Reaches),
        (
            Method::GET,
            "/feeds/daily.atom",
            "/feeds/daily.atom".into(),
            Refused,
        ),
        (
            Method::GET,
            "/feeds/trending.atom",
            "/feeds/trending.atom".into(),
            Refused,
        ),
        (
            Method::GET,
            "/api/openapi.json",
            "/api/openapi.json".into(),
            Refused,
        ),
        (
            Method::GET,
            "/api/daily_papers",
            "/api/daily_papers".into(),
            Refused,
        ),
        (
            Method::GET,
            "/api/papers/{key}",
            format!("/api/papers/{PAPER}"),
            Refused,
        ),
        (
            Method::POST,
            "/api/subscriptions",
            "/api/subscriptions".into(),
            Refused,
        ),
        (Method::GET, "/subscribe", "/subscribe".into(), Refused),
        (Method::POST, "/subscribe", "/subscribe".into(), Refused),
        (
            Method::GET,
            "/subscriptions/confirm/{token}",
            "/subscriptions/confirm/abc".into(),
            Reaches,
        ),
        (
            Method::POST,
            "/subscriptions/confirm/{token}",
            "/subscriptions/confirm/abc".into(),
            Reaches,
        ),
        (
            Method::GET,
            "/subscription/{token}",
            "/subscription/abc".into(),
            Reaches,
        ),
        (
            Method::POST,
            "/subscription/{token}",
            "/subscription/abc".into(),
            Reaches,
        ),
        (
            Method::POST,
            "/subscription/{token}/preferences",
            "/subscription/abc/preferences".into(),
            Reaches,
        ),
        (Method::GET, "/signin", "/signin".into(), Reaches),
        (Method::POST, "/signin", "/signin".into(), Reaches),
        (
            Method::GET,
            "/signin/{token}",
            "/signin/abc".into(),
            Reaches,
        ),
        (
            Method::POST,
            "/signin/{token}",
            "/signin/abc".into(),
            Reaches,
        ),
        (Method::POST, "/signout", "/signout".into(), Reaches),
        (
            Method::POST,
            "/signout/everywhere",
            "/signout/everywhere".into(),
            Reaches,
        ),
        (Method::GET, "/me", "/me".into(), Refused),
        (Method::POST, "/me/digest", "/me/digest".into(), Refused),
        (
            Method::GET,
            "/me/saved.bib",
            "/me/saved.bib".into(),
            Refused,
        ),
        (
            Method::GET,
            "/me/saved.jsonl",
            "/me/saved.jsonl".into(),
            Refused,
        ),
        (Method::POST, "/me/tokens", "/me/tokens".into(), Refused),
        (Method::GET, "/folders", "/folders".into(), Refused),
        (Method::POST, "/folders", "/folders".into(), Refused),
        (Method::GET, "/folders/{id}", "/folders/1".into(), Refused),
        (
            Method::POST,
            "/folders/{id}/delete",
            "/folders/1/delete".into(),
            Refused,
        ),
        (
            Method::GET,
            "/folders/{id}/rate",
            format!("/folders/1/rate?paper={PAPER}"),
            Refused,
        ),
        (Method::POST, "/ratings", "/ratings".into(), Refused),
        (
            Method::GET,
            "/feeds/folders/{id}",
            "/feeds/folders/1.atom".into(),
            Refused,
        ),
        (
            Method::POST,
            "/me/tokens/{id}/revoke",
            "/me/tokens/1/revoke".into(),
            Refused,
        ),
        (
            Method::PUT,
            "/api/papers/{key}/upvote",
            format!("/api/papers/{PAPER}/upvote"),
            Refused,
        ),
        (
            Method::DELETE,
            "/api/papers/{key}/upvote",
            format!("/api/papers/{PAPER}/upvote"),
            Refused,
        ),
        (
            Method::PUT,
            "/api/papers/{key}/saved",
            format!("/api/papers/{PAPER}/saved"),
            Refused,
        ),
        (
            Method::DELETE,
            "/api/papers/{key}/saved",
            format!("/api/papers/{PAPER}/saved"),
            Refused,
        ),
        (
            Method::POST,
            "/papers/{key}/upvote",
            paper("/upvote"),
            Refused,
        ),
        (Method::POST, "/papers/{key}/save", paper("/save"), Refused),
        (Method::GET, "/admin", "/admin".into(), Refused),
        (
            Method::POST,
            "/admin/papers/{key}/hidden",
            format!("/admin/papers/{PAPER}/hidden"),
            Refused,
        ),
        (
            Method::POST,
            "/admin/users/hidden",
            "/admin/users/hidden".into(),
            Refused,
        ),
        (
            Method::POST,
            "/admin/invitations",
            "/admin/invitations".into(),
            Refused,
        ),
        (Method::GET, "/metrics", "/metrics".into(), Refused),
    ]
}

/// The route patterns `src/lib.rs` declares (`.route("…"`, the pattern maybe on the next line).
fn declared_routes() -> BTreeSet<String> {
    let source = include_str!("../src/lib.rs");
    source
        .split(".route(")
        .skip(1)
        .filter_map(|rest| rest.trim_start().strip_prefix('"'))
        .filter_map(|rest| rest.split_once('"'))
        .map(|(pattern, _)| pattern.to_owned())
        .collect()
}

#[test]
fn the_table_names_every_route_the_site_declares() {
    let declared = declared_routes();
    let tabled: BTreeSet<String> = routes()
        .into_iter()
        .map(|(_, pattern, ..)| pattern.to_owned())
        .collect();
    assert!(declared.len() > 30, "{declared:?}");
    assert_eq!(declared, tabled);
}

/// Whether a route takes an access token: the API, the feeds and the reading list's files,
/// never a page or a form.
fn takes_tokens(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/feeds/") || path.starts_with("/me/saved.")
}

/// What a request came to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    /// Stopped by the private wall: sent to sign in, or 401 "This site is private".
    Walled,
    /// Its access token was refused as revoked (401, `invalid_token`).
    RevokedToken,
    /// Its read token was refused a write (403, `insufficient_scope`).
    ReadOnlyToken,
    /// Past the wall, to the route's handler.
    Reached,
}

async fn outcome(response: reqwest::Response) -> Outcome {
    let status = response.status();
    if status == StatusCode::SEE_OTHER {
        let location = response.headers()[reqwest::header::LOCATION]
            .to_str()
            .unwrap();
        if location.starts_with("/signin?next=") {
            return Outcome::Walled;
        }
    }
    let challenge = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .map(|value| value.to_str().unwrap().to_owned());
    let is_json = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .is_some_and(|value| value.to_str().unwrap().starts_with("application/json"));
    let body = response.text().await.unwrap();
    let code = is_json.then(|| serde_json::from_str::<Value>(&body).unwrap()["code"].clone());
    match (status, challenge.as_deref()) {
        (StatusCode::UNAUTHORIZED, Some("Bearer error=\"invalid_token\"")) => {
            assert!(body.contains("was revoked"), "{body}");
            return Outcome::RevokedToken;
        }
        (StatusCode::FORBIDDEN, Some("Bearer error=\"insufficient_scope\"")) => {
            assert!(body.contains("may only read"), "{body}");
            assert!(code.is_none_or(|code| code == "forbidden"));
            return Outcome::ReadOnlyToken;
        }
        _ => {}
    }
    if status == StatusCode::UNAUTHORIZED && body.contains("This site is private") {
        assert!(code.is_none_or(|code| code == "unauthorized"), "{body}");
        return Outcome::Walled;
    }
    Outcome::Reached
}

/// Who asks: what they send, and what each route should come to for them.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Visitor {
    /// No credentials, a forged cookie, or a signed-out session's.
    Stranger,
    /// A signed-in reader's or admin's cookie.
    Reader,
    ReadToken,
    ReadWriteToken,
    RevokedToken,
}

fn expected(visitor: Visitor, method: &Method, path: &str, rule: Stranger) -> Outcome {
    let as_stranger = if rule == Stranger::Refused {
        Outcome::Walled
    } else {
        Outcome::Reached
    };
    let writes = !matches!(*method, Method::GET | Method::HEAD);
    match visitor {
        Visitor::Stranger => as_stranger,
        Visitor::Reader => Outcome::Reached,
        // A token on a page is not looked at: the visitor is a stranger there.
        _ if !takes_tokens(path) => as_stranger,
        Visitor::RevokedToken => Outcome::RevokedToken,
        Visitor::ReadToken if writes => Outcome::ReadOnlyToken,
        Visitor::ReadToken | Visitor::ReadWriteToken => Outcome::Reached,
    }
}

async fn check_every_route(site: &Site, who: &str, headers: &[(&str, &str)], visitor: Visitor) {
    for (method, pattern, path, rule) in routes() {
        let response = site.send_with(method.clone(), &path, headers).await;
        let status = response.status();
        let came_to = outcome(response).await;
        assert_eq!(
            came_to,
            expected(visitor, &method, &path, rule),
            "{who}: {method} {pattern} ({path}) answered {status}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_site_answers_strangers_only_with_sign_in_mailed_links_and_health() {
    let site = start_configured(&DAYS, None, |state| {
        state.with_access_policy(AccessPolicy::default().private())
    })
    .await;
    check_every_route(&site, "stranger", &[], Visitor::Stranger).await;
    check_every_route(
        &site,
        "forged cookie",
        &[("cookie", "paperboy_session=forged")],
        Visitor::Stranger,
    )
    .await;

    let reader = site.sign_in("reader@example.org").await;
    check_every_route(
        &site,
        "reader",
        &[("cookie", &reader.cookie)],
        Visitor::Reader,
    )
    .await;
    let read = site.make_token(&reader, "feed reader", "read").await;
    let read_write = site.make_token(&reader, "script", "read-write").await;
    let revoked = site.make_token(&reader, "old laptop", "read").await;
    let (_, me) = site.page_as("/me", &reader.cookie).await;
    let revoke_path = me
        .split("action=\"")
        .filter_map(|rest| rest.split_once('"'))
        .map(|(action, _)| action)
        // Live tokens are listed newest first.
        .find(|action| action.ends_with("/revoke"))
        .unwrap()
        .to_owned();
    let response = site
        .post_form(
            &revoke_path,
            Some(&reader.cookie),
            &[("form_token", &reader.form_token)],
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    for (who, token, visitor) in [
        ("read token", &read, Visitor::ReadToken),
        ("read-write token", &read_write, Visitor::ReadWriteToken),
        ("revoked token", &revoked, Visitor::RevokedToken),
    ] {
        let bearer = format!("Bearer {token}");
        check_every_route(&site, who, &[("authorization", &bearer)], visitor).await;
    }
    let (status, _) = site.page_as("/admin", &reader.cookie).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let admin: Session = site.sign_in_admin("admin@example.org").await;
    check_every_route(
        &site,
        "admin",
        &[("cookie", &admin.cookie)],
        Visitor::Reader,
    )
    .await;
    let (status, page) = site.page_as("/admin", &admin.cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Invite a reader"));

    // Signed out, the old cookie is a stranger's.
    let response = site
        .post_form(
            "/signout",
            Some(&reader.cookie),
            &[("form_token", &reader.form_token)],
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    check_every_route(
        &site,
        "signed out",
        &[("cookie", &reader.cookie)],
        Visitor::Stranger,
    )
    .await;

    let (status, page) = site.page("/signin").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("This site is private: sign in to read it."));

    // A page asked for comes back after signing in.
    let response = site
        .send(Method::GET, "/search?q=sparse+attention", None)
        .await;
    assert_eq!(
        response.headers()[reqwest::header::LOCATION],
        "/signin?next=%2Fsearch%3Fq%3Dsparse%2Battention"
    );
}
