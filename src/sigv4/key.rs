//! The signing key (the kDate → kRegion → kService → kSigning HMAC chain) and the hashes
//! SigV4 is built from.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::hex;

type HmacSha256 = Hmac<Sha256>;

/// Raw HMAC-SHA256 of `data` under `key`.
#[must_use]
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).expect("hmac takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Lowercase hex SHA-256 of `data`.
#[must_use]
pub fn hex_sha256(data: &[u8]) -> String {
    hex::encode(&Sha256::digest(data))
}

/// The derived signing key for one day, region and service. It is as sensitive as the
/// secret for that scope, so it has no `Debug`.
pub struct SigningKey([u8; 32]);

impl SigningKey {
    /// Derives the key: `datestamp` is `YYYYMMDD`.
    #[must_use]
    pub fn derive(secret_access_key: &str, datestamp: &str, region: &str, service: &str) -> Self {
        let k_secret = format!("AWS4{secret_access_key}");
        let k_date = hmac_sha256(k_secret.as_bytes(), datestamp.as_bytes());
        let k_region = hmac_sha256(&k_date, region.as_bytes());
        let k_service = hmac_sha256(&k_region, service.as_bytes());
        Self(hmac_sha256(&k_service, b"aws4_request"))
    }

    /// The hex signature of `string_to_sign`.
    #[must_use]
    pub fn sign(&self, string_to_sign: &str) -> String {
        hex::encode(&hmac_sha256(&self.0, string_to_sign.as_bytes()))
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_body_hashes_to_the_well_known_value() {
        assert_eq!(
            hex_sha256(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        assert_eq!(
            hex::encode(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_derived_key_matches_the_iam_user_guide_example() {
        // The worked example of the AWS General Reference ("Deriving the signing key").
        let key = SigningKey::derive(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(&key.0),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn the_key_does_not_show_in_debug() {
        let key = SigningKey::derive("secret", "20150830", "us-east-1", "sts");
        assert_eq!(format!("{key:?}"), "SigningKey(..)");
    }
}
