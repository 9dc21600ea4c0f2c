//! The control socket and the metrics listener of a real daemon against moto: `credvend
//! status` and `refresh`, `/healthz` turning 503 with the reason when STS refuses, the metrics
//! page and its counters, the socket's mode and peer check (another uid, as root), a stale
//! socket replaced, a second daemon refused, and the socket of a daemon that dropped to
//! `run_as`.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::support::daemon::{Daemon, SESSION, Spec, free_port};
use crate::support::home::{Home, text};
use crate::support::http::{http, imds_credentials};
use crate::support::moto::{Seeded, moto};

/// The default socket of a test daemon: the scrubbed environment has no runtime directory,
/// so it goes in the state directory.
fn socket(daemon: &Daemon) -> PathBuf {
    daemon.home().path("state/control.sock")
}

/// `credvend ARGS --config` the daemon's config, as the daemon's home's user.
fn credvend(m: &Seeded, daemon: &Daemon, args: &[&str]) -> Output {
    let config = daemon.home().path("credvend.toml");
    let mut all = args.to_vec();
    all.extend(["--config", config.to_str().expect("utf-8 path")]);
    daemon.home().credvend(&m.url, &all)
}

/// `METHOD uri` on a Unix socket: status and body.
fn unix(path: &Path, method: &str, uri: &str) -> (u16, String) {
    let mut stream = UnixStream::connect(path).expect("connect to the control socket");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let request = format!(
        "{method} {uri} HTTP/1.1\r\nHost: credvend\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read the answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a whole HTTP answer");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    (status, body.to_owned())
}

/// `issued` audit records of `profile`: their access key ids.
fn issued_keys(daemon: &Daemon, profile: &str) -> Vec<String> {
    let log = std::fs::read_to_string(daemon.audit_path()).unwrap_or_default();
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["event"] == "issued" && r["profile"] == profile)
        .filter_map(|r| r["access_key_id"].as_str().map(str::to_owned))
        .collect()
}

/// A short path for a socket that two daemons share (sun_path is about 100 bytes).
fn shared_socket() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("cv-ctl-{}-{n}.sock", std::process::id()))
}

