//! `credvend env` as shell lines: the endpoints for old SDKs and new ones, with whatever would
//! shadow credvend unset or hidden.
//!
//! The ECS token goes both as the file and, for SDKs that read only the inline variable (Go
//! v1/v2, the CLI v2), as `AWS_CONTAINER_AUTHORIZATION_TOKEN="$(cat FILE)"`: the shell reads
//! the file, so the token itself is never printed. Keys and profiles in the environment, the
//! shared credentials file, and a config-file profile with credentials of its own all come
//! before the container and IMDS providers in every SDK's chain.

use std::fmt::Write as _;

use super::target::{Target, ecs_url, imds_url, preferred, shell_quote};
use crate::env::Env;
use crate::profile::shadow::{self, SHADOWING_VARIABLES};
use crate::profile::{ProfilePaths, ProfileSet};

/// Unset too: JS v3 prefers a RELATIVE_URI over the FULL_URI printed here.
const ALSO_UNSET: &[&str] = &["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"];

/// The `export`/`unset` lines for `target`. `env` is the caller's own environment: it tells
/// which config file its clients would read.
pub(super) fn lines(target: &Target<'_>, env: &Env) -> String {
    let mut out = String::new();
    if let Some(addr) = target.imds.as_deref().and_then(preferred) {
        let _ = writeln!(
            out,
            "export AWS_EC2_METADATA_SERVICE_ENDPOINT={}",
            shell_quote(&imds_url(addr))
        );
    }
    if let Some(ecs) = &target.ecs
        && let Some(addr) = preferred(&ecs.addrs)
    {
        let file = shell_quote(&ecs.token_file.display().to_string());
        let _ = writeln!(
            out,
            "export AWS_CONTAINER_CREDENTIALS_FULL_URI={}",
            shell_quote(&ecs_url(addr, &ecs.profile))
        );
        let _ = writeln!(out, "export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={file}");
        out.push_str("# credvend: the token again for SDKs that read only the variable; the shell reads it from the file\n");
        let _ = writeln!(
            out,
            "export AWS_CONTAINER_AUTHORIZATION_TOKEN=\"$(cat {file})\""
        );
    }
    out.push_str(
        "# credvend: unsetting keys and profiles and hiding the shared credentials file, which SDKs would use before credvend\n",
    );
    let unset: Vec<&str> = SHADOWING_VARIABLES
        .iter()
        .chain(ALSO_UNSET)
        .copied()
        .collect();
    let _ = writeln!(out, "unset {}", unset.join(" "));
    out.push_str("export AWS_SHARED_CREDENTIALS_FILE=/dev/null\n");
    hide_shadowing_config(&mut out, env);
    out
}

/// With the profile variables unset, clients use the config file's `default` profile; if it
/// has credentials of its own, the config file is hidden too (its region kept).
fn hide_shadowing_config(out: &mut String, env: &Env) {
    let Some(paths) = shadow::client_paths(env) else {
        return;
    };
    let config_only = ProfilePaths {
        config_file: paths.config_file.clone(),
        credentials_file: "/dev/null".into(),
    };
    // An unreadable config file shadows nothing: SDKs fail on it or skip it before credvend.
    let Ok(set) = ProfileSet::load(&config_only) else {
        return;
    };
    let keys = shadow::shadowing_keys(&set, "default");
    let Some((key, location)) = keys.first() else {
        return;
    };
    let _ = writeln!(
        out,
        "# credvend: the default profile sets {key} ({location}), which SDKs would use before credvend; hiding the config file"
    );
    out.push_str("export AWS_CONFIG_FILE=/dev/null\n");
    let region = set.profiles["default"]
        .properties
        .get("region")
        .filter(|p| !p.value.is_empty());
    if let Some(region) = region {
        let _ = writeln!(
            out,
            "export AWS_REGION=\"${{AWS_REGION:-{}}}\"",
            region.value.replace(['"', '$', '`', '\\'], "")
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::commands::env::tests::config;
    use crate::commands::env::{EnvForm, env};
    use crate::env::Env;
    use crate::test_util::temp_dir;

    #[test]
    fn shell_lines_serve_old_and_new_sdks_and_never_print_the_token() {
        let dir = temp_dir("env");
        let home = Env::from_pairs([("HOME", dir.display().to_string())]);
        let out = env(&config(&dir), &home, None, EnvForm::Shell).unwrap();
        let token_file = format!("'{}/my token'", dir.display());
        let want = [
            "export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:8169/".to_owned(),
            "export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:8170/role/app".to_owned(),
            format!("export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={token_file}"),
            format!("export AWS_CONTAINER_AUTHORIZATION_TOKEN=\"$(cat {token_file})\""),
            "unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_SECURITY_TOKEN \
             AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE \
             AWS_ROLE_SESSION_NAME AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
                .to_owned(),
            "export AWS_SHARED_CREDENTIALS_FILE=/dev/null".to_owned(),
        ];
        let commands: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(commands, want);
        assert!(
            out.lines()
                .all(|l| !l.starts_with('#') || l.starts_with("# credvend: "))
        );
    }

    #[test]
    fn a_config_profile_with_its_own_credentials_is_hidden_with_its_region_kept() {
        let dir = temp_dir("env-shadow");
        std::fs::create_dir_all(dir.join(".aws")).unwrap();
        std::fs::write(
            dir.join(".aws/config"),
            "[default]\nregion = eu-central-1\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = x\n",
        )
        .unwrap();
        let home = Env::from_pairs([("HOME", dir.display().to_string())]);
        let out = env(&config(&dir), &home, Some("app"), EnvForm::Shell).unwrap();
        assert!(
            out.contains("# credvend: the default profile sets role_arn ("),
            "{out}"
        );
        assert!(out.contains("export AWS_CONFIG_FILE=/dev/null\n"), "{out}");
        assert!(
            out.contains("export AWS_REGION=\"${AWS_REGION:-eu-central-1}\"\n"),
            "{out}"
        );
        // A default profile with only a region shadows nothing.
        std::fs::write(
            dir.join(".aws/config"),
            "[default]\nregion = eu-central-1\n",
        )
        .unwrap();
        let out = env(&config(&dir), &home, Some("app"), EnvForm::Shell).unwrap();
        assert!(!out.contains("AWS_CONFIG_FILE"), "{out}");
    }
}
