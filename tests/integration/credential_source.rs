//! `credential_source = Ec2InstanceMetadata | EcsContainer` as credvend's own source, against
//! a real instance and container endpoint: another credvend. The first daemon ("the
//! instance") serves profile `app` (role `app`, session `conformance`) on its IMDS and ECS
//! listeners; the second reads it as its source and assumes moto's role `second`, which
//! trusts exactly that session. boto3, a client of the second daemon, ends with `second`'s
//! assumed-role ARN, which proves every link. Every endpoint is on 127.0.0.1, set explicitly:
//! nothing here goes to the link-local addresses. The one test of the default endpoint (no
//! variable set) runs its daemon in a network namespace of its own, checked to have no route
//! off the machine first, and only shows that the daemon refuses it before any request.

use std::process::{Command, Stdio};

use crate::support::daemon::{Daemon, ImdsSpec, SESSION, Spec, free_port};
use crate::support::home::{Home, text};
use crate::support::http::imds_credentials;
use crate::support::moto::{Seeded, moto};
use crate::support::{peer_script, python, scrubbed_env};

/// The session the second daemon's hop names.
const HOP: &str = "via-source";

/// The instance: `app` on an IMDSv2-only listener and on ECS, its cache warmed, so the second
/// daemon's first fetch never waits on STS.
fn instance(moto: &Seeded) -> Daemon {
    let first = Daemon::start(moto, &Spec::app(moto, &[false]));
    let (_, doc) = imds_credentials(&first.imds[0].url);
    assert!(doc["AccessKeyId"].is_string(), "{doc}");
    first
}

/// A daemon whose profiles read their base credentials from `env`'s source: `chain` (role
/// `second` on top, served on IMDS) and `plain` (the source's own credentials, on ECS).
fn second(moto: &Seeded, source: &str, env: Vec<(String, String)>) -> Daemon {
    let mut spec = Spec::app(moto, &[]);
    spec.aws_config = format!(
        "[profile chain]\nrole_arn = {}\ncredential_source = {source}\nrole_session_name = {HOP}\n\
         [profile plain]\ncredential_source = {source}\n",
        moto.role("second")
    );
    spec.aws_credentials = String::new();
    spec.imds = vec![ImdsSpec {
        profile: "chain".into(),
        imdsv1: false,
        ip: "127.0.0.1".into(),
        extra: String::new(),
    }];
    spec.ecs_profiles = vec!["plain".into()];
    spec.extra_env = env;
    Daemon::start(moto, &spec)
}

/// boto3 through its default chain with `vars` pointing at a daemon: the ARN STS reports.
fn boto3_arn(moto: &Seeded, daemon: &Daemon, vars: &[(&str, &str)]) -> Option<String> {
    let python = python()?;
    let home = Home::new();
    let mut env = scrubbed_env(Some(&home.root));
    // IMDS stays switched off unless the client is pointed at a listener of ours: a client
    // told only of a container endpoint would otherwise fall back to 169.254.169.254.
    if vars
        .iter()
        .any(|(k, _)| *k == "AWS_EC2_METADATA_SERVICE_ENDPOINT")
    {
        env.retain(|(k, _)| k != "AWS_EC2_METADATA_DISABLED");
    }
    env.push(("AWS_ENDPOINT_URL_STS".into(), moto.url.clone()));
    env.push(("AWS_METADATA_SERVICE_TIMEOUT".into(), "5".into()));
    let out = Command::new(python)
        .arg(peer_script("clients/boto3_identity.py"))
        .env_clear()
        .envs(env)
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run boto3");
    assert!(
        out.status.success(),
        "boto3 failed:\n{}\n-- credvend stderr:\n{}",
        text(&out.stderr),
        daemon.stderr()
    );
    let answer: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).expect("JSON");
    Some(answer["arn"].as_str().expect("arn").to_owned())
}

fn imds_env(url: &str) -> Vec<(String, String)> {
    vec![
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT".into(), url.into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "false".into()),
    ]
}

#[test]
fn a_chain_on_the_instance_metadata_source_ends_with_the_assumed_role() {
    let Some(moto) = moto() else { return };
    let first = instance(moto);
    let second = second(moto, "Ec2InstanceMetadata", imds_env(&first.imds[0].url));
    let imds = second.imds[0].url.clone();
    let Some(arn) = boto3_arn(
        moto,
        &second,
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds)],
    ) else {
        return;
    };
    assert_eq!(arn, moto.assumed("second", HOP));
    // Without a role the source's own credentials are served as they are: the first
    // daemon's session of `app`.
    let token = second.token();
    let ecs = second.ecs_role_url("plain");
    let arn = boto3_arn(
        moto,
        &second,
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &ecs),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", &token),
        ],
    );
    assert_eq!(arn.as_deref(), Some(moto.assumed("app", SESSION).as_str()));
    let (_, served) = imds_credentials(&first.imds[0].url);
    let log = second.stderr();
    for secret in [&served["SecretAccessKey"], &served["Token"]] {
        let secret = secret.as_str().expect("secret");
        assert!(!log.contains(secret), "a secret in the log:\n{log}");
    }
}

#[test]
fn a_chain_on_the_container_source_reads_the_full_uri_with_the_token_file() {
    let Some(moto) = moto() else { return };
    let first = instance(moto);
    let env = vec![
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI".into(),
            first.ecs_role_url("app"),
        ),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE".into(),
            first.token_file().display().to_string(),
        ),
    ];
    let second = second(moto, "EcsContainer", env);
    let imds = second.imds[0].url.clone();
    let arn = boto3_arn(
        moto,
        &second,
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds)],
    );
    assert_eq!(arn.as_deref(), Some(moto.assumed("second", HOP).as_str()));
    assert!(
        !second.stderr().contains(&first.token()),
        "the token in the log"
    );
}

