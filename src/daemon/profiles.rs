//! Which profiles the daemon serves, resolved from the `~/.aws` files, and what the IMDS
//! listeners present as their instance role.

use std::collections::BTreeMap;

use tracing::{error, warn};

use crate::causes::Causes;
use crate::config::Config;
use crate::env::Env;
use crate::profile::shadow;
use crate::profile::{ProfileChain, ProfileError, ProfileSet};
use crate::sts::account_of_arn;

/// Every profile a listener serves (label profiles included), in order, without repeats.
pub(crate) fn served_profiles(config: &Config) -> Vec<String> {
    let mut names: Vec<String> = config
        .imds
        .iter()
        .flat_map(|l| std::iter::once(&l.profile).chain(&l.label_profiles))
        .cloned()
        .collect();
    if let Some(ecs) = &config.ecs {
        names.extend(ecs.profiles.iter().cloned());
    }
    let mut seen = std::collections::BTreeSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

/// Reads the `~/.aws` files and resolves every served profile. A file that cannot be read or
/// parsed is an error for the caller (at reload, the old state keeps serving); a profile that
/// does not resolve is kept with its error so reads say why (the cache logs it when it
/// changes: unresolved profiles are re-resolved every half minute).
pub(crate) fn resolve_served(
    config: &Config,
    env: &Env,
) -> Result<BTreeMap<String, Result<ProfileChain, String>>, ProfileError> {
    let set = ProfileSet::load(&config.aws.profile_paths())?;
    for warning in &set.warnings {
        warn!("{warning}");
    }
    Ok(served_profiles(config)
        .into_iter()
        .map(|name| {
            let chain = set.resolve(&name, env).map_err(|e| Causes(&e).to_string());
            (name, chain)
        })
        .collect())
}

/// At start a broken file must not stop the listeners: every profile carries the error.
pub(crate) fn resolve_served_or_errors(
    config: &Config,
    env: &Env,
) -> BTreeMap<String, Result<ProfileChain, String>> {
    resolve_served(config, env).unwrap_or_else(|e| {
        let text = Causes(&e).to_string();
        error!("cannot read the AWS profile files: {text}");
        served_profiles(config)
            .into_iter()
            .map(|name| (name, Err(text.clone())))
            .collect()
    })
}

/// Warns when the keys credvend reads are exposed: their file is readable by other users, or
/// they are what every SDK on the host finds before it asks credvend (the user's default
/// profile in the shared credentials file). At start and after each reload.
pub(crate) fn warn_exposed_keys(config: &Config, env: &Env) {
    if let Some(warning) = crate::files::exposure_warning(&config.aws.credentials_file) {
        warn!("{warning}");
    }
    if let Some((profile, at)) = shadow::exposed_keys(&config.aws.profile_paths(), env) {
        warn!(
            "{at}: profile {profile} holds long-term keys that SDKs on this host read before they ask credvend, so they bypass it; keep them in a file of credvend's own: credvend import-keys --move"
        );
    }
}

/// What an IMDS listener shows as its instance: role name, region, account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InstanceIdentity {
    /// The last role's name, else the profile name; stable while the profile is unchanged
    /// (Go and Java SDKs cache it and rediscover only after a 404).
    pub(crate) role_name: String,
    /// The profile's region, else the configured one.
    pub(crate) region: String,
    /// From the last role ARN, when the chain assumes one.
    pub(crate) account_id: Option<String>,
}

pub(crate) fn instance_identity(
    profile: &str,
    chain: Option<&Result<ProfileChain, String>>,
    default_region: &str,
) -> InstanceIdentity {
    let chain = chain.and_then(|c| c.as_ref().ok());
    let role_arn = chain
        .and_then(|c| c.hops.last())
        .map(|h| h.role_arn.as_str());
    InstanceIdentity {
        role_name: role_arn
            .and_then(|arn| arn.rsplit('/').next())
            .filter(|name| !name.is_empty())
            .unwrap_or(profile)
            .to_owned(),
        region: chain
            .and_then(|c| c.region.clone())
            .unwrap_or_else(|| default_region.to_owned()),
        account_id: role_arn.and_then(account_of_arn).map(str::to_owned),
    }
}
