//! The store contract for subscribers, digests and the outbox, on every backend (see
//! `common::on_both_backends`).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use common::{address, at};
use paperboy_core::PaperId;
use paperboy_core::subscription::{Frequency, Preferences};
use paperboy_core::token::Token;
use paperboy_store::Store;
use paperboy_store::mail::{
    AddressLimit, Confirmation, Delivery, MessageKind, NewMessage, QueuedDigest, RequestOutcome,
    SubscriberState, SubscriptionRequest,
};

const LIMIT: AddressLimit = AddressLimit {
    per_day: 3,
    gap: Duration::from_secs(60),
};

fn message(key: &str, kind: MessageKind, to: &str) -> NewMessage {
    NewMessage {
        key: key.into(),
        kind,
        sender: address("digest@paperboy.example"),
        recipient: address(to),
        message_id: format!("{key}@paperboy.example"),
        bytes: format!("Subject: {key}\r\n\r\nbody\r\n").into_bytes(),
    }
}

fn request(to: &str, topics: &[&str], now: DateTime<Utc>) -> (Token, SubscriptionRequest) {
    let token = Token::generate().unwrap();
    let request = SubscriptionRequest {
        email: address(to),
        preferences: Preferences::new(topics, ["cs.LG"], Frequency::Daily).unwrap(),
        token: token.hash(),
        now,
        expires_at: now + chrono::Duration::hours(48),
        limit: LIMIT,
        confirmation: message(
            &format!("confirm:{}", token.as_str()),
            MessageKind::Confirmation,
            to,
        ),
    };
    (token, request)
}

