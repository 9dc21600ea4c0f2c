//! Turning a [`ProfileChain`] into session credentials through STS, step by step.
//!
//! The base credentials come from the chain (keys in a profile, or the daemon's environment);
//! each role hop is an AssumeRole signed with the previous step's credentials. A chain with no
//! hops and long-term keys goes through GetSessionToken, so the long-term keys never leave the
//! daemon. Role chaining caps every hop after the first at one hour
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html#iam-term-role-chaining>).

use crate::clock::Clock;
use crate::config::AwsSettings;
use crate::env::Env;
use crate::profile::{BaseCredentials, ProfileChain, RoleHop, environment_credentials};
use crate::secret::Credentials;
use crate::sts::{self, AssumeRoleParams, Endpoint, GetSessionTokenParams, Sts, StsError};

use super::error::MintError;
use super::mfa::{Lookup, MfaSessions};
use super::minted::{Minted, MintedStep, Resume, StepKind};

/// STS refuses longer sessions for a role assumed with role credentials.
pub const CHAINED_HOP_MAX_SECONDS: u32 = 3600;

/// The STS endpoint `chain` talks to under `aws`.
pub fn endpoint(chain: &ProfileChain, aws: &AwsSettings) -> Result<Endpoint, StsError> {
    let overrides = sts::endpoint::Overrides {
        sts_endpoint: aws.sts_endpoint.as_deref(),
        env_sts_endpoint: aws.env_sts_endpoint.as_deref(),
        default_region: &aws.region,
    };
    sts::endpoint::resolve(chain, &overrides)
}

/// Mints `chain` from its base credentials (from the MFA session in `mfa`, for a chain with
/// `mfa_serial`).
pub async fn mint(
    sts: &dyn Sts,
    chain: &ProfileChain,
    aws: &AwsSettings,
    env: &Env,
    clock: &dyn Clock,
    mfa: &MfaSessions,
) -> Result<Minted, MintError> {
    let endpoint = endpoint_of(chain, aws)?;
    let mut steps = Vec::new();
    let ctx = Ctx {
        sts,
        aws,
        env,
        clock,
        mfa,
    };
    ctx.run(chain, &endpoint, None, &mut steps).await?;
    Ok(Minted::from_steps(chain, endpoint, steps, clock.now()))
}

/// Mints `chain` from `resume` (or from the base), pushing each step onto `out` as soon as it
/// succeeds, so a caller keeps the hops that worked when a later one fails.
#[allow(clippy::too_many_arguments)] // the minting context, spelled out for each caller
pub async fn mint_steps(
    sts: &dyn Sts,
    chain: &ProfileChain,
    aws: &AwsSettings,
    env: &Env,
    clock: &dyn Clock,
    mfa: &MfaSessions,
    resume: Option<Resume>,
    out: &mut Vec<MintedStep>,
) -> Result<(), MintError> {
    let endpoint = endpoint_of(chain, aws)?;
    let ctx = Ctx {
        sts,
        aws,
        env,
        clock,
        mfa,
    };
    ctx.run(chain, &endpoint, resume, out).await
}

/// The endpoint of `chain`, as a mint error.
fn endpoint_of(chain: &ProfileChain, aws: &AwsSettings) -> Result<Endpoint, MintError> {
    endpoint(chain, aws).map_err(|error| MintError::Endpoint {
        profile: chain.profile.clone(),
        error: Box::new(error),
    })
}

/// What every step needs.
struct Ctx<'a> {
    sts: &'a dyn Sts,
    aws: &'a AwsSettings,
    env: &'a Env,
    clock: &'a dyn Clock,
    mfa: &'a MfaSessions,
}

