//! `credvend check`: resolve a profile, mint through STS hop by hop (the same path the cache
//! uses), ask STS who the result is, and say when it expires; and warn when the credentials
//! file is readable by other users.

use std::fmt::Write as _;
use std::sync::Arc;

use super::CommandError;
use crate::clock::format_timestamp;
use crate::clock::{AwsClock, Clock, SystemClock};
use crate::config::Config;
use crate::env::Env;
use crate::mint::{MfaSessions, MintError, StepKind, mint, session_for_code};
use crate::profile::BaseCredentials;
use crate::profile::ProfileSet;
use crate::random::OsRandom;
use crate::secret::Secret;
use crate::secret::mask_key_id;
use crate::sts::Sts;
use crate::sts::client::StsClient;

/// Runs the check for `profile` (default: the configured default profile); returns the report.
pub async fn check(
    config: &Config,
    env: &Env,
    profile: Option<&str>,
) -> Result<String, CommandError> {
    let name = profile.unwrap_or(&config.aws.default_profile);
    let profiles = ProfileSet::load(&config.aws.profile_paths())?;
    let chain = profiles.resolve(name, env)?;
    let clock = Arc::new(AwsClock::new(Arc::new(SystemClock)));
    let sts = StsClient::new(&config.aws, clock.clone(), Arc::new(OsRandom))
        .map_err(CommandError::Client)?;
    let mfa = MfaSessions::default();
    if let (Some(device), BaseCredentials::Static { credentials, .. }) = (&chain.mfa, &chain.base) {
        // No daemon to wait for: the code is asked for here, on the terminal.
        let code = Secret::new(super::prompt_mfa_code(name)?);
        let endpoint = crate::mint::endpoint(&chain, &config.aws).map_err(CommandError::Client)?;
        let seconds = config.aws.mfa.session_seconds;
        let (session, _) =
            session_for_code(&sts, &endpoint, credentials, &device.serial, code, seconds)
                .await
                .map_err(|source| {
                    CommandError::Mint(MintError::GetSessionToken {
                        profile: device.profile.clone(),
                        error: Box::new(source),
                    })
                })?;
        mfa.put(&device.serial, session);
    }
    let minted = mint(&sts, &chain, &config.aws, env, clock.as_ref(), &mfa).await?;
    let endpoint = &minted.endpoint;
    let identity = sts
        .get_caller_identity(endpoint, &minted.credentials)
        .await
        .map_err(|source| CommandError::Identity {
            profile: name.to_owned(),
            source,
        })?;

    let mut out = String::new();
    let _ = writeln!(out, "profile:  {name}");
    let _ = writeln!(
        out,
        "endpoint: {} (region {})",
        endpoint.url, endpoint.region
    );
    let mut hop = 0;
    for step in &minted.steps {
        let key = mask_key_id(step.access_key_id());
        match step.kind {
            StepKind::AssumeRole => {
                hop += 1;
                let _ = writeln!(
                    out,
                    "hop {hop}:    {} as {} (profile {}, key {key})",
                    step.role_arn.as_deref().unwrap_or("?"),
                    step.assumed_role_arn.as_deref().unwrap_or("?"),
                    step.profile,
                );
            }
            StepKind::GetSessionToken => {
                let _ = writeln!(
                    out,
                    "session:  GetSessionToken with profile {} (key {key})",
                    step.profile
                );
            }
            StepKind::AsGiven => {
                let _ = writeln!(
                    out,
                    "session:  keys of profile {} as given (key {key})",
                    step.profile
                );
            }
        }
    }
    let _ = writeln!(out, "identity: {}", identity.arn);
    let _ = writeln!(out, "account:  {}", identity.account);
    match minted.credentials.expiration {
        Some(at) => {
            let left = at - clock.now();
            let _ = writeln!(
                out,
                "expires:  {} (in {}m)",
                format_timestamp(at),
                left.whole_minutes()
            );
        }
        None => {
            let _ = writeln!(out, "expires:  never (long-term keys)");
        }
    }
    let offset = clock.offset();
    if offset != time::Duration::ZERO {
        let _ = writeln!(
            out,
            "clock:    local clock is off by {}s; signatures corrected with the time STS reported",
            offset.whole_seconds()
        );
    }
    if let Some(warning) = crate::files::exposure_warning(&config.aws.credentials_file) {
        let _ = writeln!(out, "warning:  {warning}");
    }
    Ok(out)
}