#[test]
fn a_source_that_would_read_credvends_own_listener_is_refused() {
    let Some(moto) = moto() else { return };
    let port = free_port();
    let mut spec = Spec::app(moto, &[]);
    spec.aws_config =
        "[profile self]\nrole_arn = arn:aws:iam::123456789012:role/second\ncredential_source = Ec2InstanceMetadata\n"
            .into();
    spec.ecs_profiles = Vec::new();
    spec.listeners = Some(format!(
        "[[imds]]\nlisten = \"127.0.0.1:{port}\"\nprofile = \"self\"\n\n[ecs]\nenabled = false\n"
    ));
    spec.extra_env = imds_env(&format!("http://127.0.0.1:{port}"));
    let daemon = Daemon::start(moto, &spec);
    let url = format!("http://127.0.0.1:{port}");
    let token = crate::support::http::http(
        "PUT",
        &format!("{url}/latest/api/token"),
        &[("X-aws-ec2-metadata-token-ttl-seconds", "60")],
    );
    let auth = [("X-aws-ec2-metadata-token", token.body.as_str())];
    let base = format!("{url}/latest/meta-data/iam/security-credentials/");
    let role = crate::support::http::http("GET", &base, &auth);
    let creds = crate::support::http::http("GET", &format!("{base}{}", role.body), &auth);
    assert_eq!(creds.status, 503, "{creds:?}");
    let want = format!(
        "profile `self`: credential_source Ec2InstanceMetadata (IMDSv2 at http://127.0.0.1:{port}) \
         would read credvend's own IMDS listener 127.0.0.1:{port}"
    );
    daemon.wait_for("the refusal in the log", || daemon.stderr().contains(&want));
    let config = daemon.home().path("credvend.toml");
    let out = daemon.home().credvend_with(
        &moto.url,
        &["profiles", "--config", config.to_str().expect("utf-8")],
        &[
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &url),
            ("AWS_EC2_METADATA_DISABLED", "false"),
        ],
    );
    assert!(text(&out.stdout).contains(&want), "{}", text(&out.stdout));
    // It never asked itself: nothing was served, to it or to us.
    let audit = std::fs::read_to_string(daemon.audit_path()).unwrap_or_default();
    assert!(!audit.contains("\"served\""), "{audit}");
}

#[test]
fn when_the_instance_goes_away_the_last_good_credentials_are_kept_and_the_error_logged() {
    let Some(moto) = moto() else { return };
    let mut first = instance(moto);
    let first_url = first.imds[0].url.clone();
    let mut spec_env = imds_env(&first_url);
    spec_env.push(("RUST_LOG".into(), "info".into()));
    let second = second(moto, "Ec2InstanceMetadata", spec_env);
    let (_, before) = imds_credentials(&second.imds[0].url);
    first.stop();
    let config = second.home().path("credvend.toml");
    let out = second.home().credvend(
        &moto.url,
        &[
            "refresh",
            "chain",
            "--config",
            config.to_str().expect("utf-8"),
        ],
    );
    assert!(
        !out.status.success(),
        "refresh should fail: {}",
        text(&out.stdout)
    );
    let addr = first_url.trim_start_matches("http://");
    let want = format!("IMDS at http://{addr}: PUT /latest/api/token cannot connect");
    second.wait_for("the IMDS error in the log", || {
        second.stderr().contains(&want)
    });
    let (_, after) = imds_credentials(&second.imds[0].url);
    assert_eq!(after["AccessKeyId"], before["AccessKeyId"]);
    assert_eq!(after["Expiration"], before["Expiration"]);
}

/// The default endpoint, with no variable set, only in a network namespace of our own with
/// no route off the machine (checked first): a daemon listening on 169.254.169.254:80 must
/// refuse a profile that would read the default IMDS, i.e. itself.
#[test]
fn listening_on_the_metadata_address_refuses_the_default_imds_source() {
    if !crate::support::root("the default-endpoint refusal (network namespaces)") {
        return;
    }
    let Some(moto) = moto() else { return };
    let lab = crate::support::netns::Lab::new(&[]);
    let up = lab
        .exec(&lab.host, env!("CARGO_BIN_EXE_credvend"))
        .args(["network", "up"])
        .stdin(Stdio::null())
        .output()
        .expect("credvend network up");
    assert!(up.status.success(), "network up: {}", text(&up.stderr));
    lab.assert_contained();
    let mut spec = Spec::app(moto, &[]);
    spec.aws_config =
        "[profile self]\nrole_arn = arn:aws:iam::123456789012:role/second\ncredential_source = Ec2InstanceMetadata\n"
            .into();
    spec.ecs_profiles = Vec::new();
    spec.listeners = Some(
        "[[imds]]\nlisten = \"169.254.169.254:80\"\nprofile = \"self\"\nallowed_networks = [\"172.31.250.0/24\"]\n\n[ecs]\nenabled = false\n"
            .into(),
    );
    spec.extra_env = vec![("AWS_EC2_METADATA_DISABLED".into(), "false".into())];
    spec.prefix = ["ip", "netns", "exec", lab.host.as_str()]
        .map(str::to_owned)
        .to_vec();
    let daemon = Daemon::start(moto, &spec);
    let want = "profile `self`: credential_source Ec2InstanceMetadata (IMDSv2 at \
                http://169.254.169.254:80) would read credvend's own IMDS listener 169.254.169.254:80";
    daemon.wait_for("the refusal in the log", || daemon.stderr().contains(want));
    drop(daemon);
    drop(lab);
}
