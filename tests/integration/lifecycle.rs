//! The daemon's life as an operator sees it: readiness to systemd, SIGHUP reloads that renew
//! only what changed, reloads that fail without losing anything, a broken profile that does not
//! stop the others, and a bad config refused at start naming the key.

use nix::sys::signal::Signal;

use crate::support::daemon::{Daemon, SESSION, Spec, free_port, poke};
use crate::support::home::{Home, text};
use crate::support::http::http;
use crate::support::moto::{Seeded, moto};

/// The access key id the ECS listener serves for `profile`, or the HTTP status it answered.
fn ecs_key(daemon: &Daemon, profile: &str) -> Result<String, u16> {
    let token = daemon.token();
    let answer = http(
        "GET",
        &daemon.ecs_role_url(profile),
        &[("Authorization", token.as_str())],
    );
    if answer.status != 200 {
        return Err(answer.status);
    }
    let json: serde_json::Value = serde_json::from_str(&answer.body).expect("credentials JSON");
    Ok(json["AccessKeyId"]
        .as_str()
        .expect("AccessKeyId")
        .to_owned())
}

/// `issued` audit records as (profile, session name).
fn issued(daemon: &Daemon) -> Vec<(String, String)> {
    let log = std::fs::read_to_string(daemon.audit_path()).unwrap_or_default();
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["event"] == "issued")
        .map(|r| {
            (
                r["profile"].as_str().unwrap_or_default().to_owned(),
                r["session_name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// `app` as usual plus `other`, the same role under its own session name.
fn two_profiles(m: &Seeded, other_session: &str) -> String {
    format!(
        "[profile app]\nrole_arn = {r}\nsource_profile = user\nrole_session_name = {SESSION}\n\n\
         [profile other]\nrole_arn = {r}\nsource_profile = user\nrole_session_name = {other_session}\n",
        r = m.role("app")
    )
}

#[test]
fn sighup_renews_a_changed_profile_and_keeps_an_unchanged_one() {
    let Some(m) = moto() else { return };
    let mut spec = Spec::app(m, &[true]);
    spec.aws_config = two_profiles(m, "other-1");
    spec.ecs_profiles = vec!["app".into(), "other".into()];
    let daemon = Daemon::start(m, &spec);
    let app_before = ecs_key(&daemon, "app").expect("app served");
    let other_before = ecs_key(&daemon, "other").expect("other served");

    daemon.home().config(&two_profiles(m, "other-2"));
    daemon.signal(Signal::SIGHUP);
    daemon.wait_for("the changed profile to be re-minted", || {
        issued(&daemon).contains(&("other".into(), "other-2".into()))
    });
    daemon.wait_for("the new credentials to be served", || {
        ecs_key(&daemon, "other").is_ok_and(|k| k != other_before)
    });
    assert_eq!(
        ecs_key(&daemon, "app"),
        Ok(app_before),
        "unchanged profile kept its credentials"
    );
    let app_mints = issued(&daemon).iter().filter(|(p, _)| p == "app").count();
    assert_eq!(app_mints, 1, "no STS call for the unchanged profile");
}

#[test]
fn a_reload_that_fails_keeps_the_previous_state_serving() {
    let Some(m) = moto() else { return };
    let daemon = Daemon::start(m, &Spec::app(m, &[true]));
    let before = ecs_key(&daemon, "app").expect("app served");

    daemon
        .home()
        .config("[profile app\nthis is not an ini file\n");
    daemon.signal(Signal::SIGHUP);
    daemon.wait_for("the failed reload to be logged", || {
        daemon.stderr().contains("reload failed")
    });
    assert!(
        daemon.stderr().contains(".aws/config:1"),
        "{}",
        daemon.stderr()
    );
    assert_eq!(ecs_key(&daemon, "app"), Ok(before));
}

#[test]
fn an_unresolvable_profile_does_not_stop_the_other_listeners() {
    let Some(m) = moto() else { return };
    let mut spec = Spec::app(m, &[true]);
    spec.ecs_profiles = vec!["app".into(), "ghost".into()];
    let daemon = Daemon::start(m, &spec);
    assert!(ecs_key(&daemon, "app").is_ok());
    assert_eq!(ecs_key(&daemon, "ghost"), Err(503));
    assert!(daemon.stderr().contains("ghost"), "{}", daemon.stderr());
    let (_, creds) = crate::support::http::imds_credentials(&daemon.imds_url(true));
    assert!(
        creds["AccessKeyId"]
            .as_str()
            .is_some_and(|k| k.starts_with("ASIA")),
        "{creds}"
    );
}

#[test]
fn readiness_with_the_bound_addresses_and_stopping_are_reported_to_systemd() {
    let Some(m) = moto() else { return };
    let mut daemon = Daemon::start(m, &Spec::app(m, &[true, false]));
    // Start already consumed READY=1 and read the addresses from it; they serve.
    for imdsv1 in [true, false] {
        let url = format!("{}/latest/api/token", daemon.imds_url(imdsv1));
        let token = http(
            "PUT",
            &url,
            &[("X-aws-ec2-metadata-token-ttl-seconds", "60")],
        );
        assert_eq!(token.status, 200, "{url}");
    }
    daemon.signal(Signal::SIGHUP);
    assert_eq!(daemon.next_notification(), "RELOADING=1");
    assert_eq!(daemon.next_notification(), "READY=1");
    daemon.signal(Signal::SIGTERM);
    assert_eq!(daemon.next_notification(), "STOPPING=1");
    assert!(daemon.stop().success());
}

#[test]
fn with_watchdog_sec_the_daemon_pings_the_watchdog() {
    let Some(m) = moto() else { return };
    let mut spec = Spec::app(m, &[true]);
    spec.extra_env = vec![("WATCHDOG_USEC".into(), "400000".into())];
    let mut daemon = Daemon::start(m, &spec);
    // Readiness came first; then a ping every 200 ms.
    for _ in 0..3 {
        assert_eq!(daemon.next_notification(), "WATCHDOG=1");
    }
}

#[test]
fn under_journald_log_lines_carry_no_colour_and_no_timestamp_of_their_own() {
    let Some(m) = moto() else { return };
    let mut spec = Spec::app(m, &[true]);
    spec.journal_stream = true;
    spec.extra_env = vec![("TERM".into(), "xterm-256color".into())];
    let mut daemon = Daemon::start(m, &spec);
    assert!(daemon.stop().success());
    let stderr = daemon.stderr();
    let ready = stderr
        .lines()
        .find(|l| l.contains("credvend ready"))
        .unwrap_or_else(|| panic!("no ready line:\n{stderr}"));
    assert!(
        ready.starts_with(" INFO ") || ready.starts_with("INFO "),
        "{ready:?}"
    );
    assert!(!stderr.contains('\u{1b}'), "colour codes:\n{stderr}");
}

#[test]
fn socket_activation_serves_on_the_sockets_the_supervisor_passed() {
    let Some(m) = moto() else { return };
    let mut spec = Spec::app(m, &[true]);
    spec.fixed_ports = true;
    spec.socket_activation = true;
    let daemon = Daemon::start(m, &spec);
    assert!(
        daemon
            .stderr()
            .contains("serving on sockets passed by the supervisor"),
        "{}",
        daemon.stderr()
    );
    let (role, creds) = crate::support::http::imds_credentials(&daemon.imds_url(true));
    assert_eq!(role, "app");
    assert!(creds["AccessKeyId"].is_string());
    assert_eq!(
        ecs_key(&daemon, "app").map(|k| k.starts_with("ASIA")),
        Ok(true)
    );
}

#[test]
fn socket_activation_adopts_every_address_of_listen_lists_and_each_serves() {
    let Some(m) = moto() else { return };
    let [a, b, c, d] = [(); 4].map(|()| free_port());
    let mut spec = Spec::app(m, &[]);
    spec.listeners = Some(format!(
        "[[imds]]\nlisten = [\"127.0.0.1:{a}\", \"[::1]:{b}\"]\nprofile = \"app\"\n\n\
         [ecs]\nlisten = [\"127.0.0.1:{c}\", \"127.0.0.2:{d}\"]\nprofiles = [\"app\"]\n"
    ));
    spec.socket_activation = true;
    let daemon = Daemon::start(m, &spec);
    assert!(
        daemon
            .stderr()
            .contains("serving on sockets passed by the supervisor"),
        "{}",
        daemon.stderr()
    );
    let addr = |s: String| s.parse::<std::net::SocketAddr>().unwrap();
    let imds = [format!("127.0.0.1:{a}"), format!("[::1]:{b}")].map(addr);
    let ecs = [format!("127.0.0.1:{c}"), format!("127.0.0.2:{d}")].map(addr);
    // Readiness names one socket per address, in config order.
    assert_eq!(daemon.listening.imds, imds);
    assert_eq!(daemon.listening.ecs, ecs);
    let mut keys = Vec::new();
    for at in imds {
        let (role, creds) = crate::support::http::imds_credentials(&format!("http://{at}"));
        assert_eq!(role, "app", "{at}");
        keys.push(creds["AccessKeyId"].as_str().expect("a key").to_owned());
    }
    let token = daemon.token();
    for at in ecs {
        let answer = http(
            "GET",
            &format!("http://{at}/role/app"),
            &[("Authorization", token.as_str())],
        );
        assert_eq!(answer.status, 200, "{at}: {answer:?}");
        let json: serde_json::Value = serde_json::from_str(&answer.body).expect("JSON");
        keys.push(json["AccessKeyId"].as_str().expect("a key").to_owned());
    }
    // One profile, one cached session, whichever socket serves it.
    assert!(
        keys.iter().all(|k| k.starts_with("ASIA") && *k == keys[0]),
        "{keys:?}"
    );
}

#[test]
fn socket_activation_without_a_configured_listener_is_refused_naming_it() {
    let Some(m) = moto() else { return };
    let home = Home::new();
    let (imds, ecs) = (free_port(), free_port());
    let config = home.path("credvend.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = {:?}\n[[imds]]\nlisten = \"127.0.0.1:{imds}\"\nprofile = \"app\"\n\
             [ecs]\nlisten = \"127.0.0.1:{ecs}\"\nprofiles = [\"app\"]\n",
            home.path("state").display().to_string()
        ),
    )
    .unwrap();
    // Only the IMDS address is passed.
    let child = std::process::Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(format!("127.0.0.1:{imds}"))
        .arg(env!("CARGO_BIN_EXE_credvend"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .env_clear()
        .envs(crate::support::scrubbed_env(Some(&home.root)))
        .env("AWS_ENDPOINT_URL_STS", &m.url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("systemd-socket-activate");
    poke(&[format!("127.0.0.1:{imds}").parse().unwrap()]);
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "socket activation passed no socket for the ecs listener on 127.0.0.1:{ecs}"
        )),
        "{stderr}"
    );
}

#[test]
fn started_as_root_with_run_as_it_becomes_that_user_and_still_serves() {
    let Some(m) = moto() else { return };
    if !crate::support::root("the privilege drop test") {
        return;
    }
    let mut spec = Spec::app(m, &[true]);
    spec.run_as = Some("nobody".into());
    // nobody must read the profiles and own the state directory.
    let daemon = Daemon::start_prepared(m, &spec, |home| {
        let nobody = nix::unistd::User::from_name("nobody")
            .unwrap()
            .expect("user nobody");
        std::fs::create_dir_all(home.path("state")).unwrap();
        nix::unistd::chown(&home.path("state"), Some(nobody.uid), Some(nobody.gid)).unwrap();
    });
    let status = std::fs::read_to_string(format!("/proc/{}/status", daemon.pid())).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(field("Uid:"), ["65534"; 4], "{status}");
    assert_eq!(field("Gid:"), ["65534"; 4], "{status}");
    assert!(field("Groups:").is_empty(), "{status}");
    // No capability left: it cannot bind a privileged port again.
    assert_eq!(field("CapEff:"), ["0000000000000000"], "{status}");
    let (role, creds) = crate::support::http::imds_credentials(&daemon.imds_url(true));
    assert_eq!(role, "app");
    assert!(creds["AccessKeyId"].is_string());
    assert!(
        daemon.stderr().contains("running as nobody from now on"),
        "{}",
        daemon.stderr()
    );
    let token = std::fs::metadata(daemon.token_file()).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&token),
        65534,
        "state written as nobody"
    );
}

#[test]
fn serve_refuses_a_bad_config_naming_the_key() {
    let Some(m) = moto() else { return };
    let home = Home::new();
    let config = home.path("bad.toml");
    std::fs::write(&config, "[aws]\nregion = \"us-east-1\"\nbogus = 1\n").unwrap();
    let out = home.credvend(&m.url, &["serve", "--config", config.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("aws.bogus"), "{stderr}");
    assert!(stderr.contains("bad.toml:3"), "{stderr}");
}
