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

/// How a case points the client at the daemon.
#[derive(Clone, Copy, Debug)]
enum Via {
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT` at an IMDSv2-only listener.
    Imds,
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI` with the token inline.
    EcsToken,
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI` with the token file.
    EcsTokenFile,
}

/// Runs the identity script in `mode` against a fresh daemon reached `via`; the client's
/// own STS call must report the served role, and an IMDS client the served key.
fn client_gets_the_served_role(mode: &str, via: Via) {
    let listeners: &[bool] = match via {
        Via::Imds => &[false],
        Via::EcsToken | Via::EcsTokenFile => &[],
    };
    let Some((moto, daemon)) = daemon(listeners) else {
        return;
    };
    let peer = Peer::new(moto);
    let peer = match via {
        Via::Imds => peer.imds(&daemon.imds_url(false)),
        Via::EcsToken => peer.ecs_token(&daemon.ecs_role_url("app"), &daemon.token()),
        Via::EcsTokenFile => peer.ecs_token_file(&daemon.ecs_role_url("app"), &daemon.token_file()),
    };
    let Some(answer) = identity(peer, &daemon, mode) else {
        return;
    };
    assert_eq!(
        field(&answer, "arn"),
        served_arn(moto),
        "{mode} via {via:?}"
    );
    if let Via::Imds = via {
        let (_, served) = imds_credentials(&daemon.imds_url(false));
        assert_eq!(answer["access_key_id"], served["AccessKeyId"], "{mode}");
    }
}

#[test]
fn js_v3_from_instance_metadata_gets_the_served_role() {
    client_gets_the_served_role("v3-imds", Via::Imds);
}

#[test]
fn js_v3_from_container_metadata_gets_the_served_role() {
    client_gets_the_served_role("v3-container", Via::EcsToken);
}

#[test]
fn js_v3_node_default_chain_gets_the_served_role_from_imds() {
    client_gets_the_served_role("v3-chain", Via::Imds);
}

/// The chain tries fromHttp first, which reads the token file.
#[test]
fn js_v3_node_default_chain_gets_the_served_role_from_the_container_endpoint() {
    client_gets_the_served_role("v3-chain", Via::EcsTokenFile);
}

#[test]
fn js_v2_ec2_metadata_credentials_get_the_served_role() {
    client_gets_the_served_role("v2-ec2", Via::Imds);
}

#[test]
fn js_v2_remote_credentials_get_the_served_role() {
    client_gets_the_served_role("v2-remote", Via::EcsToken);
}
