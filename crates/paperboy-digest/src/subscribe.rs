//! Subscribing: a request and its confirmation mail, recorded together.
//!
//! Every request (a new address, a pending one asking again, a subscriber changing topics)
//! gets the same treatment and the same answer: a mail with a link that applies the requested
//! preferences. So the answer reveals nothing about the address, and nobody can change another
//! person's subscription without their mailbox.

use std::time::Duration;

use askama::Template;
use chrono::{DateTime, Utc};
use paperboy_core::EmailAddress;
use paperboy_core::subscription::Preferences;
use paperboy_core::token::Token;
use paperboy_mail::Email;
use paperboy_store::Store;
use paperboy_store::mail::{AddressLimit, MessageKind, RequestOutcome, SubscriptionRequest};

use crate::{DigestError, Mailer};

/// How long a confirmation link works.
pub const CONFIRMATION_HOURS: i64 = 48;

/// Confirmation mails one address may be sent: a few a day, a minute apart, so that nobody can
/// use the form to flood a mailbox.
pub const ADDRESS_LIMIT: AddressLimit = AddressLimit {
    per_day: 3,
    gap: Duration::from_secs(60),
};

#[derive(Template)]
#[template(path = "confirm.txt")]
struct ConfirmationText<'a> {
    url: &'a str,
    site: &'a str,
    preferences: &'a Preferences,
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmationHtml<'a> {
    url: &'a str,
    site: &'a str,
    preferences: &'a Preferences,
}

/// Asks `email` to confirm a subscription with `preferences`.
pub async fn subscribe(
    store: &dyn Store,
    mailer: &Mailer,
    email: EmailAddress,
    preferences: Preferences,
    now: DateTime<Utc>,
) -> Result<RequestOutcome, DigestError> {
    let token = Token::generate()?;
    let url = format!(
        "{}/subscriptions/confirm/{}",
        mailer.public_url(),
        token.as_str()
    );
    let site = mailer.public_url();
    let mail = Email {
        to: email.clone(),
        subject: "Confirm your Paperboy digest".to_owned(),
        text: ConfirmationText {
            url: &url,
            site,
            preferences: &preferences,
        }
        .render()?,
        html: Some(
            ConfirmationHtml {
                url: &url,
                site,
                preferences: &preferences,
            }
            .render()?,
        ),
        unsubscribe: None,
        // The hash, not the token: the key is stored with the message.
        key: format!("confirm:{}", token.hash().to_hex()),
    };
    let confirmation = mailer.queueable(&mail, MessageKind::Confirmation, now)?;
    let outcome = store
        .request_subscription(SubscriptionRequest {
            email,
            preferences,
            token: token.hash(),
            now,
            expires_at: now + chrono::Duration::hours(CONFIRMATION_HOURS),
            limit: ADDRESS_LIMIT,
            confirmation,
        })
        .await?;
    Ok(outcome)
}
