//! Email addresses, parsed once and kept out of logs.
//!
//! Subscriptions and sign-in links are keyed by address, so the same person typing `Ada@Example.org`
//! and ` ada@example.org` must be one subscriber: an [`EmailAddress`] is trimmed and lower-cased
//! when parsed. (The standard lets the part before the `@` be case-sensitive; no mail provider in
//! use treats it so, and two subscriptions for one mailbox would be worse.) What is accepted is
//! the everyday form — dot-separated words of letters, digits and ``!#$%&'*+/=?^_`{|}~-`` before
//! the `@`, a domain of at least two labels after it, ASCII only — so that an address can be put
//! into a mail header without quoting or encoding, and nothing that could break a header (a line
//! break, a space, a quote, a comma) ever gets through.
//!
//! Addresses are personal data: `Debug` shows only a masked form (`a…@example.org`), and parse
//! errors never repeat the input, so neither can reach a log by accident. [`EmailAddress::as_str`]
//! is for the places that need the whole address: the store and the mail envelope.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest address that fits an SMTP path (RFC 5321, 4.5.3.1.3).
const MAX_LENGTH: usize = 254;
/// The longest part before the `@` (RFC 5321, 4.5.3.1.1).
const MAX_LOCAL_LENGTH: usize = 64;
/// The longest domain label (RFC 1035).
const MAX_LABEL_LENGTH: usize = 63;

/// A valid email address in normal form: trimmed and lower-cased.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EmailAddress(String);

