//! `credential_process` as a source, with real scripts the tests write: keys of the seeded
//! moto user under a `role_arn` (boto3 through IMDS ends with moto's assumed-role ARN), a
//! slow one killed at the timeout, a failing one, one printing malformed JSON (the daemon
//! keeps serving its other profiles, and health says why), and session credentials with a
//! near `Expiration` served as they are and renewed by running the script again.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::daemon::{Daemon, SESSION, Spec};
use crate::support::home::{Home, text};
use crate::support::http::{http, imds_credentials};
use crate::support::moto::{Seeded, moto};

/// An executable `/bin/sh` script named `name` in `dir`.
fn script(dir: &Home, name: &str, body: &str) -> PathBuf {
    let path = dir.path(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// `GET uri` on the daemon's control socket: status and body.
fn control(daemon: &Daemon, uri: &str) -> (u16, String) {
    let mut stream = UnixStream::connect(daemon.home().path("state/control.sock"))
        .expect("connect to the control socket");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let request = format!("GET {uri} HTTP/1.1\r\nHost: credvend\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read the answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a whole HTTP answer");
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok());
    (status.expect("a status line"), body.to_owned())
}

/// boto3's identity through the daemon's first IMDS listener: (access key id, ARN).
fn boto3_identity(m: &Seeded, daemon: &Daemon) -> Option<(String, String)> {
    let python = crate::support::python()?;
    let home = Home::new();
    let out = Command::new(python)
        .arg(crate::support::peer_script("clients/boto3_identity.py"))
        .env_clear()
        .envs(crate::support::scrubbed_env(Some(&home.root)))
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &daemon.imds[0].url)
        .env("AWS_METADATA_SERVICE_TIMEOUT", "5")
        .env("AWS_ENDPOINT_URL_STS", &m.url)
        .stdin(Stdio::null())
        .output()
        .expect("run boto3");
    assert!(
        out.status.success(),
        "boto3 failed: {}\n-- credvend:\n{}",
        text(&out.stderr),
        daemon.stderr()
    );
    let answer: serde_json::Value =
        serde_json::from_str(text(&out.stdout).trim()).expect("boto3's JSON line");
    let field = |name: &str| answer[name].as_str().expect(name).to_owned();
    Some((field("access_key_id"), field("arn")))
}

/// Waits up to `limit` for `condition`, polling; panics with the daemon's log otherwise.
fn wait_for(daemon: &Daemon, what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}; credvend:\n{}",
            daemon.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_role_on_top_of_credential_process_is_assumed_with_the_keys_it_prints() {
    let Some(m) = moto() else { return };
    let scripts = Home::new();
    let helper = script(
        &scripts,
        "vault helper",
        &format!(
            "echo 'helper: unlocked {secret}' >&2\n\
             printf '{{\"Version\": 1, \"AccessKeyId\": \"%s\", \"SecretAccessKey\": \"%s\"}}' '{key}' '{secret}'",
            key = m.access_key_id,
            secret = m.secret_access_key
        ),
    );
    let mut spec = Spec::app(m, &[true]);
    spec.aws_config = format!(
        "[profile vault]\ncredential_process = '{}' --profile dev\n\n\
         [profile app]\nrole_arn = {}\nsource_profile = vault\nrole_session_name = {SESSION}\n",
        helper.display(),
        m.role("app")
    );
    spec.aws_credentials = String::new();
    let daemon = Daemon::start(m, &spec);
    let Some((key, arn)) = boto3_identity(m, &daemon) else {
        return;
    };
    assert_eq!(arn, m.assumed("app", SESSION));
    assert!(key.starts_with("ASIA"), "{key}");

    let log = daemon.stderr();
    assert!(
        log.contains("credential_process stderr: helper: unlocked <redacted>"),
        "{log}"
    );
    assert!(!log.contains(&m.secret_access_key), "{log}");
    let config = daemon.home().path("credvend.toml");
    let out = daemon.home().credvend(
        &m.url,
        &["profiles", "--config", config.to_str().expect("utf-8")],
    );
    let listing = text(&out.stdout);
    assert!(
        listing.contains(&format!(
            "vault: credential_process `{} ...` (run by credvend)",
            helper.display()
        )),
        "{listing}"
    );
    assert!(
        listing.contains("app: role ") && listing.contains("(chain app -> vault)"),
        "{listing}"
    );
    assert!(!listing.contains("--profile dev"), "{listing}");
}

