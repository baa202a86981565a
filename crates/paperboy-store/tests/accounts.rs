//! The store contract for accounts: sign-in links, sessions, votes, saved papers, hiding and
//! trending from votes, on every backend (see `common::on_both_backends`).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{address, at};
use paperboy_core::account::{AccessTokenId, TokenScope, UserId};
use paperboy_core::token::Token;
use paperboy_core::trending::{Voters, Window};
use paperboy_core::{PaperDraft, PaperId, Source};
use paperboy_store::account::{
    MAX_ACCESS_TOKENS, NewAccessToken, NewSession, SignIn, SignInRequest, TokenCheck,
};
use paperboy_store::folder::{MAX_FOLDERS, NewFolder, Rated};
use paperboy_store::mail::{AddressLimit, MessageKind, NewMessage, RequestOutcome};
use paperboy_store::{PaperQuery, Store, trending};

const LIMIT: AddressLimit = AddressLimit {
    per_day: 10,
    gap: Duration::from_secs(30),
};

fn sign_in_request(to: &str, now: DateTime<Utc>) -> (Token, SignInRequest) {
    let token = Token::generate().unwrap();
    let key = format!("sign-in:{}", token.hash().to_hex());
    let request = SignInRequest {
        email: address(to),
        token: token.hash(),
        now,
        expires_at: now + chrono::Duration::minutes(15),
        limit: LIMIT,
        mail: NewMessage {
            key: key.clone(),
            kind: MessageKind::SignIn,
            sender: address("paperboy@paperboy.example"),
            recipient: address(to),
            message_id: format!("{key}@paperboy.example"),
            bytes: b"Subject: Sign in\r\n\r\nlink\r\n".to_vec(),
        },
    };
    (token, request)
}

fn session(now: DateTime<Utc>) -> (Token, NewSession) {
    let token = Token::generate().unwrap();
    let session = NewSession {
        token: token.hash(),
        now,
        expires_at: now + chrono::Duration::days(30),
    };
    (token, session)
}

/// Signs `email` in at `now` and returns the user's id and the session token.
async fn signed_in(store: &dyn Store, email: &str, now: DateTime<Utc>) -> (UserId, Token) {
    let (link, request) = sign_in_request(email, now);
    assert_eq!(
        store.request_sign_in(request).await.unwrap(),
        RequestOutcome::Queued
    );
    let (cookie, new_session) = session(now);
    match store
        .complete_sign_in(link.hash(), new_session)
        .await
        .unwrap()
    {
        SignIn::SignedIn { user, .. } => (user.id, cookie),
        other => panic!("not signed in: {other:?}"),
    }
}

/// Stores `count` papers listed on `day`, with `upvotes` imported upvotes each; returns ids.
async fn papers(store: &dyn Store, count: usize, day: &str, upvotes: i64) -> Vec<PaperId> {
    let records = (0..count)
        .map(|n| {
            PaperDraft {
                arxiv_id: Some(format!("2611.{:05}", n + 1)),
                title: Some(format!("Paper {n} of {day}")),
                abstract_text: Some("An abstract.".into()),
                authors: vec!["Ada Lovelace".into()],
                categories: vec!["cs.LG".into()],
                listing_dates: vec![day.into()],
                external_upvotes: Some(upvotes),
                ..PaperDraft::default()
            }
            .finish(Source::HfDaily)
            .unwrap()
        })
        .collect();
    store.upsert_papers(records).await.unwrap();
    let mut ids: Vec<PaperId> = store
        .list_papers(&PaperQuery {
            limit: 1_000,
            ..PaperQuery::default()
        })
        .await
        .unwrap()
        .iter()
        .map(|paper| paper.id)
        .collect();
    ids.sort();
    ids
}

