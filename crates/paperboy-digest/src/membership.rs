//! Who may sign in and get the digest: anyone (the default), addresses on the operator's
//! domains (`--allowed-email-domains`), or invited addresses only (`--invite-only`). One rule
//! for both doors, since a digest carries the site's papers as a page does, checked when an
//! address asks (sign-in, subscribing) and again whenever a digest is composed, so that a
//! subscriber from before the site was closed stops getting it.
//!
//! An invited address is one with an account: made by `paperboy users add`, invited from
//! `/admin`, or signed in before the rule was set. It is always let in, so an operator can
//! invite a guest from outside the domains. Domains match exactly and without case:
//! `lab.example` does not admit `ada@mail.lab.example`.

use std::fmt;
use std::str::FromStr;

use paperboy_core::EmailAddress;
use paperboy_store::{Store, StoreError};

/// The rule; [`Membership::default`] lets anyone in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    /// Lower-case domains whose addresses need no invitation; empty: any.
    allowed_domains: Vec<String>,
    /// Only invited addresses (the domains then admit nobody more).
    invite_only: bool,
}

/// What the rule says of one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// Refused, and the requester is told why: the allowed domains are no secret.
    OutsideDomains,
    /// Refused without saying so: the answer is the one an invited address gets, so that the
    /// site does not tell strangers who its readers are.
    NotInvited,
}

impl Membership {
    pub fn new(allowed_domains: AllowedDomains, invite_only: bool) -> Self {
        Membership {
            allowed_domains: allowed_domains.0,
            invite_only,
        }
    }

    /// Whether anyone at all may come in.
    pub fn is_open(&self) -> bool {
        !self.invite_only && self.allowed_domains.is_empty()
    }

    pub fn invite_only(&self) -> bool {
        self.invite_only
    }

    /// Whether `email` may sign in or get the digest.
    pub async fn admits(
        &self,
        store: &dyn Store,
        email: &EmailAddress,
    ) -> Result<Admission, StoreError> {
        let on_allowed_domain = self.allowed_domains.is_empty()
            || self
                .allowed_domains
                .iter()
                .any(|domain| domain.eq_ignore_ascii_case(email.domain()));
        if !self.invite_only && on_allowed_domain {
            return Ok(Admission::Admitted);
        }
        if store.user_by_email(email).await?.is_some() {
            return Ok(Admission::Admitted);
        }
        Ok(if self.invite_only {
            Admission::NotInvited
        } else {
            Admission::OutsideDomains
        })
    }

    /// Who the site is for, in words ("by invitation: …"); `None` when it is open to anyone.
    pub fn who(&self) -> Option<String> {
        if self.invite_only {
            Some("by invitation: sign in with the address you were invited at".to_owned())
        } else if !self.allowed_domains.is_empty() {
            Some(format!(
                "for addresses at {}, and invited ones",
                self.allowed_domains.join(", ")
            ))
        } else {
            None
        }
    }

    /// The message that refuses an address outside the domains.
    pub fn outside_domains_message(&self) -> String {
        format!(
            "This site takes addresses at {} only; ask its administrators for an invitation \
             to use another.",
            self.allowed_domains.join(", ")
        )
    }
}

/// A comma-separated list of mail domains, as `--allowed-email-domains` takes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedDomains(Vec<String>);

impl FromStr for AllowedDomains {
    type Err = String;

    fn from_str(list: &str) -> Result<Self, String> {
        let mut domains = Vec::new();
        for domain in list
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
        {
            let domain = domain
                .strip_prefix('@')
                .unwrap_or(domain)
                .to_ascii_lowercase();
            // Checked as the domain of an address would be, so that a typo is an error at
            // start rather than a site nobody can sign in to.
            if domain.len() > 253 || format!("check@{domain}").parse::<EmailAddress>().is_err() {
                return Err(format!("{domain:?} is not a mail domain"));
            }
            if !domains.contains(&domain) {
                domains.push(domain);
            }
        }
        Ok(AllowedDomains(domains))
    }
}

impl fmt::Display for AllowedDomains {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_lists_are_read_leniently_and_checked() {
        let domains: AllowedDomains = " Example.org, @lab.example ,,example.org".parse().unwrap();
        assert_eq!(domains.to_string(), "example.org,lab.example");
        assert_eq!(
            "".parse::<AllowedDomains>().unwrap(),
            AllowedDomains::default()
        );
        for bad in [
            "exa mple.org",
            "ada@example.org",
            "example..org",
            "<script>",
        ] {
            assert!(bad.parse::<AllowedDomains>().is_err(), "{bad}");
        }
    }
}
