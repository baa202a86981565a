//! The PostgreSQL side of subscriptions, digests and the outbox (see [`crate::mail`]).
#![allow(unused_variables, unused_imports)]

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use paperboy_core::account::UserId;
use paperboy_core::subscription::{Preferences, SubscriberId};
use paperboy_core::token::TokenHash;
use paperboy_core::{EmailAddress, PaperId, PaperRecord};

use crate::account::{
    Marked, Marks, NewSession, SignIn, SignInRequest, User, VoteOutcome, VoteTally,
};
use crate::harvest::{HarvestOutcome, HarvestState};
use crate::mail::{
    ClaimedMessage, Confirmation, Delivery, OutboxSummary, QueuedDigest, RequestOutcome,
    Subscriber, SubscriberState, SubscriptionRequest,
};
use crate::{PostgresStore, StoreError, UpsertSummary};

#[async_trait]
impl crate::MailStore for PostgresStore {
    async fn request_subscription(
        &self,
        request: SubscriptionRequest,
    ) -> Result<RequestOutcome, StoreError> {
        todo!("PostgreSQL: request_subscription")
    }

    async fn confirm_subscription(
        &self,
        token: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Confirmation, StoreError> {
        todo!("PostgreSQL: confirm_subscription")
    }

    async fn add_confirmed_subscribers(
        &self,
        subscribers: &[(EmailAddress, Preferences)],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        todo!("PostgreSQL: add_confirmed_subscribers")
    }

    async fn subscribe_confirmed(
        &self,
        email: &EmailAddress,
        preferences: &Preferences,
        now: DateTime<Utc>,
    ) -> Result<Subscriber, StoreError> {
        todo!("PostgreSQL: subscribe_confirmed")
    }

    async fn subscriber(&self, id: SubscriberId) -> Result<Option<Subscriber>, StoreError> {
        todo!("PostgreSQL: subscriber")
    }

    async fn subscriber_by_email(
        &self,
        email: &EmailAddress,
    ) -> Result<Option<Subscriber>, StoreError> {
        todo!("PostgreSQL: subscriber_by_email")
    }

    async fn subscribers_after(
        &self,
        after: Option<SubscriberId>,
        state: Option<SubscriberState>,
        limit: u32,
    ) -> Result<Vec<Subscriber>, StoreError> {
        todo!("PostgreSQL: subscribers_after")
    }

    async fn set_preferences(
        &self,
        id: SubscriberId,
        preferences: &Preferences,
    ) -> Result<bool, StoreError> {
        todo!("PostgreSQL: set_preferences")
    }

    async fn unsubscribe(&self, id: SubscriberId) -> Result<bool, StoreError> {
        todo!("PostgreSQL: unsubscribe")
    }

    async fn forget_unconfirmed(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        todo!("PostgreSQL: forget_unconfirmed")
    }

    async fn remove_subscriber(&self, email: &EmailAddress) -> Result<bool, StoreError> {
        todo!("PostgreSQL: remove_subscriber")
    }

    async fn sent_papers(
        &self,
        ids: &[SubscriberId],
    ) -> Result<HashMap<SubscriberId, HashSet<PaperId>>, StoreError> {
        todo!("PostgreSQL: sent_papers")
    }

    async fn queue_digests(
        &self,
        digests: Vec<QueuedDigest>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        todo!("PostgreSQL: queue_digests")
    }

    async fn claim_messages(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedMessage>, StoreError> {
        todo!("PostgreSQL: claim_messages")
    }

    async fn record_delivery(
        &self,
        message: &ClaimedMessage,
        delivery: Delivery,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        todo!("PostgreSQL: record_delivery")
    }

    async fn retry_queued_now(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        todo!("PostgreSQL: retry_queued_now")
    }

    async fn outbox_summary(&self) -> Result<OutboxSummary, StoreError> {
        todo!("PostgreSQL: outbox_summary")
    }

    async fn secret(&self, name: &str, generated: &[u8]) -> Result<Vec<u8>, StoreError> {
        todo!("PostgreSQL: secret")
    }
}
