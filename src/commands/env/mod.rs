//! `credvend env`: what a client shell (or a `docker run`) needs to use the daemon, for old
//! SDKs as well as new ones, with whatever would shadow credvend switched off.
//!
//! - `target.rs`: the listeners serving the profile, and how URLs and words are written;
//! - `shell.rs`: `export` lines for a shell;
//! - `docker.rs`: `docker run` flags, for the host's network or a bridge.

mod docker;
mod shell;
mod target;

pub use docker::DockerError;

use super::CommandError;
use crate::config::Config;
use crate::env::Env;

/// What `env` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvForm {
    /// Shell `export` and `unset` lines.
    Shell,
    /// `docker run` flags; `full_uri` picks FULL_URI on 169.254.170.23 over RELATIVE_URI for
    /// a container on a bridge.
    Docker {
        /// `--full-uri`.
        full_uri: bool,
    },
}

/// The environment for `profile` (default: the first IMDS listener and the first ECS
/// profile), in `form`. `env` is the caller's own environment: it tells which config file its
/// clients would read.
pub fn env(
    config: &Config,
    env: &Env,
    profile: Option<&str>,
    form: EnvForm,
) -> Result<String, CommandError> {
    let target = target::select(config, profile)?;
    Ok(match form {
        EnvForm::Shell => shell::lines(&target, env),
        EnvForm::Docker { full_uri } => docker::flags(&target, &config.state_dir, full_uri)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DefaultPaths;
    use crate::test_util::temp_dir;

    /// Loopback listeners: IMDS serving `app`, ECS serving `app` and `other`.
    pub(super) fn config(dir: &std::path::Path) -> Config {
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
    fn a_profile_no_listener_serves_is_a_clear_error() {
        let dir = temp_dir("env-none");
        let err = env(
            &config(&dir),
            &Env::default(),
            Some("ghost"),
            EnvForm::Shell,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no IMDS or ECS listener serves profile \"ghost\"; add it to the config"
        );
    }
}
