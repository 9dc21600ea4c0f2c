//! IMDSv2 session tokens: stateless, so the PUT that botocore and JS send before every fetch
//! costs one HMAC and no storage.
//!
//! A token is `hex::encode(expiry_be64 || HMAC-SHA256(key, domain || listener || expiry_be64))`: 80
//! lowercase hex characters, a legal header value. The key is random per process, so tokens die
//! with the daemon (clients then get 401 and fetch a new one, which every SDK does). The listener
//! is bound into the MAC so a token from one listener is useless on another.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::hex;
use crate::random::Random;

/// Longest TTL a client may ask for (6 h), as on EC2.
pub(crate) const TOKEN_TTL_MAX_SECONDS: u32 = 21_600;

const DOMAIN: &[u8] = b"credvend-imds-token-v1\0";
const EXPIRY_LEN: usize = 8;
const MAC_LEN: usize = 32;

/// Why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenError {
    /// Not a token we could have issued (wrong length, not hex, bad MAC).
    Forged,
    /// Ours, but past its expiry.
    Expired,
}

/// Issues and checks tokens for one listener.
pub(crate) struct TokenIssuer {
    listener: String,
    /// The MAC keyed and fed the domain and listener once: every token clones it, saving the
    /// key schedule's two hash blocks per request.
    keyed: Hmac<Sha256>,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// An issuer with a fresh random key, for tokens bound to `listener`.
    pub(crate) fn new(random: &dyn Random, listener: impl Into<String>) -> Self {
        let mut key = [0u8; 32];
        random.fill(&mut key);
        Self::with_key(key, listener.into())
    }

    fn with_key(key: [u8; 32], listener: String) -> Self {
        let mut keyed =
            <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("hmac takes any key length");
        keyed.update(DOMAIN);
        keyed.update(listener.as_bytes());
        keyed.update(b"\0");
        Self { listener, keyed }
    }

    /// Parses a TTL header value: an integer from 1 to [`TOKEN_TTL_MAX_SECONDS`].
    pub(crate) fn parse_ttl(value: &str) -> Option<u32> {
        // `u32::from_str` accepts a leading `+`; EC2 wants plain digits.
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        value
            .parse::<u32>()
            .ok()
            .filter(|t| (1..=TOKEN_TTL_MAX_SECONDS).contains(t))
    }

    /// A token valid for `ttl_seconds` from `now`.
    pub(crate) fn issue(&self, now: OffsetDateTime, ttl_seconds: u32) -> String {
        let expiry = now.unix_timestamp().saturating_add(i64::from(ttl_seconds));
        let expiry = expiry.to_be_bytes();
        let mut raw = Vec::with_capacity(EXPIRY_LEN + MAC_LEN);
        raw.extend_from_slice(&expiry);
        raw.extend_from_slice(&self.mac(&expiry).finalize().into_bytes());
        hex::encode(&raw)
    }

    /// Checks a token presented at `now`.
    pub(crate) fn verify(&self, token: &str, now: OffsetDateTime) -> Result<(), TokenError> {
        let raw = unhex(token).ok_or(TokenError::Forged)?;
        if raw.len() != EXPIRY_LEN + MAC_LEN {
            return Err(TokenError::Forged);
        }
        let (expiry, tag) = raw.split_at(EXPIRY_LEN);
        // `verify_slice` compares in constant time.
        self.mac(expiry)
            .verify_slice(tag)
            .map_err(|_| TokenError::Forged)?;
        let mut be = [0u8; EXPIRY_LEN];
        be.copy_from_slice(expiry);
        if now.unix_timestamp() >= i64::from_be_bytes(be) {
            return Err(TokenError::Expired);
        }
        Ok(())
    }

    fn mac(&self, expiry: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(expiry);
        mac
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(2) || bytes.len() > 2 * (EXPIRY_LEN + MAC_LEN) {
        return None;
    }
    bytes
        .chunks(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-22 10:00 UTC);

    #[test]
    fn a_fresh_token_verifies_until_its_ttl_runs_out() {
        let issuer = TokenIssuer::new(&OsRandom, "imds@127.0.0.1:8169");
        let token = issuer.issue(NOW, 60);
        assert_eq!(token.len(), 80);
        assert!(axum::http::HeaderValue::from_str(&token).is_ok());
        assert_eq!(issuer.verify(&token, NOW), Ok(()));
        assert_eq!(
            issuer.verify(&token, NOW + time::Duration::seconds(59)),
            Ok(())
        );
        assert_eq!(
            issuer.verify(&token, NOW + time::Duration::seconds(60)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn tampered_foreign_and_garbage_tokens_are_forged() {
        let key = [7u8; 32];
        let issuer = TokenIssuer::with_key(key, "imds@127.0.0.1:8169".into());
        let token = issuer.issue(NOW, 60);
        // Pushing the expiry forward breaks the MAC.
        let mut longer = token.clone().into_bytes();
        longer[13] = if longer[13] == b'f' { b'e' } else { b'f' };
        let longer = String::from_utf8(longer).unwrap();
        assert_eq!(issuer.verify(&longer, NOW), Err(TokenError::Forged));
        let other_listener = TokenIssuer::with_key(key, "imds@127.0.0.1:9999".into());
        assert_eq!(other_listener.verify(&token, NOW), Err(TokenError::Forged));
        let other_process = TokenIssuer::new(&OsRandom, "imds@127.0.0.1:8169");
        assert_eq!(other_process.verify(&token, NOW), Err(TokenError::Forged));
        for junk in ["", "zz", &token[..78], &token.to_uppercase()] {
            assert_eq!(issuer.verify(junk, NOW), Err(TokenError::Forged), "{junk}");
        }
    }

    #[test]
    fn ttl_must_be_plain_digits_from_1_to_21600() {
        assert_eq!(TokenIssuer::parse_ttl("1"), Some(1));
        assert_eq!(TokenIssuer::parse_ttl("21600"), Some(21_600));
        for bad in ["0", "21601", "", "-5", "+5", "60s", " 60", "99999999999"] {
            assert_eq!(TokenIssuer::parse_ttl(bad), None, "{bad}");
        }
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = [0xab; 32];
        let issuer = TokenIssuer::with_key(key, "imds@x".into());
        let shown = format!("{issuer:?}");
        assert!(!shown.contains("abab"), "{shown}");
    }
}