impl Ctx<'_> {
    /// The steps of `chain` at `endpoint`, from `resume` or the base, each pushed onto `out`
    /// as it succeeds.
    async fn run(
        &self,
        chain: &ProfileChain,
        endpoint: &Endpoint,
        resume: Option<Resume>,
        out: &mut Vec<MintedStep>,
    ) -> Result<(), MintError> {
        let (sts, aws, clock) = (self.sts, self.aws, self.clock);
        let (first, mut current) = match resume {
            Some(r) => (r.next_hop, r.credentials),
            None => (0, self.first_credentials(chain).await?),
        };
        if chain.hops.is_empty() {
            super::process::check_served_as_given(&chain.base, &current)?;
            let step = if current.is_session() {
                MintedStep {
                    kind: StepKind::AsGiven,
                    profile: base_profile(&chain.base).to_owned(),
                    role_arn: None,
                    session_name: None,
                    assumed_role_arn: None,
                    credentials: current,
                    request_id: None,
                    source_identity: None,
                }
            } else {
                session_token(sts, endpoint, chain, aws, &current).await?
            };
            out.push(step);
            return Ok(());
        }
        // IAM Identity Center hands out role sessions: its first hop is already a chained
        // one, which STS caps at an hour like the later ones.
        let chained = usize::from(matches!(chain.base, BaseCredentials::Sso { .. }));
        for (index, hop) in chain.hops.iter().enumerate().skip(first) {
            let position = index + chained;
            let step = assume(sts, endpoint, hop, position, aws, clock, &current).await?;
            current = step.credentials.clone();
            out.push(step);
        }
        Ok(())
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
        // The same on every hop: STS refuses a chained session whose SourceIdentity changes.
        source_identity: aws.source_identity.clone(),
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
        source_identity: params.source_identity,
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
        source_identity: None,
    })
}

fn base_profile(base: &BaseCredentials) -> &str {
    match base {
        BaseCredentials::Static { profile, .. }
        | BaseCredentials::Environment { profile, .. }
        | BaseCredentials::Metadata { profile, .. }
        | BaseCredentials::Sso { profile, .. } => profile,
        BaseCredentials::Process { profile, .. } => profile,
    }
}

