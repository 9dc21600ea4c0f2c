//! The user's `~/.aws` config and credentials files: parsing and resolution.
//!
//! [`ProfileSet::load`] reads both files (rust-ini, with the cross-SDK lexical rules of
//! docs/wire-contract.md §7) into profiles that remember where each key came from. [`ProfileSet::resolve`]
//! turns a profile name into a [`ProfileChain`]: the base credentials plus the AssumeRole hops
//! to make, in order. Nothing here does I/O beyond reading the two files.

mod error;
pub mod metadata;
mod parse;
mod report;
mod resolve;
mod scan;
pub mod shadow;
mod sso;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

pub use error::{Malformed, ProfileError};
pub use metadata::MetadataSource;
pub use report::{ProfileReport, Resolution};
pub use resolve::environment_credentials;
pub use sso::SsoConfigError;

use crate::secret::Credentials;

/// Where a key or section was found: file and 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line number.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One key's value and where it was set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Property {
    /// The value, trimmed, inline comment removed.
    pub value: String,
    /// Where it was set.
    pub location: Location,
}

/// One profile after merging the config file and the credentials file (credentials win).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    /// The profile name (`default`, or NAME from `[profile NAME]` / `[NAME]`).
    pub name: String,
    /// Lowercased key -> value. Secret values are here too: never print a `Profile` whole.
    pub properties: BTreeMap<String, Property>,
    /// Where the profile's section header was (the first one seen).
    pub location: Option<Location>,
}

/// All profiles from both files, plus the `[services NAME]` sections of the config file.
#[derive(Clone, Debug, Default)]
pub struct ProfileSet {
    /// Profiles by name.
    pub profiles: BTreeMap<String, Profile>,
    /// `[services NAME]` sections: section name -> service (lowercase, e.g. `sts`) -> key -> value.
    pub services: BTreeMap<String, BTreeMap<String, BTreeMap<String, Property>>>,
    /// `[sso-session NAME]` sections of the config file, as profiles named NAME.
    pub sso_sessions: BTreeMap<String, Profile>,
    /// Sections and keys ignored while loading (`file:line: why`), for the caller to log.
    /// They never contain a value.
    pub warnings: Vec<String>,
}

/// Paths of the two files. A missing file is an empty file.
#[derive(Clone, Debug)]
pub struct ProfilePaths {
    /// `~/.aws/config` or `$AWS_CONFIG_FILE`.
    pub config_file: PathBuf,
    /// `~/.aws/credentials` or `$AWS_SHARED_CREDENTIALS_FILE`.
    pub credentials_file: PathBuf,
}

/// Which of the two files a text comes from: they name sections differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// `~/.aws/config`: `[default]`, `[profile NAME]`, `[services NAME]`.
    Config,
    /// `~/.aws/credentials`: `[NAME]`.
    Credentials,
}

/// `credential_source` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    /// `Environment`: `AWS_ACCESS_KEY_ID` etc. of the daemon's own environment.
    Environment,
    /// `Ec2InstanceMetadata`: the instance's role, through IMDSv2.
    Ec2InstanceMetadata,
    /// `EcsContainer`: the task's role, from the container credentials endpoint.
    EcsContainer,
}

