//! The PostgreSQL side of accounts (see [`crate::account`]).
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
impl crate::AccountStore for PostgresStore {
    async fn request_sign_in(&self, request: SignInRequest) -> Result<RequestOutcome, StoreError> {
        todo!("PostgreSQL: request_sign_in")
    }

    async fn complete_sign_in(
        &self,
        token: TokenHash,
        session: NewSession,
    ) -> Result<SignIn, StoreError> {
        todo!("PostgreSQL: complete_sign_in")
    }

    async fn session_user(
        &self,
        token: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        todo!("PostgreSQL: session_user")
    }

    async fn end_session(&self, token: TokenHash) -> Result<(), StoreError> {
        todo!("PostgreSQL: end_session")
    }

    async fn end_all_sessions(&self, user: UserId) -> Result<u64, StoreError> {
        todo!("PostgreSQL: end_all_sessions")
    }

    async fn add_user(
        &self,
        email: &EmailAddress,
        admin: bool,
        now: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        todo!("PostgreSQL: add_user")
    }

    async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError> {
        todo!("PostgreSQL: user_by_email")
    }

    async fn users(&self, hidden_only: bool) -> Result<Vec<User>, StoreError> {
        todo!("PostgreSQL: users")
    }

    async fn set_user_hidden(
        &self,
        user: UserId,
        hidden: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        todo!("PostgreSQL: set_user_hidden")
    }

    async fn set_paper_hidden(
        &self,
        paper: PaperId,
        hidden: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        todo!("PostgreSQL: set_paper_hidden")
    }

    async fn hidden_paper_ids(&self) -> Result<Vec<PaperId>, StoreError> {
        todo!("PostgreSQL: hidden_paper_ids")
    }

    async fn set_vote(
        &self,
        user: UserId,
        paper: PaperId,
        upvoted: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<VoteOutcome>, StoreError> {
        todo!("PostgreSQL: set_vote")
    }

    async fn add_votes(
        &self,
        votes: &[(UserId, PaperId, DateTime<Utc>)],
    ) -> Result<u64, StoreError> {
        todo!("PostgreSQL: add_votes")
    }

    async fn set_saved(
        &self,
        user: UserId,
        paper: PaperId,
        saved: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        todo!("PostgreSQL: set_saved")
    }

    async fn marks(
        &self,
        user: UserId,
        papers: &[PaperId],
    ) -> Result<HashMap<PaperId, Marks>, StoreError> {
        todo!("PostgreSQL: marks")
    }

    async fn voted_papers(&self, user: UserId) -> Result<Vec<Marked>, StoreError> {
        todo!("PostgreSQL: voted_papers")
    }

    async fn saved_papers(&self, user: UserId) -> Result<Vec<Marked>, StoreError> {
        todo!("PostgreSQL: saved_papers")
    }

    async fn vote_tallies(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<VoteTally>, StoreError> {
        todo!("PostgreSQL: vote_tallies")
    }
}
