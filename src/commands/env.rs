//! `credvend env`: the variables a client needs to use the configured endpoints, as shell
//! `export` lines or `docker run` flags.

use std::fmt::Write as _;

use super::CommandError;
use crate::config::Config;

/// Where a container finds the token file when `--docker` mounts it.
const CONTAINER_TOKEN_PATH: &str = "/run/credvend/ecs-token";

/// The environment for `profile` (default: the first ECS profile and the first IMDS listener).
pub fn env(config: &Config, profile: Option<&str>, docker: bool) -> Result<String, CommandError> {
    let imds = match profile {
        Some(p) => config.imds.iter().find(|l| l.profile == p),
        None => config.imds.first(),
    };
    let ecs = config.ecs.as_ref().and_then(|ecs| {
        let name = profile.map_or_else(
            || ecs.profiles.first().cloned(),
            |p| ecs.profiles.iter().find(|q| *q == p).cloned(),
        )?;
        Some((ecs, name))
    });
    if imds.is_none() && ecs.is_none() {
        return Err(match profile {
            Some(p) => CommandError::NotServed(p.to_owned()),
            None => CommandError::NoListeners,
        });
    }

    let mut vars: Vec<(&str, String)> = Vec::new();
    if let Some(listener) = imds {
        vars.push((
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://{}", listener.listen),
        ));
    }
    let mut mounts = Vec::new();
    if let Some((ecs, name)) = &ecs {
        vars.push((
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("http://{}/role/{name}", ecs.listen),
        ));
        let token_path = if docker {
            mounts.push(format!(
                "{}:{CONTAINER_TOKEN_PATH}:ro",
                ecs.token_file.display()
            ));
            CONTAINER_TOKEN_PATH.to_owned()
        } else {
            ecs.token_file.display().to_string()
        };
        vars.push(("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_path));
    }

    let mut out = String::new();
    if docker {
        // The listeners are on loopback: a container reaches them only in the host's network.
        let loopback = imds.is_some_and(|l| l.listen.ip().is_loopback())
            || ecs
                .as_ref()
                .is_some_and(|(e, _)| e.listen.ip().is_loopback());
        if loopback {
            out.push_str("--network=host ");
        }
        for mount in &mounts {
            let _ = write!(out, "-v {} ", shell_quote(mount));
        }
        let flags: Vec<String> = vars
            .iter()
            .map(|(k, v)| format!("-e {}", shell_quote(&format!("{k}={v}"))))
            .collect();
        out.push_str(&flags.join(" "));
        out.push('\n');
    } else {
        for (k, v) in &vars {
            let _ = writeln!(out, "export {k}={}", shell_quote(v));
        }
    }
    Ok(out)
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
