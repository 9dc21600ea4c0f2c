//! Which profiles the daemon serves, resolved from the `~/.aws` files, and what the IMDS
//! listeners present as their instance role.

use std::collections::BTreeMap;

use tracing::{error, warn};

use crate::causes::Causes;
use crate::config::Config;
use crate::env::Env;
use crate::profile::shadow;
use crate::profile::{BaseCredentials, ProfileChain, ProfileError, ProfileSet};
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
            let chain = set
                .resolve(&name, env)
                .map_err(|e| Causes(&e).to_string())
                .and_then(|chain| match reads_own_listener(config, &chain) {
                    Some(refusal) => Err(refusal),
                    None => Ok(chain),
                });
            (name, chain)
        })
        .collect())
}

/// Why `chain` must not be served by this daemon: its `credential_source` would read one of
/// credvend's own listeners (the IMDS or container endpoint, or the metrics listener), so it
/// would serve itself its own credentials, or wait on itself. Compared by address and port
/// (a wildcard listener by port alone), on what the endpoint names without asking DNS.
pub(crate) fn reads_own_listener(config: &Config, chain: &ProfileChain) -> Option<String> {
    let BaseCredentials::Metadata {
        location, source, ..
    } = &chain.base
    else {
        return None;
    };
    let listeners = config
        .imds
        .iter()
        .map(|l| ("IMDS", l.listen))
        .chain(config.ecs.iter().flat_map(|e| {
            std::iter::once(e.listen)
                .chain(e.also_listen.iter().copied())
                .map(|a| ("ECS", a))
        }))
        .chain(config.metrics.listen.map(|a| ("metrics", a)));
    let targets = source.endpoint().socket_addrs();
    for (kind, listen) in listeners {
        let hit = targets.iter().any(|t| {
            t.port() == listen.port() && (t.ip() == listen.ip() || listen.ip().is_unspecified())
        });
        if hit {
            return Some(format!(
                "{location}: profile `{}`: credential_source {source} would read \
                 credvend's own {kind} listener {listen}; point it at the instance's or \
                 container's real endpoint (refused: credvend never serves itself)",
                chain.profile
            ));
        }
    }
    None
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::DefaultPaths;
    use crate::profile::FileKind;

    fn config(imds: &[&str], ecs: &str) -> Config {
        let env = Env::from_pairs([("HOME", "/nonexistent")]);
        let paths = DefaultPaths {
            config_file: None,
            state_dir: Some("/nonexistent/state".into()),
        };
        let mut config = Config::defaults(&paths, &env).unwrap();
        let template = config.imds[0].clone();
        config.imds = imds
            .iter()
            .map(|a| crate::config::ImdsListener {
                listen: a.parse().unwrap(),
                ..template.clone()
            })
            .collect();
        if let Some(e) = config.ecs.as_mut() {
            e.listen = ecs.parse().unwrap();
        }
        config
    }

    fn chain(env: &[(&str, &str)], source: &str) -> ProfileChain {
        let mut set = ProfileSet::default();
        let text = format!("[profile p]\nrole_arn = r\ncredential_source = {source}\n");
        set.merge_text(&text, Path::new("config"), FileKind::Config)
            .unwrap();
        set.resolve("p", &Env::from_pairs(env.iter().copied()))
            .unwrap()
    }

    #[test]
    fn a_source_reading_one_of_our_listeners_is_refused_naming_profile_and_listener() {
        let own = config(&["127.0.0.1:8169", "169.254.169.254:80"], "127.0.0.1:8170");
        let imds = |url: &str| {
            chain(
                &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", url)],
                "Ec2InstanceMetadata",
            )
        };
        let refusal = reads_own_listener(&own, &imds("http://127.0.0.1:8169/")).unwrap();
        assert!(
            refusal.starts_with("config:3: profile `p`: credential_source Ec2InstanceMetadata")
                && refusal.contains("credvend's own IMDS listener 127.0.0.1:8169"),
            "{refusal}"
        );
        assert!(reads_own_listener(&own, &imds("http://localhost:8169")).is_some());
        assert!(reads_own_listener(&own, &imds("http://127.0.0.1:9999")).is_none());
        // No endpoint variable: the default address, which this daemon listens on.
        let default = chain(&[], "Ec2InstanceMetadata");
        let refusal = reads_own_listener(&own, &default).unwrap();
        assert!(
            refusal.contains("IMDS listener 169.254.169.254:80"),
            "{refusal}"
        );
        assert!(
            reads_own_listener(&config(&["127.0.0.1:8169"], "127.0.0.1:8170"), &default).is_none()
        );
        let ecs = chain(
            &[(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://127.0.0.1:8170/role/app",
            )],
            "EcsContainer",
        );
        let refusal = reads_own_listener(&own, &ecs).unwrap();
        assert!(refusal.contains("ECS listener 127.0.0.1:8170"), "{refusal}");
        // A wildcard listener takes every address on its port.
        let wildcard = config(&["0.0.0.0:8169"], "127.0.0.1:8170");
        assert!(reads_own_listener(&wildcard, &imds("http://127.0.0.2:8169")).is_some());
    }
}
