//! Secrets stay out of the daemon's logs and audit log: a daemon at `RUST_LOG=trace` serves
//! two clients (boto3 through IMDS and through ECS), then its whole stderr and its audit log
//! are searched for the served secret key and session token, the ECS token and the user's
//! long-term secret key; the audit log must still name the served access key id.

use super::{Peer, field, peer_file, served_arn};
use crate::support::daemon::{Daemon, Spec, strip_ansi};
use crate::support::moto::moto;
use crate::support::python;

/// Long enough to be unique, short enough to catch a truncated secret.
const PREFIX: usize = 16;

fn leaks<'a>(haystack: &str, secrets: &[(&'a str, &str)]) -> Vec<&'a str> {
    secrets
        .iter()
        .filter(|(_, secret)| {
            haystack.contains(secret) || haystack.contains(&secret[..PREFIX.min(secret.len())])
        })
        .map(|(name, _)| *name)
        .collect()
}

#[test]
fn no_secret_reaches_the_trace_log_or_the_audit_log() {
    let Some(moto) = moto() else { return };
    let Some(python) = python() else { return };
    let mut spec = Spec::app(moto, &[false]);
    spec.rust_log = Some("trace".to_owned());
    let mut daemon = Daemon::start(moto, &spec);
    let script = peer_file("clients/boto3_identity.py").display().to_string();

    let via_imds = Peer::new(moto)
        .imds(&daemon.imds_url(false))
        .set("AWS_METADATA_SERVICE_TIMEOUT", "5")
        .json(&daemon, &python, &[&script]);
    let via_ecs = Peer::new(moto)
        .ecs_token_file(&daemon.ecs_role_url("app"), &daemon.token_file())
        .json(&daemon, &python, &[&script]);
    for answer in [&via_imds, &via_ecs] {
        assert_eq!(field(answer, "arn"), served_arn(moto));
    }
    let key_id = field(&via_imds, "access_key_id").to_owned();
    assert_eq!(
        field(&via_ecs, "access_key_id"),
        key_id,
        "one cached session"
    );
    let token = daemon.token();
    assert!(token.len() >= PREFIX, "a real ECS token");

    // Stop first: every log line and audit record is written by then.
    let status = daemon.stop();
    assert_eq!(status.code(), Some(0));
    let stderr = strip_ansi(&daemon.stderr());
    let audit = std::fs::read_to_string(daemon.audit_path()).expect("read the audit log");

    let secrets = [
        (
            "served secret access key",
            field(&via_imds, "secret_access_key"),
        ),
        ("served session token", field(&via_imds, "session_token")),
        ("ECS token", token.as_str()),
        ("long-term secret key", moto.secret_access_key.as_str()),
    ];
    assert!(
        stderr.lines().count() > 5 && (stderr.contains("TRACE") || stderr.contains("DEBUG")),
        "RUST_LOG=trace took effect (else this test proves nothing):\n{stderr}"
    );
    assert_eq!(leaks(&stderr, &secrets), Vec::<&str>::new(), "in stderr");
    assert_eq!(
        leaks(&audit, &secrets),
        Vec::<&str>::new(),
        "in the audit log"
    );

    let records: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line {l:?}: {e}")))
        .collect();
    let with_key = |event: &str| {
        records
            .iter()
            .filter(|r| r["event"] == event && r["access_key_id"] == key_id.as_str())
            .count()
    };
    assert!(with_key("issued") >= 1, "an issued record:\n{audit}");
    assert!(
        with_key("served") >= 2,
        "a served record per client:\n{audit}"
    );
}

#[test]
fn a_leak_is_found_whole_or_truncated() {
    let secrets = [("key", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")];
    assert_eq!(
        leaks("secret=wJalrXUtnFEMI/K7MDENG+bPxRfiCY…", &secrets),
        ["key"]
    );
    assert_eq!(leaks("key=****EKEY", &secrets), Vec::<&str>::new());
}