async fn a_sign_in_link_works_once_before_it_expires_and_makes_the_user_once(store: &dyn Store) {
    let now = at("2026-11-28T09:00:00Z");
    let (link, request) = sign_in_request("Ada@Example.org", now);
    assert_eq!(
        store.request_sign_in(request).await.unwrap(),
        RequestOutcome::Queued
    );
    // Nobody is a user before following a link.
    assert!(
        store
            .user_by_email(&address("ada@example.org"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.outbox_summary().await.unwrap().queued, 1);

    let (cookie, new_session) = session(now + chrono::Duration::minutes(5));
    let SignIn::SignedIn { user, new_user } = store
        .complete_sign_in(link.hash(), new_session)
        .await
        .unwrap()
    else {
        panic!("not signed in");
    };
    assert!(new_user);
    assert_eq!(user.email.as_str(), "ada@example.org");
    assert!(!user.is_admin && !user.hidden);
    assert_eq!(
        store
            .session_user(cookie.hash(), now + chrono::Duration::hours(1))
            .await
            .unwrap(),
        Some(user.clone())
    );
    // Used once: a second use is refused and opens nothing.
    let (other_cookie, again) = session(now + chrono::Duration::minutes(6));
    assert_eq!(
        store.complete_sign_in(link.hash(), again).await.unwrap(),
        SignIn::AlreadyUsed
    );
    assert_eq!(
        store.session_user(other_cookie.hash(), now).await.unwrap(),
        None
    );
    // Expired after 15 minutes.
    let later = now + chrono::Duration::seconds(40);
    let (late_link, request) = sign_in_request("ada@example.org", later);
    store.request_sign_in(request).await.unwrap();
    let (_, late) = session(later + chrono::Duration::minutes(15));
    assert_eq!(
        store
            .complete_sign_in(late_link.hash(), late)
            .await
            .unwrap(),
        SignIn::Expired
    );
    assert_eq!(
        store
            .complete_sign_in(Token::generate().unwrap().hash(), session(now).1)
            .await
            .unwrap(),
        SignIn::Unknown
    );
    // A second sign-in is the same user, in a second session.
    let (id, second) =
        signed_in(store, "ada@example.org", now + chrono::Duration::minutes(2)).await;
    assert_eq!(id, user.id);
    assert!(
        store
            .session_user(second.hash(), now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .session_user(cookie.hash(), now)
            .await
            .unwrap()
            .is_some()
    );
    // Sessions expire after their time.
    assert_eq!(
        store
            .session_user(cookie.hash(), now + chrono::Duration::days(31))
            .await
            .unwrap(),
        None
    );
}

async fn sign_in_links_are_limited_per_address(store: &dyn Store) {
    let now = at("2026-11-28T09:00:00Z");
    let (_, first) = sign_in_request("ada@example.org", now);
    assert_eq!(
        store.request_sign_in(first).await.unwrap(),
        RequestOutcome::Queued
    );
    // Too soon after the last.
    let (_, soon) = sign_in_request("ada@example.org", now + chrono::Duration::seconds(10));
    assert_eq!(
        store.request_sign_in(soon).await.unwrap(),
        RequestOutcome::RateLimited
    );
    for minute in 1..LIMIT.per_day {
        let (_, request) = sign_in_request(
            "ada@example.org",
            now + chrono::Duration::minutes(minute.into()),
        );
        assert_eq!(
            store.request_sign_in(request).await.unwrap(),
            RequestOutcome::Queued
        );
    }
    let (_, over) = sign_in_request("ada@example.org", now + chrono::Duration::hours(1));
    assert_eq!(
        store.request_sign_in(over).await.unwrap(),
        RequestOutcome::RateLimited
    );
    // Another address is not affected; nor is this one a day later.
    let (_, other) = sign_in_request("bob@example.org", now + chrono::Duration::hours(1));
    assert_eq!(
        store.request_sign_in(other).await.unwrap(),
        RequestOutcome::Queued
    );
    let (_, tomorrow) = sign_in_request("ada@example.org", now + chrono::Duration::hours(25));
    assert_eq!(
        store.request_sign_in(tomorrow).await.unwrap(),
        RequestOutcome::Queued
    );
    assert_eq!(
        store.outbox_summary().await.unwrap().queued,
        u64::from(LIMIT.per_day) + 2
    );
}

async fn sessions_end_one_at_a_time_or_all_together(store: &dyn Store) {
    let now = at("2026-11-28T09:00:00Z");
    let (user, laptop) = signed_in(store, "ada@example.org", now).await;
    let (_, phone) = signed_in(store, "ada@example.org", now + chrono::Duration::minutes(1)).await;
    let (_, other) = signed_in(store, "bob@example.org", now).await;
    store.end_session(laptop.hash()).await.unwrap();
    assert!(
        store
            .session_user(laptop.hash(), now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .session_user(phone.hash(), now)
            .await
            .unwrap()
            .is_some()
    );
    let (_, tablet) = signed_in(store, "ada@example.org", now + chrono::Duration::minutes(2)).await;
    assert_eq!(store.end_all_sessions(user).await.unwrap(), 2);
    assert!(
        store
            .session_user(phone.hash(), now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .session_user(tablet.hash(), now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .session_user(other.hash(), now)
            .await
            .unwrap()
            .is_some()
    );
}

async fn votes_count_once_per_user_and_concurrent_votes_add_up_exactly(store: &dyn Store) {
    let now = at("2026-11-28T09:00:00Z");
    let paper = papers(store, 1, "2026-11-27", 5).await[0];
    let mut users = Vec::new();
    for n in 0..20 {
        users.push(
            signed_in(store, &format!("reader{n}@example.org"), now)
                .await
                .0,
        );
    }
    // Every user votes five times at once, half of them then take the vote back.
    let votes = users.iter().flat_map(|&user| {
        (0..5).map(move |_| async move {
            store
                .set_vote(user, paper, true, now)
                .await
                .unwrap()
                .unwrap()
        })
    });
    for outcome in futures_util::future::join_all(votes).await {
        assert!(outcome.upvoted);
    }
    let stored = store.paper(paper).await.unwrap().unwrap();
    assert_eq!(stored.local_upvotes, 20);
    assert_eq!(stored.upvotes(), 25, "imported and local upvotes add up");
    for &user in &users[..10] {
        let outcome = store
            .set_vote(user, paper, false, now)
            .await
            .unwrap()
            .unwrap();
        assert!(!outcome.upvoted);
        // Taking back twice is still one vote taken back.
        store.set_vote(user, paper, false, now).await.unwrap();
    }
    assert_eq!(store.paper(paper).await.unwrap().unwrap().local_upvotes, 10);
    // Voting for a paper that does not exist does nothing.
    assert_eq!(
        store
            .set_vote(users[0], PaperId(999), true, now)
            .await
            .unwrap(),
        None
    );
    let marks = store
        .marks(users[15], &[paper, PaperId(999)])
        .await
        .unwrap();
    assert!(marks[&paper].upvoted && !marks[&paper].saved);
    assert!(!marks.contains_key(&PaperId(999)));
    assert_eq!(store.voted_papers(users[15]).await.unwrap().len(), 1);
    assert!(store.voted_papers(users[0]).await.unwrap().is_empty());
}

async fn saved_papers_come_back_newest_first(store: &dyn Store) {
    let now = at("2026-11-28T09:00:00Z");
    let ids = papers(store, 3, "2026-11-27", 0).await;
    let (user, _) = signed_in(store, "ada@example.org", now).await;
    for (minutes, id) in ids.iter().enumerate() {
        let when = now + chrono::Duration::minutes(i64::try_from(minutes).unwrap());
        assert!(store.set_saved(user, *id, true, when).await.unwrap());
    }
    assert!(
        store.set_saved(user, ids[0], true, now).await.unwrap(),
        "saving twice is fine"
    );
    assert!(store.set_saved(user, ids[1], false, now).await.unwrap());
    let saved: Vec<PaperId> = store
        .saved_papers(user)
        .await
        .unwrap()
        .iter()
        .map(|mark| mark.paper)
        .collect();
    assert_eq!(saved, vec![ids[2], ids[0]]);
    assert!(
        !store
            .set_saved(user, PaperId(999), true, now)
            .await
            .unwrap()
    );
}

async fn hiding_a_user_signs_them_out_and_takes_their_votes_out_until_shown_again(
    store: &dyn Store,
) {
    let now = at("2026-11-28T09:00:00Z");
    let paper = papers(store, 1, "2026-11-27", 0).await[0];
    let (spammer, cookie) = signed_in(store, "spam@example.org", now).await;
    let (reader, _) = signed_in(store, "ada@example.org", now).await;
    store.set_vote(spammer, paper, true, now).await.unwrap();
    store.set_vote(reader, paper, true, now).await.unwrap();
    assert_eq!(store.paper(paper).await.unwrap().unwrap().local_upvotes, 2);

    assert!(store.set_user_hidden(spammer, true, now).await.unwrap());
    assert!(
        store.set_user_hidden(spammer, true, now).await.unwrap(),
        "twice is once"
    );
    assert_eq!(store.paper(paper).await.unwrap().unwrap().local_upvotes, 1);
    assert!(
        store
            .session_user(cookie.hash(), now)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .vote_tallies(now - chrono::Duration::days(1), now)
            .await
            .unwrap()[0]
            .votes,
        1
    );
    assert_eq!(
        store.set_vote(spammer, paper, false, now).await.unwrap(),
        None
    );
    let (link, request) = sign_in_request("spam@example.org", now + chrono::Duration::minutes(1));
    store.request_sign_in(request).await.unwrap();
    assert_eq!(
        store
            .complete_sign_in(link.hash(), session(now).1)
            .await
            .unwrap(),
        SignIn::Refused
    );
    assert_eq!(store.users(true).await.unwrap().len(), 1);

    assert!(store.set_user_hidden(spammer, false, now).await.unwrap());
    assert_eq!(store.paper(paper).await.unwrap().unwrap().local_upvotes, 2);
    assert!(!store.set_user_hidden(UserId(999), true, now).await.unwrap());
}

async fn a_hidden_paper_leaves_lists_and_trending_but_its_page_data_stays(store: &dyn Store) {
    let now = at("2026-11-28T09:00:00Z");
    let ids = papers(store, 2, "2026-11-28", 3).await;
    assert!(store.set_paper_hidden(ids[0], true, now).await.unwrap());
    let listed = store
        .list_papers(&PaperQuery {
            limit: 10,
            ..PaperQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|paper| paper.id).collect::<Vec<_>>(),
        vec![ids[1]]
    );
    let trending_now = trending(store, Window::Day, Voters::Everyone, now, 10)
        .await
        .unwrap();
    assert_eq!(trending_now.len(), 1);
    let hidden = store.paper(ids[0]).await.unwrap().unwrap();
    assert!(hidden.hidden);
    assert_eq!(store.hidden_paper_ids().await.unwrap(), vec![ids[0]]);
    let (user, _) = signed_in(store, "ada@example.org", now).await;
    assert_eq!(store.set_vote(user, ids[0], true, now).await.unwrap(), None);
    assert!(!store.set_saved(user, ids[0], true, now).await.unwrap());
    assert!(store.set_paper_hidden(ids[0], false, now).await.unwrap());
    assert!(!store.paper(ids[0]).await.unwrap().unwrap().hidden);
    assert!(
        !store
            .set_paper_hidden(PaperId(999), true, now)
            .await
            .unwrap()
    );
}

async fn trending_follows_votes_cast_here_hour_by_hour(store: &dyn Store) {
    // Two papers listed yesterday with the same imported upvotes: level until someone votes.
    let ids = papers(store, 2, "2026-11-27", 10).await;
    let morning = at("2026-11-28T08:10:00Z");
    let before: Vec<PaperId> = trending(store, Window::Week, Voters::Everyone, morning, 10)
        .await
        .unwrap()
        .iter()
        .map(|(paper, _)| paper.id)
        .collect();
    assert_eq!(before, vec![ids[1], ids[0]], "level: newer id first");
    let (user, _) = signed_in(store, "ada@example.org", morning).await;
    store.set_vote(user, ids[0], true, morning).await.unwrap();
    let noon = at("2026-11-28T12:00:00Z");
    let after = trending(store, Window::Week, Voters::Everyone, noon, 10)
        .await
        .unwrap();
    assert_eq!(after[0].0.id, ids[0], "voted up this morning, first today");
    assert!(after[0].1 > after[1].1);
    // The site's own trending counts its readers' votes alone: the paper with imported
    // upvotes only is not in it.
    let here = trending(store, Window::Week, Voters::Here, noon, 10)
        .await
        .unwrap();
    assert_eq!(
        here.iter().map(|(paper, _)| paper.id).collect::<Vec<_>>(),
        vec![ids[0]]
    );
    assert!(
        here[0].1 < after[0].1,
        "without the imported upvotes' share"
    );
    // A vote counts by its hour: at noon the 08:10 vote is 3 hours old (08:00 to 11:00 is
    // within the same whole hours).
    let tallies = store
        .vote_tallies(Window::Week.start(noon), noon)
        .await
        .unwrap();
    assert_eq!(tallies.len(), 1);
    assert_eq!(tallies[0].hour, at("2026-11-28T08:00:00Z"));
    // Trending as it was at a moment counts only the votes cast by then.
    let dawn = at("2026-11-28T06:00:00Z");
    assert!(
        store
            .vote_tallies(Window::Week.start(dawn), dawn)
            .await
            .unwrap()
            .is_empty()
    );
    // A paper listed long ago enters the day's trending through votes alone.
    let old = papers(store, 3, "2026-10-01", 0).await[2];
    store.set_vote(user, old, true, noon).await.unwrap();
    let day: Vec<PaperId> = trending(store, Window::Day, Voters::Everyone, noon, 10)
        .await
        .unwrap()
        .iter()
        .map(|(paper, _)| paper.id)
        .collect();
    assert!(day.contains(&old));
    // Bulk votes (a replay) count like any other.
    let added = store
        .add_votes(&[(user, ids[1], noon), (user, ids[1], noon)])
        .await
        .unwrap();
    assert_eq!(added, 1);
    assert_eq!(store.paper(ids[1]).await.unwrap().unwrap().local_upvotes, 1);
    assert_eq!(store.paper(ids[0]).await.unwrap().unwrap().local_upvotes, 1);
}

async fn a_signed_in_reader_subscribes_without_a_confirmation_mail(store: &dyn Store) {
    let now = at("2026-11-28T09:00:00Z");
    let preferences = paperboy_core::subscription::Preferences::new(
        ["diffusion models"],
        ["cs.CV"],
        paperboy_core::subscription::Frequency::Weekly,
    )
    .unwrap();
    let subscriber = store
        .subscribe_confirmed(&address("ada@example.org"), &preferences, now)
        .await
        .unwrap();
    assert_eq!(
        subscriber.state,
        paperboy_store::mail::SubscriberState::Confirmed
    );
    assert_eq!(subscriber.preferences, preferences);
    store.unsubscribe(subscriber.id).await.unwrap();
    let again = store
        .subscribe_confirmed(&address("ada@example.org"), &preferences, now)
        .await
        .unwrap();
    assert_eq!(again.id, subscriber.id);
    assert_eq!(
        again.state,
        paperboy_store::mail::SubscriberState::Confirmed
    );
    assert_eq!(store.outbox_summary().await.unwrap().queued, 0);
}

fn access_token(
    user: UserId,
    label: &str,
    scope: TokenScope,
    now: DateTime<Utc>,
) -> (Token, NewAccessToken) {
    let token = Token::generate().unwrap();
    let new = NewAccessToken {
        user,
        token: token.hash(),
        label: label.to_owned(),
        scope,
        now,
    };
    (token, new)
}

async fn access_tokens_work_until_revoked_and_are_bounded_per_reader(store: &dyn Store) {
    let now = at("2026-11-28T09:00:00Z");
    let (ada, _) = signed_in(store, "ada@example.org", now).await;
    let (grace, _) = signed_in(store, "grace@example.org", now).await;
    let (feed, new) = access_token(ada, "feed reader", TokenScope::Read, now);
    let kept = store.add_access_token(new).await.unwrap().unwrap();
    assert_eq!(
        (kept.label.as_str(), kept.scope),
        ("feed reader", TokenScope::Read)
    );
    assert_eq!(kept.last_used_at, None);
    let (script, new) = access_token(ada, "script", TokenScope::ReadWrite, now);
    let script_row = store.add_access_token(new).await.unwrap().unwrap();

    match store.access_token_user(feed.hash(), now).await.unwrap() {
        TokenCheck::Live { user, scope } => {
            assert_eq!((user.id, scope), (ada, TokenScope::Read));
        }
        other => panic!("{other:?}"),
    }
    match store.access_token_user(script.hash(), now).await.unwrap() {
        TokenCheck::Live { scope, .. } => assert_eq!(scope, TokenScope::ReadWrite),
        other => panic!("{other:?}"),
    }
    let later = now + chrono::Duration::minutes(10);
    store.access_token_user(feed.hash(), later).await.unwrap();
    let listed = store.access_tokens(ada).await.unwrap();
    assert_eq!(
        listed.iter().map(|token| token.id).collect::<Vec<_>>(),
        [script_row.id, kept.id],
        "newest first"
    );
    assert_eq!(
        listed[1].last_used_at,
        Some(now),
        "a use within the hour is not written again"
    );
    assert_eq!(
        store
            .access_token_user(Token::generate().unwrap().hash(), now)
            .await
            .unwrap(),
        TokenCheck::Unknown
    );

    assert!(
        !store
            .revoke_access_token(grace, kept.id, now)
            .await
            .unwrap(),
        "only its reader revokes a token"
    );
    assert!(
        store
            .revoke_access_token(ada, kept.id, later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_access_token(ada, kept.id, later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_access_token(ada, AccessTokenId(9_999), later)
            .await
            .unwrap()
    );
    assert_eq!(
        store.access_token_user(feed.hash(), later).await.unwrap(),
        TokenCheck::Revoked
    );
    assert_eq!(
        store.access_tokens(ada).await.unwrap()[1].revoked_at,
        Some(later)
    );

    // Hiding the reader stops their tokens; showing them again brings the live ones back.
    store.set_user_hidden(ada, true, later).await.unwrap();
    assert_eq!(
        store.access_token_user(script.hash(), later).await.unwrap(),
        TokenCheck::Revoked
    );
    store.set_user_hidden(ada, false, later).await.unwrap();
    assert!(matches!(
        store.access_token_user(script.hash(), later).await.unwrap(),
        TokenCheck::Live { .. }
    ));

    // Live tokens are bounded per reader; revoked ones do not count.
    for n in 1..MAX_ACCESS_TOKENS {
        let (_, new) = access_token(grace, &format!("token {n}"), TokenScope::Read, now);
        assert!(store.add_access_token(new).await.unwrap().is_some());
    }
    let (_, new) = access_token(grace, "the last allowed", TokenScope::Read, now);
    let last = store.add_access_token(new).await.unwrap().unwrap();
    let (_, new) = access_token(grace, "over", TokenScope::Read, now);
    assert!(store.add_access_token(new).await.unwrap().is_none());
    store
        .revoke_access_token(grace, last.id, now)
        .await
        .unwrap();
    let (_, new) = access_token(grace, "in place of one", TokenScope::Read, now);
    assert!(store.add_access_token(new).await.unwrap().is_some());
}

async fn folders_keep_their_readers_ratings_and_nobody_elses(store: &dyn Store) {
    let now = at("2026-11-28T09:00:00Z");
    let ids = papers(store, 3, "2026-11-27", 0).await;
    let (ada, _) = signed_in(store, "ada@example.org", now).await;
    let (grace, _) = signed_in(store, "grace@example.org", now).await;
    let NewFolder::Made(retrieval) = store.add_folder(ada, "retrieval", now).await.unwrap() else {
        panic!("no folder");
    };
    assert_eq!(
        store.add_folder(ada, "retrieval", now).await.unwrap(),
        NewFolder::NameTaken
    );
    let NewFolder::Made(_) = store.add_folder(grace, "retrieval", now).await.unwrap() else {
        panic!("another reader may use the name");
    };
    let NewFolder::Made(agents) = store.add_folder(ada, "RL for LLMs", now).await.unwrap() else {
        panic!("no folder");
    };
    assert_eq!(
        store
            .folders(ada)
            .await
            .unwrap()
            .iter()
            .map(|folder| folder.name.as_str())
            .collect::<Vec<_>>(),
        ["RL for LLMs", "retrieval"]
    );

    let later = now + chrono::Duration::minutes(1);
    let rate = |folder, paper, rating, when| store.rate(ada, folder, paper, rating, when);
    assert_eq!(
        rate(retrieval.id, ids[0], Some(true), now).await.unwrap(),
        Rated::Done
    );
    assert_eq!(
        rate(retrieval.id, ids[1], Some(true), now).await.unwrap(),
        Rated::Done
    );
    assert_eq!(
        rate(retrieval.id, ids[1], Some(false), later)
            .await
            .unwrap(),
        Rated::Done
    );
    assert_eq!(
        rate(agents.id, ids[2], Some(true), now).await.unwrap(),
        Rated::Done
    );
    let ratings = store.ratings(retrieval.id).await.unwrap();
    assert_eq!(
        ratings
            .iter()
            .map(|rating| (rating.paper, rating.relevant))
            .collect::<Vec<_>>(),
        [(ids[1], false), (ids[0], true)],
        "one rating per paper, the latest first"
    );
    let folder = store.folder(ada, retrieval.id).await.unwrap().unwrap();
    assert_eq!((folder.relevant, folder.not_relevant), (1, 1));
    assert_eq!(
        rate(retrieval.id, ids[1], None, later).await.unwrap(),
        Rated::Done
    );
    assert_eq!(store.ratings(retrieval.id).await.unwrap().len(), 1);

    // Another reader's folder, a missing paper or a hidden one: nothing happens.
    assert_eq!(
        store
            .rate(grace, retrieval.id, ids[0], Some(false), now)
            .await
            .unwrap(),
        Rated::NotFound
    );
    assert!(store.folder(grace, retrieval.id).await.unwrap().is_none());
    assert!(!store.delete_folder(grace, retrieval.id).await.unwrap());
    assert_eq!(
        rate(retrieval.id, PaperId(999_999), Some(true), now)
            .await
            .unwrap(),
        Rated::NotFound
    );
    store.set_paper_hidden(ids[2], true, now).await.unwrap();
    assert_eq!(
        rate(retrieval.id, ids[2], Some(true), now).await.unwrap(),
        Rated::NotFound
    );
    assert_eq!(store.ratings(retrieval.id).await.unwrap().len(), 1);

    assert!(store.delete_folder(ada, retrieval.id).await.unwrap());
    assert!(store.ratings(retrieval.id).await.unwrap().is_empty());
    assert_eq!(store.folders(ada).await.unwrap().len(), 1);
    for n in 1..MAX_FOLDERS {
        let made = store
            .add_folder(ada, &format!("folder {n}"), now)
            .await
            .unwrap();
        assert!(matches!(made, NewFolder::Made(_)), "{n}");
    }
    assert_eq!(
        store.add_folder(ada, "one too many", now).await.unwrap(),
        NewFolder::TooMany
    );
}

common::on_both_backends!(
    folders_keep_their_readers_ratings_and_nobody_elses,
    access_tokens_work_until_revoked_and_are_bounded_per_reader,
    a_sign_in_link_works_once_before_it_expires_and_makes_the_user_once,
    sign_in_links_are_limited_per_address,
    sessions_end_one_at_a_time_or_all_together,
    votes_count_once_per_user_and_concurrent_votes_add_up_exactly,
    saved_papers_come_back_newest_first,
    hiding_a_user_signs_them_out_and_takes_their_votes_out_until_shown_again,
    a_hidden_paper_leaves_lists_and_trending_but_its_page_data_stays,
    trending_follows_votes_cast_here_hour_by_hour,
    a_signed_in_reader_subscribes_without_a_confirmation_mail,
);
