//! The AWS CLI v2 2.9.19 (Debian's `awscli`, always `/usr/bin/aws`: the venv's `aws` is the
//! CLI v1): `aws sts get-caller-identity` with credentials from IMDS and from the container
//! endpoint, and through profiles whose `credential_source` is credvend.
//!
//! This version has no way to configure a service endpoint (no `AWS_ENDPOINT_URL_STS`, no
//! `[services]`), and `--endpoint-url` reaches only the command's own client. The chain tests
//! therefore load a small CLI plugin (`tests/peers/cli_v2/credvend_sts_endpoint.py`) that points
//! every STS client at `CREDVEND_TEST_STS_URL`. The version's gaps are asserted as failures.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::{Peer, daemon, field, peer_file, served_arn};
use crate::support::daemon::Daemon;
use crate::support::home::text;
use crate::support::moto::Seeded;
use crate::support::require;

/// Debian's CLI v2; never a bare `aws`, which may be the venv's v1.
const AWS_V2: &str = "/usr/bin/aws";

/// The role session name of the CLI's own hop, so the final ARN is exact.
const CLI_SESSION: &str = "cli-v2-chain";

/// `/usr/bin/aws`, checked once to be a CLI v2; `None` when missing (a failure under CI).
fn aws() -> Option<PathBuf> {
    let aws = require("AWS CLI v2 (Debian's awscli)", PathBuf::from(AWS_V2))?;
    static VERSION: OnceLock<String> = OnceLock::new();
    let version = VERSION.get_or_init(|| {
        let out = std::process::Command::new(&aws)
            .arg("--version")
            .env_clear()
            .envs(crate::support::scrubbed_env(None))
            .output()
            .expect("run aws --version");
        text(&out.stdout)
    });
    assert!(
        version.starts_with("aws-cli/2."),
        "{AWS_V2} is not the AWS CLI v2: {version:?}"
    );
    Some(aws)
}

/// The scrubbed environment for the CLI v2: no pager, and no `__pycache__` written next to the
/// plugin in the source tree.
fn peer(moto: &Seeded) -> Peer {
    Peer::new(moto)
        .set("AWS_PAGER", "")
        .set("PYTHONDONTWRITEBYTECODE", "1")
}

/// Like [`peer`], for a run expected to fail: one attempt per request (the CLI's own knob),
/// so the failure comes at once instead of after its retries.
fn failing_peer(moto: &Seeded) -> Peer {
    peer(moto).set("AWS_MAX_ATTEMPTS", "1")
}

/// `aws sts get-caller-identity`, with `--endpoint-url` at moto when given.
fn args(endpoint: Option<&str>) -> Vec<&str> {
    let mut args = vec!["sts", "get-caller-identity", "--output", "json"];
    if let Some(url) = endpoint {
        args.extend(["--endpoint-url", url]);
    }
    args
}

fn caller_identity(peer: &Peer, daemon: &Daemon, endpoint: Option<&str>) -> serde_json::Value {
    peer.json(daemon, Path::new(AWS_V2), &args(endpoint))
}

fn failure(peer: &Peer, endpoint: Option<&str>) -> String {
    peer.failure(Path::new(AWS_V2), &args(endpoint))
}

/// A profile `chain` that assumes role `second` with credentials from `source`, and loads the
/// STS endpoint plugin when `plugin` is set.
fn chain_profile(moto: &Seeded, source: &str, plugin: bool) -> String {
    let mut config = format!(
        "[profile chain]\nrole_arn = {}\ncredential_source = {source}\nrole_session_name = {CLI_SESSION}\n",
        moto.role("second")
    );
    if plugin {
        config.push_str(&format!(
            "\n[plugins]\ncli_legacy_plugin_path = {}\ncredvend_sts_endpoint = credvend_sts_endpoint\n",
            peer_file("cli_v2").display()
        ));
    }
    config
}

/// The CLI v2 joins `AWS_EC2_METADATA_SERVICE_ENDPOINT` and `latest/api/token` without a
/// separator: the endpoint needs its trailing slash (see the gap test below).
fn imds_endpoint(listener: &str) -> String {
    format!("{listener}/")
}

#[test]
fn cli_v2_gets_the_served_role_from_both_kinds_of_imds_listener() {
    if aws().is_none() {
        return;
    }
    let Some((moto, daemon)) = daemon(&[true, false]) else {
        return;
    };
    for imdsv1 in [true, false] {
        let peer = peer(moto)
            .imds(&imds_endpoint(&daemon.imds_url(imdsv1)))
            .set("AWS_METADATA_SERVICE_TIMEOUT", "5");
        let identity = caller_identity(&peer, &daemon, Some(&moto.url));
        assert_eq!(
            field(&identity, "Arn"),
            served_arn(moto),
            "imdsv1 = {imdsv1}"
        );
        assert_eq!(field(&identity, "Account"), moto.account);
    }
}

