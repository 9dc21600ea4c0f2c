//! The AWS CLI v1: `aws sts get-caller-identity` with credentials from IMDS, and through
//! profiles whose `credential_source` is credvend (`Ec2InstanceMetadata`, `EcsContainer`):
//! the CLI takes credvend's credentials and assumes a second role at moto with them.

use std::path::PathBuf;

use super::{Peer, daemon, field, served_arn};
use crate::support::moto::Seeded;
use crate::support::{peers_dir, require};

/// The role session name of the CLI's own hop, so the final ARN is exact.
const CLI_SESSION: &str = "cli-chain";

fn aws() -> Option<PathBuf> {
    require("AWS CLI v1", peers_dir().join("venv/bin/aws"))
}

fn caller_identity(peer: &Peer, daemon: &crate::support::daemon::Daemon) -> serde_json::Value {
    let aws = aws().expect("checked by the caller");
    peer.json(
        daemon,
        &aws,
        &["sts", "get-caller-identity", "--output", "json"],
    )
}

/// A profile `chain` that assumes role `second` with credentials from `source`.
fn chain_profile(moto: &Seeded, source: &str) -> String {
    format!(
        "[profile chain]\nrole_arn = {}\ncredential_source = {source}\nrole_session_name = {CLI_SESSION}\n",
        moto.role("second")
    )
}

#[test]
fn the_cli_gets_the_served_role_from_imds() {
    let Some((moto, daemon)) = daemon(&[false]) else {
        return;
    };
    if aws().is_none() {
        return;
    }
    let peer = Peer::new(moto)
        .imds(&daemon.imds_url(false))
        .set("AWS_METADATA_SERVICE_TIMEOUT", "5");
    let identity = caller_identity(&peer, &daemon);
    assert_eq!(field(&identity, "Arn"), served_arn(moto));
    assert_eq!(field(&identity, "Account"), moto.account);
}

#[test]
fn the_cli_chains_a_role_from_ec2_instance_metadata() {
    let Some((moto, daemon)) = daemon(&[false]) else {
        return;
    };
    if aws().is_none() {
        return;
    }
    let peer = Peer::new(moto)
        .imds(&daemon.imds_url(false))
        .set("AWS_METADATA_SERVICE_TIMEOUT", "5")
        .set("AWS_PROFILE", "chain")
        .aws_config(&chain_profile(moto, "Ec2InstanceMetadata"));
    let identity = caller_identity(&peer, &daemon);
    assert_eq!(field(&identity, "Arn"), moto.assumed("second", CLI_SESSION));
}

#[test]
fn the_cli_chains_a_role_from_the_container_endpoint() {
    let Some((moto, daemon)) = daemon(&[]) else {
        return;
    };
    if aws().is_none() {
        return;
    }
    let peer = Peer::new(moto)
        .ecs_token_file(&daemon.ecs_role_url("app"), &daemon.token_file())
        .set("AWS_PROFILE", "chain")
        .aws_config(&chain_profile(moto, "EcsContainer"));
    let identity = caller_identity(&peer, &daemon);
    assert_eq!(field(&identity, "Arn"), moto.assumed("second", CLI_SESSION));
}
