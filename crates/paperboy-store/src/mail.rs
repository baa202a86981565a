//! What the store keeps for the digest: subscribers, their pending confirmations, the papers
//! each has been sent, and the outbox of rendered mail.
//!
//! Every change that must happen together happens in one transaction of the [`crate::Store`]
//! methods that take these types: a subscription request and its confirmation mail; a digest,
//! the record of its papers and the subscriber's last period; a delivery and what it says about
//! the address. The outbox's idempotency key is unique, so a digest composed twice (a rerun, a
//! crash between composing and recording) is queued once.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use paperboy_core::EmailAddress;
use paperboy_core::PaperId;
use paperboy_core::subscription::{Preferences, SubscriberId};
use paperboy_core::token::TokenHash;

/// Permanent refusals of an address in a row after which it is no longer mailed.
pub const MAX_REFUSALS: u32 = 3;

/// Where a subscriber stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriberState {
    /// Asked to subscribe, has not followed the confirmation link: nothing but confirmations
    /// is sent.
    Pending,
    Confirmed,
    Unsubscribed,
    /// The mail server refused the address [`MAX_REFUSALS`] times in a row.
    Bounced,
}

impl SubscriberState {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriberState::Pending => "pending",
            SubscriberState::Confirmed => "confirmed",
            SubscriberState::Unsubscribed => "unsubscribed",
            SubscriberState::Bounced => "bounced",
        }
    }

    pub fn parse(text: &str) -> Option<SubscriberState> {
        [
            SubscriberState::Pending,
            SubscriberState::Confirmed,
            SubscriberState::Unsubscribed,
            SubscriberState::Bounced,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

/// A subscriber as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscriber {
    pub id: SubscriberId,
    pub email: EmailAddress,
    pub state: SubscriberState,
    pub preferences: Preferences,
    pub created_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The period key of the last digest queued for them.
    pub last_digest_period: Option<String>,
    /// The last listing day that digest covered.
    pub last_digest_until: Option<NaiveDate>,
    /// Part of every manage link; bumping it invalidates the links sent so far.
    pub link_generation: i64,
}

/// What kind of mail a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Confirmation,
    Digest,
    /// A sign-in link.
    SignIn,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Confirmation => "confirmation",
            MessageKind::Digest => "digest",
            MessageKind::SignIn => "sign-in",
        }
    }

    pub fn parse(text: &str) -> Option<MessageKind> {
        [
            MessageKind::Confirmation,
            MessageKind::Digest,
            MessageKind::SignIn,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// A rendered message to queue.
#[derive(Clone)]
pub struct NewMessage {
    /// Unique among all messages ever queued: a second message with the same key is dropped.
    pub key: String,
    pub kind: MessageKind,
    pub sender: EmailAddress,
    pub recipient: EmailAddress,
    pub message_id: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for NewMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewMessage")
            .field("kind", &self.kind)
            .field("recipient", &self.recipient)
            .field("bytes", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// How many confirmation mails one address may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressLimit {
    /// At most this many in any 24 hours.
    pub per_day: u32,
    /// And at least this long apart.
    pub gap: Duration,
}

/// Someone asks to subscribe (or, subscribed, to change their preferences).
#[derive(Debug, Clone)]
pub struct SubscriptionRequest {
    pub email: EmailAddress,
    pub preferences: Preferences,
    /// The hash of the token in the confirmation link.
    pub token: TokenHash,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub limit: AddressLimit,
    /// The confirmation mail, queued with the request or not at all.
    pub confirmation: NewMessage,
}

/// What became of a subscription request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// Recorded, and its confirmation mail queued.
    Queued,
    /// Nothing recorded: the address was sent too many confirmations lately.
    RateLimited,
}

/// What following a confirmation link did.
#[derive(Debug, Clone, PartialEq)]
pub enum Confirmation {
    /// The request's preferences now apply and the subscriber is confirmed.
    Confirmed(Subscriber),
    Expired,
    AlreadyUsed,
    Unknown,
}

/// A digest to queue for a subscriber.
#[derive(Debug, Clone)]
pub struct QueuedDigest {
    pub subscriber: SubscriberId,
    /// The period's key as the digest crate writes it (`paperboy_digest::Period`): `2026-11-28`
    /// for a daily digest, `week-2026-11-23` (the week's first day) for a weekly one.
    pub period: String,
    /// The last listing day the digest covers.
    pub until: NaiveDate,
    /// The papers in it, remembered so that later digests do not repeat them.
    pub papers: Vec<PaperId>,
    pub message: NewMessage,
}

/// A message claimed for sending.
#[derive(Clone)]
pub struct ClaimedMessage {
    pub id: i64,
    pub kind: MessageKind,
    pub subscriber: Option<SubscriberId>,
    pub sender: EmailAddress,
    pub recipient: EmailAddress,
    pub message_id: String,
    pub bytes: Vec<u8>,
    /// Including this one.
    pub attempts: u32,
    /// Until when this worker holds it.
    pub lease: DateTime<Utc>,
}

impl std::fmt::Debug for ClaimedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedMessage")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("recipient", &self.recipient)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// What became of one attempt to send a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The server accepted it.
    Sent,
    /// It failed for now; try again at `at`.
    Retry { at: DateTime<Utc>, error: String },
    /// It will never go; `refused_recipient` when the server refused the address itself.
    Failed {
        error: String,
        refused_recipient: bool,
    },
}

/// `now + delay`, or the end of time if that overflows.
pub fn after(now: DateTime<Utc>, delay: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(delay)
        .ok()
        .and_then(|delay| now.checked_add_signed(delay))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Counts of the outbox, for the command line and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxSummary {
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
    /// When the earliest queued message is next due (its backoff or its lease over).
    pub next_due: Option<DateTime<Utc>>,
}
