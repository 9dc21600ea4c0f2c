//! Why a chain could not be minted: the profile (and the role of a failed hop), the STS
//! failure behind it; never a secret.

use super::process::ProcessError;
use crate::sts::StsError;

/// Why a chain could not be minted. Names the profile (and the role for a failed hop); never
/// carries a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    /// `credential_source = Environment` but the daemon's environment lacks the keys.
    #[error(
        "profile {profile:?}: credential_source Environment needs {missing} in credvend's environment"
    )]
    MissingEnvironment {
        /// The profile naming the source.
        profile: String,
        /// The variables that are missing or empty.
        missing: String,
    },
    /// The profile's `credential_process` gave no credentials.
    #[error("profile {profile:?}: credential_process failed")]
    Process {
        /// The profile with `credential_process`.
        profile: String,
        /// Why (the program, its exit status or what its output lacks; never a secret).
        #[source]
        error: ProcessError,
    },
    /// The STS endpoint could not be worked out.
    #[error("profile {profile:?}")]
    Endpoint {
        /// The profile asked for.
        profile: String,
        /// Why.
        #[source]
        error: Box<StsError>,
    },
    /// `AssumeRole` failed.
    #[error("profile {profile:?}: AssumeRole {role_arn} failed")]
    AssumeRole {
        /// The hop's profile.
        profile: String,
        /// The hop's role.
        role_arn: String,
        /// The STS failure (code, message, request id).
        #[source]
        error: Box<StsError>,
    },
    /// The chain is built on an MFA session, and there is none: a code is needed.
    #[error("profile {profile:?} needs an MFA code for {serial}: run `credvend mfa {profile}`")]
    NeedsMfaCode {
        /// The profile asked for.
        profile: String,
        /// The device (`mfa_serial`).
        serial: String,
    },
    /// `credential_source = Ec2InstanceMetadata | EcsContainer`: the endpoint gave no
    /// credentials.
    #[error("profile {profile:?}: no credentials from the metadata source")]
    Metadata {
        /// The profile naming the source.
        profile: String,
        /// What the endpoint did (never a token, a secret or a capability path).
        #[source]
        error: Box<super::metadata::MetadataError>,
    },
    /// IAM Identity Center gave no credentials (token missing, expired, refused; portal down).
    #[error("profile {profile:?}: IAM Identity Center")]
    Sso {
        /// The profile with the SSO settings.
        profile: String,
        /// Why; says to run `aws sso login` when that is the fix.
        #[source]
        error: Box<super::sso::SsoError>,
    },
    /// `GetSessionToken` failed.
    #[error("profile {profile:?}: GetSessionToken failed")]
    GetSessionToken {
        /// The profile with the keys.
        profile: String,
        /// The STS failure (code, message, request id).
        #[source]
        error: Box<StsError>,
    },
}

impl MintError {
    /// The STS failure behind this error, if STS answered (or failed to).
    #[must_use]
    pub fn sts_error(&self) -> Option<&StsError> {
        match self {
            Self::AssumeRole { error, .. } | Self::GetSessionToken { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The `aws sso login ...` command that fixes this error (for status and notifications),
    /// when it is an IAM Identity Center token that is missing, expired or refused.
    #[must_use]
    pub fn sso_login(&self) -> Option<&str> {
        match self {
            Self::Sso { error, .. } => error.login(),
            _ => None,
        }
    }

    /// Whether trying again soon may help (throttling, 5xx, timeouts, transport, garbage).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Metadata { error, .. } => error.is_retryable(),
            Self::Process { error, .. } => error.is_retryable(),
            Self::Sso { error, .. } => error.is_retryable(),
            _ => self.sts_error().is_some_and(StsError::is_retryable),
        }
    }
}
