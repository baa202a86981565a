//! Rendering a message: headers, a plain-text part and an HTML part, into its final bytes.

use std::time::SystemTime;

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{Address, Message};
use paperboy_core::EmailAddress;
use sha2::{Digest, Sha256};

/// Who mail comes from: the `From` mailbox, whose domain also names the `Message-ID`s.
#[derive(Debug, Clone)]
pub struct Sender {
    from: Mailbox,
    address: EmailAddress,
}

/// One message to render. Its `Debug` shows neither the recipient in full nor the links (they
/// carry secrets), only the subject and sizes.
#[derive(Clone)]
pub struct Email {
    pub to: EmailAddress,
    /// One line; control characters (line breaks included) become spaces.
    pub subject: String,
    pub text: String,
    /// The HTML alternative, if any: already escaped by its template.
    pub html: Option<String>,
    /// The one-click unsubscribe URL (RFC 8058), put into `List-Unsubscribe` with
    /// `List-Unsubscribe-Post: List-Unsubscribe=One-Click`: `https://host/…` (mail providers
    /// only offer one-click for HTTPS; `http://` is accepted for a site tried out locally).
    pub unsubscribe: Option<String>,
    /// What makes this message this message (for a digest: the subscriber and the period). The
    /// `Message-ID` is derived from it, so a message rendered again for the same key has the
    /// same id and a receiver can tell a repeat.
    pub key: String,
}

/// A rendered message: the bytes to send and what the SMTP envelope needs. Its `Debug` shows the
/// id, the masked recipient and the size, not the bytes (which hold the address and links).
#[derive(Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Without the angle brackets.
    pub message_id: String,
    pub from: EmailAddress,
    pub to: EmailAddress,
    pub bytes: Vec<u8>,
}

/// Why a message could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the sender's name or address is not usable in a From header: {0}")]
    Sender(String),
    #[error(
        "the unsubscribe link must be an http(s) URL of printable characters without spaces or angle brackets"
    )]
    UnsubscribeUrl,
    #[error("the message could not be built: {0}")]
    Build(String),
    #[error(
        "the SMTP URL is not usable ({0}); expected smtp://user:password@host:port or smtps://…"
    )]
    SmtpUrl(String),
}

impl Sender {
    /// `name` may be empty; it is encoded as the standard requires if it is not plain ASCII.
    pub fn new(name: &str, address: EmailAddress) -> Result<Sender, MailError> {
        let parsed: Address = address
            .as_str()
            .parse()
            .map_err(|error: lettre::address::AddressError| MailError::Sender(error.to_string()))?;
        let name = single_line(name);
        Ok(Sender {
            from: Mailbox::new((!name.is_empty()).then_some(name), parsed),
            address,
        })
    }

    /// Renders `email` as of `date` into the bytes to send.
    pub fn render(&self, email: &Email, date: SystemTime) -> Result<Outgoing, MailError> {
        let to: Address = email
            .to
            .as_str()
            .parse()
            .map_err(|error: lettre::address::AddressError| MailError::Build(error.to_string()))?;
        let message_id = self.message_id(&email.key);
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(single_line(&email.subject))
            .date(date)
            .message_id(Some(format!("<{message_id}>")));
        if let Some(url) = &email.unsubscribe {
            check_url(url)?;
            builder = builder
                .header(ListUnsubscribe(format!("<{url}>")))
                .header(ListUnsubscribePost);
        }
        let text = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(email.text.clone());
        let message = match &email.html {
            Some(html) => builder.multipart(
                MultiPart::alternative().singlepart(text).singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html.clone()),
                ),
            ),
            None => builder.singlepart(text),
        }
        .map_err(|error| MailError::Build(error.to_string()))?;
        Ok(Outgoing {
            message_id,
            from: self.address.clone(),
            to: email.to.clone(),
            bytes: message.formatted(),
        })
    }

    /// `<hash of the key>@<sender's domain>`: the same for every rendering of one message.
    fn message_id(&self, key: &str) -> String {
        let digest = Sha256::digest(key.as_bytes());
        let hex: String = digest[..16]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        format!("{hex}@{}", self.address.domain())
    }
}

