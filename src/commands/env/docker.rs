//! `credvend env --docker`: the `docker run` flags that give a container credvend's
//! credentials, without any key or token on the command line.
//!
//! - **Listeners on loopback** (the default config): only the host's network reaches them, so
//!   the flags are `--network=host`, the endpoints as on the host, the token file mounted
//!   read-only, and the inline token named bare (docker copies it from the caller's
//!   environment after `eval "$(credvend env)"`).
//! - **Link-local listeners** (`credvend network up`): the container stays on its bridge and
//!   finds credvend where SDKs look on AWS, with no `--network=host`. IMDS on
//!   169.254.169.254:80 needs no flag at all. ECS goes by default through
//!   `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/<capability id>`, which every SDK
//!   appends to `http://169.254.170.2` (so the listener must be on 169.254.170.2:80); the
//!   unguessable id is the credential, as on ECS, so no token is needed and every SDK takes
//!   it (Go's and Ruby's only take this form). With `--full-uri`: FULL_URI on
//!   169.254.170.23 with the token file mounted read-only, for clients that should present
//!   the token. The capability id is printed, as ECS itself puts it in a task's environment;
//!   the token never is.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use super::target::{EcsTarget, Target, ecs_url, imds_url, preferred, shell_quote};
use crate::server::CapabilityIds;
use crate::server::ecs::CAPABILITIES_FILE;

/// Where a container finds the token file the flags mount.
const CONTAINER_TOKEN_PATH: &str = "/run/credvend/ecs-token";
/// Where SDKs look for IMDS when told nothing.
const IMDS_DEFAULT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)), 80);
/// What `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` is relative to: `http://169.254.170.2`.
const ECS_RELATIVE_BASE: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2)), 80);
/// The ECS address SDKs accept in a plain-http FULL_URI (EKS Pod Identity's).
const ECS_FULL_URI_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 23);

/// Why no flags for a container on a bridge can be printed.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The ECS listener is not where a RELATIVE_URI leads.
    #[error(
        "the ECS listener is on {listen}, but AWS_CONTAINER_CREDENTIALS_RELATIVE_URI always \
         leads to 169.254.170.2:80: listen there{hint}"
    )]
    NoRelativeUriAddress {
        /// The configured ECS addresses.
        listen: String,
        /// How else to get there, if there is a way.
        hint: &'static str,
    },
    /// `--full-uri` without a listener on 169.254.170.23.
    #[error("--full-uri needs an ECS listener on 169.254.170.23; the ECS listener is on {listen}")]
    NoFullUriAddress {
        /// The configured ECS addresses.
        listen: String,
    },
    /// The daemon's capability ids cannot be read.
    #[error(
        "cannot read the ECS capability ids in {path}; `credvend serve` writes them when it starts"
    )]
    Capabilities {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The capability file is not what the daemon writes (never echoed: it holds credentials).
    #[error("{path} is not a json object of profile to capability id")]
    CapabilitiesInvalid {
        /// The file.
        path: PathBuf,
    },
    /// The daemon has given the profile no id yet.
    #[error(
        "{path} has no capability id for profile {profile:?}; restart `credvend serve` to give it one"
    )]
    NoCapability {
        /// The profile.
        profile: String,
        /// The file.
        path: PathBuf,
    },
}

/// The flags for `target`, on one line. `state_dir` holds the daemon's capability ids;
/// `full_uri` picks FULL_URI over RELATIVE_URI for a container on a bridge.
pub(super) fn flags(
    target: &Target<'_>,
    state_dir: &Path,
    full_uri: bool,
) -> Result<String, DockerError> {
    let reachable = |addrs: &[SocketAddr]| addrs.iter().any(|a| !a.ip().is_loopback());
    let on_bridge = target.imds.as_deref().is_none_or(reachable)
        && target.ecs.as_ref().is_none_or(|e| reachable(&e.addrs));
    let flags = if on_bridge {
        bridge(target, state_dir, full_uri)?
    } else {
        host(target)
    };
    Ok(flags.join(" ") + "\n")
}