/// The credentials the first step signs with.
impl Ctx<'_> {
    /// The base credentials, or for a chain with `mfa_serial` its MFA session (a code is
    /// asked for, once, when there is none or it nears its end).
    async fn first_credentials(&self, chain: &ProfileChain) -> Result<Credentials, MintError> {
        let Some(device) = &chain.mfa else {
            return self.base_credentials(&chain.base).await;
        };
        let renew_before =
            time::Duration::try_from(self.aws.mfa.renew_before).unwrap_or(time::Duration::MINUTE);
        let lookup = self
            .mfa
            .lookup(&device.serial, self.clock.now(), renew_before);
        let (found, ask) = match lookup {
            Lookup::Session { credentials, ask } => (Some(credentials), ask),
            Lookup::NeedsCode { ask } => (None, ask),
        };
        if ask {
            super::mfa::ask_for_code(&chain.profile, &device.serial, found.is_some(), self.env);
        }
        found.ok_or_else(|| MintError::NeedsMfaCode {
            profile: chain.profile.clone(),
            serial: device.serial.clone(),
        })
    }

    /// The credentials the first step signs with (or serves as they are, with no hops). Each
    /// source of `BaseCredentials` has its arm here; sources that run a program or ask a
    /// service are async.
    async fn base_credentials(&self, base: &BaseCredentials) -> Result<Credentials, MintError> {
        match base {
            BaseCredentials::Static { credentials, .. } => Ok(credentials.clone()),
            BaseCredentials::Environment { profile, .. } => environment_credentials(self.env)
                .map_err(|missing| MintError::MissingEnvironment {
                    profile: profile.clone(),
                    missing: missing.to_owned(),
                }),
            BaseCredentials::Metadata {
                profile, source, ..
            } => super::metadata::fetch(source)
                .await
                .map_err(|error| MintError::Metadata {
                    profile: profile.clone(),
                    error: Box::new(error),
                }),
            BaseCredentials::Process {
                profile, command, ..
            } => super::process::run(
                profile,
                command.expose(),
                self.env,
                self.aws.credential_process_timeout,
            )
            .await
            .map_err(|error| MintError::Process {
                profile: profile.clone(),
                error,
            }),
            BaseCredentials::Sso {
                profile, source, ..
            } => super::sso::credentials(self.aws, self.env, self.clock, profile, source)
                .await
                .map_err(|error| MintError::Sso {
                    profile: profile.clone(),
                    error: Box::new(error),
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use time::OffsetDateTime;
    use time::macros::datetime;

    use super::*;
    use crate::causes::Causes;
    use crate::clock::ManualClock;
    use crate::profile::Location;
    use crate::secret::Secret;
    use crate::test_util::{FakeSts, aws_settings, chain, hop, leaks, long_term_keys, sts_error};

    const NOW: OffsetDateTime = datetime!(2026-03-01 08:00 UTC);

    fn fixture() -> (Arc<ManualClock>, FakeSts) {
        let clock = Arc::new(ManualClock::new(NOW));
        let sts = FakeSts::new(clock.clone());
        (clock, sts)
    }

    fn environment_chain(hops: Vec<RoleHop>) -> ProfileChain {
        ProfileChain {
            base: BaseCredentials::Environment {
                profile: "src".into(),
                location: Location {
                    file: "/home/u/.aws/config".into(),
                    line: 3,
                },
            },
            ..chain("app", hops)
        }
    }

    #[tokio::test]
    async fn a_configured_source_identity_goes_with_every_hop_and_not_with_get_session_token() {
        let (clock, sts) = fixture();
        let mut aws = aws_settings();
        aws.source_identity = Some("alice".into());
        let two = chain(
            "b",
            vec![
                hop("a", "arn:aws:iam::1:role/a"),
                hop("b", "arn:aws:iam::2:role/b"),
            ],
        );
        let minted = mint(
            &sts,
            &two,
            &aws,
            &Env::default(),
            &*clock,
            &MfaSessions::default(),
        )
        .await
        .unwrap();
        let sent: Vec<_> = minted
            .steps
            .iter()
            .map(|s| s.source_identity.as_deref())
            .collect();
        assert_eq!(sent, [Some("alice"), Some("alice")]);
        let minted = mint(
            &sts,
            &chain("dev", vec![]),
            &aws,
            &Env::default(),
            &*clock,
            &MfaSessions::default(),
        )
        .await
        .unwrap();
        assert_eq!(minted.steps[0].source_identity, None);
    }

    #[tokio::test]
    async fn long_term_keys_without_a_role_go_through_get_session_token() {
        let (clock, sts) = fixture();
        let mut aws = aws_settings();
        aws.duration_seconds = 7200;
        let minted = mint(
            &sts,
            &chain("dev", vec![]),
            &aws,
            &Env::default(),
            &*clock,
            &MfaSessions::default(),
        )
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
        let minted = mint(
            &sts,
            &c,
            &aws_settings(),
            &Env::default(),
            &*clock,
            &MfaSessions::default(),
        )
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
            &MfaSessions::default(),
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
        mint(
            &sts,
            &chain("b", hops),
            &aws,
            &Env::default(),
            &*clock,
            &MfaSessions::default(),
        )
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
        let c = environment_chain(vec![hop("app", "arn:aws:iam::1:role/app")]);
        mint(
            &sts,
            &c,
            &aws_settings(),
            &env,
            &*clock,
            &MfaSessions::default(),
        )
        .await
        .unwrap();
        assert_eq!(sts.calls()[0].signed_with, "AKIAFROMENV");
    }

    #[tokio::test]
    async fn a_missing_environment_key_is_named() {
        let (clock, sts) = fixture();
        let env = Env::from_pairs([("AWS_ACCESS_KEY_ID", "AKIAFROMENV")]);
        let c = environment_chain(vec![]);
        let err = mint(
            &sts,
            &c,
            &aws_settings(),
            &env,
            &*clock,
            &MfaSessions::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "profile \"src\": credential_source Environment needs AWS_SECRET_ACCESS_KEY in credvend's environment"
        );
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
            &MfaSessions::default(),
            None,
            &mut steps,
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "profile \"b\": AssumeRole arn:aws:iam::2:role/second failed"
        );
        assert_eq!(
            Causes(&err).to_string(),
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
            &MfaSessions::default(),
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
        let minted = mint(
            &sts,
            &c,
            &aws_settings(),
            &Env::default(),
            &*clock,
            &MfaSessions::default(),
        )
        .await
        .unwrap();
        let shown = format!("{minted:?} {minted:#?} {c:?}");
        assert!(!leaks(&shown), "{shown}");
        sts.set_failing(Some(sts_error(500, "InternalFailure", "oops")));
        let err = mint(
            &sts,
            &c,
            &aws_settings(),
            &Env::default(),
            &*clock,
            &MfaSessions::default(),
        )
        .await
        .unwrap_err();
        let shown = format!("{} {err:?}", Causes(&err));
        assert!(!leaks(&shown), "{shown}");
        assert!(err.is_retryable());
    }
}
