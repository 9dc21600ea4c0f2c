//! boto 2.49, the legacy SDK that only speaks IMDSv1, reads the instance role's credentials
//! from a listener with `imdsv1 = true`, and gets nothing from an IMDSv2-only one.
//! Its `get_instance_identity` asks for `dynamic/instance-identity//document/` (a doubled
//! slash) and needs the listener to treat that as the document (docs/clients.md).

use std::path::PathBuf;
use std::process::Command;

use super::{Peer, daemon, peer_file};
use crate::support::home::text;
use crate::support::http::imds_credentials;
use crate::support::{in_ci, python};

/// The venv's Python when it has boto 2 (an older shared venv may not: a skip locally, a
/// failure under CI).
fn boto2_python() -> Option<PathBuf> {
    let python = python()?;
    let found = Command::new(&python)
        .args(["-c", "import boto"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let msg = "peer boto 2 missing from the venv: run the README's test command (scripts/test)";
        assert!(!in_ci(), "{msg}");
        eprintln!("SKIP: {msg}");
        return None;
    }
    Some(python)
}

fn script() -> String {
    peer_file("clients/boto2_metadata.py").display().to_string()
}

#[test]
fn boto2_reads_the_role_credentials_from_an_imdsv1_listener() {
    let Some((moto, daemon)) = daemon(&[true]) else {
        return;
    };
    let Some(python) = boto2_python() else { return };
    let url = daemon.imds_url(true);
    let answer = Peer::new(moto).json(&daemon, &python, &[&script(), &url, "credentials"]);
    let (role, served) = imds_credentials(&url);
    assert_eq!(answer["roles"], serde_json::json!([role]));
    let document = &answer["document"];
    assert_eq!(document["Code"], "Success");
    assert_eq!(document["AccessKeyId"], served["AccessKeyId"]);
    assert!(
        document["AccessKeyId"]
            .as_str()
            .is_some_and(|k| k.starts_with("ASIA")),
        "session credentials: {}",
        document["AccessKeyId"]
    );
    for key in ["SecretAccessKey", "Token", "Expiration"] {
        assert!(document[key].is_string(), "boto 2 parsed {key}");
    }
}

#[test]
fn boto2_gets_nothing_from_an_imdsv2_only_listener() {
    let Some((moto, daemon)) = daemon(&[false]) else {
        return;
    };
    let Some(python) = boto2_python() else { return };
    let url = daemon.imds_url(false);
    let out = Peer::new(moto).run(&python, &[&script(), &url, "credentials"]);
    assert!(
        !out.status.success(),
        "boto 2 cannot send a token, so it must get no credentials: {}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("found no instance metadata"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn boto2_reads_the_region_from_the_instance_identity_document() {
    let Some((moto, daemon)) = daemon(&[true]) else {
        return;
    };
    let Some(python) = boto2_python() else { return };
    let url = daemon.imds_url(true);
    let answer = Peer::new(moto).json(&daemon, &python, &[&script(), &url, "identity"]);
    assert_eq!(answer["document"]["region"], "us-east-1");
    assert_eq!(answer["document"]["accountId"], moto.account.as_str());
}
