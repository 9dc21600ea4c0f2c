//! What minting produces: each step of a chain with its credentials, the whole result, and
//! the point from which an interrupted chain can be resumed.

use time::OffsetDateTime;

use crate::profile::ProfileChain;
use crate::secret::Credentials;
use crate::sts::{self, Endpoint};

/// How a step got its credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// `AssumeRole` for a role hop.
    AssumeRole,
    /// `GetSessionToken` for a profile with long-term keys and no role.
    GetSessionToken,
    /// Session keys from the profile or environment, used as they are (no STS call).
    AsGiven,
}

/// One step of a chain that produced credentials. Holds no raw secret (`Credentials` redacts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MintedStep {
    /// How the credentials were obtained.
    pub kind: StepKind,
    /// The profile the step belongs to (the hop's profile, or the base profile).
    pub profile: String,
    /// The role assumed, for AssumeRole steps.
    pub role_arn: Option<String>,
    /// The `RoleSessionName` sent, for AssumeRole steps.
    pub session_name: Option<String>,
    /// `AssumedRoleUser/Arn`, for AssumeRole steps.
    pub assumed_role_arn: Option<String>,
    /// The credentials (access key id and expiration are public; secrets redact).
    pub credentials: Credentials,
    /// The STS request id, when STS sent one.
    pub request_id: Option<String>,
    /// The `SourceIdentity` sent, for AssumeRole steps when one is configured.
    pub source_identity: Option<String>,
}

impl MintedStep {
    /// The access key id of the step's credentials.
    #[must_use]
    pub fn access_key_id(&self) -> &str {
        &self.credentials.access_key_id
    }

    /// When the step's credentials expire (`None` for keys used as given).
    #[must_use]
    pub fn expiration(&self) -> Option<OffsetDateTime> {
        self.credentials.expiration
    }
}

/// The whole chain minted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Minted {
    /// The profile asked for.
    pub profile: String,
    /// Every step, in call order (one per hop; one GetSessionToken or as-given step otherwise).
    pub steps: Vec<MintedStep>,
    /// The credentials to hand out: those of the last step.
    pub credentials: Credentials,
    /// The account of the final credentials, when the last step was an AssumeRole.
    pub account_id: Option<String>,
    /// The role of the last hop, if any.
    pub role_arn: Option<String>,
    /// When the last step finished (by the injected clock).
    pub issued_at: OffsetDateTime,
    /// The STS endpoint the chain was minted at.
    pub endpoint: Endpoint,
}

/// Where to start minting: from the base credentials, or from a cached intermediate hop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resume {
    /// The index of the hop to call next (>= 1).
    pub next_hop: usize,
    /// Credentials of hop `next_hop - 1`, still valid.
    pub credentials: Credentials,
}

impl Minted {
    /// Assembles the result of a full run of `chain`.
    pub(super) fn from_steps(
        chain: &ProfileChain,
        endpoint: Endpoint,
        steps: Vec<MintedStep>,
        issued_at: OffsetDateTime,
    ) -> Self {
        let last = steps
            .last()
            .expect("a successful mint has at least one step");
        Self {
            profile: chain.profile.clone(),
            credentials: last.credentials.clone(),
            account_id: last
                .assumed_role_arn
                .as_deref()
                .and_then(sts::account_of_arn)
                .map(str::to_owned),
            role_arn: last.role_arn.clone(),
            issued_at,
            endpoint,
            steps,
        }
    }
}
