//! Sign-in links: a request records the link's hash and queues its mail in one transaction,
//! through the same outbox as the digest.
//!
//! Like subscription requests, every request gets the same answer whether or not the address
//! is known, and at most [`ADDRESS_LIMIT`] links go to one address.

use std::time::Duration;

use askama::Template;
use chrono::{DateTime, Utc};
use paperboy_core::EmailAddress;
use paperboy_core::token::Token;
use paperboy_mail::Email;
use paperboy_store::Store;
use paperboy_store::account::SignInRequest;
use paperboy_store::mail::{AddressLimit, MessageKind, RequestOutcome};

use crate::{DigestError, Mailer};

/// How long a sign-in link works.
pub const LINK_MINUTES: i64 = 15;

/// Sign-in mails one address may be sent: enough for a reader on several devices, too few to
/// flood a mailbox.
pub const ADDRESS_LIMIT: AddressLimit = AddressLimit {
    per_day: 10,
    gap: Duration::from_secs(30),
};

#[derive(Template)]
#[template(path = "sign_in.txt")]
struct SignInText<'a> {
    url: &'a str,
    site: &'a str,
    minutes: i64,
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInHtml<'a> {
    url: &'a str,
    site: &'a str,
    minutes: i64,
}

/// Sends `email` a sign-in link, which leads to `next` (a path on the site) once followed.
pub async fn request_sign_in(
    store: &dyn Store,
    mailer: &Mailer,
    email: EmailAddress,
    next: Option<&str>,
    now: DateTime<Utc>,
) -> Result<RequestOutcome, DigestError> {
    let token = Token::generate()?;
    let mut url = format!("{}/signin/{}", mailer.public_url(), token.as_str());
    if let Some(next) = next {
        url.push_str("?next=");
        url.push_str(&paperboy_core::text::urlencode(next));
    }
    let site = mailer.public_url();
    let mail = Email {
        to: email.clone(),
        subject: "Sign in to Paperboy".to_owned(),
        text: SignInText {
            url: &url,
            site,
            minutes: LINK_MINUTES,
        }
        .render()?,
        html: Some(
            SignInHtml {
                url: &url,
                site,
                minutes: LINK_MINUTES,
            }
            .render()?,
        ),
        unsubscribe: None,
        // The hash, not the token: the key is stored with the message.
        key: format!("sign-in:{}", token.hash().to_hex()),
    };
    let mail = mailer.queueable(&mail, MessageKind::SignIn, now)?;
    Ok(store
        .request_sign_in(SignInRequest {
            email,
            token: token.hash(),
            now,
            expires_at: now + chrono::Duration::minutes(LINK_MINUTES),
            limit: ADDRESS_LIMIT,
            mail,
        })
        .await?)
}
