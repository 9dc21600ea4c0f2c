//! Turning a [`ProfileChain`] into session credentials through STS: the one path used by the
//! cache and by `credvend check`.
//!
//! The base credentials come from the chain (keys in a profile, or the daemon's environment);
//! each role hop is an AssumeRole signed with the previous step's credentials. A chain with no
//! hops and long-term keys goes through GetSessionToken, so the long-term keys never leave the
//! daemon. Role chaining caps every hop after the first at one hour
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html#iam-term-role-chaining>).

use time::OffsetDateTime;

use crate::clock::Clock;
use crate::config::AwsSettings;
use crate::env::Env;
use crate::profile::{BaseCredentials, CredentialSource, ProfileChain, RoleHop};
use crate::secret::{Credentials, Secret};
use crate::sts::{self, AssumeRoleParams, Endpoint, GetSessionTokenParams, Sts, StsError};

/// STS refuses longer sessions for a role assumed with role credentials.
pub const CHAINED_HOP_MAX_SECONDS: u32 = 3600;

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
}

/// Where to start minting: from the base credentials, or from a cached intermediate hop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resume {
    /// The index of the hop to call next (>= 1).
    pub next_hop: usize,
    /// Credentials of hop `next_hop - 1`, still valid.
    pub credentials: Credentials,
}

/// Why a chain could not be minted. Names the profile (and the role for a failed hop); never
/// carries a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    /// `credential_source` names a source credvend does not read yet.
    #[error("profile {profile:?}: credential_source {source_name} is not supported yet")]
    UnsupportedSource {
        /// The profile naming the source.
        profile: String,
        /// `Ec2InstanceMetadata` or `EcsContainer`.
        source_name: &'static str,
    },
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
    /// A hop sets `mfa_serial`.
    #[error("profile {profile:?}: role {role_arn} needs MFA ({mfa_serial}), not supported yet")]
    MfaRequired {
        /// The hop's profile.
        profile: String,
        /// The hop's role.
        role_arn: String,
        /// The MFA device.
        mfa_serial: String,
    },
    /// The STS endpoint could not be worked out.
    #[error("profile {profile:?}: {error}")]
    Endpoint {
        /// The profile asked for.
        profile: String,
        /// Why.
        error: Box<StsError>,
    },
    /// `AssumeRole` failed.
    #[error("profile {profile:?}: AssumeRole {role_arn} failed: {error}")]
    AssumeRole {
        /// The hop's profile.
        profile: String,
        /// The hop's role.
        role_arn: String,
        /// The STS failure (code, message, request id).
        error: Box<StsError>,
    },
    /// `GetSessionToken` failed.
    #[error("profile {profile:?}: GetSessionToken failed: {error}")]
    GetSessionToken {
        /// The profile with the keys.
        profile: String,
        /// The STS failure (code, message, request id).
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

    /// Whether trying again soon may help (throttling, 5xx, timeouts, transport, garbage).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        self.sts_error().is_some_and(StsError::is_retryable)
    }
}

/// Mints `chain` from its base credentials.
pub async fn mint(
    sts: &dyn Sts,
    chain: &ProfileChain,
    aws: &AwsSettings,
    env: &Env,
    clock: &dyn Clock,
) -> Result<Minted, MintError> {
    let mut steps = Vec::new();
    mint_steps(sts, chain, aws, env, clock, None, &mut steps).await?;
    Ok(Minted::from_steps(chain, steps, clock.now()))
}

