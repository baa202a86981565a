//! Manage and unsubscribe links that work without signing in and cannot be forged.
//!
//! Every digest carries a link to its subscriber's settings, which is also the one-click
//! unsubscribe URL. A random token per mail, stored hashed, would cost a row per mail sent (tens
//! of millions a year on a large list) and die when the rows are pruned; an old digest's
//! unsubscribe link must keep working. So the link carries the subscriber's id and link
//! generation with an HMAC-SHA256 of them under a server key (kept in the store, made on first
//! use): `base64url(id ‖ generation ‖ first 16 bytes of the MAC)`. Changing one bit of the id
//! breaks the MAC, so nobody can make a link for another address; bumping the generation
//! revokes every link sent so far.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use paperboy_core::subscription::SubscriberId;
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

/// Bytes of the MAC kept in a link: 128 bits, beyond guessing.
const MAC_BYTES: usize = 16;
/// Bytes of a link token: id (8), generation (8), MAC.
const TOKEN_BYTES: usize = 16 + MAC_BYTES;
/// What separates these MACs from any other use of the key.
const PURPOSE: &[u8] = b"paperboy manage link v1";

/// Signs and checks manage links.
#[derive(Clone)]
pub struct LinkSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner(…)")
    }
}

impl LinkSigner {
    /// A signer with `key` (at least 32 random bytes).
    pub fn new(key: Vec<u8>) -> LinkSigner {
        LinkSigner { key }
    }

    fn mac(&self, body: &[u8]) -> HmacSha256 {
        // HMAC takes a key of any length.
        let mut mac = HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(PURPOSE);
        mac.update(body);
        mac
    }

    /// The token for a subscriber's links.
    pub fn token(&self, id: SubscriberId, generation: i64) -> String {
        let mut bytes = Vec::with_capacity(TOKEN_BYTES);
        bytes.extend_from_slice(&id.0.to_be_bytes());
        bytes.extend_from_slice(&generation.to_be_bytes());
        let tag = self.mac(&bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag[..MAC_BYTES]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The subscriber and generation a token names, if it is one this key made. The caller
    /// still checks the generation against the subscriber's.
    pub fn verify(&self, token: &str) -> Option<(SubscriberId, i64)> {
        if token.len() > 64 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() != TOKEN_BYTES {
            return None;
        }
        let (body, tag) = bytes.split_at(16);
        // Compared in constant time.
        self.mac(body).verify_truncated_left(tag).ok()?;
        let id = i64::from_be_bytes(body[..8].try_into().ok()?);
        let generation = i64::from_be_bytes(body[8..].try_into().ok()?);
        Some((SubscriberId(id), generation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_under_their_key_and_unaltered() {
        let signer = LinkSigner::new(vec![7; 32]);
        let token = signer.token(SubscriberId(42), 3);
        assert_eq!(signer.verify(&token), Some((SubscriberId(42), 3)));
        assert_eq!(LinkSigner::new(vec![8; 32]).verify(&token), None);

        // Every single-character change is refused.
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for position in 0..token.len() {
            for replacement in alphabet.chars() {
                let mut forged: Vec<char> = token.chars().collect();
                if forged[position] == replacement {
                    continue;
                }
                forged[position] = replacement;
                let forged: String = forged.into_iter().collect();
                // A change in the last character's unused bits decodes to the same bytes.
                if URL_SAFE_NO_PAD.decode(&forged).ok() == URL_SAFE_NO_PAD.decode(&token).ok() {
                    continue;
                }
                assert_eq!(signer.verify(&forged), None, "{forged}");
            }
        }
        for bad in ["", "x", &"A".repeat(43), &"A".repeat(10_000), "💥"] {
            assert_eq!(signer.verify(bad), None);
        }
    }
}
