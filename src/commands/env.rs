//! `credvend env`: what a client shell (or a `docker run`) needs to use the daemon, for old
//! SDKs as well as new ones, with whatever would shadow credvend switched off.
//!
//! The IMDS endpoint ends in `/` (the AWS CLI v2 builds `base + "latest/api/token"`). The ECS
//! token goes both as the file and, for SDKs that read only the inline variable (Go v1/v2,
//! the CLI v2), as `AWS_CONTAINER_AUTHORIZATION_TOKEN="$(cat FILE)"`: the shell reads the
//! file, so the token itself is never printed. Keys and profiles in the environment, the
//! shared credentials file, and a config-file profile with credentials of its own all come
//! before the container and IMDS providers in every SDK's chain, so they are unset or hidden.

use std::fmt::Write as _;

use super::CommandError;
use crate::config::{Config, EcsListener, ImdsListener};
use crate::env::Env;
use crate::profile::shadow::{self, SHADOWING_VARIABLES};
use crate::profile::{ProfilePaths, ProfileSet};

/// Where a container finds the token file when `--docker` mounts it.
const CONTAINER_TOKEN_PATH: &str = "/run/credvend/ecs-token";

/// Unset too: JS v3 prefers a RELATIVE_URI over the FULL_URI printed here.
const ALSO_UNSET: &[&str] = &["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"];

/// What `env` points clients at.
struct Target<'a> {
    imds: Option<&'a ImdsListener>,
    ecs: Option<(&'a EcsListener, String)>,
}

/// The environment for `profile` (default: the first IMDS listener and the first ECS
/// profile), as shell lines or, with `docker`, `docker run` flags. `env` is the caller's own
/// environment: it tells which config file its clients would read.
pub fn env(
    config: &Config,
    env: &Env,
    profile: Option<&str>,
    docker: bool,
) -> Result<String, CommandError> {
    let target = target(config, profile)?;
    Ok(if docker {
        docker_flags(&target)
    } else {
        shell_lines(&target, env)
    })
}

fn target<'a>(config: &'a Config, profile: Option<&str>) -> Result<Target<'a>, CommandError> {
    let imds = match profile {
        Some(p) => config.imds.iter().find(|l| l.profile == p),
        None => config.imds.first(),
    };
    let ecs = config.ecs.as_ref().and_then(|ecs| {
        let name = match profile {
            Some(p) => ecs.profiles.iter().find(|q| *q == p),
            None => ecs.profiles.first(),
        }?;
        Some((ecs, name.clone()))
    });
    if imds.is_none() && ecs.is_none() {
        return Err(match profile {
            Some(p) => CommandError::NotServed(p.to_owned()),
            None => CommandError::NoListeners,
        });
    }
    Ok(Target { imds, ecs })
}

fn imds_url(listener: &ImdsListener) -> String {
    format!("http://{}/", listener.listen)
}

fn ecs_url(ecs: &EcsListener, profile: &str) -> String {
    format!("http://{}/role/{profile}", ecs.listen)
}

fn shell_lines(target: &Target<'_>, env: &Env) -> String {
    let mut out = String::new();
    if let Some(listener) = target.imds {
        let _ = writeln!(
            out,
            "export AWS_EC2_METADATA_SERVICE_ENDPOINT={}",
            shell_quote(&imds_url(listener))
        );
    }
    if let Some((ecs, profile)) = &target.ecs {
        let file = shell_quote(&ecs.token_file.display().to_string());
        let _ = writeln!(
            out,
            "export AWS_CONTAINER_CREDENTIALS_FULL_URI={}",
            shell_quote(&ecs_url(ecs, profile))
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

fn docker_flags(target: &Target<'_>) -> String {
    let mut flags = Vec::new();
    // The listeners are on loopback: a container reaches them only in the host's network.
    let loopback = target.imds.is_some_and(|l| l.listen.ip().is_loopback())
        || target
            .ecs
            .as_ref()
            .is_some_and(|(e, _)| e.listen.ip().is_loopback());
    if loopback {
        flags.push("--network=host".to_owned());
    }
    let var = |k: &str, v: &str| format!("-e {}", shell_quote(&format!("{k}={v}")));
    if let Some(listener) = target.imds {
        flags.push(var(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            &imds_url(listener),
        ));
    }
    if let Some((ecs, profile)) = &target.ecs {
        let mount = format!("{}:{CONTAINER_TOKEN_PATH}:ro", ecs.token_file.display());
        flags.push(format!("-v {}", shell_quote(&mount)));
        flags.push(var(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            &ecs_url(ecs, profile),
        ));
        flags.push(var(
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            CONTAINER_TOKEN_PATH,
        ));
        // Bare: docker copies the value from the caller's environment (after `eval "$(credvend
        // env)"`), so it never shows on a command line.
        flags.push("-e AWS_CONTAINER_AUTHORIZATION_TOKEN".to_owned());
    }
    flags.join(" ") + "\n"
}

/// Single-quotes `s` for POSIX shells when it holds anything but safe characters.
fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DefaultPaths;
    use crate::test_util::temp_dir;

    fn config(dir: &std::path::Path) -> Config {
        let toml = format!(
            "state_dir = {:?}\n[[imds]]\nlisten = \"127.0.0.1:8169\"\nprofile = \"app\"\n\
             [ecs]\nlisten = \"127.0.0.1:8170\"\nprofiles = [\"app\", \"other\"]\n\
             token_file = {:?}\n",
            dir.display().to_string(),
            dir.join("my token").display().to_string(),
        );
        let env = Env::from_pairs([("HOME", dir.display().to_string())]);
        Config::parse(&toml, None, &DefaultPaths::default(), &env).unwrap()
    }

    #[test]
    fn shell_lines_serve_old_and_new_sdks_and_never_print_the_token() {
        let dir = temp_dir("env");
        let home = Env::from_pairs([("HOME", dir.display().to_string())]);
        let out = env(&config(&dir), &home, None, false).unwrap();
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
        let out = env(&config(&dir), &home, Some("app"), false).unwrap();
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
        let out = env(&config(&dir), &home, Some("app"), false).unwrap();
        assert!(!out.contains("AWS_CONFIG_FILE"), "{out}");
    }

    #[test]
    fn docker_flags_mount_the_token_and_pass_the_inline_one_from_the_caller() {
        let dir = temp_dir("env-docker");
        let out = env(&config(&dir), &Env::default(), Some("other"), true).unwrap();
        assert_eq!(
            out,
            format!(
                "--network=host -v '{}/my token:/run/credvend/ecs-token:ro' \
                 -e AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:8170/role/other \
                 -e AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/run/credvend/ecs-token \
                 -e AWS_CONTAINER_AUTHORIZATION_TOKEN\n",
                dir.display()
            )
        );
    }

    #[test]
    fn a_profile_no_listener_serves_is_a_clear_error() {
        let dir = temp_dir("env-none");
        let err = env(&config(&dir), &Env::default(), Some("ghost"), false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no IMDS or ECS listener serves profile \"ghost\"; add it to the config"
        );
    }

    #[test]
    fn shell_quoting_leaves_safe_words_and_quotes_the_rest() {
        assert_eq!(
            shell_quote("http://127.0.0.1:8169"),
            "http://127.0.0.1:8169"
        );
        assert_eq!(shell_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
