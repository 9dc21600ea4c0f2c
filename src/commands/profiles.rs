//! `credvend profiles`: every profile, how it resolves, and where it was defined.

use std::fmt::Write as _;

use super::CommandError;
use crate::config::Config;
use crate::env::Env;
use crate::profile::ProfileSet;

/// The listing, one line per profile, then any lines the parser ignored; keys masked, never
/// a secret.
pub fn profiles(config: &Config, env: &Env) -> Result<String, CommandError> {
    let set = ProfileSet::load(&config.aws.profile_paths())?;
    let mut out = String::new();
    let reports = set.report(env);
    if reports.is_empty() {
        let _ = writeln!(
            out,
            "no profiles in {} or {}",
            config.aws.config_file.display(),
            config.aws.credentials_file.display()
        );
    }
    for report in reports {
        let _ = writeln!(out, "{report}");
    }
    for warning in &set.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    Ok(out)
}
