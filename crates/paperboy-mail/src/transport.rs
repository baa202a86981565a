//! Delivering rendered messages: over SMTP, or into `.eml` files (the embedded default).

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::io::AsyncWriteExt;

use crate::message::{MailError, Outgoing};

/// How long one SMTP conversation may take before it counts as a transient failure.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where messages go.
#[derive(Clone)]
pub enum Transport {
    /// Each message becomes `<message id>.eml` in this folder, written whole or not at all.
    Files(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// Why a message was not delivered, and whether trying again later may help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// A 4xx reply, a refused or dropped connection, a timeout, a full disk: retry later.
    #[error("temporary failure, will retry: {0}")]
    Transient(String),
    /// A 5xx reply: the server will not take this message for this address.
    #[error("refused for good: {0}")]
    Permanent(String),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Files(dir) => write!(f, "Transport::Files({})", dir.display()),
            // The transport holds the credentials: show nothing of it.
            Transport::Smtp(_) => f.write_str("Transport::Smtp"),
        }
    }
}

impl Transport {
    /// `.eml` files in `dir` (created when the first message is written).
    pub fn files(dir: impl Into<PathBuf>) -> Transport {
        Transport::Files(dir.into())
    }

    /// SMTP as a URL names it: `smtp://user:password@host:port` (plain, or STARTTLS with
    /// `?tls=required` or `?tls=opportunistic`), `smtps://…` for TLS from the start (port 465).
    /// Errors never repeat the URL, which may hold a password.
    pub fn smtp(url: &str) -> Result<Transport, MailError> {
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|error| MailError::SmtpUrl(error.to_string()))?;
        Ok(Transport::Smtp(builder.timeout(Some(SMTP_TIMEOUT)).build()))
    }

    /// Delivers `message`. Sending the same message to the file transport twice leaves one
    /// file; over SMTP the receiver can tell a repeat by its `Message-ID`.
    pub async fn send(&self, message: &Outgoing) -> Result<(), SendError> {
        let outcome = match self {
            Transport::Files(dir) => write_file(dir, message).await.map_err(|error| {
                SendError::Transient(format!("writing to {}: {error}", dir.display()))
            }),
            Transport::Smtp(smtp) => {
                let envelope = envelope(message)?;
                match smtp.send_raw(&envelope, &message.bytes).await {
                    Ok(_) => Ok(()),
                    Err(error) if error.is_permanent() => {
                        Err(SendError::Permanent(error.to_string()))
                    }
                    Err(error) => Err(SendError::Transient(error.to_string())),
                }
            }
        };
        // Servers often quote the recipient in their replies; keep it out of logs.
        outcome.map_err(|error| redact(error, message))
    }
}

fn envelope(message: &Outgoing) -> Result<Envelope, SendError> {
    let parse = |address: &paperboy_core::EmailAddress| {
        address
            .as_str()
            .parse::<Address>()
            .map_err(|error| SendError::Permanent(error.to_string()))
    };
    Envelope::new(Some(parse(&message.from)?), vec![parse(&message.to)?])
        .map_err(|error| SendError::Permanent(error.to_string()))
}

/// Writes `<id>.eml` through a temporary file, synced, then renamed into place.
async fn write_file(dir: &Path, message: &Outgoing) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    let name: String = message
        .message_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@.-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let target = dir.join(format!("{name}.eml"));
    let partial = dir.join(format!(".{name}.eml.partial"));
    let mut file = tokio::fs::File::create(&partial).await?;
    file.write_all(&message.bytes).await?;
    file.sync_all().await?;
    drop(file);
    tokio::fs::rename(&partial, &target).await
}

fn redact(error: SendError, message: &Outgoing) -> SendError {
    let hide = |text: String| text.replace(message.to.as_str(), &message.to.masked());
    match error {
        SendError::Transient(text) => SendError::Transient(hide(text)),
        SendError::Permanent(text) => SendError::Permanent(hide(text)),
    }
}
