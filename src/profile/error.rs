//! Errors of profile parsing and resolution; each names file, profile and line.
//!
//! No variant carries a property value: a line a user mistyped may hold a secret, so errors
//! show file, line, profile names and key names we know, never what was written after `=`.
//! The one exception is `source_profile`, whose value is a profile name.

use std::path::PathBuf;

use super::Location;

/// Why a line of a profile file cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// A property line before the first `[section]`.
    PropertyBeforeSection,
    /// `[profile x` without the closing `]`.
    UnterminatedSection,
    /// A property line without `=`.
    MissingEquals,
    /// A property line like `= value`.
    MissingName,
    /// A property name with a space in it: usually a missing `=` (`key value==`).
    NameWithWhitespace,
    /// An indented line right after a section header.
    ContinuationWithoutProperty,
    /// An indented sub-property line without `=` (under `sts =` and the like).
    SubPropertyMissingEquals,
    /// An indented sub-property line like `  = value`.
    SubPropertyMissingName,
    /// rust-ini read the line differently from the SDK rules (e.g. a value ending in `\`).
    IniDisagrees,
}

impl Malformed {
    fn describe(self) -> &'static str {
        match self {
            Self::PropertyBeforeSection => "property before any [section]",
            Self::UnterminatedSection => "section header must end with ']'",
            Self::MissingEquals => "expected `key = value`, found no '='",
            Self::MissingName => "property has no name before '='",
            Self::NameWithWhitespace => "property name contains whitespace (a missing '='?)",
            Self::ContinuationWithoutProperty => "indented line without a property above it",
            Self::SubPropertyMissingEquals => "expected an indented `key = value` sub-property",
            Self::SubPropertyMissingName => "sub-property has no name before '='",
            Self::IniDisagrees => {
                "line cannot be read unambiguously (the ini parser disagrees; a value ending in '\\'?)"
            }
        }
    }
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// A profile file or profile that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// A file exists but cannot be read.
    #[error("cannot read {}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line that is not valid profile-file syntax.
    #[error("{location}: malformed line: {reason}")]
    Malformed {
        /// File and line.
        location: Location,
        /// What is wrong with it.
        reason: Malformed,
    },
    /// The requested profile is in neither file.
    #[error("profile `{name}` not found (profiles: {available})")]
    UnknownProfile {
        /// The name asked for.
        name: String,
        /// The profiles that exist, comma-separated (`none` when empty).
        available: String,
    },
    /// `source_profile` names a profile that does not exist.
    #[error("{location}: profile `{profile}`: source_profile `{source_profile}` not found")]
    UnknownSourceProfile {
        /// Where `source_profile` was set.
        location: Location,
        /// The profile with the `source_profile` key.
        profile: String,
        /// The missing profile.
        source_profile: String,
    },
    /// `source_profile` links that come back to a profile already visited.
    #[error("{location}: source_profile loop: {cycle}")]
    Loop {
        /// Where the `source_profile` closing the loop was set.
        location: Location,
        /// The profiles, `a -> b -> a`.
        cycle: String,
    },
    /// A profile with both `source_profile` and `credential_source`.
    #[error(
        "{location}: profile `{profile}` sets both source_profile and credential_source; keep one"
    )]
    BothSources {
        /// Where `source_profile` was set.
        location: Location,
        /// The profile.
        profile: String,
    },
    /// `role_arn` without `source_profile` or `credential_source`.
    #[error(
        "{location}: profile `{profile}` sets role_arn but neither source_profile nor credential_source"
    )]
    RoleWithoutSource {
        /// Where `role_arn` was set.
        location: Location,
        /// The profile.
        profile: String,
    },
    /// A profile with no keys, no role and no credential source.
    #[error(
        "{location}: profile `{profile}` has no credentials (needs aws_access_key_id and aws_secret_access_key, or role_arn with source_profile or credential_source)"
    )]
    NoCredentials {
        /// The profile's section header.
        location: Location,
        /// The profile.
        profile: String,
    },
    /// One half of a key pair (or a token without a key id).
    #[error("{location}: profile `{profile}` sets {present} but not {missing}")]
    IncompleteKeys {
        /// Where the present key was set.
        location: Location,
        /// The profile.
        profile: String,
        /// The key that is set.
        present: &'static str,
        /// The key that is missing.
        missing: &'static str,
    },
    /// A `credential_source` value that is none of the three known ones.
    #[error(
        "{location}: profile `{profile}`: unknown credential_source (expected Environment, Ec2InstanceMetadata or EcsContainer)"
    )]
    UnknownCredentialSource {
        /// Where `credential_source` was set.
        location: Location,
        /// The profile.
        profile: String,
    },
    /// `credential_source = Ec2InstanceMetadata | EcsContainer` whose endpoint cannot be used.
    #[error("{location}: profile `{profile}`: credential_source {credential_source:?}: {reason}")]
    MetadataSource {
        /// Where `credential_source` was set.
        location: Location,
        /// The profile.
        profile: String,
        /// The source.
        credential_source: super::CredentialSource,
        /// Why (names variables and keys, never a token or a URL path).
        reason: super::metadata::MetadataConfigError,
    },
    /// `mfa_serial` on a chain whose base is not an IAM user's long-term keys (GetSessionToken
    /// takes nothing else).
    #[error(
        "{location}: profile `{profile}`: mfa_serial needs long-term keys (aws_access_key_id without a session token) at the start of its chain"
    )]
    MfaNeedsLongTermKeys {
        /// Where `mfa_serial` was set.
        location: Location,
        /// The profile.
        profile: String,
    },
    /// A value of the wrong shape (`duration_seconds = 1h`); the value itself is not shown.
    #[error("{location}: profile `{profile}`: {key} must be {expected}")]
    InvalidValue {
        /// Where the key was set.
        location: Location,
        /// The profile.
        profile: String,
        /// The key.
        key: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// `credential_source = Environment` without keys in the environment.
    #[error(
        "{location}: profile `{profile}`: credential_source Environment, but {missing} is not set"
    )]
    EnvironmentCredentialsMissing {
        /// Where `credential_source` was set.
        location: Location,
        /// The profile.
        profile: String,
        /// The missing variable.
        missing: &'static str,
    },
    /// An IAM Identity Center profile that is incomplete or inconsistent.
    #[error(transparent)]
    Sso(#[from] super::SsoConfigError),
}