/// Why a string is not an email address. The message never contains the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an email address: {0}")]
pub struct EmailError(&'static str);

impl EmailAddress {
    /// The whole address, for the store and the mail envelope; log [`EmailAddress::masked`].
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain, after the `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }

    /// The mailbox that receives the address's mail, for limits on how much one person is sent:
    /// lower-cased, with a `+tag` left out (`Ada+news@Example.org` → `ada@example.org`), since
    /// nearly every mail provider delivers every tag to the one mailbox.
    pub fn mailbox(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or((&self.0, ""));
        let local = local.split_once('+').map_or(local, |(base, _)| base);
        format!("{}@{}", local.to_lowercase(), domain.to_lowercase())
    }

    /// The address with all but the first character before the `@` hidden, for logs and pages
    /// that confirm where a mail went: `a…@example.org`.
    pub fn masked(&self) -> String {
        let first = self.0.chars().next().unwrap_or('?');
        format!("{first}…@{}", self.domain())
    }
}

impl FromStr for EmailAddress {
    type Err = EmailError;

    fn from_str(input: &str) -> Result<Self, EmailError> {
        let address = input.trim();
        if address.is_empty() {
            return Err(EmailError("it is empty"));
        }
        if address.len() > MAX_LENGTH {
            return Err(EmailError("it is longer than 254 characters"));
        }
        if !address.is_ascii() {
            return Err(EmailError(
                "only ASCII addresses are accepted (write an international domain in its xn-- form)",
            ));
        }
        let address = address.to_ascii_lowercase();
        let Some((local, domain)) = address.split_once('@') else {
            return Err(EmailError("it has no @"));
        };
        if domain.contains('@') {
            return Err(EmailError("it has more than one @"));
        }
        check_local_part(local)?;
        check_domain(domain)?;
        Ok(EmailAddress(address))
    }
}

fn check_local_part(local: &str) -> Result<(), EmailError> {
    if local.is_empty() {
        return Err(EmailError("nothing comes before the @"));
    }
    if local.len() > MAX_LOCAL_LENGTH {
        return Err(EmailError(
            "the part before the @ is longer than 64 characters",
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    for word in local.split('.') {
        if word.is_empty() {
            return Err(EmailError(
                "the part before the @ starts or ends with a dot, or has two in a row",
            ));
        }
        if !word.chars().all(allowed) {
            return Err(EmailError(
                "the part before the @ has a character addresses cannot have here (a space, quote, comma, bracket or control character)",
            ));
        }
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), EmailError> {
    if domain.is_empty() {
        return Err(EmailError("nothing comes after the @"));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(EmailError("the domain has no dot (as in example.org)"));
    }
    for label in &labels {
        if label.is_empty() {
            return Err(EmailError(
                "the domain starts or ends with a dot, or has two in a row",
            ));
        }
        if label.len() > MAX_LABEL_LENGTH {
            return Err(EmailError(
                "a part of the domain is longer than 63 characters",
            ));
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(EmailError(
                "the domain may only have letters, digits, hyphens and dots",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(EmailError(
                "a part of the domain starts or ends with a hyphen",
            ));
        }
    }
    if labels
        .last()
        .is_some_and(|top| top.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(EmailError("the domain ends in a number, not a name"));
    }
    Ok(())
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.masked())
    }
}

impl Serialize for EmailAddress {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EmailAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_case_name_one_mailbox() {
        let address = |text: &str| text.parse::<EmailAddress>().map(|a| a.mailbox());
        assert_eq!(
            address("Ada+news@Example.org"),
            Ok("ada@example.org".to_owned())
        );
        assert_eq!(address("ada@example.org"), Ok("ada@example.org".to_owned()));
        assert_eq!(
            address("ada+a+b@example.org"),
            Ok("ada@example.org".to_owned())
        );
    }

    fn parse(input: &str) -> Result<String, EmailError> {
        input.parse::<EmailAddress>().map(|a| a.as_str().to_owned())
    }

    #[test]
    fn everyday_addresses_are_accepted_in_normal_form() {
        for (input, normal) in [
            ("ada@example.org", "ada@example.org"),
            ("  Ada.Lovelace@Example.ORG\n", "ada.lovelace@example.org"),
            (
                "first+papers@mail.example.co.uk",
                "first+papers@mail.example.co.uk",
            ),
            ("o'brien@example.ie", "o'brien@example.ie"),
            (
                "x_y-z@sub-domain.example.com",
                "x_y-z@sub-domain.example.com",
            ),
            ("a@b.io", "a@b.io"),
            ("user@xn--bcher-kva.example", "user@xn--bcher-kva.example"),
        ] {
            assert_eq!(parse(input).as_deref(), Ok(normal), "{input:?}");
        }
    }

    #[test]
    fn malformed_addresses_are_refused_with_the_reason() {
        let long_local = format!("{}@example.org", "a".repeat(65));
        let long_label = format!("a@{}.org", "b".repeat(64));
        let long_address = format!("a@{}.org", vec!["b".repeat(60); 5].join("."));
        for (input, reason) in [
            ("", "empty"),
            ("   ", "empty"),
            ("ada.example.org", "no @"),
            ("ada@@example.org", "more than one @"),
            ("ada@example@org", "more than one @"),
            ("@example.org", "nothing comes before"),
            ("ada@", "nothing comes after"),
            ("ada@localhost", "no dot"),
            (".ada@example.org", "dot"),
            ("ada.@example.org", "dot"),
            ("a..da@example.org", "two in a row"),
            ("ada@example..org", "two in a row"),
            ("ada@.example.org", "starts or ends with a dot"),
            ("ada@example.org.", "starts or ends with a dot"),
            ("ada lovelace@example.org", "a space"),
            ("\"ada\"@example.org", "quote"),
            ("ada,bob@example.org", "comma"),
            ("<ada@example.org>", "bracket"),
            ("ada@exa_mple.org", "letters, digits"),
            ("ada@-example.org", "hyphen"),
            ("ada@example-.org", "hyphen"),
            ("ada@127.0.0.1", "number"),
            ("ada@[127.0.0.1]", "letters, digits"),
            ("adä@example.org", "ASCII"),
            ("ada@bücher.example", "ASCII"),
            (long_local.as_str(), "64"),
            (long_label.as_str(), "63"),
            (long_address.as_str(), "254"),
        ] {
            let error = parse(input).expect_err(input);
            assert!(
                error.to_string().contains(reason),
                "{input:?}: {error} (expected it to mention {reason:?})"
            );
        }
    }

    /// Nothing that could end a mail header or start a new one gets into an address.
    #[test]
    fn header_breaking_characters_never_pass() {
        for bad in [
            "\r", "\n", "\r\n", "\0", "\t", " ", ":", ";", ",", "<", ">", "\"", "\\",
        ] {
            for input in [
                format!("ada{bad}@example.org"),
                format!("ada@exam{bad}ple.org"),
                format!("ada@example.org{bad}x"),
            ] {
                assert!(parse(&input).is_err(), "{input:?} was accepted");
            }
        }
    }

    #[test]
    fn errors_and_debug_output_never_show_the_whole_address() {
        let address: EmailAddress = "Ada.Lovelace@Example.org".parse().expect("valid");
        assert_eq!(address.masked(), "a…@example.org");
        assert_eq!(format!("{address:?}"), "EmailAddress(a…@example.org)");
        assert_eq!(address.domain(), "example.org");
        let error = parse("ada.lovelace example.org").expect_err("no @");
        assert!(!error.to_string().contains("lovelace"));
    }

    #[test]
    fn json_round_trips_and_rejects_invalid_addresses() {
        let address: EmailAddress = serde_json::from_str("\"Ada@Example.org\"").expect("valid");
        assert_eq!(
            serde_json::to_string(&address).expect("serialises"),
            "\"ada@example.org\""
        );
        let error = serde_json::from_str::<EmailAddress>("\"ada\"").expect_err("invalid");
        assert!(
            error
                .to_string()
                .contains("not an email address: it has no @"),
            "{error}"
        );
    }
}