/// Gap: without the trailing slash the CLI v2 builds `http://127.0.0.1:PORTlatest/api/token`
/// and refuses it as an invalid endpoint, before any request.
#[test]
fn cli_v2_refuses_an_imds_endpoint_without_a_trailing_slash() {
    if aws().is_none() {
        return;
    }
    let Some((moto, daemon)) = daemon(&[false]) else {
        return;
    };
    let url = daemon.imds_url(false);
    let peer = failing_peer(moto)
        .imds(&url)
        .set("AWS_METADATA_SERVICE_TIMEOUT", "5");
    let stderr = failure(&peer, Some(&moto.url));
    assert!(
        stderr.contains("Invalid endpoint EC2 Instance Metadata endpoint")
            && stderr.contains(&format!("{url}latest/api/token")),
        "expected the CLI to refuse the joined URL:\n{stderr}"
    );
}

#[test]
fn cli_v2_gets_the_served_role_from_the_container_endpoint_with_the_inline_token() {
    if aws().is_none() {
        return;
    }
    let Some((moto, daemon)) = daemon(&[]) else {
        return;
    };
    let peer = peer(moto).ecs_token(&daemon.ecs_role_url("app"), &daemon.token());
    let identity = caller_identity(&peer, &daemon, Some(&moto.url));
    assert_eq!(field(&identity, "Arn"), served_arn(moto));
}

/// Gap: the CLI v2 2.9 reads only `AWS_CONTAINER_AUTHORIZATION_TOKEN`; with the token in a
/// file it asks without `Authorization`, gets credvend's 401, and does not fall back to IMDS.
#[test]
fn cli_v2_does_not_read_the_container_token_file() {
    if aws().is_none() {
        return;
    }
    let Some((moto, daemon)) = daemon(&[]) else {
        return;
    };
    let peer = failing_peer(moto).ecs_token_file(&daemon.ecs_role_url("app"), &daemon.token_file());
    let stderr = failure(&peer, Some(&moto.url));
    assert!(
        stderr.contains("container-role") && stderr.contains("MissingAuthorization"),
        "expected credvend's 401 for a request without the token:\n{stderr}"
    );
}

#[test]
fn cli_v2_chains_a_role_from_ec2_instance_metadata() {
    if aws().is_none() {
        return;
    }
    let Some((moto, daemon)) = daemon(&[false]) else {
        return;
    };
    let peer = peer(moto)
        .imds(&imds_endpoint(&daemon.imds_url(false)))
        .set("AWS_METADATA_SERVICE_TIMEOUT", "5")
        .set("AWS_PROFILE", "chain")
        .set("CREDVEND_TEST_STS_URL", &moto.url)
        .aws_config(&chain_profile(moto, "Ec2InstanceMetadata", true));
    let identity = caller_identity(&peer, &daemon, None);
    assert_eq!(field(&identity, "Arn"), moto.assumed("second", CLI_SESSION));
}

#[test]
fn cli_v2_chains_a_role_from_the_container_endpoint() {
    if aws().is_none() {
        return;
    }
    let Some((moto, daemon)) = daemon(&[]) else {
        return;
    };
    let peer = peer(moto)
        .ecs_token(&daemon.ecs_role_url("app"), &daemon.token())
        .set("AWS_PROFILE", "chain")
        .set("CREDVEND_TEST_STS_URL", &moto.url)
        .aws_config(&chain_profile(moto, "EcsContainer", true));
    let identity = caller_identity(&peer, &daemon, None);
    assert_eq!(field(&identity, "Arn"), moto.assumed("second", CLI_SESSION));
}

/// Gap: the CLI v2 2.9 reads no STS endpoint from the environment. With the credentials from
/// credvend and only `AWS_ENDPOINT_URL_STS` (which every peer has) pointing at moto, the call
/// goes to the real endpoint, which the dead proxy refuses.
#[test]
fn cli_v2_ignores_aws_endpoint_url_sts() {
    if aws().is_none() {
        return;
    }
    let Some((moto, daemon)) = daemon(&[]) else {
        return;
    };
    let peer = failing_peer(moto).ecs_token(&daemon.ecs_role_url("app"), &daemon.token());
    assert!(peer.vars().iter().any(|(k, _)| k == "AWS_ENDPOINT_URL_STS"));
    let stderr = failure(&peer, None);
    assert!(
        stderr.contains("Failed to connect to proxy URL"),
        "expected the call to go to the real STS (the dead proxy):\n{stderr}"
    );
}

/// Gap: `--endpoint-url` (and `AWS_ENDPOINT_URL_STS`, and a `[services]` section, which only
/// later CLI versions read) do not reach the STS client that `credential_source` creates for
/// its AssumeRole, so without the plugin that call goes to the real STS (the dead proxy).
#[test]
fn cli_v2_endpoint_url_does_not_reach_the_credential_source_assume_role() {
    if aws().is_none() {
        return;
    }
    let Some((moto, daemon)) = daemon(&[false]) else {
        return;
    };
    let config = format!(
        "{}services = test-sts\n\n[services test-sts]\nsts =\n  endpoint_url = {}\n",
        chain_profile(moto, "Ec2InstanceMetadata", false),
        moto.url
    );
    let peer = failing_peer(moto)
        .imds(&imds_endpoint(&daemon.imds_url(false)))
        .set("AWS_METADATA_SERVICE_TIMEOUT", "5")
        .set("AWS_PROFILE", "chain")
        .aws_config(&config);
    let stderr = failure(&peer, Some(&moto.url));
    assert!(
        stderr.contains("Failed to connect to proxy URL"),
        "expected the AssumeRole call to go to the real STS (the dead proxy):\n{stderr}"
    );
}
