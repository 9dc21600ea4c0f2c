//! The AWS SDK for Go v2 1.17.1 (Debian's packaged sources; `tests/peers/go/identity.go`,
//! built by scripts/test into `.peers/go`): `ec2rolecreds` with the IMDS client,
//! `endpointcreds`, and `config.LoadDefaultConfig`'s default chain, each followed by the SDK's
//! own STS GetCallerIdentity at moto.
//!
//! This version reads no `AWS_ENDPOINT_URL_STS`, so the program takes moto's URL from
//! `CREDVEND_TEST_STS_URL`; it also refuses DNS lookups and non-loopback connections in its
//! own HTTP clients. The gaps of this version are asserted as failures, not skipped.

use std::path::PathBuf;

use super::{Peer, daemon, field, served_arn};
use crate::support::daemon::Daemon;
use crate::support::http::imds_credentials;
use crate::support::moto::Seeded;
use crate::support::{peers_dir, require};

/// The role session name of the SDK's own hop in the `credential_source` chain.
const GO_SESSION: &str = "go-chain";

fn program() -> Option<PathBuf> {
    require("AWS SDK for Go v2", peers_dir().join("go/identity"))
}

/// The scrubbed environment plus the program's STS endpoint (moto).
fn peer(moto: &Seeded) -> Peer {
    Peer::new(moto).set("CREDVEND_TEST_STS_URL", &moto.url)
}

/// Runs the program in `mode` (`imds`, `container`, `chain`); its JSON answer.
fn identity(peer: &Peer, daemon: &Daemon, mode: &str) -> serde_json::Value {
    let program = program().expect("checked by the caller");
    peer.json(daemon, &program, &[mode])
}

/// Runs the program in `mode` where it must fail; its stderr.
fn failure(peer: &Peer, mode: &str) -> String {
    let program = program().expect("checked by the caller");
    peer.failure(&program, &[mode])
}

fn imds_case(imdsv1: bool) {
    if program().is_none() {
        return;
    }
    let Some((moto, daemon)) = daemon(&[imdsv1]) else {
        return;
    };
    let url = daemon.imds_url(imdsv1);
    let answer = identity(&peer(moto).imds(&url), &daemon, "imds");
    assert_eq!(field(&answer, "arn"), served_arn(moto));
    assert_eq!(field(&answer, "source"), "EC2RoleProvider");
    let (_, served) = imds_credentials(&url);
    assert_eq!(answer["access_key_id"], served["AccessKeyId"]);
}

#[test]
fn go_v2_ec2rolecreds_gets_the_served_role_where_imdsv1_is_allowed() {
    imds_case(true);
}

#[test]
fn go_v2_ec2rolecreds_gets_the_served_role_from_an_imdsv2_only_listener() {
    imds_case(false);
}

#[test]
fn go_v2_endpointcreds_gets_the_served_role_with_the_inline_token() {
    if program().is_none() {
        return;
    }
    let Some((moto, daemon)) = daemon(&[]) else {
        return;
    };
    let peer = peer(moto).ecs_token(&daemon.ecs_role_url("app"), &daemon.token());
    let answer = identity(&peer, &daemon, "container");
    assert_eq!(field(&answer, "arn"), served_arn(moto));
    assert_eq!(field(&answer, "source"), "CredentialsEndpointProvider");
}

#[test]
fn go_v2_default_chain_gets_the_served_role_from_imds() {
    if program().is_none() {
        return;
    }
    let Some((moto, daemon)) = daemon(&[false]) else {
        return;
    };
    let answer = identity(&peer(moto).imds(&daemon.imds_url(false)), &daemon, "chain");
    assert_eq!(field(&answer, "arn"), served_arn(moto));
    assert_eq!(field(&answer, "source"), "EC2RoleProvider");
}

#[test]
fn go_v2_default_chain_gets_the_served_role_from_the_container_endpoint() {
    if program().is_none() {
        return;
    }
    let Some((moto, daemon)) = daemon(&[]) else {
        return;
    };
    // IMDS stays disabled (the scrubbed env), so the chain cannot fall through to it.
    let peer = peer(moto).ecs_token(&daemon.ecs_role_url("app"), &daemon.token());
    let answer = identity(&peer, &daemon, "chain");
    assert_eq!(field(&answer, "arn"), served_arn(moto));
    assert_eq!(field(&answer, "source"), "CredentialsEndpointProvider");
}

