//! The daemon under faults and abuse, as an operator would meet them: a stalled STS answers
//! reads with a quick 503, files that are not regular files fail a reload without hanging it
//! (SIGTERM still stops the daemon at once), a profile whose keys vanish keeps serving what it
//! had, and a credentials file others may read is named with its fix.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::support::daemon::{Daemon, Spec};
use crate::support::home::text;
use crate::support::http::http;
use crate::support::moto::{Seeded, moto};

/// What the ECS listener answers for `app`: the access key id, or the status and headers.
fn ecs_app(daemon: &Daemon) -> Result<String, crate::support::http::HttpAnswer> {
    let token = daemon.token();
    let answer = http(
        "GET",
        &daemon.ecs_role_url("app"),
        &[("Authorization", token.as_str())],
    );
    if answer.status != 200 {
        return Err(answer);
    }
    let json: serde_json::Value = serde_json::from_str(&answer.body).expect("credentials JSON");
    Ok(json["AccessKeyId"]
        .as_str()
        .expect("AccessKeyId")
        .to_owned())
}

fn served_key(daemon: &Daemon) -> String {
    ecs_app(daemon).unwrap_or_else(|a| panic!("app answered {}: {}", a.status, a.body))
}

/// SIGHUP, then the reload's `RELOADING=1` and `READY=1` (which a hung reload never sends).
fn reload(daemon: &mut Daemon) {
    daemon.signal(Signal::SIGHUP);
    assert_eq!(daemon.next_notification(), "RELOADING=1");
    assert_eq!(daemon.next_notification(), "READY=1");
}

/// SIGTERM, and the exit it must lead to at once: nothing is in flight.
fn stop_promptly(daemon: &mut Daemon) {
    let asked = Instant::now();
    assert!(daemon.stop().success(), "{}", daemon.stderr());
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(5), "stopped after {took:?}");
}

fn replace_with_fifo(path: &Path) {
    std::fs::remove_file(path).expect("remove the file");
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
}

fn credentials(m: &Seeded) -> String {
    format!(
        "[user]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        m.access_key_id, m.secret_access_key
    )
}

#[test]
fn a_read_while_sts_stalls_is_answered_503_within_the_read_wait() {
    let Some(m) = moto() else { return };
    // Connections complete in the backlog and are never answered: an STS that stalls.
    let stalled = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut spec = Spec::app(m, &[true]);
    spec.extra_env.push((
        "AWS_ENDPOINT_URL_STS".into(),
        format!("http://{}", stalled.local_addr().unwrap()),
    ));
    let daemon = Daemon::start(m, &spec);
    let asked = Instant::now();
    // Before the bound, this waited for STS's timeouts (and the client gave up first).
    let answer = ecs_app(&daemon).expect_err("no credentials while STS stalls");
    let took = asked.elapsed();
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(
        answer.header("Retry-After").is_some(),
        "{:?}",
        answer.headers
    );
    // The default max_read_wait_ms is 1000.
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    assert!(
        took >= Duration::from_millis(900),
        "answered after {took:?}"
    );
}

#[test]
fn a_fifo_in_place_of_a_file_fails_the_reload_and_sigterm_still_stops_the_daemon() {
    let Some(m) = moto() else { return };
    let mut daemon = Daemon::start(m, &Spec::app(m, &[true]));
    let key = served_key(&daemon);

    let creds = daemon.home().path(".aws/credentials");
    replace_with_fifo(&creds);
    // Before reading was guarded, the reload opened the FIFO and waited for a writer forever.
    reload(&mut daemon);
    let refused = format!(
        "cannot read {}: it is a FIFO, not a regular file",
        creds.display()
    );
    daemon.wait_for("the refused file in the log", || {
        daemon.stderr().contains(&refused)
    });
    assert!(
        daemon.stderr().contains("reload failed"),
        "{}",
        daemon.stderr()
    );
    assert_eq!(served_key(&daemon), key, "the previous state keeps serving");

    std::fs::remove_file(&creds).unwrap();
    daemon.home().credentials(&credentials(m));
    let config = daemon.home().path("credvend.toml");
    let toml = std::fs::read_to_string(&config).unwrap();
    replace_with_fifo(&config);
    reload(&mut daemon);
    let refused = format!(
        "cannot read config file {}: it is a FIFO, not a regular file",
        config.display()
    );
    daemon.wait_for("the refused config in the log", || {
        daemon.stderr().contains(&refused)
    });
    assert_eq!(served_key(&daemon), key);
    std::fs::remove_file(&config).unwrap();
    std::fs::write(&config, toml).unwrap();
    stop_promptly(&mut daemon);
}

