//! What a reload changes and what it keeps. SIGHUP re-reads credvend's config and the
//! `~/.aws` files and re-resolves the served profiles; the listeners, `[aws]` and `[audit]`
//! stay as they started (the log says so when they changed). A reload that fails keeps the
//! previous state serving. Profiles that did not resolve are tried again now and then, in
//! case the files were fixed without a SIGHUP.

use std::time::Duration;

use tracing::{error, info, warn};

use super::profiles::resolve_served;
use crate::cache::CredentialCache;
use crate::causes::Causes;
use crate::config::{AwsSettings, Config};
use crate::env::Env;

/// How often profiles that failed to resolve are tried again.
pub(super) const RESOLVE_RETRY: Duration = Duration::from_secs(30);

/// Applies a reload request: `current` becomes the new serving config when it can be used.
/// Returns whether the reload took effect.
pub(super) fn reload(current: &mut Config, env: &Env, cache: &CredentialCache) -> bool {
    let new = match Config::load(current.file.as_deref(), env) {
        Ok(new) => new,
        Err(e) => {
            error!(
                "reload failed, still serving the previous configuration: {}",
                Causes(&e)
            );
            return false;
        }
    };
    if new.imds != current.imds
        || new.ecs != current.ecs
        || new.audit != current.audit
        || new.aws != current.aws
    {
        warn!(
            "reload: changes to listeners, [aws] or [audit] take effect after a restart; profiles are reloaded now"
        );
    }
    // Listeners stay as they are, so the served set stays that of the running config.
    let serving = Config {
        aws: AwsSettings {
            config_file: new.aws.config_file.clone(),
            credentials_file: new.aws.credentials_file.clone(),
            ..current.aws.clone()
        },
        ..current.clone()
    };
    match resolve_served(&serving, env) {
        Ok(chains) => {
            let summary = cache.set_profiles(chains);
            info!(
                unchanged = ?summary.unchanged,
                changed = ?summary.changed,
                added = ?summary.added,
                removed = ?summary.removed,
                "reloaded profiles"
            );
            super::profiles::warn_exposed_keys(&serving, env);
            *current = serving;
            true
        }
        Err(e) => {
            error!(
                "reload failed, still serving the previous profiles: {}",
                Causes(&e)
            );
            false
        }
    }
}

/// Tries again the profiles that did not resolve, in case the files were fixed since.
pub(super) fn retry_unresolved(config: &Config, env: &Env, cache: &CredentialCache) {
    if cache.status().iter().all(|s| s.resolve_error.is_none()) {
        return;
    }
    if let Ok(chains) = resolve_served(config, env) {
        let summary = cache.set_profiles(chains);
        if !summary.changed.is_empty() {
            info!(changed = ?summary.changed, "profiles re-resolved");
        }
    }
}