#[test]
fn go_v2_default_chain_assumes_a_role_from_ec2_instance_metadata() {
    if program().is_none() {
        return;
    }
    let Some((moto, daemon)) = daemon(&[false]) else {
        return;
    };
    let profile = format!(
        "[profile chain]\nrole_arn = {}\ncredential_source = Ec2InstanceMetadata\nrole_session_name = {GO_SESSION}\n",
        moto.role("second")
    );
    let peer = peer(moto)
        .imds(&daemon.imds_url(false))
        .set("AWS_PROFILE", "chain")
        .aws_config(&profile);
    let answer = identity(&peer, &daemon, "chain");
    assert_eq!(field(&answer, "arn"), moto.assumed("second", GO_SESSION));
    assert_eq!(field(&answer, "source"), "AssumeRoleProvider");
}

/// Gap: this version reads only `AWS_CONTAINER_AUTHORIZATION_TOKEN`. With the token in a file
/// it asks credvend without `Authorization` and gets 401 (credvend's `MissingAuthorization`).
#[test]
fn go_v2_default_chain_does_not_read_the_container_token_file() {
    if program().is_none() {
        return;
    }
    let Some((moto, daemon)) = daemon(&[]) else {
        return;
    };
    let peer = peer(moto).ecs_token_file(&daemon.ecs_role_url("app"), &daemon.token_file());
    let stderr = failure(&peer, "chain");
    assert!(
        stderr.contains("retrieve credentials") && stderr.contains("MissingAuthorization"),
        "expected credvend's 401 for a request without the token:\n{stderr}"
    );
}

/// Gap: `credential_source = EcsContainer` requires `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`
/// (the fixed 169.254.170.2 address); `FULL_URI` is not enough. The SDK refuses while loading
/// its config, before any request.
#[test]
fn go_v2_credential_source_ecs_container_ignores_the_full_uri() {
    if program().is_none() {
        return;
    }
    let Some((moto, daemon)) = daemon(&[]) else {
        return;
    };
    let profile = format!(
        "[profile chain]\nrole_arn = {}\ncredential_source = EcsContainer\nrole_session_name = {GO_SESSION}\n",
        moto.role("second")
    );
    let peer = peer(moto)
        .ecs_token(&daemon.ecs_role_url("app"), &daemon.token())
        .set("AWS_PROFILE", "chain")
        .aws_config(&profile);
    let stderr = failure(&peer, "chain");
    assert!(
        stderr.contains("load config") && stderr.contains("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
        "expected the SDK to ask for RELATIVE_URI:\n{stderr}"
    );
}

/// Gap: this version ignores `AWS_ENDPOINT_URL_STS` (which the peer still has): without the
/// endpoint in code, STS goes to the real regional endpoint, which the dead proxy refuses. The
/// credentials themselves came from credvend first.
#[test]
fn go_v2_ignores_aws_endpoint_url_sts() {
    if program().is_none() {
        return;
    }
    let Some((moto, daemon)) = daemon(&[]) else {
        return;
    };
    // One attempt (the SDK's own knob), so the failure comes without the retries' backoff.
    let peer = peer(moto)
        .unset("CREDVEND_TEST_STS_URL")
        .set("AWS_MAX_ATTEMPTS", "1")
        .ecs_token(&daemon.ecs_role_url("app"), &daemon.token());
    assert!(peer.vars().iter().any(|(k, _)| k == "AWS_ENDPOINT_URL_STS"));
    let stderr = failure(&peer, "chain");
    assert!(
        stderr.contains("GetCallerIdentity")
            && stderr.contains("sts.us-east-1.amazonaws.com")
            && stderr.contains("127.0.0.1:9"),
        "expected GetCallerIdentity at the real STS endpoint, refused by the dead proxy:\n{stderr}"
    );
}
