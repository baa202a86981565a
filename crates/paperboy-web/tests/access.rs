//! A private site (`--private`), every route against every kind of visitor, as one table:
//! strangers reach sign-in, the links mail carries and the health checks only; signed-in
//! readers and admins reach the rest; a session that was signed out counts as a stranger. The
//! table is checked against the routes `src/lib.rs` declares, so that a new route cannot be
//! left out of it.

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

/// Whether the private wall stopped `response`.
async fn walled(response: reqwest::Response) -> bool {
    let status = response.status();
    if status == StatusCode::SEE_OTHER {
        let location = response.headers()[reqwest::header::LOCATION]
            .to_str()
            .unwrap();
        return location.starts_with("/signin?next=");
    }
    if status != StatusCode::UNAUTHORIZED {
        return false;
    }
    let is_json = response.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("application/json");
    let body = response.text().await.unwrap();
    if is_json {
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["code"], "unauthorized", "{body}");
    }
    assert!(body.contains("This site is private"), "{body}");
    true
}

async fn check_every_route(site: &Site, who: &str, cookie: Option<&str>, stranger: bool) {
    for (method, pattern, path, rule) in routes() {
        let response = site.send(method.clone(), &path, cookie).await;
        let status = response.status();
        let refused = walled(response).await;
        let expected = stranger && rule == Stranger::Refused;
        assert_eq!(
            refused, expected,
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
    check_every_route(&site, "stranger", None, true).await;
    check_every_route(
        &site,
        "forged cookie",
        Some("paperboy_session=forged"),
        true,
    )
    .await;

    let reader = site.sign_in("reader@example.org").await;
    check_every_route(&site, "reader", Some(&reader.cookie), false).await;
    let (status, _) = site.page_as("/admin", &reader.cookie).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let admin: Session = site.sign_in_admin("admin@example.org").await;
    check_every_route(&site, "admin", Some(&admin.cookie), false).await;
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
    check_every_route(&site, "signed out", Some(&reader.cookie), true).await;

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
