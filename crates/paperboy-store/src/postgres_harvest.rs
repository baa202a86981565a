//! The PostgreSQL side of harvest state (see [`crate::harvest`]).
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
impl crate::HarvestStore for PostgresStore {
    async fn harvest_state(&self, source: &str) -> Result<Option<HarvestState>, StoreError> {
        todo!("PostgreSQL: harvest_state")
    }

    async fn harvest_states(&self) -> Result<Vec<HarvestState>, StoreError> {
        todo!("PostgreSQL: harvest_states")
    }

    async fn store_harvest_page(
        &self,
        source: &str,
        records: Vec<PaperRecord>,
        pending: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<UpsertSummary, StoreError> {
        todo!("PostgreSQL: store_harvest_page")
    }

    async fn finish_harvest(
        &self,
        source: &str,
        outcome: HarvestOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        todo!("PostgreSQL: finish_harvest")
    }
}