/// `text` on one line: control characters (CR, LF, tabs…) become spaces, runs of spaces one.
fn single_line(text: &str) -> String {
    text.split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn check_url(url: &str) -> Result<(), MailError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let scheme_ok = rest.is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    let characters_ok = url
        .bytes()
        .all(|byte| byte.is_ascii_graphic() && byte != b'<' && byte != b'>');
    if scheme_ok && characters_ok && url.len() < 900 {
        Ok(())
    } else {
        Err(MailError::UnsubscribeUrl)
    }
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("text_bytes", &self.text.len())
            .field("html_bytes", &self.html.as_ref().map(String::len))
            .field("unsubscribe", &self.unsubscribe.as_ref().map(|_| "…"))
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("message_id", &self.message_id)
            .field("to", &self.to)
            .field("bytes", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// `List-Unsubscribe: <URL>` (RFC 2369).
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(text: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(text.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender() -> Sender {
        let address = "digest@papers.example.org".parse().expect("valid");
        Sender::new("Paperboy", address).expect("valid sender")
    }

    fn email() -> Email {
        Email {
            to: "Ada@Example.org".parse().expect("valid"),
            subject: "3 new papers on diffusion models".into(),
            text: "Trending today\n\n1. A paper\n".into(),
            html: Some("<p>Trending today</p>".into()),
            unsubscribe: Some("https://papers.example.org/unsubscribe/abc_DEF-123".into()),
            key: "digest:42:2026-11-28".into(),
        }
    }

    fn headers(outgoing: &Outgoing) -> String {
        let text = String::from_utf8(outgoing.bytes.clone()).expect("ASCII message");
        text.split("\r\n\r\n").next().unwrap_or_default().to_owned()
    }

    #[test]
    fn renders_headers_and_both_parts() {
        let date = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
        let outgoing = sender().render(&email(), date).expect("renders");
        let head = headers(&outgoing);
        for expected in [
            "From: Paperboy <digest@papers.example.org>",
            "To: ada@example.org",
            "Subject: 3 new papers on diffusion models",
            "List-Unsubscribe: <https://papers.example.org/unsubscribe/abc_DEF-123>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "MIME-Version: 1.0",
            "Content-Type: multipart/alternative;",
            &format!("Message-ID: <{}>", outgoing.message_id),
            "Date: Wed, 18 Nov 2026 11:06:40 +0000",
        ] {
            assert!(head.contains(expected), "{expected:?} missing from\n{head}");
        }
        assert!(outgoing.message_id.ends_with("@papers.example.org"));
        let body = String::from_utf8(outgoing.bytes.clone()).expect("ASCII");
        assert!(body.contains("Content-Type: text/plain; charset=utf-8"));
        assert!(body.contains("Content-Type: text/html; charset=utf-8"));
        assert_eq!(outgoing.to.as_str(), "ada@example.org");
        assert_eq!(outgoing.from.as_str(), "digest@papers.example.org");
    }

    #[test]
    fn the_same_key_renders_the_same_message_id() {
        let date = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
        let first = sender().render(&email(), date).expect("renders");
        let again = sender().render(&email(), date).expect("renders");
        assert_eq!(first.message_id, again.message_id);
        let other = Email {
            key: "digest:42:2026-11-29".into(),
            ..email()
        };
        let other = sender().render(&other, date).expect("renders");
        assert_ne!(first.message_id, other.message_id);
        // MIME boundaries are random, so the bytes of two renderings differ: what is queued is
        // one rendering, sent as it is every time.
    }

    #[test]
    fn debug_output_hides_addresses_and_links() {
        let date = SystemTime::UNIX_EPOCH;
        let shown = format!(
            "{:?} {:?}",
            email(),
            sender().render(&email(), date).expect("renders")
        );
        assert!(!shown.contains("ada@example.org"), "{shown}");
        assert!(!shown.contains("abc_DEF-123"), "{shown}");
        assert!(shown.contains("a…@example.org"), "{shown}");
    }

    #[test]
    fn nothing_typed_can_add_a_header() {
        let sneaky = Email {
            subject: "papers\r\nBcc: eve@example.org\nX-Evil: 1".into(),
            ..email()
        };
        let outgoing = sender()
            .render(&sneaky, SystemTime::now())
            .expect("renders");
        let head = headers(&outgoing);
        assert!(!head.contains("\r\nBcc:"), "{head}");
        assert!(!head.contains("\nX-Evil"), "{head}");
        assert!(
            head.contains("Subject: papers Bcc: eve@example.org X-Evil: 1"),
            "{head}"
        );
        for bad in [
            "https://x.example/u>\r\nBcc: eve@example.org",
            "https://x.example/a b",
            "javascript:alert(1)",
            "mailto:eve@example.org",
            "https://",
            "https:///path",
        ] {
            let email = Email {
                unsubscribe: Some(bad.into()),
                ..email()
            };
            assert!(
                matches!(
                    sender().render(&email, SystemTime::now()),
                    Err(MailError::UnsubscribeUrl)
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn non_ascii_subjects_and_names_are_encoded() {
        let address = "digest@papers.example.org".parse().expect("valid");
        let sender = Sender::new("Paperboy — Lab\r\nBcc: x", address).expect("valid");
        let email = Email {
            subject: "Neue Arbeiten über Diffusion".into(),
            html: None,
            unsubscribe: None,
            ..email()
        };
        let outgoing = sender.render(&email, SystemTime::now()).expect("renders");
        assert!(
            outgoing.bytes.is_ascii(),
            "headers and body are 7-bit after encoding"
        );
        let head = headers(&outgoing);
        assert!(head.contains("Subject: Neue Arbeiten =?utf-8?b?"), "{head}");
        assert!(head.contains("From: =?utf-8?b?"), "{head}");
        assert!(!head.contains("\r\nBcc:"), "{head}");
        assert!(!head.contains("List-Unsubscribe"));
        assert!(
            head.contains("Content-Type: text/plain; charset=utf-8"),
            "{head}"
        );
    }
}
