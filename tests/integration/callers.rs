//! Who gets credentials: real clients, as the daemon's own user and as another local user,
//! each named in the audit log by uid, user, pid and executable; another user refused until
//! `allowed_users` names them.
//!
//! The other user is `nobody`, running Debian's AWS CLI v2 (its Python is outside /root, which
//! `nobody` cannot enter), pointed at the IMDS listener like any IMDS client. Needs root to
//! become `nobody`: CI runs as root; locally without root these tests skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::daemon::{Daemon, Spec};
use crate::support::home::text;
use crate::support::moto::{Seeded, moto};
use crate::support::{peer_script, python, require, root, scrubbed_env};

const NOBODY: u32 = 65534;

/// The `served` and `denied` records of the daemon's audit log so far.
fn records(daemon: &Daemon, event: &str) -> Vec<serde_json::Value> {
    let log = std::fs::read_to_string(daemon.audit_path()).unwrap_or_default();
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["event"] == event)
        .collect()
}

/// Waits for a record of `event` whose caller has `uid`, and returns it.
fn record_of(daemon: &Daemon, event: &str, uid: u32) -> serde_json::Value {
    let mut found = None;
    daemon.wait_for(&format!("a {event} record for uid {uid}"), || {
        found = records(daemon, event)
            .into_iter()
            .find(|r| r["caller"]["uid"] == uid);
        found.is_some()
    });
    found.expect("waited for it")
}

/// The client's environment: the suite's scrubbed one, pointed at the IMDS listener.
fn imds_env(home: &Path, daemon: &Daemon) -> Vec<(String, String)> {
    let mut env: Vec<_> = scrubbed_env(Some(home))
        .into_iter()
        .filter(|(k, _)| k != "AWS_EC2_METADATA_DISABLED")
        .collect();
    env.push((
        "AWS_EC2_METADATA_SERVICE_ENDPOINT".into(),
        format!("{}/", daemon.imds_url(false)),
    ));
    env.push(("AWS_PAGER".into(), String::new()));
    env
}

/// The AWS CLI v2 as `nobody`, asking STS who it is with IMDS credentials.
fn cli_as_nobody(moto: &Seeded, daemon: &Daemon) -> Option<(Output, u32)> {
    let aws = require(
        "AWS CLI v2 (Debian's awscli)",
        PathBuf::from("/usr/bin/aws"),
    )?;
    let home = tempfile_home("nobody");
    nix::unistd::chown(&home, Some(NOBODY.into()), Some(NOBODY.into())).unwrap();
    let child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(aws)
        .args(["sts", "get-caller-identity", "--output", "json"])
        .args(["--endpoint-url", &moto.url])
        .env_clear()
        .envs(imds_env(&home, daemon))
        .current_dir(&home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the AWS CLI as nobody");
    // setpriv execs the CLI: the pid is the client's.
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    std::fs::remove_dir_all(&home).unwrap();
    Some((out, pid))
}

fn tempfile_home(who: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "credvend-it-callers-{who}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn daemon(moto: &Seeded, imds_extra: &str) -> Daemon {
    let mut spec = Spec::app(moto, &[false]);
    spec.imds[0].extra = imds_extra.to_owned();
    Daemon::start(moto, &spec)
}

#[test]
fn a_clients_uid_user_pid_and_executable_are_in_its_served_record() {
    let (Some(moto), Some(python)) = (moto(), python()) else {
        return;
    };
    let daemon = daemon(moto, "");
    let home = tempfile_home("self");
    let child = Command::new(&python)
        .arg(peer_script("clients/boto3_identity.py"))
        .env_clear()
        .envs(imds_env(&home, &daemon))
        .env("AWS_ENDPOINT_URL_STS", &moto.url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "boto3: {}", text(&out.stderr));
    let uid = nix::unistd::geteuid().as_raw();
    let served = record_of(&daemon, "served", uid);
    let caller = &served["caller"];
    assert_eq!(caller["pid"], pid, "{served}");
    let exe = std::fs::canonicalize(&python).unwrap();
    assert_eq!(caller["exe"], exe.display().to_string(), "{served}");
    let user = nix::unistd::User::from_uid(uid.into()).unwrap().unwrap();
    assert_eq!(caller["user"], user.name.as_str());
    assert_eq!(served["client"], "127.0.0.1");
    std::fs::remove_dir_all(home).unwrap();
}

#[test]
fn another_user_is_refused_by_default_and_named_in_the_denied_record() {
    if !root("refusing another user") {
        return;
    }
    let Some(moto) = moto() else { return };
    let daemon = daemon(moto, "");
    let Some((out, pid)) = cli_as_nobody(moto, &daemon) else {
        return;
    };
    assert!(!out.status.success(), "nobody got credentials");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("Unable to locate credentials"), "{stderr}");
    let denied = record_of(&daemon, "denied", NOBODY);
    assert_eq!(denied["reason"], "UserNotAllowed", "{denied}");
    assert_eq!(denied["caller"]["user"], "nobody", "{denied}");
    assert_eq!(denied["caller"]["pid"], pid, "{denied}");
    assert!(
        records(&daemon, "served").is_empty(),
        "nothing was served: {:?}",
        records(&daemon, "served")
    );
}

#[test]
fn another_user_named_in_allowed_users_is_served() {
    if !root("admitting another user") {
        return;
    }
    let Some(moto) = moto() else { return };
    let daemon = daemon(moto, "allowed_users = [\"nobody\"]");
    let Some((out, pid)) = cli_as_nobody(moto, &daemon) else {
        return;
    };
    assert!(
        out.status.success(),
        "the CLI as nobody: {}\n{}",
        text(&out.stderr),
        daemon.stderr()
    );
    let identity: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        identity["Arn"],
        moto.assumed("app", crate::support::daemon::SESSION)
    );
    let served = record_of(&daemon, "served", NOBODY);
    assert_eq!(served["caller"]["user"], "nobody");
    assert_eq!(served["caller"]["pid"], pid, "{served}");
    let exe = served["caller"]["exe"].as_str().unwrap_or_default();
    assert!(
        Path::new(exe)
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("python3")),
        "the CLI v2 is Python: {served}"
    );
}
