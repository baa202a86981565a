//! Paperboy's outgoing mail.
//!
//! A message is rendered once into its final bytes ([`Outgoing`]) by a [`Sender`], so that it
//! can be queued and, after a failure or a crash, sent again byte for byte: same `Message-ID`,
//! same `Date`, same links. A [`Transport`] delivers those bytes, over SMTP or, as the embedded
//! default, by writing `.eml` files, and says whether a failure is worth retrying
//! ([`SendError`]).
//!
//! Addresses come in as [`EmailAddress`]es (nothing that could break a header), subjects have
//! their control characters replaced, and the one-click unsubscribe link is checked before it
//! goes into `List-Unsubscribe`: nothing a subscriber typed can add a header.

mod message;
mod transport;

pub use message::{Email, MailError, Outgoing, Sender};
pub use transport::{SendError, Transport};

pub use paperboy_core::EmailAddress;
