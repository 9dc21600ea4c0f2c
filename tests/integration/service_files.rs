//! The service files as systemd and launchd read them: `systemd-analyze verify` prints nothing
//! for any unit, the link-local service rates 2.0 or better in `systemd-analyze security`, the
//! LaunchAgent is a well-formed plist, and the link-local config parses.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::home::{Home, text};
use crate::support::require;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The units in a temporary directory, with ExecStart pointing at the built binary (verify
/// checks that it exists) and the templates as instances for a user `alice`.
fn units() -> (Home, Vec<PathBuf>) {
    let home = Home::new();
    let binary = env!("CARGO_BIN_EXE_credvend");
    let mut out = Vec::new();
    for (file, name) in [
        ("systemd/credvend.service", "credvend.service"),
        (
            "systemd/credvend-linklocal@.service",
            "credvend-linklocal@alice.service",
        ),
        (
            "systemd/credvend-linklocal@.socket",
            "credvend-linklocal@alice.socket",
        ),
    ] {
        let unit = std::fs::read_to_string(repo(file)).unwrap();
        let unit = unit
            .replace("%h/.cargo/bin/credvend", binary)
            .replace("/usr/local/bin/credvend", binary);
        let path = home.path(name);
        std::fs::write(&path, unit).unwrap();
        out.push(path);
    }
    (home, out)
}

fn systemd_analyze() -> Option<PathBuf> {
    require(
        "systemd-analyze (Debian's systemd)",
        PathBuf::from("/usr/bin/systemd-analyze"),
    )
}

#[test]
fn systemd_analyze_verify_finds_nothing_to_say_about_any_unit() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    let (_home, units) = units();
    for unit in &units {
        let out = Command::new(&analyze)
            .arg("verify")
            .arg(unit)
            .output()
            .unwrap();
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(
            out.status.success() && said.trim().is_empty(),
            "{}:\n{said}",
            unit.display()
        );
    }
}

#[test]
fn the_link_local_service_is_hardened_to_2_or_better() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    let (_home, units) = units();
    for unit in &units[..2] {
        let out = Command::new(&analyze)
            .args(["security", "--offline=yes"])
            .arg(unit)
            .output()
            .unwrap();
        let report = text(&out.stdout);
        let score: f64 = report
            .lines()
            .find_map(|l| l.split("Overall exposure level for ").nth(1))
            .and_then(|rest| rest.split(':').nth(1))
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no score in:\n{report}{}", text(&out.stderr)));
        println!("systemd-analyze security {}: {score}", unit.display());
        assert!(score <= 2.0, "{}: {score}\n{report}", unit.display());
    }
}

#[test]
fn the_launch_agent_is_a_well_formed_plist() {
    let Some(python) = crate::support::python() else {
        return;
    };
    let check = r#"
import plistlib, sys
with open(sys.argv[1], "rb") as f:
    p = plistlib.load(f)
assert p["Label"] == "com.github.credvend.agent", p["Label"]
args = p["ProgramArguments"]
assert args[0].startswith("/") and args[1] == "serve", args
assert p["RunAtLoad"] is True and p["KeepAlive"] is True
print("ok")
"#;
    let out = Command::new(python)
        .args(["-c", check])
        .arg(repo("launchd/com.github.credvend.agent.plist"))
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "ok\n", "{}", text(&out.stderr));
}

#[test]
fn the_link_local_config_parses_and_names_the_socket_units_addresses() {
    let config = std::fs::read_to_string(repo("config.linklocal.toml")).unwrap();
    let socket = std::fs::read_to_string(repo("systemd/credvend-linklocal@.socket")).unwrap();
    let home = Home::new();
    let file = home.path("linklocal.toml");
    std::fs::write(&file, &config).unwrap();
    let out = home.credvend(
        "http://127.0.0.1:9",
        &["env", "--config", file.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listen = crate::support::daemon::listen_addresses(&config);
    let streams: Vec<std::net::SocketAddr> = socket
        .lines()
        .filter_map(|l| l.strip_prefix("ListenStream="))
        .map(|a| a.parse().unwrap())
        .collect();
    assert_eq!(listen, streams);
}
