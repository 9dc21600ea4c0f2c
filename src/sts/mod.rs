//! STS: the AssumeRole, GetSessionToken and GetCallerIdentity calls credvend makes.
//!
//! [`Sts`] is the seam: the real [`client::StsClient`] signs form bodies with our SigV4 code and
//! sends them over HTTPS; tests put a fake behind the same trait. Requests and results are
//! plain types here; the wire (form encoding, XML) lives in `client` and `xml`.

pub mod client;
pub mod endpoint;
mod error;
mod form;
mod tls;
mod xml;

use std::future::Future;
use std::pin::Pin;

pub use endpoint::Endpoint;
pub use error::{StsError, StsErrorKind};

use crate::secret::{Credentials, Secret};

/// A boxed, sendable future: keeps [`Sts`] usable as `dyn Sts`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Parameters of `AssumeRole`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssumeRoleParams {
    /// `RoleArn`.
    pub role_arn: String,
    /// `RoleSessionName`.
    pub role_session_name: String,
    /// `DurationSeconds`; STS defaults to 3600.
    pub duration_seconds: Option<u32>,
    /// `ExternalId`.
    pub external_id: Option<String>,
    /// `SerialNumber` of the MFA device.
    pub serial_number: Option<String>,
    /// `TokenCode` from the MFA device.
    pub token_code: Option<Secret>,
    /// `Policy`: an inline session policy (JSON).
    pub policy: Option<String>,
    /// `Tags.member.N`: session tags, key and value.
    pub tags: Vec<(String, String)>,
    /// `SourceIdentity`.
    pub source_identity: Option<String>,
}

/// Parameters of `GetSessionToken`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GetSessionTokenParams {
    /// `DurationSeconds`; STS defaults to 43200.
    pub duration_seconds: Option<u32>,
    /// `SerialNumber` of the MFA device.
    pub serial_number: Option<String>,
    /// `TokenCode` from the MFA device.
    pub token_code: Option<Secret>,
}

/// What `AssumeRole` returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssumedRole {
    /// Session credentials (always with a token and an expiration).
    pub credentials: Credentials,
    /// `AssumedRoleUser/Arn`: `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`.
    pub assumed_role_arn: String,
    /// `AssumedRoleUser/AssumedRoleId`.
    pub assumed_role_id: String,
    /// `ResponseMetadata/RequestId`, when STS sent one.
    pub request_id: Option<String>,
}

impl AssumedRole {
    /// The account id: field 5 of the assumed-role ARN.
    #[must_use]
    pub fn account_id(&self) -> Option<&str> {
        account_of_arn(&self.assumed_role_arn)
    }
}

/// What `GetSessionToken` returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionToken {
    /// Session credentials (always with a token and an expiration).
    pub credentials: Credentials,
    /// `ResponseMetadata/RequestId`, when STS sent one.
    pub request_id: Option<String>,
}

/// What `GetCallerIdentity` returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerIdentity {
    /// `UserId`.
    pub user_id: String,
    /// `Account`.
    pub account: String,
    /// `Arn`.
    pub arn: String,
    /// `ResponseMetadata/RequestId`, when STS sent one.
    pub request_id: Option<String>,
}

/// The account id in an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:…`), if it has one.
#[must_use]
pub fn account_of_arn(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// The STS operations credvend uses. One implementation talks to AWS; tests fake it.
pub trait Sts: Send + Sync + std::fmt::Debug {
    /// `AssumeRole`, signed with `credentials`.
    fn assume_role<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        credentials: &'a Credentials,
        params: &'a AssumeRoleParams,
    ) -> BoxFuture<'a, Result<AssumedRole, StsError>>;

    /// `GetSessionToken`, signed with long-term `credentials`.
    fn get_session_token<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        credentials: &'a Credentials,
        params: &'a GetSessionTokenParams,
    ) -> BoxFuture<'a, Result<SessionToken, StsError>>;

    /// `GetCallerIdentity`, signed with `credentials`.
    fn get_caller_identity<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        credentials: &'a Credentials,
    ) -> BoxFuture<'a, Result<CallerIdentity, StsError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_is_the_fifth_arn_field() {
        assert_eq!(
            account_of_arn("arn:aws:sts::123456789012:assumed-role/r/s"),
            Some("123456789012")
        );
        assert_eq!(account_of_arn("arn:aws:s3:::bucket"), None);
        assert_eq!(account_of_arn("nonsense"), None);
    }
}
