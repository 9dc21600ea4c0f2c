//! `credvend profiles`: every profile, how it resolves, and where it was defined.

use std::fmt::Write as _;

use super::CommandError;
use crate::config::Config;
use crate::env::Env;
use crate::profile::ProfileSet;

/// The listing, one line per profile, then any lines the parser ignored and a warning when
/// the credentials file is readable by other users; keys masked, never a secret.
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
        if let Some(line) = sso_token_line(&set, &report.name, env) {
            let _ = writeln!(out, "  {line}");
        }
    }
    // The daemon refuses these; say so here too, with the same words.
    let own_listener = set
        .profiles
        .keys()
        .filter_map(|name| set.resolve(name, env).ok())
        .filter_map(|chain| crate::daemon::reads_own_listener(config, &chain));
    for refusal in own_listener {
        let _ = writeln!(out, "error: {refusal}");
    }
    let exposed = crate::files::exposure_warning(&config.aws.credentials_file);
    for warning in set.warnings.iter().chain(&exposed) {
        let _ = writeln!(out, "warning: {warning}");
    }
    Ok(out)
}

/// For a profile whose chain starts at IAM Identity Center: the cached token's state, so a
/// missing or expired login shows here, with the command that fixes it.
fn sso_token_line(set: &ProfileSet, name: &str, env: &Env) -> Option<String> {
    use crate::clock::{Clock as _, SystemClock};
    let chain = set.resolve(name, env).ok()?;
    let crate::profile::BaseCredentials::Sso {
        profile, source, ..
    } = &chain.base
    else {
        return None;
    };
    let status = crate::mint::sso::token_status(profile, source, env, SystemClock.now());
    Some(format!("IAM Identity Center token: {status}"))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::config::DefaultPaths;
    use crate::test_util::temp_dir;

    #[test]
    fn a_credentials_file_others_may_read_is_named_with_the_chmod() {
        let dir = temp_dir("profiles-mode");
        let creds = dir.join("credentials");
        std::fs::write(
            &creds,
            "[base]\naws_access_key_id = AKIAEXAMPLE000001\naws_secret_access_key = s\n",
        )
        .unwrap();
        let env = Env::from_pairs([
            ("HOME", dir.display().to_string()),
            ("AWS_SHARED_CREDENTIALS_FILE", creds.display().to_string()),
            ("AWS_CONFIG_FILE", dir.join("config").display().to_string()),
        ]);
        let paths = DefaultPaths {
            config_file: None,
            state_dir: Some(dir.join("state")),
        };
        let config = Config::defaults(&paths, &env).unwrap();
        let shown = creds.display();
        for (mode, warned) in [(0o644, true), (0o640, true), (0o600, false)] {
            std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(mode)).unwrap();
            let out = profiles(&config, &env).unwrap();
            let warning = format!(
                "warning: {shown} holds keys and is readable by group or others (mode {mode:o}); \
                 chmod 600 {shown}\n"
            );
            assert_eq!(out.contains(&warning), warned, "mode {mode:o}:\n{out}");
            assert!(out.starts_with("base: "), "{out}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