#[test]
fn a_dev_zero_symlink_as_the_credentials_file_is_refused_naming_it() {
    let Some(m) = moto() else { return };
    let mut daemon = Daemon::start(m, &Spec::app(m, &[true]));
    let key = served_key(&daemon);
    let creds = daemon.home().path(".aws/credentials");
    std::fs::remove_file(&creds).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &creds).unwrap();
    // Before, the reload read zeros until memory ran out.
    reload(&mut daemon);
    let refused = format!(
        "cannot read {}: it is a character device, not a regular file",
        creds.display()
    );
    daemon.wait_for("the refused file in the log", || {
        daemon.stderr().contains(&refused)
    });
    assert_eq!(served_key(&daemon), key);
    stop_promptly(&mut daemon);
}

#[test]
fn keys_that_vanish_on_reload_leave_the_cached_credentials_serving() {
    let Some(m) = moto() else { return };
    let mut daemon = Daemon::start(m, &Spec::app(m, &[true]));
    let key = served_key(&daemon);
    let creds = daemon.home().path(".aws/credentials");

    std::fs::remove_file(&creds).unwrap();
    reload(&mut daemon);
    // Before, every profile answered 503 from here on.
    assert_eq!(served_key(&daemon), key);
    let (_, imds) = crate::support::http::imds_credentials(&daemon.imds_url(true));
    assert_eq!(imds["AccessKeyId"].as_str(), Some(key.as_str()), "{imds}");
    daemon.wait_for("why, in the log", || {
        daemon.stderr().contains("profile no longer resolves")
            && daemon.stderr().contains("source_profile `user` not found")
    });

    // A key without its secret: the same, with the new reason logged.
    daemon.home().credentials(&format!(
        "[user]\naws_access_key_id = {}\n",
        m.access_key_id
    ));
    reload(&mut daemon);
    assert_eq!(served_key(&daemon), key);
    daemon.wait_for("the new reason, in the log", || {
        daemon
            .stderr()
            .contains("sets aws_access_key_id but not aws_secret_access_key")
    });

    daemon.home().credentials(&credentials(m));
    reload(&mut daemon);
    daemon.wait_for("the recovery, in the log", || {
        daemon.stderr().contains("profile resolves again")
    });
    assert_eq!(
        served_key(&daemon),
        key,
        "the same chain keeps its credentials"
    );
    stop_promptly(&mut daemon);
}

#[test]
fn a_credentials_file_others_may_read_is_named_with_chmod_600() {
    let Some(m) = moto() else { return };
    let mut daemon = Daemon::start(m, &Spec::app(m, &[true]));
    let creds = daemon.home().path(".aws/credentials");
    let mode = std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "the harness writes files under umask 022");
    let warning = |mode: u32| {
        format!(
            "{path} holds keys and is readable by group or others (mode {mode:o}); chmod 600 {path}",
            path = creds.display()
        )
    };
    let count = |d: &Daemon, mode| d.stderr().matches(&warning(mode)).count();
    daemon.wait_for("the warning at start", || count(&daemon, 0o644) == 1);

    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
    reload(&mut daemon);
    daemon.wait_for("the reload to finish", || {
        daemon.stderr().contains("reloaded profiles")
    });
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o640)).unwrap();
    reload(&mut daemon);
    daemon.wait_for("the warning on reload", || count(&daemon, 0o640) == 1);
    assert_eq!(count(&daemon, 0o644), 1, "no warning for the private file");

    let home = daemon.home();
    let profiles = home.credvend(&m.url, &["profiles"]);
    let stdout = text(&profiles.stdout);
    assert!(
        profiles.status.success(),
        "{stdout}{}",
        text(&profiles.stderr)
    );
    assert!(
        stdout.contains(&format!("warning: {}\n", warning(0o640))),
        "{stdout}"
    );
    let check = home.credvend(&m.url, &["check", "--profile", "app"]);
    let stdout = text(&check.stdout);
    assert!(check.status.success(), "{stdout}{}", text(&check.stderr));
    assert!(
        stdout.contains(&format!("warning:  {}\n", warning(0o640))),
        "{stdout}"
    );

    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
    for args in [&["profiles"][..], &["check", "--profile", "app"]] {
        let out = home.credvend(&m.url, args);
        assert!(
            !text(&out.stdout).contains("chmod"),
            "{}",
            text(&out.stdout)
        );
    }
    stop_promptly(&mut daemon);
}
