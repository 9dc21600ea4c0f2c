//! The AWS SDK for JavaScript v3 (`fromInstanceMetadata`, `fromContainerMetadata`, the node
//! default chain) and the legacy v2 SDK (`EC2MetadataCredentials`, `RemoteCredentials`), each
//! followed by its own STS client's GetCallerIdentity at moto.

use std::path::PathBuf;

use super::{Peer, daemon, field, peer_file, served_arn};
use crate::support::daemon::Daemon;
use crate::support::http::imds_credentials;
use crate::support::{peers_dir, require};

/// `node` and the installed `node_modules` (NODE_PATH), or `None` when missing.
fn node() -> Option<(PathBuf, PathBuf)> {
    let modules = require("JavaScript SDKs", peers_dir().join("js/node_modules"))?;
    let node = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("node"))
        .find(|p| p.is_file());
    let node = require("node", node.unwrap_or_else(|| PathBuf::from("node")))?;
    Some((node, modules))
}

/// Runs the identity script with `mode`; its JSON answer.
fn identity(peer: Peer, daemon: &Daemon, mode: &str) -> Option<serde_json::Value> {
    let (node, modules) = node()?;
    let peer = peer
        .set("NODE_PATH", modules.display().to_string())
        .set("AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE", "1");
    let script = peer_file("js/identity.cjs").display().to_string();
    Some(peer.json(daemon, &node, &[&script, mode]))
}

#[test]
fn js_v3_from_instance_metadata_gets_the_served_role() {
    let Some((moto, daemon)) = daemon(&[false]) else {
        return;
    };
    let url = daemon.imds_url(false);
    let Some(answer) = identity(Peer::new(moto).imds(&url), &daemon, "v3-imds") else {
        return;
    };
    assert_eq!(field(&answer, "arn"), served_arn(moto));
    let (_, served) = imds_credentials(&url);
    assert_eq!(answer["access_key_id"], served["AccessKeyId"]);
}

#[test]
fn js_v3_from_container_metadata_gets_the_served_role() {
    let Some((moto, daemon)) = daemon(&[]) else {
        return;
    };
    let peer = Peer::new(moto).ecs_token(&daemon.ecs_role_url("app"), &daemon.token());
    let Some(answer) = identity(peer, &daemon, "v3-container") else {
        return;
    };
    assert_eq!(field(&answer, "arn"), served_arn(moto));
}

#[test]
fn js_v3_node_default_chain_gets_the_served_role_from_imds() {
    let Some((moto, daemon)) = daemon(&[false]) else {
        return;
    };
    let peer = Peer::new(moto).imds(&daemon.imds_url(false));
    let Some(answer) = identity(peer, &daemon, "v3-chain") else {
        return;
    };
    assert_eq!(field(&answer, "arn"), served_arn(moto));
}

#[test]
fn js_v3_node_default_chain_gets_the_served_role_from_the_container_endpoint() {
    let Some((moto, daemon)) = daemon(&[]) else {
        return;
    };
    // The chain tries fromHttp first, which reads the token file.
    let peer = Peer::new(moto).ecs_token_file(&daemon.ecs_role_url("app"), &daemon.token_file());
    let Some(answer) = identity(peer, &daemon, "v3-chain") else {
        return;
    };
    assert_eq!(field(&answer, "arn"), served_arn(moto));
}

#[test]
fn js_v2_ec2_metadata_credentials_get_the_served_role() {
    let Some((moto, daemon)) = daemon(&[false]) else {
        return;
    };
    let peer = Peer::new(moto).imds(&daemon.imds_url(false));
    let Some(answer) = identity(peer, &daemon, "v2-ec2") else {
        return;
    };
    assert_eq!(field(&answer, "arn"), served_arn(moto));
}

#[test]
fn js_v2_remote_credentials_get_the_served_role() {
    let Some((moto, daemon)) = daemon(&[]) else {
        return;
    };
    let peer = Peer::new(moto).ecs_token(&daemon.ecs_role_url("app"), &daemon.token());
    let Some(answer) = identity(peer, &daemon, "v2-remote") else {
        return;
    };
    assert_eq!(field(&answer, "arn"), served_arn(moto));
}