/// Where the first hop of a chain gets its credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BaseCredentials {
    /// Keys written in a profile (`aws_access_key_id` …, optionally `aws_session_token`).
    Static {
        /// The profile holding the keys.
        profile: String,
        /// The keys (long-term, or session credentials without a known expiry).
        credentials: Credentials,
        /// Where `aws_access_key_id` was set.
        location: Location,
    },
    /// `credential_source = Environment`, named in `profile`: the daemon's own environment
    /// variables, read when minting.
    Environment {
        /// The profile naming the source.
        profile: String,
        /// Where `credential_source` was set.
        location: Location,
    },
    /// `credential_source = Ec2InstanceMetadata` or `EcsContainer`, named in `profile`: the
    /// instance's or the task's credentials, fetched from `source` when minting.
    Metadata {
        /// The profile naming the source.
        profile: String,
        /// Where `credential_source` was set.
        location: Location,
        /// The endpoint, resolved from the daemon's environment and the profile.
        source: MetadataSource,
    },
    /// `credential_process = COMMAND` in `profile`: credvend runs the command at each mint
    /// and uses the credentials it prints.
    Process {
        /// The profile with `credential_process`.
        profile: String,
        /// The command line, as written. Kept as a secret because its arguments may hold one.
        command: crate::secret::Secret,
        /// Where `credential_process` was set.
        location: Location,
    },
    /// IAM Identity Center: `sso_session` (or the legacy `sso_start_url`) with
    /// `sso_account_id` and `sso_role_name`, named in `profile`.
    Sso {
        /// The profile with `sso_account_id`.
        profile: String,
        /// The session, account and role.
        source: SsoSource,
        /// Where `sso_account_id` was set.
        location: Location,
    },
}

/// An IAM Identity Center (SSO) source: the portal's role credentials for an account and a
/// permission set, fetched with the access token `aws sso login` cached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsoSource {
    /// `sso_session` (the `[sso-session NAME]` section); `None` for the legacy form, whose
    /// settings are all in the profile.
    pub session: Option<String>,
    /// `sso_start_url`.
    pub start_url: String,
    /// `sso_region`: where the portal and OIDC endpoints are.
    pub region: String,
    /// `sso_account_id`.
    pub account_id: String,
    /// `sso_role_name`.
    pub role_name: String,
    /// `sso_registration_scopes` of the session (used by `aws sso login`, shown only).
    pub registration_scopes: Vec<String>,
    /// The portal endpoint from the profile: `[services]` sso `endpoint_url`, else `endpoint_url`.
    pub portal_endpoint: Option<String>,
    /// The OIDC endpoint from the profile: `[services]` sso_oidc `endpoint_url`, else `endpoint_url`.
    pub oidc_endpoint: Option<String>,
}

/// One AssumeRole call of a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleHop {
    /// The profile with `role_arn`.
    pub profile: String,
    /// `role_arn`.
    pub role_arn: String,
    /// `role_session_name`, if set.
    pub role_session_name: Option<String>,
    /// `external_id`, if set.
    pub external_id: Option<String>,
    /// `duration_seconds`, if set.
    pub duration_seconds: Option<u32>,
    /// Where `role_arn` was set.
    pub location: Location,
}

/// `sts_regional_endpoints`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StsRegionalEndpoints {
    /// Regional endpoints (the current SDK default).
    #[default]
    Regional,
    /// The global endpoint for the legacy regions.
    Legacy,
}

/// The MFA device a chain needs codes from (`mfa_serial`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MfaDevice {
    /// `mfa_serial`: the device's ARN (or a hardware token's serial number).
    pub serial: String,
    /// The profile that set it.
    pub profile: String,
    /// Where.
    pub location: Location,
}

/// What a profile resolves to: base credentials, then role hops in call order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileChain {
    /// The profile that was asked for.
    pub profile: String,
    /// Where the first hop gets its credentials.
    pub base: BaseCredentials,
    /// AssumeRole hops, first to last; empty for a profile with only keys.
    pub hops: Vec<RoleHop>,
    /// `region` of the requested profile, if set.
    pub region: Option<String>,
    /// `sts_regional_endpoints` of the requested profile, if set.
    pub sts_regional_endpoints: Option<StsRegionalEndpoints>,
    /// The STS endpoint from the profile: `[services]` sts `endpoint_url`, else `endpoint_url`.
    pub endpoint_url: Option<String>,
    /// `mfa_serial` of the requested profile or of a profile in its chain: the base keys are
    /// turned into an MFA session (GetSessionToken with a code) that the hops are built on.
    pub mfa: Option<MfaDevice>,
}
