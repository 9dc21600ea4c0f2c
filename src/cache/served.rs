//! What the cache hands out ([`Served`]), why a read can get nothing ([`CacheError`]), and the
//! read seam the servers depend on ([`CredentialProvider`]).

use std::sync::Arc;

use time::OffsetDateTime;

use crate::secret::Credentials;
use crate::sts::BoxFuture;

/// Credentials as served to clients, with what the servers and the audit log need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    /// The profile these belong to.
    pub profile: String,
    /// Session credentials (with token and expiration).
    pub credentials: Credentials,
    /// When STS minted them (IMDS `LastUpdated`).
    pub issued_at: OffsetDateTime,
    /// The role of the last hop (`arn:aws:iam::…:role/…`), if the chain assumes one.
    pub role_arn: Option<String>,
    /// The account the credentials belong to, when known.
    pub account_id: Option<String>,
}

impl Served {
    /// When the credentials expire. Session credentials always have an expiration.
    #[must_use]
    pub fn expiration(&self) -> Option<OffsetDateTime> {
        self.credentials.expiration
    }
}

/// Why a read got no credentials.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// The profile is not one the cache serves.
    #[error("profile {0:?} is not served")]
    UnknownProfile(String),
    /// Nothing valid to serve: never fetched, or expired; carries the last error, redacted.
    #[error("no valid credentials for profile {profile:?}: {last_error}")]
    NoValidCredentials {
        /// The profile.
        profile: String,
        /// The last failure, as text with no secret in it.
        last_error: String,
    },
    /// The caller's wait bound ran out before the first fetch finished.
    #[error("credentials for profile {0:?} are still being fetched")]
    Pending(String),
}

/// What the servers need from the cache; the real cache implements it and tests fake it.
pub trait CredentialProvider: Send + Sync + std::fmt::Debug {
    /// The current credentials for `profile`, fetching them first if the profile is cold.
    fn credentials<'a>(
        &'a self,
        profile: &'a str,
    ) -> BoxFuture<'a, Result<Arc<Served>, CacheError>>;
}
