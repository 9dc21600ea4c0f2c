//! Secret material and the credential types that carry it.
//!
//! Every secret (secret access key, session token, ECS auth token) lives in a [`Secret`], whose
//! `Debug` and `Display` print a fixed marker. Code that needs the bytes calls
//! [`Secret::expose`], which makes each use greppable. Access key ids are not secret, but logs
//! and listings show only their last four characters ([`mask_key_id`]).

use std::fmt;

use time::OffsetDateTime;

/// A string that must never reach a log, an error message or the audit log.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for signing or for a credential response body.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Shows only the last four characters of an access key id, as `****EKEY`.
#[must_use]
pub fn mask_key_id(key_id: &str) -> String {
    let tail: String = {
        let chars: Vec<char> = key_id.chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    };
    format!("****{tail}")
}

/// A set of AWS credentials: long-term keys, or session credentials with a token and expiry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `AKIA…` for long-term keys, `ASIA…` for session credentials.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// Present for session credentials.
    pub session_token: Option<Secret>,
    /// When session credentials stop working; `None` for long-term keys.
    pub expiration: Option<OffsetDateTime>,
}

impl Credentials {
    /// Whether these are session credentials (they carry a token).
    #[must_use]
    pub fn is_session(&self) -> bool {
        self.session_token.is_some()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &mask_key_id(&self.access_key_id))
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token)
            .field("expiration", &self.expiration)
            .finish()
    }
}

/// Constant-time equality of two byte strings, for comparing tokens and capability ids (the
/// length is not secret: tokens have a fixed length).
#[must_use]
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_compare_is_equality() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert!(ct_eq(b"", b""));
    }

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let creds = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new(SECRET),
            session_token: Some(Secret::new("TOKEN-MARKER")),
            expiration: None,
        };
        let shown = format!("{creds:?} {} {:#?}", creds.secret_access_key, creds);
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains("TOKEN-MARKER"), "{shown}");
        assert!(!shown.contains("AKIDEXAMPLE"), "{shown}");
        assert!(shown.contains("****MPLE"), "{shown}");
    }

    #[test]
    fn masking_keeps_the_last_four_characters() {
        assert_eq!(mask_key_id("AKIAIOSFODNN7EXAMPLE"), "****MPLE");
        assert_eq!(mask_key_id("AB"), "****AB");
        assert_eq!(mask_key_id(""), "****");
    }
}