/// Mints `chain` from `resume` (or from the base), pushing each step onto `out` as soon as it
/// succeeds, so a caller keeps the hops that worked when a later one fails.
pub async fn mint_steps(
    sts: &dyn Sts,
    chain: &ProfileChain,
    aws: &AwsSettings,
    env: &Env,
    clock: &dyn Clock,
    resume: Option<Resume>,
    out: &mut Vec<MintedStep>,
) -> Result<(), MintError> {
    // Refuse what cannot work before any STS call.
    for hop in &chain.hops {
        if let Some(serial) = &hop.mfa_serial {
            return Err(MintError::MfaRequired {
                profile: hop.profile.clone(),
                role_arn: hop.role_arn.clone(),
                mfa_serial: serial.clone(),
            });
        }
    }
    let endpoint = sts::endpoint::resolve(chain, aws).map_err(|error| MintError::Endpoint {
        profile: chain.profile.clone(),
        error: Box::new(error),
    })?;
    let (first, mut current) = match resume {
        Some(r) => (r.next_hop, r.credentials),
        None => (0, base_credentials(&chain.base, env)?),
    };
    if chain.hops.is_empty() {
        let step = if current.is_session() {
            MintedStep {
                kind: StepKind::AsGiven,
                profile: base_profile(&chain.base).to_owned(),
                role_arn: None,
                session_name: None,
                assumed_role_arn: None,
                credentials: current,
                request_id: None,
            }
        } else {
            session_token(sts, &endpoint, chain, aws, &current).await?
        };
        out.push(step);
        return Ok(());
    }
    for (index, hop) in chain.hops.iter().enumerate().skip(first) {
        let step = assume(sts, &endpoint, hop, index, aws, clock, &current).await?;
        current = step.credentials.clone();
        out.push(step);
    }
    Ok(())
}

impl Minted {
    /// Assembles the result of a full run of `chain`.
    fn from_steps(chain: &ProfileChain, steps: Vec<MintedStep>, issued_at: OffsetDateTime) -> Self {
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
            steps,
        }
    }
}

/// `DurationSeconds` for hop `index`: the hop's own, else the config's; capped after the first.
#[must_use]
pub fn hop_duration(hop: &RoleHop, index: usize, aws: &AwsSettings) -> u32 {
    let wanted = hop.duration_seconds.unwrap_or(aws.duration_seconds);
    if index == 0 {
        wanted
    } else {
        wanted.min(CHAINED_HOP_MAX_SECONDS)
    }
}

async fn assume(
    sts: &dyn Sts,
    endpoint: &Endpoint,
    hop: &RoleHop,
    index: usize,
    aws: &AwsSettings,
    clock: &dyn Clock,
    credentials: &Credentials,
) -> Result<MintedStep, MintError> {
    let session_name = hop
        .role_session_name
        .clone()
        .unwrap_or_else(|| format!("{}-{}", aws.role_session_name, clock.now().unix_timestamp()));
    let params = AssumeRoleParams {
        role_arn: hop.role_arn.clone(),
        role_session_name: session_name.clone(),
        duration_seconds: Some(hop_duration(hop, index, aws)),
        external_id: hop.external_id.clone(),
        ..AssumeRoleParams::default()
    };
    let assumed = sts
        .assume_role(endpoint, credentials, &params)
        .await
        .map_err(|error| MintError::AssumeRole {
            profile: hop.profile.clone(),
            role_arn: hop.role_arn.clone(),
            error: Box::new(error),
        })?;
    Ok(MintedStep {
        kind: StepKind::AssumeRole,
        profile: hop.profile.clone(),
        role_arn: Some(hop.role_arn.clone()),
        session_name: Some(session_name),
        assumed_role_arn: Some(assumed.assumed_role_arn),
        credentials: assumed.credentials,
        request_id: assumed.request_id,
    })
}

async fn session_token(
    sts: &dyn Sts,
    endpoint: &Endpoint,
    chain: &ProfileChain,
    aws: &AwsSettings,
    credentials: &Credentials,
) -> Result<MintedStep, MintError> {
    let profile = base_profile(&chain.base).to_owned();
    let params = GetSessionTokenParams {
        duration_seconds: Some(aws.duration_seconds),
        ..GetSessionTokenParams::default()
    };
    let token = sts
        .get_session_token(endpoint, credentials, &params)
        .await
        .map_err(|error| MintError::GetSessionToken {
            profile: profile.clone(),
            error: Box::new(error),
        })?;
    Ok(MintedStep {
        kind: StepKind::GetSessionToken,
        profile,
        role_arn: None,
        session_name: None,
        assumed_role_arn: None,
        credentials: token.credentials,
        request_id: token.request_id,
    })
}

