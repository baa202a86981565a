//! Delivering rendered messages: over SMTP, or into `.eml` files (the embedded default).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

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
    /// 550, 551 or 553: the server refuses this recipient (no such mailbox, not relayed, a bad
    /// address). Repeated, it is a reason to stop mailing the address. (A server that refuses
    /// the sender with one of these codes looks the same; then every recipient fails alike.)
    #[error("the recipient was refused: {0}")]
    Recipient(String),
    /// Any other 5xx (a failed login, TLS required, the sender or the message refused): the
    /// fault is the configuration's or the message's, not the address's; retrying the same
    /// way will not help, and the subscriber is not to blame.
    #[error("refused for good: {0}")]
    Permanent(String),
}

/// The replies that refuse a recipient rather than the sender, the login or the message.
const RECIPIENT_REFUSALS: [&str; 3] = ["550", "551", "553"];

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

    /// SMTP as a URL names it: `smtps://user:password@host` for TLS from the start (port 465),
    /// `smtp://user:password@host:587?tls=required` for STARTTLS, `smtp://host:25` for plain SMTP
    /// (a relay on the same machine or network). A password is refused over plain SMTP, unless
    /// the server is this machine: it would cross the network readable by anyone on the way.
    /// Errors never repeat the URL.
    pub fn smtp(url: &str) -> Result<Transport, MailError> {
        if sends_password_in_clear(url) {
            return Err(MailError::SmtpUrl(
                "a password over plain SMTP; use smtps:// or add ?tls=required".into(),
            ));
        }
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
                        let code = error.status().map(|code| code.to_string());
                        if code.is_some_and(|code| RECIPIENT_REFUSALS.contains(&code.as_str())) {
                            Err(SendError::Recipient(error.to_string()))
                        } else {
                            Err(SendError::Permanent(error.to_string()))
                        }
                    }
                    Err(error) => Err(SendError::Transient(error.to_string())),
                }
            }
        };
        // Servers often quote the recipient in their replies; keep it out of logs.
        outcome.map_err(|error| redact(error, message))
    }
}

/// Whether `url` has a password but neither `smtps://` nor `tls=required`, for a server other
/// than this machine.
fn sends_password_in_clear(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("smtp://") else {
        return false;
    };
    let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = authority.split('/').next().unwrap_or_default();
    let Some((credentials, host)) = authority.rsplit_once('@') else {
        return false;
    };
    let has_password = credentials
        .split_once(':')
        .is_some_and(|(_, password)| !password.is_empty());
    let host = host.rsplit_once(':').map_or(host, |(host, _)| host);
    let local = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    has_password && !local && !query.split('&').any(|pair| pair == "tls=required")
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

/// Writes `<id>.eml` through a temporary file of its own, synced, renamed into place, and the
/// folder synced: the file is there whole, or not at all.
async fn write_file(dir: &Path, message: &Outgoing) -> std::io::Result<()> {
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
    let dir = dir.to_owned();
    let bytes = message.bytes.clone();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        // Removed if anything below fails; unique, so concurrent sends never share it.
        let mut partial = tempfile::Builder::new()
            .prefix(".partial-")
            .tempfile_in(&dir)?;
        partial.write_all(&bytes)?;
        partial.as_file().sync_all()?;
        partial.persist(dir.join(format!("{name}.eml")))?;
        std::fs::File::open(&dir)?.sync_all()
    })
    .await
    .map_err(std::io::Error::other)?
}

fn redact(error: SendError, message: &Outgoing) -> SendError {
    let hide = |text: String| text.replace(message.to.as_str(), &message.to.masked());
    match error {
        SendError::Transient(text) => SendError::Transient(hide(text)),
        SendError::Recipient(text) => SendError::Recipient(hide(text)),
        SendError::Permanent(text) => SendError::Permanent(hide(text)),
    }
}
