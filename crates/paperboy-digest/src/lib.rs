//! The daily digest: "trending papers in your inbox once a day", personal and hard to get wrong.
//!
//! - [`subscribe`] records a request and queues its confirmation mail (double opt-in: nothing
//!   else is sent to an address before its link is followed). The answer never says whether
//!   the address was already subscribed.
//! - [`compose`] builds each due subscriber's digest (trending papers, then the new papers that
//!   match each of their topics) and queues it under a key of subscriber and period, so a
//!   rerun, a crash or two servers composing at once still queue it once.
//! - [`deliver`] drains the outbox: a message is marked sent only after the server accepted
//!   it, transient failures are retried with exponential backoff, permanent ones recorded.
//!
//! - [`sign_in`] sends sign-in links through the same outbox; [`membership`] says who may
//!   sign in and get the digest.
//!
//! Mail is rendered once, when queued; delivery sends the stored bytes. [`Mailer`] holds what
//! rendering needs: the sender, the site's public address and the key that signs manage links.

pub mod compose;
pub mod deliver;
mod links;
pub mod membership;
mod period;
pub mod sign_in;
pub mod subscribe;

use chrono::{DateTime, Utc};
use paperboy_core::Paper;
use paperboy_core::subscription::SubscriberId;
use paperboy_mail::{Email, MailError, Outgoing, Sender};
use paperboy_store::mail::{MessageKind, NewMessage, Subscriber};
use paperboy_store::{Store, StoreError};

pub use links::LinkSigner;
pub use period::{Period, PeriodError};

/// The name of the key that signs manage links, in the store's secrets.
const LINK_KEY: &str = "manage-link-key";

/// Why a digest operation failed. None of these is the subscriber's fault: bad input is
/// refused earlier, by the types it is parsed into.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("a search for a topic failed: {0}")]
    Search(#[from] paperboy_search::SearchError),
    #[error("a mail template failed: {0}")]
    Template(#[from] askama::Error),
    #[error(transparent)]
    Token(#[from] paperboy_core::token::TokenError),
    #[error("the operating system's random source failed: {0}")]
    Random(String),
}

/// What rendering mail needs.
#[derive(Debug, Clone)]
pub struct Mailer {
    sender: Sender,
    /// `https://papers.example.org`, without a trailing slash.
    public_url: String,
    links: LinkSigner,
}

impl Mailer {
    /// A mailer for the site at `public_url`, with the store's link key (made on first use).
    pub async fn new(
        store: &dyn Store,
        sender: Sender,
        public_url: &str,
    ) -> Result<Mailer, DigestError> {
        let mut fresh = [0u8; 32];
        getrandom::fill(&mut fresh).map_err(|error| DigestError::Random(error.to_string()))?;
        let key = store.secret(LINK_KEY, &fresh).await?;
        Ok(Mailer {
            sender,
            public_url: public_url.trim_end_matches('/').to_owned(),
            links: LinkSigner::new(key),
        })
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The page where a subscriber changes topics and frequency, which is also the one-click
    /// unsubscribe URL (a POST there unsubscribes).
    pub fn manage_url(&self, subscriber: &Subscriber) -> String {
        format!(
            "{}/subscription/{}",
            self.public_url,
            self.links.token(subscriber.id, subscriber.link_generation)
        )
    }

    /// The subscriber a manage link names, if it is genuine and not revoked.
    pub async fn subscriber_of_link(
        &self,
        store: &dyn Store,
        token: &str,
    ) -> Result<Option<Subscriber>, StoreError> {
        let Some((id, generation)) = self.links.verify(token) else {
            return Ok(None);
        };
        Ok(store
            .subscriber(id)
            .await?
            .filter(|subscriber| subscriber.link_generation == generation))
    }

    pub fn paper_url(&self, paper: &Paper) -> String {
        format!("{}/papers/{}", self.public_url, paper.url_key())
    }

    /// Renders `email` and wraps it for the outbox.
    fn queueable(
        &self,
        email: &Email,
        kind: MessageKind,
        now: DateTime<Utc>,
    ) -> Result<NewMessage, DigestError> {
        let Outgoing {
            message_id,
            from,
            to,
            bytes,
        } = self.sender.render(email, now.into())?;
        Ok(NewMessage {
            key: email.key.clone(),
            kind,
            sender: from,
            recipient: to,
            message_id,
            bytes,
        })
    }
}

/// The idempotency key of a subscriber's digest for a period.
fn digest_key(id: SubscriberId, period: Period) -> String {
    format!("digest:{id}:{period}")
}
