//! What the cache tells operators about each profile: its state and its last failure. Nothing
//! here holds a secret.

use time::OffsetDateTime;

/// A failure as operators see it: no secret, STS code and request id when there are some.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorInfo {
    /// The STS error code (`AccessDenied`, `Throttling`), when STS answered with one.
    pub code: Option<String>,
    /// The whole message, naming profile and role.
    pub message: String,
    /// The STS request id, when STS sent one.
    pub request_id: Option<String>,
    /// When it happened.
    pub at: OffsetDateTime,
}

/// One profile's state, for health and status output. Holds no secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileStatus {
    /// The profile.
    pub profile: String,
    /// Why the profile could not be resolved from the files, if it could not.
    pub resolve_error: Option<String>,
    /// How the profile resolves (`role ARN via profile base (static keys ****ABCD) ...`),
    /// keys masked; `None` when it does not resolve.
    pub source: Option<String>,
    /// The role of the served credentials, else the role the chain assumes last.
    pub role_arn: Option<String>,
    /// The served access key id, masked (`****ABCD`).
    pub access_key_id: Option<String>,
    /// When the served credentials expire.
    pub expiration: Option<OffsetDateTime>,
    /// Whether reads get credentials right now (they exist and have not expired).
    pub serving: bool,
    /// When the served credentials were minted.
    pub last_refresh: Option<OffsetDateTime>,
    /// When the next renewal or retry is planned.
    pub next_refresh: Option<OffsetDateTime>,
    /// Whether an STS call is in flight.
    pub refreshing: bool,
    /// Failures since the last success (0: healthy).
    pub consecutive_failures: u32,
    /// The most recent failure, kept after recovery (see `consecutive_failures`).
    pub last_error: Option<ErrorInfo>,
}

/// Why `credvend refresh` got no new credentials.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    /// The profile is not one the cache serves.
    #[error("profile {0:?} is not served")]
    UnknownProfile(String),
    /// The files do not resolve the profile, so there is nothing to renew from.
    #[error("profile {profile:?} does not resolve: {reason}")]
    Unresolved {
        /// The profile.
        profile: String,
        /// Why, naming file and line.
        reason: String,
    },
    /// The renewal failed (the previous credentials, if any, keep serving).
    #[error("renewing profile {profile:?} failed: {}", .error.message)]
    Failed {
        /// The profile.
        profile: String,
        /// The failure, with the STS code and request id when STS answered.
        error: ErrorInfo,
    },
}