async fn confirmation_applies_the_requested_preferences_once(store: &dyn Store) {
    let now = at("2026-11-28T06:00:00Z");
    let (token, first) = request("Ada@Example.org", &["graph neural networks"], now);
    assert_eq!(
        store.request_subscription(first).await.unwrap(),
        RequestOutcome::Queued
    );
    let pending = store
        .subscriber_by_email(&address("ada@example.org"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending.state, SubscriberState::Pending);

    // A second request with other topics does not change anything until it is confirmed.
    let later = now + chrono::Duration::minutes(5);
    let (second_token, second) = request("ada@example.org", &["diffusion models"], later);
    store.request_subscription(second).await.unwrap();
    let Confirmation::Confirmed(confirmed) = store
        .confirm_subscription(token.hash(), later)
        .await
        .unwrap()
    else {
        panic!("the first link should confirm");
    };
    assert_eq!(confirmed.state, SubscriberState::Confirmed);
    assert_eq!(confirmed.preferences.topics(), ["graph neural networks"]);
    assert_eq!(
        store
            .confirm_subscription(token.hash(), later)
            .await
            .unwrap(),
        Confirmation::AlreadyUsed
    );
    let Confirmation::Confirmed(changed) = store
        .confirm_subscription(second_token.hash(), later)
        .await
        .unwrap()
    else {
        panic!("the second link should confirm too");
    };
    assert_eq!(changed.preferences.topics(), ["diffusion models"]);
    assert_eq!(changed.confirmed_at, confirmed.confirmed_at);

    let forged = Token::generate().unwrap();
    assert_eq!(
        store
            .confirm_subscription(forged.hash(), later)
            .await
            .unwrap(),
        Confirmation::Unknown
    );
    assert_eq!(store.outbox_summary().await.unwrap().queued, 2);
}

async fn links_expire_and_confirmations_are_rate_limited_per_address(store: &dyn Store) {
    let now = at("2026-11-28T06:00:00Z");
    let (token, first) = request("bob@example.org", &[], now);
    store.request_subscription(first).await.unwrap();
    assert_eq!(
        store
            .confirm_subscription(token.hash(), now + chrono::Duration::hours(48))
            .await
            .unwrap(),
        Confirmation::Expired
    );

    // Too soon after the first.
    let (_, early) = request("bob@example.org", &[], now + chrono::Duration::seconds(30));
    assert_eq!(
        store.request_subscription(early).await.unwrap(),
        RequestOutcome::RateLimited
    );
    // Two more a few minutes apart fill the day's three.
    for minutes in [2, 4] {
        let (_, next) = request(
            "bob@example.org",
            &[],
            now + chrono::Duration::minutes(minutes),
        );
        assert_eq!(
            store.request_subscription(next).await.unwrap(),
            RequestOutcome::Queued
        );
    }
    let (_, fourth) = request("bob@example.org", &[], now + chrono::Duration::hours(2));
    assert_eq!(
        store.request_subscription(fourth).await.unwrap(),
        RequestOutcome::RateLimited
    );
    let (_, next_day) = request("bob@example.org", &[], now + chrono::Duration::hours(25));
    assert_eq!(
        store.request_subscription(next_day).await.unwrap(),
        RequestOutcome::Queued
    );
    // Another address is not held back by Bob's.
    let (_, other) = request(
        "carol@example.org",
        &[],
        now + chrono::Duration::seconds(30),
    );
    assert_eq!(
        store.request_subscription(other).await.unwrap(),
        RequestOutcome::Queued
    );
    assert_eq!(store.outbox_summary().await.unwrap().queued, 5);
}

async fn a_digest_is_queued_once_per_period_and_remembers_its_papers(store: &dyn Store) {
    let now = at("2026-11-28T06:00:00Z");
    let (token, first) = request("ada@example.org", &["graphs"], now);
    store.request_subscription(first).await.unwrap();
    let Confirmation::Confirmed(ada) = store.confirm_subscription(token.hash(), now).await.unwrap()
    else {
        panic!("should confirm");
    };
    let digest = |papers: Vec<i64>| QueuedDigest {
        subscriber: ada.id,
        period: "2026-11-28".into(),
        until: "2026-11-27".parse::<NaiveDate>().unwrap(),
        papers: papers.into_iter().map(PaperId).collect(),
        message: message(
            &format!("digest:{}:2026-11-28", ada.id),
            MessageKind::Digest,
            "ada@example.org",
        ),
    };
    assert_eq!(
        store
            .queue_digests(vec![digest(vec![1, 2, 3])], now)
            .await
            .unwrap(),
        1
    );
    // Composed again (a rerun after a crash): nothing new is queued or recorded.
    assert_eq!(
        store
            .queue_digests(vec![digest(vec![4])], now)
            .await
            .unwrap(),
        0
    );
    let sent = store.sent_papers(&[ada.id]).await.unwrap();
    let mut papers: Vec<i64> = sent[&ada.id].iter().map(|id| id.0).collect();
    papers.sort_unstable();
    assert_eq!(papers, [1, 2, 3]);
    let ada = store.subscriber(ada.id).await.unwrap().unwrap();
    assert_eq!(ada.last_digest_period.as_deref(), Some("2026-11-28"));
    assert_eq!(ada.last_digest_until, "2026-11-27".parse().ok());

    // Unsubscribing drops the digest not yet sent.
    assert!(store.unsubscribe(ada.id).await.unwrap());
    let summary = store.outbox_summary().await.unwrap();
    assert_eq!(
        (summary.queued, summary.sent),
        (1, 0),
        "only the confirmation is left"
    );
    assert!(
        store
            .remove_subscriber(&address("ada@example.org"))
            .await
            .unwrap()
    );
    assert_eq!(store.outbox_summary().await.unwrap().queued, 0);
    assert!(store.subscriber(ada.id).await.unwrap().is_none());
    assert!(
        !store
            .remove_subscriber(&address("ada@example.org"))
            .await
            .unwrap()
    );
}

async fn claimed_messages_are_leased_retried_and_refusals_bounce_an_address(store: &dyn Store) {
    let now = at("2026-11-28T06:00:00Z");
    let (_, first) = request("dan@example.org", &[], now);
    store.request_subscription(first).await.unwrap();
    let lease = Duration::from_secs(60);

    let claimed = store.claim_messages(now, lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].attempts, 1);
    assert_eq!(claimed[0].kind, MessageKind::Confirmation);
    // Leased: nobody else gets it until the lease ends (a worker that died mid-send).
    assert!(
        store
            .claim_messages(now, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let after_lease = now + chrono::Duration::seconds(61);
    let again = store.claim_messages(after_lease, lease, 10).await.unwrap();
    assert_eq!(again[0].attempts, 2);
    // The first worker, back from a send that outlived its lease, records nothing.
    assert!(
        !store
            .record_delivery(&claimed[0], Delivery::Sent, after_lease)
            .await
            .unwrap()
    );

    let retry_at = after_lease + chrono::Duration::minutes(2);
    store
        .record_delivery(
            &again[0],
            Delivery::Retry {
                at: retry_at,
                error: "451 try later".into(),
            },
            after_lease,
        )
        .await
        .unwrap();
    assert_eq!(
        store.outbox_summary().await.unwrap().next_due,
        Some(retry_at)
    );
    assert!(
        store
            .claim_messages(after_lease, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.retry_queued_now(after_lease).await.unwrap(), 1);
    let third = store.claim_messages(after_lease, lease, 10).await.unwrap();
    // A retry by hand does not take a message from the worker that holds it.
    assert_eq!(store.retry_queued_now(after_lease).await.unwrap(), 0);
    assert!(
        store
            .claim_messages(after_lease, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .record_delivery(&third[0], Delivery::Sent, after_lease)
        .await
        .unwrap();
    let summary = store.outbox_summary().await.unwrap();
    assert_eq!((summary.queued, summary.sent), (0, 1));

    // Three refusals of the address in a row stop its mail.
    for minute in 1..=3 {
        let time = now + chrono::Duration::days(2) + chrono::Duration::minutes(minute * 2);
        let (_, again) = request("dan@example.org", &[], time);
        assert_eq!(
            store.request_subscription(again).await.unwrap(),
            RequestOutcome::Queued
        );
        let claimed = store.claim_messages(time, lease, 10).await.unwrap();
        store
            .record_delivery(
                &claimed[0],
                Delivery::Failed {
                    error: "550 no such user".into(),
                    refused_recipient: true,
                },
                time,
            )
            .await
            .unwrap();
    }
    let dan = store
        .subscriber_by_email(&address("dan@example.org"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dan.state, SubscriberState::Bounced);
    assert_eq!(store.outbox_summary().await.unwrap().failed, 3);
}

async fn a_secret_is_generated_once(store: &dyn Store) {
    let first = store.secret("link-key", &[1; 32]).await.unwrap();
    let second = store.secret("link-key", &[2; 32]).await.unwrap();
    assert_eq!(first, vec![1; 32]);
    assert_eq!(second, first);
}

async fn confirmed_subscribers_are_added_in_bulk_and_known_addresses_kept(store: &dyn Store) {
    let now = at("2026-11-28T06:00:00Z");
    let (_, pending) = request("ada@example.org", &["graphs"], now);
    store.request_subscription(pending).await.unwrap();
    let preferences = Preferences::new(["diffusion"], ["cs.CV"], Frequency::Weekly).unwrap();
    let added = store
        .add_confirmed_subscribers(
            &[
                (address("ada@example.org"), preferences.clone()),
                (address("bob@example.org"), preferences.clone()),
            ],
            now,
        )
        .await
        .unwrap();
    assert_eq!(added, 1);
    let ada = store
        .subscriber_by_email(&address("ada@example.org"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ada.state,
        SubscriberState::Pending,
        "a known address is left as it was"
    );
    let bob = store
        .subscriber_by_email(&address("bob@example.org"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bob.state, SubscriberState::Confirmed);
    assert_eq!(bob.preferences, preferences);
    let confirmed = store
        .subscribers_after(None, Some(SubscriberState::Confirmed), 10)
        .await
        .unwrap();
    assert_eq!(confirmed.len(), 1);
}

async fn addresses_nobody_confirmed_are_forgotten_with_their_mail(store: &dyn Store) {
    let then = at("2026-11-01T06:00:00Z");
    let (_, old) = request("typo@example.org", &[], then);
    store.request_subscription(old).await.unwrap();
    let (token, confirmed) = request("ada@example.org", &[], then);
    store.request_subscription(confirmed).await.unwrap();
    store
        .confirm_subscription(token.hash(), then)
        .await
        .unwrap();
    let now = at("2026-11-28T06:00:00Z");
    let (_, recent) = request("bob@example.org", &[], now);
    store.request_subscription(recent).await.unwrap();

    let week_ago = now - chrono::Duration::days(7);
    assert_eq!(store.forget_unconfirmed(week_ago).await.unwrap(), 1);
    assert!(
        store
            .subscriber_by_email(&address("typo@example.org"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .subscriber_by_email(&address("ada@example.org"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .subscriber_by_email(&address("bob@example.org"))
            .await
            .unwrap()
            .is_some()
    );
    // Ada's and Bob's confirmation mails are kept; the forgotten address's is gone.
    assert_eq!(store.outbox_summary().await.unwrap().queued, 2);
    assert_eq!(store.forget_unconfirmed(week_ago).await.unwrap(), 0);
}

/// `name+tag@` reaches `name@`: tagged variants of one address share its day's mail, across
/// confirmations and sign-in links, so a rotating tag cannot flood one inbox.
async fn one_mailbox_gets_at_most_ten_requested_mails_a_day_whatever_its_tags(store: &dyn Store) {
    let now = at("2026-11-28T09:00:00Z");
    let mut queued = 0;
    for n in 0..12_i64 {
        let when = now + chrono::Duration::minutes(n);
        let (_, subscription) = request(&format!("Ada+s{n}@Example.org"), &["rl"], when);
        if store.request_subscription(subscription).await.unwrap() == RequestOutcome::Queued {
            queued += 1;
        }
        let token = Token::generate().unwrap();
        let to = format!("ada+i{n}@example.org");
        let sign_in = paperboy_store::account::SignInRequest {
            email: address(&to),
            token: token.hash(),
            now: when,
            expires_at: when + chrono::Duration::minutes(15),
            limit: LIMIT,
            mail: message(&format!("sign-in:{n}"), MessageKind::SignIn, &to),
        };
        if store.request_sign_in(sign_in).await.unwrap() == RequestOutcome::Queued {
            queued += 1;
        }
    }
    assert_eq!(queued, 10, "24 requests for one mailbox, 10 mails");
    let other = request("bob+x@example.org", &["rl"], now).1;
    assert_eq!(
        store.request_subscription(other).await.unwrap(),
        RequestOutcome::Queued
    );
    let (_, tomorrow) = request(
        "ada+t@example.org",
        &["rl"],
        now + chrono::Duration::hours(25),
    );
    assert_eq!(
        store.request_subscription(tomorrow).await.unwrap(),
        RequestOutcome::Queued
    );
}

common::on_both_backends!(
    confirmation_applies_the_requested_preferences_once,
    links_expire_and_confirmations_are_rate_limited_per_address,
    a_digest_is_queued_once_per_period_and_remembers_its_papers,
    claimed_messages_are_leased_retried_and_refusals_bounce_an_address,
    a_secret_is_generated_once,
    confirmed_subscribers_are_added_in_bulk_and_known_addresses_kept,
    addresses_nobody_confirmed_are_forgotten_with_their_mail,
    one_mailbox_gets_at_most_ten_requested_mails_a_day_whatever_its_tags,
);
