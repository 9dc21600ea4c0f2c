//! boto3 reads credvend through its own default chain: IMDS with v1 allowed and IMDSv2-only,
//! and the container provider (FULL_URI) with the token inline and in a token file.

use super::{Peer, daemon, field, peer_file, served_arn};
use crate::support::http::imds_credentials;
use crate::support::python;

fn script() -> String {
    peer_file("clients/boto3_identity.py").display().to_string()
}

#[test]
fn boto3_gets_the_served_role_from_both_kinds_of_imds_listener() {
    let Some((moto, daemon)) = daemon(&[true, false]) else {
        return;
    };
    let Some(python) = python() else { return };
    for imdsv1 in [true, false] {
        let url = daemon.imds_url(imdsv1);
        // A loaded 2-core box: give the 1 s default some room (the client's own knob).
        let peer = Peer::new(moto)
            .imds(&url)
            .set("AWS_METADATA_SERVICE_TIMEOUT", "5");
        let answer = peer.json(&daemon, &python, &[&script()]);
        assert_eq!(field(&answer, "method"), "iam-role", "imdsv1 = {imdsv1}");
        assert_eq!(field(&answer, "arn"), served_arn(moto), "imdsv1 = {imdsv1}");
        let (_, served) = imds_credentials(&url);
        assert_eq!(
            field(&answer, "access_key_id"),
            served["AccessKeyId"].as_str().unwrap_or_default(),
            "boto3 uses what the listener serves"
        );
    }
}

#[test]
fn boto3_gets_the_served_role_from_the_container_endpoint_with_either_token_source() {
    let Some((moto, daemon)) = daemon(&[]) else {
        return;
    };
    let Some(python) = python() else { return };
    let inline = Peer::new(moto).ecs_token(&daemon.ecs_role_url("app"), &daemon.token());
    let from_file = Peer::new(moto).ecs_token_file(
        daemon.ecs.as_deref().expect("ecs listener"),
        &daemon.token_file(),
    );
    for (how, peer) in [("inline token", inline), ("token file", from_file)] {
        let answer = peer.json(&daemon, &python, &[&script()]);
        assert_eq!(field(&answer, "method"), "container-role", "{how}");
        assert_eq!(field(&answer, "arn"), served_arn(moto), "{how}");
    }
}