#[test]
fn slow_failing_and_malformed_processes_are_reported_while_the_other_profiles_serve() {
    let Some(m) = moto() else { return };
    let scripts = Home::new();
    let secret = &m.secret_access_key;
    let slow = script(
        &scripts,
        "slow",
        "echo 'waiting for the vault' >&2\nexec sleep 30",
    );
    let failing = script(
        &scripts,
        "failing",
        &format!("echo 'starting' >&2\necho 'vault refused {secret}' >&2\nexit 3"),
    );
    let malformed = script(
        &scripts,
        "malformed",
        &format!(
            "printf '{{\"Version\": 1, \"AccessKeyId\": \"{}\", \"SecretAccessKey\": \"{secret}\"'",
            m.access_key_id
        ),
    );
    let mut spec = Spec::app(m, &[true]);
    spec.aws_config.push_str(&format!(
        "\n[profile slow]\ncredential_process = {}\n\
         [profile failing]\ncredential_process = {}\n\
         [profile malformed]\ncredential_process = {}\n",
        slow.display(),
        failing.display(),
        malformed.display()
    ));
    spec.ecs_profiles = ["app", "slow", "failing", "malformed"]
        .map(str::to_owned)
        .to_vec();
    spec.aws_toml = "credential_process_timeout_seconds = 1\n".to_owned();
    let daemon = Daemon::start(m, &spec);
    let ecs = |profile: &str| {
        let token = daemon.token();
        http(
            "GET",
            &daemon.ecs_role_url(profile),
            &[("Authorization", token.as_str())],
        )
        .status
    };
    let mut health = (0, String::new());
    wait_for(
        &daemon,
        "health to name all three",
        Duration::from_secs(60),
        || {
            health = control(&daemon, "/healthz");
            ["did not finish", "exited with status", "not JSON"]
                .iter()
                .all(|p| health.1.contains(p))
        },
    );
    assert_eq!(health.0, 503, "{}", health.1);
    wait_for(&daemon, "app to serve", Duration::from_secs(30), || {
        ecs("app") == 200
    });
    for profile in ["slow", "failing", "malformed"] {
        assert_eq!(ecs(profile), 503, "{profile}");
    }
    let body = &health.1;
    assert!(
        body.contains(&format!(
            "{} did not finish within 1s and was killed",
            slow.display()
        )),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "{} exited with status 3; its last stderr line: vault refused <redacted>",
            failing.display()
        )),
        "{body}"
    );
    assert!(
        body.contains(
            "printed no usable credentials: stdout is not JSON (unexpected end at line 1"
        ),
        "{body}"
    );
    let log = daemon.stderr();
    for line in [
        "credential_process stderr: waiting for the vault",
        "credential_process stderr: starting",
        "credential_process stderr: vault refused <redacted>",
        "credential renewal failed",
    ] {
        assert!(log.contains(line), "{line:?} not in:\n{log}");
    }
    assert!(
        !log.contains(secret.as_str()) && !body.contains(secret.as_str()),
        "{log}"
    );
}

/// The lines of `path` (0 when it does not exist yet).
fn runs(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

#[test]
fn session_credentials_near_their_expiry_are_served_as_given_and_renewed_by_running_it_again() {
    let Some(m) = moto() else { return };
    let scripts = Home::new();
    let count = scripts.path("runs");
    let s = &m.session;
    // Five minutes of life: with the margin below, renewal comes a little over a minute on.
    let helper = script(
        &scripts,
        "session",
        &format!(
            "echo run >> '{}'\n\
             exp=$(date -u -d '+300 seconds' +%Y-%m-%dT%H:%M:%SZ)\n\
             printf '{{\"Version\": 1, \"AccessKeyId\": \"%s\", \"SecretAccessKey\": \"%s\", \"SessionToken\": \"%s\", \"Expiration\": \"%s\"}}' '{}' '{}' '{}' \"$exp\"",
            count.display(),
            s.access_key_id,
            s.secret_access_key,
            s.session_token
        ),
    );
    let mut spec = Spec::app(m, &[true]);
    spec.aws_config = format!("[profile app]\ncredential_process = {}\n", helper.display());
    spec.aws_credentials = String::new();
    spec.ecs_profiles = Vec::new();
    // 2800 s of an hour is 233 s of a 300 s session: renewal about 67 s after each run.
    spec.extra_toml = "[cache]\nrefresh_margin_seconds = 2800\nrefresh_jitter_seconds = 0\n".into();
    let daemon = Daemon::start(m, &spec);
    let (_, first) = imds_credentials(&daemon.imds[0].url);
    assert_eq!(first["AccessKeyId"], s.access_key_id.as_str());
    assert_eq!(first["Token"], s.session_token.as_str());
    let first_expiry = first["Expiration"].as_str().expect("Expiration").to_owned();
    assert_eq!(runs(&count), 1, "run once at start");
    if let Some((key, arn)) = boto3_identity(m, &daemon) {
        assert_eq!(key, s.access_key_id);
        assert_eq!(arn, m.assumed("app", "seed-session"));
    }
    wait_for(
        &daemon,
        "the process to run again",
        Duration::from_secs(150),
        || runs(&count) >= 2,
    );
    wait_for(
        &daemon,
        "the renewed credentials to be served",
        Duration::from_secs(30),
        || {
            let (_, now) = imds_credentials(&daemon.imds[0].url);
            now["Expiration"]
                .as_str()
                .is_some_and(|e| e > first_expiry.as_str())
        },
    );
    assert_eq!(runs(&count), 2, "one run per renewal");
    assert!(!daemon.stderr().contains(&s.secret_access_key));
}
