//! Why IAM Identity Center credentials could not be had: the cached token, the portal, the
//! OIDC refresh. Every variant that a new `aws sso login` fixes says so; none carries the
//! access token, the refresh token or the client secret.

use std::path::PathBuf;

/// Why the SSO source failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SsoError {
    /// No token file where `aws sso login` writes it.
    #[error("no cached token at {}: run `{login}`", file.display())]
    TokenMissing {
        /// The cache file looked for.
        file: PathBuf,
        /// `aws sso login --sso-session NAME` (or `--profile NAME`).
        login: String,
    },
    /// The token file is there but not a token (bad JSON, missing fields).
    #[error("the cached token {} is unusable ({reason}): run `{login}`", file.display())]
    TokenUnreadable {
        /// The cache file.
        file: PathBuf,
        /// What is wrong, without values.
        reason: String,
        /// The login command.
        login: String,
    },
    /// The token expired and could not be refreshed.
    #[error("the token expired at {expired_at}{why}: run `{login}`")]
    TokenExpired {
        /// `expiresAt`, as written in the cache.
        expired_at: String,
        /// Why no refresh helped (`, refresh failed: ...`), or empty.
        why: String,
        /// The login command.
        login: String,
    },
    /// The portal refused the token (401/403).
    #[error("the portal refused the token (HTTP {status}{detail}): run `{login}`")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// `, ErrorType: message` from the portal, or empty.
        detail: String,
        /// The login command.
        login: String,
    },
    /// Another error status from the portal or OIDC.
    #[error("{service} answered HTTP {status}{detail}")]
    Status {
        /// `GetRoleCredentials` or `CreateToken`.
        service: &'static str,
        /// The HTTP status.
        status: u16,
        /// `, ErrorType: message`, or empty.
        detail: String,
    },
    /// A 200 answer that is not what the API documents.
    #[error("{service} answered with an unusable body: {reason}")]
    InvalidResponse {
        /// `GetRoleCredentials` or `CreateToken`.
        service: &'static str,
        /// What is wrong, without values.
        reason: String,
    },
    /// The endpoint could not be reached.
    #[error("cannot reach {endpoint}: {cause}")]
    Transport {
        /// The URL.
        endpoint: String,
        /// The transport error chain.
        cause: String,
    },
    /// The endpoint did not answer in time.
    #[error("{endpoint} did not answer in time")]
    Timeout {
        /// The URL.
        endpoint: String,
    },
    /// A configured endpoint is not usable (plain HTTP off this host, not a URL).
    #[error("IAM Identity Center endpoint {url:?} {reason}")]
    Endpoint {
        /// The configured URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The HTTPS client could not be set up (trust anchors, `[aws] ca_file`).
    #[error("cannot set up HTTPS: {reason}")]
    Tls {
        /// Why.
        reason: String,
    },
    /// Neither `HOME` nor anything else says where `~/.aws/sso/cache` is.
    #[error("HOME is not set: cannot find ~/.aws/sso/cache")]
    NoHome,
}

impl SsoError {
    /// The `aws sso login ...` command that fixes this error, when a new login does.
    #[must_use]
    pub fn login(&self) -> Option<&str> {
        match self {
            Self::TokenMissing { login, .. }
            | Self::TokenUnreadable { login, .. }
            | Self::TokenExpired { login, .. }
            | Self::Refused { login, .. } => Some(login),
            _ => None,
        }
    }

    /// Whether trying again soon may help: transport trouble, timeouts, throttling, 5xx.
    /// A missing, expired or refused token waits for `aws sso login` (the cache retries
    /// permanent errors every few minutes, which picks a new login up).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } | Self::Timeout { .. } => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}
