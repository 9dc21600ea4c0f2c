//! MFA as a user lives it: a profile with `mfa_serial` is served only after `credvend mfa`,
//! with the code tried once and a wrong one reported.
//!
//! moto ignores `SerialNumber` and `TokenCode`, and its GetSessionToken answers fixed keys
//! that cannot sign later calls while its signature checking is on. So the first test checks
//! the signed GetSessionToken itself against moto with checking on, through a proxy that
//! records it (and refuses one wrong code, as STS would); the second builds the role chain on
//! the MFA session against a moto with checking off, and says so.

use std::process::{Command, Output, Stdio};

use crate::support::daemon::{Daemon, SESSION, Spec};
use crate::support::home::text;
use crate::support::http::http;
use crate::support::moto::{Seeded, moto, moto_unchecked};
use crate::support::proxy::{Fault, FaultProxy};
use crate::support::{peer_script, python, scrubbed_env};

const WRONG: &str = "462018";
/// Neither code occurs in anything else the daemon logs (the account id has 123456).
const RIGHT: &str = "905713";

fn serial(moto: &Seeded) -> String {
    format!("arn:aws:iam::{}:mfa/credvend-user", moto.account)
}

/// Profile `app` (role `app` from the seeded user's keys) with `mfa_serial`, STS at `sts`.
fn daemon(moto: &Seeded, sts: &str) -> Daemon {
    let mut spec = Spec::app(moto, &[false]);
    spec.aws_config = format!("{}mfa_serial = {}\n", spec.aws_config, serial(moto));
    spec.extra_env
        .push(("AWS_ENDPOINT_URL_STS".into(), sts.to_owned()));
    Daemon::start(moto, &spec)
}

fn credvend(daemon: &Daemon, sts: &str, args: &[&str]) -> Output {
    let config = daemon.home().path("credvend.toml");
    let mut all = args.to_vec();
    all.extend(["--config", config.to_str().expect("utf-8 path")]);
    daemon.home().credvend(sts, &all)
}

fn imds_credentials_status(daemon: &Daemon) -> (u16, Option<String>) {
    let url = daemon.imds_url(false);
    let token = http(
        "PUT",
        &format!("{url}/latest/api/token"),
        &[("x-aws-ec2-metadata-token-ttl-seconds", "60")],
    );
    let creds = http(
        "GET",
        &format!("{url}/latest/meta-data/iam/security-credentials/app"),
        &[("x-aws-ec2-metadata-token", token.body.as_str())],
    );
    (creds.status, creds.header("retry-after").map(str::to_owned))
}

#[test]
fn the_signed_code_request_passes_moto_and_a_wrong_code_is_reported_once() {
    let Some(m) = moto() else { return };
    let proxy = FaultProxy::start(&m.url, Fault::RefuseTokenCode(WRONG));
    let daemon = daemon(m, &proxy.url);
    // No code yet: reads get 503 with Retry-After, and the log says what to run.
    let (status, retry) = imds_credentials_status(&daemon);
    assert_eq!(status, 503, "{}", daemon.stderr());
    assert!(retry.is_some(), "503 without Retry-After");
    daemon.wait_for("the ask for a code", || {
        daemon
            .stderr()
            .contains("profile app needs an MFA code now: run `credvend mfa app`")
    });

    let wrong = credvend(&daemon, &proxy.url, &["mfa", "app", WRONG]);
    assert!(!wrong.status.success());
    let said = text(&wrong.stderr);
    assert!(said.contains("invalid MFA one time pass code"), "{said}");
    assert!(said.contains("AccessDenied"), "{said}");

    // The right code: the request is signed with the user's keys and carries the device and
    // the code; moto, checking signatures, accepts it.
    let good = credvend(&daemon, &proxy.url, &["mfa", "app", RIGHT]);
    let out = text(&good.stdout);
    assert!(good.status.success(), "{}\n{out}", text(&good.stderr));
    assert!(
        out.starts_with(&format!("MFA session for {} until ", serial(m))),
        "{out}"
    );
    let seen = proxy.seen.lock().unwrap().clone();
    let codes: Vec<&(String, u16)> = seen
        .iter()
        .filter(|(body, _)| body.contains("Action=GetSessionToken"))
        .collect();
    assert_eq!(codes.len(), 2, "one request per code: {codes:?}");
    let (body, status) = codes[1];
    let device = serial(m).replace(':', "%3A").replace('/', "%2F");
    assert!(body.contains(&format!("SerialNumber={device}")), "{body}");
    assert!(body.contains(&format!("TokenCode={RIGHT}")), "{body}");
    assert!(body.contains("DurationSeconds=43200"), "{body}");
    assert_eq!(*status, 200, "moto refused the signed request: {body}");
    // Nothing retried the wrong code.
    let wrong_again = seen
        .iter()
        .filter(|(body, _)| body.contains(&format!("TokenCode={WRONG}")))
        .count();
    assert_eq!(wrong_again, 1);
    for secret in [m.secret_access_key.as_str(), RIGHT, WRONG] {
        assert!(
            !daemon.stderr().contains(secret),
            "the log shows a secret or a code"
        );
    }
}

#[test]
fn the_role_chain_on_the_mfa_session_serves_the_role() {
    // Signature checking off (see the module header): moto's MFA session keys cannot sign.
    let (Some(m), Some(python)) = (moto_unchecked(), python()) else {
        return;
    };
    let daemon = daemon(m, &m.url);
    assert_eq!(imds_credentials_status(&daemon).0, 503);
    let out = credvend(&daemon, &m.url, &["mfa", "app", RIGHT]);
    let said = text(&out.stdout);
    assert!(out.status.success(), "{}\n{said}", text(&out.stderr));
    assert!(said.contains("  app: renewed; key ****"), "{said}");
    assert_eq!(imds_credentials_status(&daemon).0, 200);
    // A real client of the IMDS listener is the role.
    let home = daemon.home().path("client");
    std::fs::create_dir_all(&home).unwrap();
    let client = Command::new(&python)
        .arg(peer_script("clients/boto3_identity.py"))
        .env_clear()
        .envs(
            scrubbed_env(Some(&home))
                .into_iter()
                .filter(|(k, _)| k != "AWS_EC2_METADATA_DISABLED"),
        )
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("{}/", daemon.imds_url(false)),
        )
        .env("AWS_ENDPOINT_URL_STS", &m.url)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(client.status.success(), "{}", text(&client.stderr));
    let identity: serde_json::Value = serde_json::from_slice(&client.stdout).unwrap();
    assert_eq!(identity["arn"], m.assumed("app", SESSION));
    // The audit log has the MFA session (no role) and the role on it.
    let audit = std::fs::read_to_string(daemon.audit_path()).unwrap();
    let issued: Vec<serde_json::Value> = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["event"] == "issued")
        .collect();
    assert!(issued.iter().any(|r| r["role_arn"].is_null()), "{audit}");
    assert!(
        issued.iter().any(|r| r["role_arn"] == m.role("app")),
        "{audit}"
    );
}