fn base_profile(base: &BaseCredentials) -> &str {
    match base {
        BaseCredentials::Static { profile, .. } | BaseCredentials::Source { profile, .. } => {
            profile
        }
    }
}

/// The credentials the first step signs with.
fn base_credentials(base: &BaseCredentials, env: &Env) -> Result<Credentials, MintError> {
    match base {
        BaseCredentials::Static { credentials, .. } => Ok(credentials.clone()),
        BaseCredentials::Source {
            profile, source, ..
        } => match source {
            CredentialSource::Environment => environment_credentials(profile, env),
            CredentialSource::Ec2InstanceMetadata => Err(MintError::UnsupportedSource {
                profile: profile.clone(),
                source_name: "Ec2InstanceMetadata",
            }),
            CredentialSource::EcsContainer => Err(MintError::UnsupportedSource {
                profile: profile.clone(),
                source_name: "EcsContainer",
            }),
        },
    }
}

fn environment_credentials(profile: &str, env: &Env) -> Result<Credentials, MintError> {
    let key = env.get("AWS_ACCESS_KEY_ID");
    let secret = env.get("AWS_SECRET_ACCESS_KEY");
    match (key, secret) {
        (Some(key), Some(secret)) => Ok(Credentials {
            access_key_id: key.to_owned(),
            secret_access_key: Secret::new(secret),
            session_token: env.get("AWS_SESSION_TOKEN").map(Secret::new),
            expiration: None,
        }),
        _ => {
            let missing: Vec<&str> = [
                ("AWS_ACCESS_KEY_ID", key.is_none()),
                ("AWS_SECRET_ACCESS_KEY", secret.is_none()),
            ]
            .into_iter()
            .filter_map(|(name, absent)| absent.then_some(name))
            .collect();
            Err(MintError::MissingEnvironment {
                profile: profile.to_owned(),
                missing: missing.join(" and "),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use time::macros::datetime;

    use super::*;
    use crate::cache::test_util::{
        FakeSts, SECRET_MARK, TOKEN_MARK, aws_settings, chain, hop, long_term_keys, sts_error,
    };
    use crate::clock::ManualClock;
    use crate::profile::Location;

    const NOW: OffsetDateTime = datetime!(2026-03-01 08:00 UTC);

    fn fixture() -> (Arc<ManualClock>, FakeSts) {
        let clock = Arc::new(ManualClock::new(NOW));
        let sts = FakeSts::new(clock.clone());
        (clock, sts)
    }

    fn source_chain(source: CredentialSource, hops: Vec<RoleHop>) -> ProfileChain {
        ProfileChain {
            base: BaseCredentials::Source {
                profile: "src".into(),
                source,
                location: Location {
                    file: "/home/u/.aws/config".into(),
                    line: 3,
                },
            },
            ..chain("app", hops)
        }
    }

    fn leaks(text: &str) -> bool {
        text.contains(SECRET_MARK) || text.contains(TOKEN_MARK)
    }

    #[tokio::test]
    async fn long_term_keys_without_a_role_go_through_get_session_token() {
        let (clock, sts) = fixture();
        let mut aws = aws_settings();
        aws.duration_seconds = 7200;
        let minted = mint(&sts, &chain("dev", vec![]), &aws, &Env::default(), &*clock)
            .await
            .unwrap();
        let calls = sts.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].op, "GetSessionToken");
        assert_eq!(calls[0].duration_seconds, Some(7200));
        assert_eq!(calls[0].signed_with, long_term_keys().access_key_id);
        assert_eq!(minted.steps[0].kind, StepKind::GetSessionToken);
        assert!(minted.credentials.is_session());
        assert_ne!(
            minted.credentials.access_key_id,
            long_term_keys().access_key_id
        );
        assert_eq!(
            minted.credentials.expiration,
            Some(NOW + time::Duration::hours(2))
        );
        assert_eq!(minted.role_arn, None);
    }

    #[tokio::test]
    async fn static_session_keys_without_a_role_are_returned_as_given() {
        let (clock, sts) = fixture();
        let mut c = chain("sess", vec![]);
        let keys = Credentials {
            access_key_id: "ASIASTATIC".into(),
            secret_access_key: Secret::new("s"),
            session_token: Some(Secret::new("t")),
            expiration: None,
        };
        if let BaseCredentials::Static { credentials, .. } = &mut c.base {
            *credentials = keys.clone();
        }
        let minted = mint(&sts, &c, &aws_settings(), &Env::default(), &*clock)
            .await
            .unwrap();
        assert!(sts.calls().is_empty());
        assert_eq!(minted.steps[0].kind, StepKind::AsGiven);
        assert_eq!(minted.credentials, keys);
    }

    #[tokio::test]
    async fn hops_use_session_names_external_ids_and_cap_chained_durations() {
        let (clock, sts) = fixture();
        let mut first = hop("a", "arn:aws:iam::111122223333:role/first");
        first.duration_seconds = Some(10800);
        first.external_id = Some("ext-1".into());
        let mut second = hop("b", "arn:aws:iam::444455556666:role/second");
        second.duration_seconds = Some(7200);
        second.role_session_name = Some("mine".into());
        let minted = mint(
            &sts,
            &chain("b", vec![first, second]),
            &aws_settings(),
            &Env::default(),
            &*clock,
        )
        .await
        .unwrap();
        let calls = sts.calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].duration_seconds, Some(10800));
        assert_eq!(calls[0].external_id.as_deref(), Some("ext-1"));
        let expected_name = format!("credvend-{}", NOW.unix_timestamp());
        assert_eq!(
            calls[0].session_name.as_deref(),
            Some(expected_name.as_str())
        );
        assert_eq!(calls[0].signed_with, long_term_keys().access_key_id);
        assert_eq!(calls[1].duration_seconds, Some(CHAINED_HOP_MAX_SECONDS));
        assert_eq!(calls[1].session_name.as_deref(), Some("mine"));
        assert_eq!(calls[1].signed_with, minted.steps[0].access_key_id());
        assert_eq!(minted.account_id.as_deref(), Some("444455556666"));
        assert_eq!(
            minted.role_arn.as_deref(),
            Some("arn:aws:iam::444455556666:role/second")
        );
        assert_eq!(minted.credentials, minted.steps[1].credentials);
        assert!(minted.steps[1].request_id.is_some());
    }

    #[tokio::test]
    async fn a_configured_duration_is_capped_on_chained_hops_too() {
        let (clock, sts) = fixture();
        let mut aws = aws_settings();
        aws.duration_seconds = 43200;
        let hops = vec![
            hop("a", "arn:aws:iam::1:role/a"),
            hop("b", "arn:aws:iam::1:role/b"),
        ];
        mint(&sts, &chain("b", hops), &aws, &Env::default(), &*clock)
            .await
            .unwrap();
        let durations: Vec<_> = sts.calls().iter().map(|c| c.duration_seconds).collect();
        assert_eq!(durations, [Some(43200), Some(3600)]);
    }

    #[tokio::test]
    async fn the_environment_source_signs_with_the_daemons_keys() {
        let (clock, sts) = fixture();
        let env = Env::from_pairs([
            ("AWS_ACCESS_KEY_ID", "AKIAFROMENV"),
            ("AWS_SECRET_ACCESS_KEY", "FAKESECRET-env"),
        ]);
        let c = source_chain(
            CredentialSource::Environment,
            vec![hop("app", "arn:aws:iam::1:role/app")],
        );
        mint(&sts, &c, &aws_settings(), &env, &*clock)
            .await
            .unwrap();
        assert_eq!(sts.calls()[0].signed_with, "AKIAFROMENV");
    }

    #[tokio::test]
    async fn a_missing_environment_key_is_named() {
        let (clock, sts) = fixture();
        let env = Env::from_pairs([("AWS_ACCESS_KEY_ID", "AKIAFROMENV")]);
        let c = source_chain(CredentialSource::Environment, vec![]);
        let err = mint(&sts, &c, &aws_settings(), &env, &*clock)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "profile \"src\": credential_source Environment needs AWS_SECRET_ACCESS_KEY in credvend's environment"
        );
        assert!(sts.calls().is_empty());
    }

    #[tokio::test]
    async fn unsupported_sources_and_mfa_are_clear_errors_before_any_sts_call() {
        let (clock, sts) = fixture();
        let env = Env::default();
        let aws = aws_settings();
        let imds = source_chain(CredentialSource::Ec2InstanceMetadata, vec![]);
        let err = mint(&sts, &imds, &aws, &env, &*clock).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "profile \"src\": credential_source Ec2InstanceMetadata is not supported yet"
        );
        let ecs = source_chain(CredentialSource::EcsContainer, vec![]);
        let err = mint(&sts, &ecs, &aws, &env, &*clock).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("EcsContainer is not supported yet"),
            "{err}"
        );
        let mut mfa = hop("admin", "arn:aws:iam::1:role/admin");
        mfa.mfa_serial = Some("arn:aws:iam::1:mfa/me".into());
        let err = mint(&sts, &chain("admin", vec![mfa]), &aws, &env, &*clock)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "profile \"admin\": role arn:aws:iam::1:role/admin needs MFA (arn:aws:iam::1:mfa/me), not supported yet"
        );
        assert!(!err.is_retryable());
        assert!(sts.calls().is_empty());
    }

    #[tokio::test]
    async fn a_failed_hop_names_profile_role_code_and_request_id_and_keeps_earlier_hops() {
        let (clock, sts) = fixture();
        let hops = vec![
            hop("a", "arn:aws:iam::1:role/first"),
            hop("b", "arn:aws:iam::2:role/second"),
        ];
        sts.succeed_next();
        sts.fail_next(sts_error(403, "AccessDenied", "not authorized"));
        let mut steps = Vec::new();
        let err = mint_steps(
            &sts,
            &chain("b", hops),
            &aws_settings(),
            &Env::default(),
            &*clock,
            None,
            &mut steps,
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "profile \"b\": AssumeRole arn:aws:iam::2:role/second failed: STS error AccessDenied: \
             not authorized (HTTP 403, request id rid-AccessDenied)"
        );
        assert_eq!(
            err.sts_error().and_then(StsError::code),
            Some("AccessDenied")
        );
        assert!(!err.is_retryable());
        assert_eq!(steps.len(), 1);
        assert_eq!(
            steps[0].role_arn.as_deref(),
            Some("arn:aws:iam::1:role/first")
        );
    }

    #[tokio::test]
    async fn a_resumed_mint_starts_from_the_kept_hop() {
        let (clock, sts) = fixture();
        let hops = vec![
            hop("a", "arn:aws:iam::1:role/a"),
            hop("b", "arn:aws:iam::1:role/b"),
        ];
        let kept = Credentials {
            access_key_id: "ASIAKEPTHOP".into(),
            secret_access_key: Secret::new("s"),
            session_token: Some(Secret::new("t")),
            expiration: Some(NOW + time::Duration::HOUR),
        };
        let resume = Resume {
            next_hop: 1,
            credentials: kept,
        };
        let mut steps = Vec::new();
        mint_steps(
            &sts,
            &chain("b", hops),
            &aws_settings(),
            &Env::default(),
            &*clock,
            Some(resume),
            &mut steps,
        )
        .await
        .unwrap();
        let calls = sts.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].op, "AssumeRole:arn:aws:iam::1:role/b");
        assert_eq!(calls[0].signed_with, "ASIAKEPTHOP");
    }

    #[tokio::test]
    async fn errors_and_results_never_show_a_secret() {
        let (clock, sts) = fixture();
        let c = chain("app", vec![hop("app", "arn:aws:iam::1:role/app")]);
        let minted = mint(&sts, &c, &aws_settings(), &Env::default(), &*clock)
            .await
            .unwrap();
        let shown = format!("{minted:?} {minted:#?} {c:?}");
        assert!(!leaks(&shown), "{shown}");
        sts.set_failing(Some(sts_error(500, "InternalFailure", "oops")));
        let err = mint(&sts, &c, &aws_settings(), &Env::default(), &*clock)
            .await
            .unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!leaks(&shown), "{shown}");
        assert!(err.is_retryable());
    }
}