/// A listener only on loopback: the container joins the host's network.
fn host(target: &Target<'_>) -> Vec<String> {
    let mut flags = vec!["--network=host".to_owned()];
    if let Some(addr) = target.imds.as_deref().and_then(preferred) {
        flags.push(var("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds_url(addr)));
    }
    if let Some(ecs) = &target.ecs
        && let Some(addr) = preferred(&ecs.addrs)
    {
        full_uri_flags(&mut flags, ecs, &ecs_url(addr, &ecs.profile));
        // Bare: docker copies the value from the caller's environment (after `eval "$(credvend
        // env)"`), so it never shows on a command line.
        flags.push("-e AWS_CONTAINER_AUTHORIZATION_TOKEN".to_owned());
    }
    flags
}

/// Every listener has an address a container reaches from its bridge.
fn bridge(
    target: &Target<'_>,
    state_dir: &Path,
    full_uri: bool,
) -> Result<Vec<String>, DockerError> {
    let mut flags = Vec::new();
    // SDKs find IMDS at 169.254.169.254:80 by themselves; anywhere else they must be told.
    if let Some(addrs) = &target.imds
        && !addrs.contains(&IMDS_DEFAULT)
        && let Some(addr) = addrs.iter().find(|a| !a.ip().is_loopback())
    {
        flags.push(var("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds_url(*addr)));
    }
    let Some(ecs) = &target.ecs else {
        return Ok(flags);
    };
    let full_uri_addr = ecs
        .addrs
        .iter()
        .find(|a| a.ip() == IpAddr::V4(ECS_FULL_URI_IP));
    if full_uri {
        let addr = full_uri_addr.ok_or_else(|| DockerError::NoFullUriAddress {
            listen: list(&ecs.addrs),
        })?;
        // Port 80 left out, as SDKs and EKS write the URL.
        let host = if addr.port() == 80 {
            addr.ip().to_string()
        } else {
            addr.to_string()
        };
        let url = format!("http://{host}/role/{}", ecs.profile);
        full_uri_flags(&mut flags, ecs, &url);
        return Ok(flags);
    }
    if !ecs.addrs.contains(&ECS_RELATIVE_BASE) {
        return Err(DockerError::NoRelativeUriAddress {
            listen: list(&ecs.addrs),
            hint: if full_uri_addr.is_some() {
                ", or pass --full-uri to use the listener on 169.254.170.23"
            } else {
                ""
            },
        });
    }
    let uri = relative_uri(state_dir, &ecs.profile)?;
    flags.push(var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", &uri));
    Ok(flags)
}

/// FULL_URI `url`, with the token file mounted read-only and named.
fn full_uri_flags(flags: &mut Vec<String>, ecs: &EcsTarget<'_>, url: &str) {
    let mount = format!("{}:{CONTAINER_TOKEN_PATH}:ro", ecs.token_file.display());
    flags.push(format!("-v {}", shell_quote(&mount)));
    flags.push(var("AWS_CONTAINER_CREDENTIALS_FULL_URI", url));
    flags.push(var(
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        CONTAINER_TOKEN_PATH,
    ));
}

/// `/v2/credentials/<id>` of `profile`, from the ids the daemon keeps in `state_dir`. Only
/// read: the daemon creates them, and ids written here would not be the ones it serves.
fn relative_uri(state_dir: &Path, profile: &str) -> Result<String, DockerError> {
    let path = state_dir.join(CAPABILITIES_FILE);
    let raw = crate::files::read_text(&path).map_err(|source| DockerError::Capabilities {
        path: path.clone(),
        source,
    })?;
    let ids: BTreeMap<String, String> = serde_json::from_str(&raw)
        .map_err(|_| DockerError::CapabilitiesInvalid { path: path.clone() })?;
    CapabilityIds(ids)
        .relative_uri(profile)
        .ok_or_else(|| DockerError::NoCapability {
            profile: profile.to_owned(),
            path,
        })
}

fn var(name: &str, value: &str) -> String {
    format!("-e {}", shell_quote(&format!("{name}={value}")))
}

fn list(addrs: &[SocketAddr]) -> String {
    let words: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    words.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::env::tests::config;
    use crate::commands::env::{EnvForm, env};
    use crate::config::{Config, DefaultPaths};
    use crate::env::Env;
    use crate::test_util::temp_dir;

    const APP_ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const TOKEN: &str = "TOKENMARKER-0123456789abcdef0123456789";

    /// IMDS on 169.254.169.254:80 and ECS on `ecs_listen`, as `credvend network up` sets up,
    /// with the daemon's state (token, capability ids) in `dir`.
    fn link_local(dir: &Path, ecs_listen: &str) -> Config {
        let toml = format!(
            "state_dir = {:?}\n[[imds]]\nlisten = \"169.254.169.254:80\"\nprofile = \"app\"\n\
             allowed_networks = [\"172.17.0.0/16\"]\n\
             [ecs]\nlisten = \"{ecs_listen}\"\nprofiles = [\"app\"]\ntoken_file = {:?}\n\
             allowed_networks = [\"172.17.0.0/16\"]\n",
            dir.display().to_string(),
            dir.join("ecs-token").display().to_string(),
        );
        std::fs::write(dir.join("ecs-token"), TOKEN).unwrap();
        std::fs::write(
            dir.join(CAPABILITIES_FILE),
            format!("{{\"app\": \"{APP_ID}\"}}"),
        )
        .unwrap();
        let env = Env::from_pairs([("HOME", dir.display().to_string())]);
        Config::parse(&toml, None, &DefaultPaths::default(), &env).unwrap()
    }

    fn docker(config: &Config, full_uri: bool) -> Result<String, String> {
        env(config, &Env::default(), None, EnvForm::Docker { full_uri }).map_err(|e| e.to_string())
    }

    #[test]
    fn on_loopback_the_container_joins_the_host_network_and_gets_the_token_file() {
        let dir = temp_dir("env-docker");
        let out = env(
            &config(&dir),
            &Env::default(),
            Some("other"),
            EnvForm::Docker { full_uri: false },
        )
        .unwrap();
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
    fn on_169_254_170_2_a_bridged_container_gets_only_the_relative_uri() {
        let dir = temp_dir("env-docker-2");
        let config = link_local(&dir, "169.254.170.2:80");
        let want = format!("-e AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/{APP_ID}\n");
        assert_eq!(docker(&config, false).unwrap(), want);
        assert_eq!(
            docker(&config, true).unwrap_err(),
            "--full-uri needs an ECS listener on 169.254.170.23; the ECS listener is on 169.254.170.2:80"
        );
        // The ids are the daemon's: env never makes them up.
        std::fs::write(dir.join(CAPABILITIES_FILE), "{\"other\": \"00\"}").unwrap();
        let err = docker(&config, false).unwrap_err();
        assert!(
            err.contains("no capability id for profile \"app\""),
            "{err}"
        );
        std::fs::remove_file(dir.join(CAPABILITIES_FILE)).unwrap();
        let err = docker(&config, false).unwrap_err();
        assert!(
            err.starts_with("cannot read the ECS capability ids in "),
            "{err}"
        );
        assert!(!dir.join(CAPABILITIES_FILE).exists());
    }

    #[test]
    fn with_169_254_170_23_too_full_uri_mounts_the_token_file_and_never_prints_the_token() {
        let dir = temp_dir("env-docker-23");
        let config = link_local(&dir, "169.254.170.2:80");
        let ecs = config.ecs.as_ref().unwrap();
        // Two ECS addresses, as a `listen` list gives them.
        let target = Target {
            imds: Some(vec![IMDS_DEFAULT]),
            ecs: Some(EcsTarget {
                addrs: vec![ECS_RELATIVE_BASE, "169.254.170.23:80".parse().unwrap()],
                token_file: &ecs.token_file,
                profile: "app".to_owned(),
            }),
        };
        let relative = flags(&target, &dir, false).unwrap();
        assert_eq!(
            relative,
            format!("-e AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/{APP_ID}\n")
        );
        let full = flags(&target, &dir, true).unwrap();
        assert_eq!(
            full,
            format!(
                "-v {}/ecs-token:/run/credvend/ecs-token:ro \
                 -e AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23/role/app \
                 -e AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/run/credvend/ecs-token\n",
                dir.display()
            )
        );
        assert!(!format!("{relative}{full}").contains("TOKENMARKER"));
        assert!(!full.contains("--network"));
    }

    #[test]
    fn on_169_254_170_23_alone_the_relative_uri_is_refused_with_the_way_out() {
        let dir = temp_dir("env-docker-23-only");
        let config = link_local(&dir, "169.254.170.23:8080");
        assert_eq!(
            docker(&config, false).unwrap_err(),
            "the ECS listener is on 169.254.170.23:8080, but AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
             always leads to 169.254.170.2:80: listen there, or pass --full-uri to use the \
             listener on 169.254.170.23"
        );
        let full = docker(&config, true).unwrap();
        assert!(
            full.contains(
                " -e AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23:8080/role/app "
            ),
            "{full}"
        );
    }

    #[test]
    fn imds_elsewhere_than_169_254_169_254_80_is_named() {
        let dir = temp_dir("env-docker-imds");
        let config = link_local(&dir, "169.254.170.2:80");
        let target = Target {
            imds: Some(vec!["172.17.0.1:8169".parse().unwrap()]),
            ecs: None,
        };
        assert_eq!(
            flags(&target, &dir, false).unwrap(),
            "-e AWS_EC2_METADATA_SERVICE_ENDPOINT=http://172.17.0.1:8169/\n"
        );
        // A listener only on loopback takes the host's network, whatever the others are on.
        let ecs = config.ecs.as_ref().unwrap();
        let mixed = Target {
            imds: Some(vec![IMDS_DEFAULT]),
            ecs: Some(EcsTarget {
                addrs: vec!["127.0.0.1:8170".parse().unwrap()],
                token_file: &ecs.token_file,
                profile: "app".to_owned(),
            }),
        };
        let out = flags(&mixed, &dir, false).unwrap();
        assert!(
            out.starts_with(
                "--network=host -e AWS_EC2_METADATA_SERVICE_ENDPOINT=http://169.254.169.254:80/ "
            ),
            "{out}"
        );
    }
}