#[test]
fn status_shows_each_profile_and_listener_and_no_secret() {
    let Some(m) = moto() else { return };
    let daemon = Daemon::start(m, &Spec::app(m, &[true]));
    let (_, creds) = imds_credentials(&daemon.imds[0].url);
    let key = creds["AccessKeyId"]
        .as_str()
        .expect("AccessKeyId")
        .to_owned();
    let secret = creds["SecretAccessKey"]
        .as_str()
        .expect("secret")
        .to_owned();
    let token = creds["Token"].as_str().expect("token").to_owned();

    let out = credvend(m, &daemon, &["status"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let masked = format!("****{}", &key[key.len() - 4..]);
    let imds = daemon.listening.imds[0].to_string();
    let ecs = daemon.listening.ecs[0].to_string();
    for want in [
        "profile app: serving\n".to_owned(),
        format!("  role         {}\n", m.role("app")),
        format!("  access key   {masked}\n"),
        "  reads        1 served to 1 distinct callers\n".to_owned(),
        "  last error   none\n".to_owned(),
        format!("  imds    {imds}  profile app (IMDSv1 and v2)\n"),
        format!("  ecs     {ecs}  profile app\n"),
    ] {
        assert!(stdout.contains(&want), "{want:?} missing from\n{stdout}");
    }
    assert!(stdout.contains("  source       role "), "{stdout}");
    assert!(stdout.contains("  expires      "), "{stdout}");
    assert!(stdout.contains("  next refresh "), "{stdout}");

    let json = credvend(m, &daemon, &["status", "--json"]);
    assert!(json.status.success(), "{}", text(&json.stderr));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("status JSON");
    assert_eq!(report["profiles"][0]["profile"], "app");
    assert_eq!(report["profiles"][0]["reads_served"], 1);
    assert_eq!(report["profiles"][0]["access_key_id"], masked.as_str());
    assert_eq!(report["listeners"][0]["kind"], "imds");

    for output in [
        &stdout,
        &text(&json.stdout),
        &text(&out.stderr),
        &daemon.stderr(),
    ] {
        for leak in [&secret, &token, &key, &m.secret_access_key] {
            assert!(
                !output.contains(leak.as_str()),
                "a secret or key id leaked:\n{output}"
            );
        }
    }
}

#[test]
fn refresh_mints_new_credentials_now_and_an_unknown_profile_is_an_error() {
    let Some(m) = moto() else { return };
    let daemon = Daemon::start(m, &Spec::app(m, &[true]));
    let (_, before) = imds_credentials(&daemon.imds[0].url);
    daemon.wait_for("the first mint in the audit log", || {
        issued_keys(&daemon, "app").len() == 1
    });

    let out = credvend(m, &daemon, &["refresh", "app"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.starts_with("app: renewed; key ****"), "{stdout}");
    daemon.wait_for("a second issued record", || {
        issued_keys(&daemon, "app").len() == 2
    });
    let keys = issued_keys(&daemon, "app");
    assert_ne!(keys[0], keys[1], "a new session");
    assert!(stdout.contains(&keys[1][keys[1].len() - 4..]), "{stdout}");
    let (_, after) = imds_credentials(&daemon.imds[0].url);
    assert_ne!(before["AccessKeyId"], after["AccessKeyId"]);
    assert_eq!(after["AccessKeyId"].as_str(), Some(keys[1].as_str()));

    let out = credvend(m, &daemon, &["refresh", "nope"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("profile \"nope\" is not served"),
        "{stderr}"
    );
}

#[test]
fn healthz_is_ok_then_names_the_sts_error_once_the_profile_fails() {
    let Some(m) = moto() else { return };
    let daemon = Daemon::start(m, &Spec::app(m, &[true]));
    let path = socket(&daemon);
    daemon.wait_for("the profile to serve", || {
        unix(&path, "GET", "/healthz").0 == 200
    });
    assert_eq!(unix(&path, "GET", "/healthz"), (200, "ok\n".to_owned()));

    // `chained` trusts only a session of `app`, so the user's AssumeRole is refused.
    daemon.home().config(&format!(
        "[profile app]\nrole_arn = {}\nsource_profile = user\nrole_session_name = {SESSION}\n",
        m.role("chained")
    ));
    daemon.signal(Signal::SIGHUP);
    let mut last = (0, String::new());
    daemon.wait_for("healthz to report the refusal", || {
        last = unix(&path, "GET", "/healthz");
        last.1.contains("AccessDenied")
    });
    assert_eq!(last.0, 503, "{}", last.1);
    assert!(
        last.1.starts_with("app: no credentials: AccessDenied"),
        "{}",
        last.1
    );
    let out = credvend(m, &daemon, &["status"]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("profile app: NOT serving"), "{stdout}");
    assert!(stdout.contains("(STS AccessDenied"), "{stdout}");
    let out = credvend(m, &daemon, &["refresh", "app"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("renewing profile \"app\" failed"),
        "{stderr}"
    );
    assert!(stderr.contains("STS AccessDenied"), "{stderr}");
}

/// The samples of a metrics page, checking the text format's rules on the way: a HELP and
/// a TYPE before each family's samples, each TYPE once, every sample `series value`.
fn samples(page: &str) -> Vec<(String, f64)> {
    let mut typed = std::collections::HashSet::new();
    let mut helped = std::collections::HashSet::new();
    let mut out = Vec::new();
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.insert(rest.split(' ').next().expect("HELP name").to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(helped.contains(name), "TYPE without HELP first: {line}");
            assert!(typed.insert(name.to_owned()), "TYPE twice: {line}");
        } else {
            let (series, value) = line.rsplit_once(' ').expect("series value");
            let name = series.split('{').next().expect("name");
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
                .unwrap_or(name);
            assert!(typed.contains(family), "sample before its TYPE: {line}");
            if let Some(labels) = series.strip_prefix(name) {
                assert!(labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')));
            }
            let value = if value == "+Inf" {
                f64::INFINITY
            } else {
                value.parse().expect(line)
            };
            out.push((series.to_owned(), value));
        }
    }
    out
}

#[test]
fn the_metrics_page_follows_the_text_format_and_counts_requests() {
    let Some(m) = moto() else { return };
    let port = free_port();
    let mut spec = Spec::app(m, &[true]);
    spec.extra_toml = format!("\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n");
    let daemon = Daemon::start(m, &spec);
    let url = format!("http://127.0.0.1:{port}/metrics");
    let page = http("GET", &url, &[]);
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let imds = daemon.listening.imds[0];
    let series = format!("credvend_requests_total{{listener=\"imds@{imds}\",status=\"200\"}}");
    let value = |page: &str, want: &str| {
        samples(page)
            .into_iter()
            .find(|(s, _)| s == want)
            .map(|(_, v)| v)
    };
    let before = value(&page.body, &series).unwrap_or(0.0);
    imds_credentials(&daemon.imds[0].url);
    let after = http("GET", &url, &[]).body;
    assert_eq!(
        value(&after, &series),
        Some(before + 3.0),
        "token, list, role:\n{after}"
    );
    let sts = "credvend_sts_calls_total{action=\"AssumeRole\",outcome=\"success\"}";
    assert!(value(&after, sts).is_some_and(|n| n >= 1.0), "{after}");
    let count = "credvend_sts_call_duration_seconds_count{action=\"AssumeRole\"}";
    assert!(value(&after, count).is_some_and(|n| n >= 1.0), "{after}");
    let expiry = value(
        &after,
        "credvend_credentials_expiry_seconds{profile=\"app\"}",
    );
    assert!(expiry.is_some_and(|s| s > 1200.0 && s <= 3600.0), "{after}");
    daemon.wait_for("an audit record written", || {
        let page = http("GET", &url, &[]).body;
        value(&page, "credvend_audit_records_written_total").is_some_and(|n| n >= 1.0)
    });
    assert_eq!(
        value(&after, "credvend_audit_records_lost_total"),
        Some(0.0)
    );

    let health = http("GET", &format!("http://127.0.0.1:{port}/healthz"), &[]);
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    // A page that rebound its own name to 127.0.0.1 sends that name as Host.
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut rebound = String::new();
    stream.read_to_string(&mut rebound).unwrap();
    assert!(rebound.starts_with("HTTP/1.1 421 "), "{rebound}");
    let out = credvend(m, &daemon, &["status"]);
    let listing = format!("  metrics 127.0.0.1:{port} (/metrics, /healthz)\n");
    assert!(
        text(&out.stdout).contains(&listing),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn the_socket_is_private_and_refuses_other_users() {
    let Some(m) = moto() else { return };
    let daemon = Daemon::start(m, &Spec::app(m, &[true]));
    let path = socket(&daemon);
    let mode = std::fs::metadata(&path)
        .expect("the socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    if !crate::support::root("running credvend status as another user") {
        return;
    }
    let as_nobody = |args: &[&str]| {
        let config = daemon.home().path("credvend.toml");
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_credvend"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .env_clear()
            .envs(crate::support::scrubbed_env(Some(&daemon.home().root)))
            .output()
            .expect("run setpriv")
    };
    let out = as_nobody(&["status"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("not allowed to use the control socket"),
        "{stderr}"
    );
    // With the mode loosened, the peer check still refuses.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = as_nobody(&["status"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("uid 65534 may not use this socket"),
        "{stderr}"
    );
    assert!(
        !text(&out.stdout).contains("profile app"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_stale_socket_is_replaced_and_a_second_daemon_is_refused() {
    let Some(m) = moto() else { return };
    let shared = shared_socket();
    let mut spec = Spec::app(m, &[true]);
    spec.extra_toml = format!("\n[control]\npath = {:?}\n", shared.display().to_string());
    let first = Daemon::start(m, &spec);
    first.signal(Signal::SIGKILL);
    first.wait_for("the killed daemon to stop answering", || {
        UnixStream::connect(&shared).is_err()
    });
    assert!(shared.exists(), "a killed daemon leaves its socket behind");

    let second = Daemon::start(m, &spec);
    second.wait_for("the new daemon to answer on the socket", || {
        unix(&shared, "GET", "/healthz").0 == 200
    });
    assert!(
        second.stderr().contains("replacing a stale control socket"),
        "{}",
        second.stderr()
    );

    let home = Home::new();
    let config = home.path("third.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = {:?}\nimds = []\n[ecs]\nenabled = false\n[audit]\nenabled = false\n{}",
            home.path("state").display().to_string(),
            spec.extra_toml
        ),
    )
    .unwrap();
    let out = home.credvend(&m.url, &["serve", "--config", config.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("another credvend daemon is running"),
        "{stderr}"
    );
    assert!(stderr.contains(&shared.display().to_string()), "{stderr}");
    assert_eq!(
        unix(&shared, "GET", "/healthz").0,
        200,
        "the first keeps serving"
    );
    drop(second);
    assert!(!shared.exists(), "removed at shutdown");
}

#[test]
fn status_without_a_daemon_says_it_is_not_running() {
    let Some(m) = moto() else { return };
    let home = Home::new();
    let config = home.path("credvend.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = {:?}\n",
            home.path("state").display().to_string()
        ),
    )
    .unwrap();
    let out = home.credvend(&m.url, &["status", "--config", config.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("credvend is not running"), "{stderr}");
    assert!(stderr.contains("control.sock"), "{stderr}");
}

#[test]
fn after_run_as_the_socket_belongs_to_that_user_who_may_use_it() {
    let Some(m) = moto() else { return };
    if !crate::support::root("the run_as control socket test") {
        return;
    }
    let mut spec = Spec::app(m, &[true]);
    spec.run_as = Some("nobody".into());
    let daemon = Daemon::start_prepared(m, &spec, |home| {
        let nobody = nix::unistd::User::from_name("nobody")
            .unwrap()
            .expect("user nobody");
        nix::unistd::chown(&home.path("state"), Some(nobody.uid), Some(nobody.gid)).unwrap();
    });
    let path = socket(&daemon);
    daemon.wait_for("the profile to serve", || {
        unix(&path, "GET", "/healthz").0 == 200
    });
    let meta = std::fs::metadata(&path).expect("the socket");
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 65534);
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let config = daemon.home().path("credvend.toml");
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_credvend"))
        .args(["status", "--config"])
        .arg(&config)
        .env_clear()
        .envs(crate::support::scrubbed_env(Some(&daemon.home().root)))
        .output()
        .expect("run setpriv");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("profile app: serving"),
        "{}",
        text(&out.stdout)
    );
    // Root may use it too.
    assert_eq!(unix(&path, "GET", "/healthz"), (200, "ok\n".to_owned()));
}
