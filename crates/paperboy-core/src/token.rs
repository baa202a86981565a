//! Secret tokens: what links sent by email (confirm a subscription, unsubscribe, sign in) and
//! session cookies carry.
//!
//! A [`Token`] is 256 bits from the operating system's random source, written in URL-safe
//! base64 (43 characters), so it can go into a link or a cookie as it is. Only its
//! [`TokenHash`] (SHA-256) is ever stored: a copy of the database gives no working link. Looking
//! a token up by its hash also needs no constant-time comparison, since what an attacker could
//! learn from timing is a prefix of a hash of a secret they do not have.
//!
//! Tokens are redacted in `Debug`, and parse errors never repeat the input, so they stay out of
//! logs.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;
/// Characters of a token's text: 32 bytes in unpadded base64.
const TOKEN_LENGTH: usize = 43;

/// A secret token.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

/// What is stored in place of a [`Token`]: its SHA-256 hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

/// Why no token could be made or read. The messages never contain the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the link or token is malformed (it may have been cut short when copied)")]
    Malformed,
    #[error("the operating system's random source failed: {0}")]
    Random(String),
}

impl Token {
    /// A new random token.
    pub fn generate() -> Result<Token, TokenError> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes).map_err(|error| TokenError::Random(error.to_string()))?;
        Ok(Token(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The token's text, for a link or a cookie.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hash to store and to look the token up by.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }

    /// A second secret derived from this one for `purpose` (a session's form token): only the
    /// token's holder can compute it, and it differs from the stored [`TokenHash`], so a copy
    /// of the database does not give it either.
    pub fn derived(&self, purpose: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(purpose.as_bytes());
        hasher.update([0]);
        hasher.update(self.0.as_bytes());
        URL_SAFE_NO_PAD.encode(hasher.finalize())
    }
}

/// Compares two secrets in time that depends only on their lengths.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |difference, (x, y)| difference | (x ^ y))
            == 0
}

impl FromStr for Token {
    type Err = TokenError;

    /// Reads a token from a link or cookie: exactly 43 URL-safe base64 characters that decode
    /// to 32 bytes. Anything else is refused before it reaches the store.
    fn from_str(input: &str) -> Result<Token, TokenError> {
        if input.len() != TOKEN_LENGTH {
            return Err(TokenError::Malformed);
        }
        match URL_SAFE_NO_PAD.decode(input) {
            Ok(bytes) if bytes.len() == TOKEN_BYTES => Ok(Token(input.to_owned())),
            _ => Err(TokenError::Malformed),
        }
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(…)")
    }
}

impl TokenHash {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hash in lower-case hex (an outbox key names its mail by it).
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// The hash as stored, from its bytes; `None` unless there are exactly 32.
    pub fn from_slice(bytes: &[u8]) -> Option<TokenHash> {
        bytes.try_into().ok().map(TokenHash)
    }
}

impl fmt::Debug for TokenHash {
    /// The first four bytes in hex: enough to tell hashes apart in a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash(")?;
        for byte in &self.0[..4] {
            write!(f, "{byte:02x}")?;
        }
        write!(f, "…)")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn derived_secrets_differ_by_purpose_and_from_the_hash() {
        let token = Token::generate().expect("random source");
        let form = token.derived("form");
        assert_eq!(form, token.derived("form"));
        assert_ne!(form, token.derived("other"));
        assert_ne!(form, URL_SAFE_NO_PAD.encode(token.hash().as_bytes()));
        assert_ne!(
            form,
            Token::generate().expect("random source").derived("form")
        );
        assert!(same_secret(&form, &token.derived("form")));
        assert!(!same_secret(&form, &token.derived("other")));
        assert!(!same_secret(&form, &form[1..]));
    }

    #[test]
    fn tokens_are_distinct_url_safe_and_read_back() {
        let tokens: Vec<Token> = (0..1000)
            .map(|_| Token::generate().expect("random source"))
            .collect();
        let distinct: HashSet<&str> = tokens.iter().map(Token::as_str).collect();
        assert_eq!(distinct.len(), tokens.len());
        for token in &tokens {
            assert_eq!(token.as_str().len(), TOKEN_LENGTH);
            assert!(
                token
                    .as_str()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{}",
                token.as_str()
            );
            let read: Token = token.as_str().parse().expect("a generated token parses");
            assert_eq!(&read, token);
            assert_eq!(read.hash(), token.hash());
        }
    }

    #[test]
    fn the_hash_is_sha256_of_the_text() {
        let token: Token = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            .parse()
            .expect("43 base64 characters");
        // SHA-256 of the 43 'A's, from `printf %s AAA…A | sha256sum`.
        let expected = "0f007385b6f9d4b7eeb2748605afe1a984a0a3bfa3f014d09e2a784ce9e5cd1a";
        let hex: String = token
            .hash()
            .as_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(hex, expected);
        let round_trip = TokenHash::from_slice(token.hash().as_bytes()).expect("32 bytes");
        assert_eq!(round_trip, token.hash());
        assert_eq!(TokenHash::from_slice(&[0; 31]), None);
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = Token::generate().expect("random source");
        let cut = &good.as_str()[..42];
        let long = format!("{}A", good.as_str());
        let bad_character = format!("{}+", &good.as_str()[..42]);
        let multibyte = format!("{}é", &good.as_str()[..41]);
        for input in [
            "",
            cut,
            long.as_str(),
            bad_character.as_str(),
            multibyte.as_str(),
        ] {
            let error = input.parse::<Token>().expect_err(input);
            assert_eq!(error, TokenError::Malformed);
        }
        // The last of 43 characters holds 4 bits of the 32nd byte and 2 left over, which must
        // be 0: 'B' (000001) sets one, so the text is not a token's canonical form.
        let mut non_canonical = good.as_str()[..42].to_owned();
        non_canonical.push('B');
        assert_eq!(non_canonical.parse::<Token>(), Err(TokenError::Malformed));
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let token = Token::generate().expect("random source");
        assert_eq!(format!("{token:?}"), "Token(…)");
        let hash = format!("{:?}", token.hash());
        assert!(hash.starts_with("TokenHash(") && hash.len() == "TokenHash(01234567…)".len());
    }
}
