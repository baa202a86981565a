//! Readers' accounts on the site served on a real port: votes counted exactly under
//! concurrency, sign-in links that work once, sessions that cannot be fixed or forged, rate
//! limits, and what administrators may do. (Signing in from a real SMTP delivery is the
//! binary's test, `crates/paperboy/tests/accounts.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use chrono::Duration;
use common::openapi::OpenApi;
use common::{DAYS, Session, Site, input_value, session_cookie, start, start_configured};
use paperboy_core::token::Token;
use paperboy_digest::membership::Membership;
use paperboy_web::AccessPolicy;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A paper of the demo's latest day.
const PAPER: &str = "2608.18580";

/// `times` votes from each of `readers`, all sent at once; every one must be accepted.
async fn vote_all(site: &Arc<Site>, readers: &[Session], times: usize, upvoted: bool) {
    let mut votes = tokio::task::JoinSet::new();
    for reader in readers {
        for _ in 0..times {
            let site = Arc::clone(site);
            let reader = reader.clone();
            votes.spawn(async move { site.vote(&reader, PAPER, upvoted).await });
        }
    }
    let mut answers = 0;
    while let Some(answer) = votes.join_next().await {
        let (status, body) = answer.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["upvoted"], upvoted, "{body}");
        answers += 1;
    }
    assert_eq!(answers, readers.len() * times);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_votes_from_a_hundred_readers_at_once_count_exactly() {
    // The hundred readers all connect from 127.0.0.1, standing in for a hundred machines: the
    // share of connections one address may hold is not what this test is about.
    let site = Arc::new(
        start_configured(&DAYS, None, |state| {
            state.with_limits(paperboy_web::ServerLimits {
                max_connections_per_client: 2000,
                max_connections: 2000,
                ..paperboy_web::ServerLimits::default()
            })
        })
        .await,
    );
    let (before, imported, local) = site.upvotes(PAPER).await;
    assert_eq!(
        (before, local),
        (imported, 0),
        "imported votes only, at first"
    );
    let mut readers = Vec::new();
    for n in 0..100 {
        readers.push(site.sign_in(&format!("reader{n}@example.org")).await);
    }

    // Ten upvotes from each of a hundred readers, all at once: each reader counts once.
    vote_all(&site, &readers, 10, true).await;
    assert_eq!(site.upvotes(PAPER).await, (before + 100, imported, 100));
    // What a signed-in reader's page shows (never a cached answer).
    let (status, page) = site
        .page_as(&format!("/papers/{PAPER}"), &readers[0].cookie)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&format!(
            r#"aria-pressed="true" title="Take back your upvote">▲ <span class="count">{}</span>"#,
            before + 100
        )),
        "the page shows the reader's vote and the total"
    );

    // Half of them take their vote back, ten times each, at once.
    let (first_half, second_half) = readers.split_at(50);
    vote_all(&site, first_half, 10, false).await;
    assert_eq!(site.upvotes(PAPER).await, (before + 50, imported, 50));

    // Both halves toggle at once, in opposite directions: still fifty.
    let (up, down) = tokio::join!(
        vote_all(&site, first_half, 5, true),
        vote_all(&site, second_half, 5, false)
    );
    let ((), ()) = (up, down);
    assert_eq!(site.upvotes(PAPER).await, (before + 50, imported, 50));

    // Everyone takes their vote back: where it started.
    vote_all(&site, &readers, 2, false).await;
    assert_eq!(site.upvotes(PAPER).await, (before, imported, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_cross_site_replayed_and_anonymous_votes_change_nothing() {
    let site = start(&DAYS).await;
    let ada = site.sign_in("ada@example.org").await;
    let bob = site.sign_in("bob@example.org").await;
    let (before, ..) = site.upvotes(PAPER).await;
    let path = format!("/papers/{PAPER}/upvote");

    // Without the session's form token (none, another session's, a made-up one): refused.
    for token in ["", bob.form_token.as_str(), "c2VjcmV0LXRva2Vu"] {
        let response = site
            .post_form(
                &path,
                Some(&ada.cookie),
                &[("form_token", token), ("value", "true")],
                &[],
            )
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "token {token:?}");
        let page = response.text().await.unwrap();
        assert!(page.contains("Reload the page"), "{page}");
    }
    let response = site
        .post_form(
            &path,
            Some(&ada.cookie),
            &[("value", "true")],
            &[("accept", "application/json")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["code"], "forbidden");
    assert!(error["message"].as_str().unwrap().contains("token"));

    // Sent from another site, even with the right token (as a page elsewhere would make the
    // browser send it): refused before it is read.
    let form = [("form_token", ada.form_token.as_str()), ("value", "true")];
    for header in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let response = site
            .post_form(&path, Some(&ada.cookie), &form, &[header])
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{header:?}");
    }
    assert_eq!(site.upvotes(PAPER).await.0, before, "nothing was counted");

    // Anonymous: the script is told to sign in; a form goes to the sign-in page and back.
    let response = site
        .post_form(
            &path,
            None,
            &[("value", "true")],
            &[("accept", "application/json")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["code"], "unauthorized");
    let response = site.post_form(&path, None, &[("value", "true")], &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        format!("/signin?next=%2Fpapers%2F{PAPER}").as_str()
    );

    // The same vote replayed five times counts once; the answer is the new total.
    for _ in 0..5 {
        let (status, body) = site.vote(&ada, PAPER, true).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["upvotes"], before + 1);
    }
    assert_eq!(site.upvotes(PAPER).await.0, before + 1);
    // Without JavaScript: the form's answer goes back to the page it came from.
    let response = site
        .post_form(
            &path,
            Some(&ada.cookie),
            &[
                ("form_token", &ada.form_token),
                ("value", "false"),
                ("next", "/trending?window=day"),
            ],
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/trending?window=day");
    assert_eq!(site.upvotes(PAPER).await.0, before);
    // Elsewhere than this site, or not a vote at all: refused.
    let response = site
        .post_form(
            &path,
            Some(&ada.cookie),
            &[
                ("form_token", &ada.form_token),
                ("value", "true"),
                ("next", "https://evil.example/"),
            ],
            &[],
        )
        .await;
    assert_eq!(
        response.headers()["location"],
        format!("/papers/{PAPER}").as_str()
    );
    let (status, _) = site.vote(&ada, "9999.99999", true).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let response = site
        .post_form(
            &path,
            Some(&ada.cookie),
            &[("form_token", &ada.form_token), ("value", "twice")],
            &[("accept", "application/json")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_link_works_once_for_fifteen_minutes_and_makes_a_new_session() {
    let site = start(&DAYS).await;

    // Opening the link signs nobody in (mail scanners open links): its page has the button.
    let link = site
        .sign_in_link("ada@example.org", Duration::minutes(15))
        .await;
    let path = link.strip_prefix(&site.base).unwrap();
    let response = site.get(path).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(session_cookie(&response).is_none());
    let page = response.text().await.unwrap();
    assert!(page.contains(&format!(r#"action="{path}""#)), "{page}");

    // A session planted in the browser beforehand (an attacker's own, or a made-up one) is
    // not the one the reader gets, and what was planted stops working.
    let planted = site.sign_in("mallory@example.org").await;
    let response = site.follow_sign_in(&link, Some(&planted.cookie)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/me");
    let ada = session_cookie(&response).unwrap();
    assert_ne!(ada, planted.cookie);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "served over http here");
    let (status, _) = site.page_as("/me", &planted.cookie).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the planted session ended");
    let (status, me) = site.page_as("/me", &ada).await;
    assert_eq!(status, StatusCode::OK);
    assert!(me.contains("ada@example.org"));
    let made_up = format!("paperboy_session={}", Token::generate().unwrap().as_str());
    let link = site
        .sign_in_link("ada@example.org", Duration::minutes(15))
        .await;
    let response = site.follow_sign_in(&link, Some(&made_up)).await;
    let second = session_cookie(&response).unwrap();
    assert!(
        second != made_up && second != ada,
        "every sign-in is a new session"
    );

    // Used, expired, unknown or cut short: refused with a way to get a new one.
    let dead = [
        (link.clone(), StatusCode::GONE, "already used"),
        (
            site.sign_in_link("ada@example.org", Duration::minutes(-1))
                .await,
            StatusCode::GONE,
            "expired",
        ),
        (
            format!(
                "{}/signin/{}",
                site.base,
                Token::generate().unwrap().as_str()
            ),
            StatusCode::NOT_FOUND,
            "not known",
        ),
        (
            format!("{}/signin/abc", site.base),
            StatusCode::NOT_FOUND,
            "incomplete",
        ),
    ];
    for (link, status, reason) in dead {
        let response = site.follow_sign_in(&link, None).await;
        assert_eq!(response.status(), status, "{link}");
        assert!(session_cookie(&response).is_none());
        let page = response.text().await.unwrap();
        assert!(page.contains(reason) && page.contains("/signin"), "{page}");
    }

    // Signing out needs the form token too; then the cookie is cleared and the session gone.
    let response = site.post_form("/signout", Some(&ada), &[], &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (status, me) = site.page_as("/me", &ada).await;
    assert_eq!(status, StatusCode::OK);
    let token = input_value(&me, "form_token");
    let response = site
        .post_form("/signout", Some(&ada), &[("form_token", &token)], &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cleared = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let (status, _) = site.page_as("/me", &ada).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = site.page_as("/me", &second).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the other device is still signed in"
    );

    // Signing out everywhere ends every session of the reader, and only theirs.
    let laptop = site.sign_in("bob@example.org").await;
    let phone = site.sign_in("bob@example.org").await;
    let response = site
        .post_form(
            "/signout/everywhere",
            Some(&phone.cookie),
            &[("form_token", &phone.form_token)],
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    for cookie in [&laptop.cookie, &phone.cookie] {
        let (status, _) = site.page_as("/me", cookie).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    }
    let (status, _) = site.page_as("/me", &second).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_requests_are_rate_limited_per_address_and_per_network() {
    let site = start(&DAYS).await;
    let site = &site;
    let ask = |email: &'static str| async move {
        site.post_form("/signin", None, &[("email", email)], &[])
            .await
    };

    // One address gets one link however often it is asked for within 30 seconds; the answer
    // is the same, so it tells nobody whether a link went out.
    for _ in 0..3 {
        let response = ask("ada@example.org").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.text().await.unwrap().contains("Check your inbox"));
    }
    assert_eq!(site.store.outbox_summary().await.unwrap().queued, 1);

    // One network may ask ten times an hour.
    for email in [
        "b@example.org",
        "c@example.org",
        "d@example.org",
        "e@example.org",
    ] {
        assert_eq!(ask(email).await.status(), StatusCode::OK);
    }
    let response = ask("not an address").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    for email in ["f@example.org", "g@example.org"] {
        assert_eq!(ask(email).await.status(), StatusCode::OK);
    }
    let response = ask("h@example.org").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(site.store.outbox_summary().await.unwrap().queued, 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_hides_a_paper_and_a_user() {
    let site = start(&DAYS).await;
    let admin = site.sign_in_admin("admin@example.org").await;
    let reader = site.sign_in("reader@example.org").await;
    let (before, ..) = site.upvotes(PAPER).await;
    site.vote(&reader, PAPER, true).await;
    assert_eq!(site.upvotes(PAPER).await.0, before + 1);

    // A reader may not.
    let (status, _) = site.page_as("/admin", &reader.cookie).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let hide_paper = format!("/admin/papers/{PAPER}/hidden");
    let response = site
        .post_form(
            &hide_paper,
            Some(&reader.cookie),
            &[("form_token", &reader.form_token), ("value", "true")],
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Hiding a user ends their sessions and their votes stop counting.
    let response = site
        .post_form(
            "/admin/users/hidden",
            Some(&admin.cookie),
            &[
                ("form_token", &admin.form_token),
                ("value", "true"),
                ("email", "reader@example.org"),
            ],
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(site.upvotes(PAPER).await.0, before);
    let (status, page) = site.page_as("/admin", &admin.cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"name="email" value="reader@example.org""#),
        "listed among hidden users, to be shown again"
    );
    let (status, _) = site.page_as("/me", &reader.cookie).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let link = site
        .sign_in_link("reader@example.org", Duration::minutes(15))
        .await;
    let response = site.follow_sign_in(&link, None).await;
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "a hidden user cannot sign in"
    );

    // Hiding a paper: gone for readers, still there (marked) for admins.
    let response = site
        .post_form(
            &hide_paper,
            Some(&admin.cookie),
            &[("form_token", &admin.form_token), ("value", "true")],
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, _) = site.page(&format!("/papers/{PAPER}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = site.json(&format!("/api/papers/{PAPER}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, front) = site.page("/?date=2026-08-21").await;
    assert!(!front.contains(&format!("/papers/{PAPER}\"")), "not listed");
    let (status, page) = site
        .page_as(&format!("/papers/{PAPER}"), &admin.cookie)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("hidden"));
}

#[tokio::test]
async fn the_admin_page_shows_each_harvested_source_with_its_last_error_escaped() {
    use paperboy_store::harvest::HarvestOutcome;
    let site = start(&DAYS).await;
    let admin = site.sign_in_admin("admin@example.org").await;
    let (_, page) = site.page_as("/admin", &admin.cookie).await;
    assert!(page.contains("Nothing harvested yet."));

    let now = chrono::Utc::now();
    let store = &site.store;
    store
        .store_harvest_page("arxiv:cs", Vec::new(), Some("{\"token\":\"t\"}"), now)
        .await
        .unwrap();
    let failure = "arxiv:cs, page 4: the server reported <badArgument>";
    store
        .finish_harvest(
            "arxiv:cs",
            HarvestOutcome::Failed {
                error: failure.into(),
            },
            now,
        )
        .await
        .unwrap();
    store
        .finish_harvest(
            "hf",
            HarvestOutcome::Succeeded {
                cursor: Some("2026-08-21".into()),
            },
            now,
        )
        .await
        .unwrap();
    let (status, page) = site.page_as("/admin", &admin.cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("arxiv:cs <span class=\"badge\">stopped mid-way</span>"));
    assert!(
        page.contains("the server reported &#60;badArgument&#62;"),
        "escaped"
    );
    assert!(!page.contains("<badArgument>"));
    assert!(page.contains("<td>2026-08-21</td>"));
    let metrics = reqwest::get(format!("{}/metrics", site.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("paperboy_harvest_failing{source=\"arxiv:cs\"} 1"));
    assert!(metrics.contains("paperboy_harvest_failures_total{source=\"arxiv:cs\"} 1"));
    assert!(metrics.contains("paperboy_harvest_runs_total{source=\"hf\"} 1"));
}

/// The mails waiting in the outbox.
async fn queued(site: &Site) -> u64 {
    site.store.outbox_summary().await.unwrap().queued
}

#[tokio::test(flavor = "multi_thread")]
async fn allowed_domains_admit_their_addresses_and_invited_guests_only() {
    let site = start_configured(&DAYS, None, |state| {
        state.with_access_policy(AccessPolicy::new(Membership::new(
            "example.org".parse().unwrap(),
            false,
        )))
    })
    .await;
    let sign_in = |email: &'static str| {
        let site = &site;
        async move {
            site.post_form("/signin", None, &[("email", email)], &[])
                .await
        }
    };
    let before = queued(&site).await;
    let response = sign_in("ada@Example.org").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(queued(&site).await, before + 1);

    // Another domain is told which one the site takes, and nothing is sent.
    let response = sign_in("eve@elsewhere.net").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("example.org") && page.contains("invitation"),
        "{page}"
    );
    let response = site
        .post_form("/subscribe", None, &[("email", "eve@elsewhere.net")], &[])
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (status, _, body) = site
        .post_json(
            "/api/subscriptions",
            &json!({ "email": "eve@elsewhere.net" }),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "forbidden");
    assert!(body["message"].as_str().unwrap().contains("example.org"));
    assert_eq!(queued(&site).await, before + 1);

    // An admin invites a guest from elsewhere: they get a link, and may ask for more.
    let admin = site.sign_in_admin("admin@example.org").await;
    let reader = site.sign_in("reader@example.org").await;
    let invite = |session: &Session, token: &str| {
        let (site, cookie, token) = (&site, session.cookie.clone(), token.to_owned());
        async move {
            site.post_form(
                "/admin/invitations",
                Some(&cookie),
                &[("form_token", &token), ("email", "guest@elsewhere.net")],
                &[],
            )
            .await
        }
    };
    assert_eq!(
        invite(&reader, &reader.form_token).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        invite(&admin, "forged").await.status(),
        StatusCode::FORBIDDEN
    );
    let before = queued(&site).await;
    let response = invite(&admin, &admin.form_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("Invited") && !page.contains("guest@elsewhere.net"),
        "{page}"
    );
    assert_eq!(queued(&site).await, before + 1);
    let guest = "guest@elsewhere.net".parse().unwrap();
    assert!(site.store.user_by_email(&guest).await.unwrap().is_some());
    // Past the one-link-per-30-seconds limit of the address, so only the answer is checked.
    assert_eq!(
        sign_in("guest@elsewhere.net").await.status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invite_only_site_sends_nothing_to_strangers_and_does_not_say_so() {
    let site = start_configured(&DAYS, None, |state| {
        state.with_access_policy(AccessPolicy::new(Membership::new(Default::default(), true)))
    })
    .await;
    let (_, page) = site.page("/signin").await;
    assert!(page.contains("This site is by invitation"), "{page}");
    let before = queued(&site).await;
    let stranger = site
        .post_form("/signin", None, &[("email", "stranger@example.org")], &[])
        .await;
    assert_eq!(stranger.status(), StatusCode::OK);
    let stranger = stranger.text().await.unwrap();
    let (status, _, body) = site
        .post_json(
            "/api/subscriptions",
            &json!({ "email": "stranger@example.org" }),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(queued(&site).await, before);

    site.store
        .add_user(
            &"invited@example.org".parse().unwrap(),
            false,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let invited = site
        .post_form("/signin", None, &[("email", "invited@example.org")], &[])
        .await;
    assert_eq!(invited.status(), StatusCode::OK);
    // The same answer either way.
    let answer = "If the address has been invited and can receive mail";
    assert!(stranger.contains(answer), "{stranger}");
    assert!(invited.text().await.unwrap().contains(answer));
    assert_eq!(queued(&site).await, before + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sites_own_trending_counts_its_readers_votes_only() {
    let site = start(&DAYS).await;
    let (status, everyone) = site.page("/trending?window=month").await;
    assert_eq!(status, StatusCode::OK);
    let (status, here) = site.page("/trending?window=month&votes=here").await;
    assert_eq!(status, StatusCode::OK);
    assert!(here.contains("Nobody here upvoted a paper in this window."));
    assert!(everyone.contains(PAPER) && !here.contains(PAPER));

    let reader = site.sign_in("reader@example.org").await;
    site.vote(&reader, PAPER, true).await;
    // As the reader: strangers may be shown the answer kept from before the vote (10 s).
    let (_, here) = site
        .page_as("/trending?window=month&votes=here", &reader.cookie)
        .await;
    assert!(here.contains(PAPER), "{here}");
    assert!(here.contains(r#"href="/trending?window=week&amp;votes=here""#));
    let feed = site.get("/feeds/trending.atom?votes=here").await;
    assert_eq!(feed.status(), StatusCode::OK);
    let feed = feed.text().await.unwrap();
    assert!(feed.contains("Trending with this site") && feed.contains(PAPER));
    // The demo's imported upvotes are not this site's readers': one paper, the one voted for.
    assert_eq!(feed.matches("<entry>").count(), 1, "{feed}");

    let (status, _) = site.page("/trending?votes=everyone").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let feed = site.get("/feeds/trending.atom?votes=nobody").await;
    assert_eq!(feed.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn access_tokens_are_shown_once_scoped_and_revocable() {
    let site = start(&DAYS).await;
    let ada = site.sign_in("ada@example.org").await;

    // Made on /me with the session's form token only, named, and bounded.
    let forged = site
        .post_form(
            "/me/tokens",
            Some(&ada.cookie),
            &[("form_token", "forged"), ("label", "x"), ("scope", "read")],
            &[],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let long_label = "x".repeat(81);
    for (label, scope) in [("", "read"), (long_label.as_str(), "read"), ("ok", "admin")] {
        let response = site
            .post_form(
                "/me/tokens",
                Some(&ada.cookie),
                &[
                    ("form_token", &ada.form_token),
                    ("label", label),
                    ("scope", scope),
                ],
                &[],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{label} {scope}"
        );
    }
    let read = site.make_token(&ada, "Feeds <on my phone>", "read").await;
    let write = site.make_token(&ada, "script", "read-write").await;
    assert_eq!(read.len(), 43);
    let (_, me) = site.page_as("/me", &ada.cookie).await;
    assert!(
        me.contains("on my phone") && !me.contains("<on my phone>"),
        "names are escaped"
    );
    assert!(
        !me.contains(&read) && !me.contains(&write),
        "a secret is shown once"
    );

    // A read token reads feeds (in the address, for feed readers) and the API (in a header),
    // and the reading list's file; the answers are for its reader only.
    let response = site.get(&format!("/feeds/daily.atom?token={read}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("private"),
        "{:?}",
        response.headers()["cache-control"]
    );
    let bearer_read = format!("Bearer {read}");
    let response = site
        .get_with("/api/daily_papers", &[("authorization", &bearer_read)])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = site
        .get_with("/me/saved.jsonl", &[("authorization", &bearer_read)])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // A token does not open pages.
    for response in [
        site.get(&format!("/me?token={read}")).await,
        site.get_with("/me", &[("authorization", &bearer_read)])
            .await,
    ] {
        assert_eq!(response.url().path(), "/signin", "{}", response.url());
    }

    // Only a read-write token votes and saves through the API; a read one, or a cookie, may not.
    let vote = format!("/api/papers/{PAPER}/upvote");
    let response = site
        .send_with(
            reqwest::Method::PUT,
            &vote,
            &[("authorization", &bearer_read)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "forbidden");
    let response = site
        .send_with(reqwest::Method::PUT, &vote, &[("cookie", &ada.cookie)])
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (_, document) = site.json("/api/openapi.json").await;
    let api = OpenApi(document);
    api.check("/api/papers/{id}/upvote", 403, &body);
    let (before, ..) = site.upvotes(PAPER).await;
    let bearer_write = format!("Bearer {write}");
    for _ in 0..2 {
        let response = site
            .send_with(
                reqwest::Method::PUT,
                &vote,
                &[("authorization", &bearer_write)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        api.check("/api/papers/{id}/upvote", 200, &body);
        assert_eq!(body["upvoted"], true);
    }
    assert_eq!(
        site.upvotes(PAPER).await.0,
        before + 1,
        "a vote counts once"
    );
    let response = site
        .send_with(
            reqwest::Method::PUT,
            &format!("/api/papers/{PAPER}/saved"),
            &[("authorization", &bearer_write)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    api.check(
        "/api/papers/{id}/saved",
        200,
        &response.json().await.unwrap(),
    );
    let (_, me) = site.page_as("/me", &ada.cookie).await;
    assert!(
        me.contains(&format!("/papers/{PAPER}\"")),
        "saved through the API"
    );
    let response = site
        .send_with(
            reqwest::Method::PUT,
            "/api/papers/2608.99999/upvote",
            &[("authorization", &bearer_write)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = site
        .send_with(
            reqwest::Method::DELETE,
            &vote,
            &[("authorization", &bearer_write)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(site.upvotes(PAPER).await.0, before);

    // Revoked, at once and for good; another reader cannot revoke it; malformed and unknown
    // tokens are refused with their reasons.
    let grace = site.sign_in("grace@example.org").await;
    let (_, me) = site.page_as("/me", &ada.cookie).await;
    let revoke = me
        .split("action=\"")
        .filter_map(|rest| rest.split_once('"'))
        .map(|(action, _)| action.to_owned())
        .filter(|action| action.ends_with("/revoke"))
        .last()
        .unwrap();
    let response = site
        .post_form(
            &revoke,
            Some(&grace.cookie),
            &[("form_token", &grace.form_token)],
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = site
        .post_form(
            &revoke,
            Some(&ada.cookie),
            &[("form_token", &ada.form_token)],
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = site.get(&format!("/feeds/daily.atom?token={read}")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.text().await.unwrap().contains("was revoked"));
    let response = site
        .get_with("/api/daily_papers", &[("authorization", &bearer_read)])
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "unauthorized");
    assert!(body["message"].as_str().unwrap().contains("revoked"));
    let (_, me) = site.page_as("/me", &ada.cookie).await;
    assert!(me.contains("revoked 20"), "listed as revoked");
    let unknown = Token::generate().unwrap();
    for (token, reason) in [(unknown.as_str(), "not known here"), ("short", "malformed")] {
        let response = site
            .get_with(
                "/api/daily_papers",
                &[("authorization", &format!("Bearer {token}"))],
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: Value = response.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains(reason), "{body}");
    }
}

/// The papers (`/papers/KEY` links) of the section of `page` that starts at the heading with
/// id `heading` and ends at the next section.
fn papers_in_section(page: &str, heading: &str) -> Vec<String> {
    let start = page
        .find(&format!("id=\"{heading}\""))
        .unwrap_or_else(|| panic!("no {heading} in:\n{page}"));
    let section = &page[start..];
    let section = &section[..section.find("</section>").unwrap()];
    let mut keys: Vec<String> = section
        .split("<h3><a href=\"/papers/")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect();
    keys.dedup();
    keys
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interest_folder_learns_from_ratings_and_feeds_its_reader_only() {
    let site = start(&DAYS).await;
    let ada = site.sign_in("ada@example.org").await;
    let rate = |folder: String, paper: &str, rating: &str, session: &Session| {
        let (folder, paper, rating, session) =
            (folder, paper.to_owned(), rating.to_owned(), session.clone());
        let site = &site;
        async move {
            site.post_form(
                "/ratings",
                Some(&session.cookie),
                &[
                    ("form_token", &session.form_token),
                    ("folder", &folder),
                    ("paper", &paper),
                    ("rating", &rating),
                    ("next", &format!("/papers/{paper}")),
                ],
                &[],
            )
            .await
        }
    };

    let response = site
        .post_form(
            "/folders",
            Some(&ada.cookie),
            &[
                ("form_token", &ada.form_token),
                ("name", "  coding   agents "),
            ],
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let folder_path = response.headers()["location"].to_str().unwrap().to_owned();
    let folder = folder_path.trim_start_matches("/folders/").to_owned();
    let (_, folders) = site.page_as("/folders", &ada.cookie).await;
    assert!(folders.contains(">coding agents</a>"), "{folders}");
    let (_, page) = site.page_as(&folder_path, &ada.cookie).await;
    assert!(papers_in_section(&page, "recommended-heading").is_empty());

    // Rated relevant from the paper's page: the folder recommends papers like it.
    let (_, paper_page) = site.page_as(&format!("/papers/{PAPER}"), &ada.cookie).await;
    assert!(paper_page.contains("Rate in a folder"), "{paper_page}");
    let response = rate(folder.clone(), PAPER, "relevant", &ada).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], format!("/papers/{PAPER}"));
    let (_, page) = site.page_as(&folder_path, &ada.cookie).await;
    let recommended = papers_in_section(&page, "recommended-heading");
    assert_eq!(recommended.len(), 10, "{page}");
    assert!(
        !recommended.contains(&PAPER.to_owned()),
        "rated papers are not recommended"
    );
    assert_eq!(papers_in_section(&page, "relevant-heading"), [PAPER]);

    // "Not relevant" takes a paper out at once, and the classifier learns from it.
    let rejected = recommended[0].clone();
    let response = rate(folder.clone(), &rejected, "not-relevant", &ada).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, page) = site.page_as(&folder_path, &ada.cookie).await;
    let after = papers_in_section(&page, "recommended-heading");
    assert!(!after.contains(&rejected), "{after:?}");
    assert_ne!(
        after,
        recommended[1..],
        "the ranking itself changed, not only the one paper"
    );
    assert_eq!(
        papers_in_section(&page, "not-relevant-heading"),
        [rejected.as_str()]
    );

    // The folder's feed: for its reader, with an access token; nobody else.
    let token = site.make_token(&ada, "feeds", "read").await;
    let feed_path = format!("/feeds/folders/{folder}.atom");
    let response = site.get(&format!("{feed_path}?token={token}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let feed = response.text().await.unwrap();
    assert!(feed.contains("coding agents"), "{feed}");
    assert!(feed.contains(&after[0]), "{feed}");
    assert!(!feed.contains(&format!("/papers/{rejected}<")), "{feed}");
    let response = site.get(&feed_path).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let grace = site.sign_in("grace@example.org").await;
    let theirs = site.make_token(&grace, "feeds", "read").await;
    let response = site.get(&format!("{feed_path}?token={theirs}")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let (status, _) = site.page_as(&folder_path, &grace.cookie).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let response = rate(folder.clone(), PAPER, "not-relevant", &grace).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = rate(folder.clone(), PAPER, "maybe", &ada).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // A digest's link opens a page with the buttons; taking a rating back works from there.
    let (status, page) = site
        .page_as(&format!("{folder_path}/rate?paper={rejected}"), &ada.cookie)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("value=\"none\""),
        "the pressed button takes it back: {page}"
    );
    let response = rate(folder.clone(), &rejected, "none", &ada).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, page) = site.page_as(&folder_path, &ada.cookie).await;
    assert!(papers_in_section(&page, "not-relevant-heading").is_empty());

    let response = site
        .post_form(
            &format!("{folder_path}/delete"),
            Some(&ada.cookie),
            &[("form_token", &ada.form_token)],
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, _) = site.page_as(&folder_path, &ada.cookie).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
