//! The service files as systemd and launchd read them: `systemd-analyze verify` prints nothing
//! for any unit, the link-local service rates 2.0 or better in `systemd-analyze security`,
//! every launchd plist is well-formed and installed as its own comment says, the LaunchDaemon
//! runs a config the repository ships (with `run_as`, as credvend's loader reads it), the
//! macOS address script is valid sh and puts exactly the daemon's addresses on lo0, and the
//! link-local configs parse.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
        (
            "systemd/credvend-network.service",
            "credvend-network.service",
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

/// `config` as credvend reads it: the binary's loader must accept it (`credvend env` loads the
/// config and nothing else that could fail here), and the library's gives the values.
fn load_config(config: &Path) -> credvend::config::Config {
    let home = Home::new();
    let out = home.credvend(
        "http://127.0.0.1:9",
        &["env", "--config", config.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}: {}",
        config.display(),
        text(&out.stderr)
    );
    let env = credvend::env::Env::from_pairs([("HOME", home.root.display().to_string())]);
    credvend::config::Config::load_with(
        Some(config),
        &credvend::config::DefaultPaths::under_home(&home.root),
        &env,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", config.display()))
}

/// Every listener address of a loaded config, IMDS first.
fn listeners(config: &credvend::config::Config) -> Vec<SocketAddr> {
    let imds = config.imds.iter().map(|l| l.listen);
    let ecs = config.ecs.iter().flat_map(|e| e.addresses());
    imds.chain(ecs).collect()
}

/// The `ListenStream=` addresses of the link-local socket unit.
fn socket_unit_addresses() -> Vec<SocketAddr> {
    std::fs::read_to_string(repo("systemd/credvend-linklocal@.socket"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("ListenStream="))
        .map(|a| a.parse().unwrap())
        .collect()
}

#[test]
fn the_link_local_config_parses_and_names_the_socket_units_addresses() {
    let file = repo("config.linklocal.toml");
    let config = std::fs::read_to_string(&file).unwrap();
    let loaded = load_config(&file);
    // The service starts credvend as User=%i, and credvend refuses run_as when not root.
    assert_eq!(loaded.run_as, None, "run_as in {}", file.display());
    assert_eq!(listeners(&loaded), socket_unit_addresses());
    let listen = crate::support::daemon::listen_addresses(&config);
    assert_eq!(listen, socket_unit_addresses());
}

/// A plist in `launchd/`: its file name, what plistlib read (as JSON), and its text.
struct Plist {
    name: String,
    keys: serde_json::Value,
    text: String,
}

impl Plist {
    fn string(&self, key: &str) -> Option<&str> {
        self.keys.get(key).and_then(serde_json::Value::as_str)
    }

    fn args(&self) -> Vec<&str> {
        self.keys["ProgramArguments"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: no ProgramArguments array", self.name))
            .iter()
            .map(|a| a.as_str().expect("arguments are strings"))
            .collect()
    }

    /// The text of its XML comments, where the install commands are.
    fn comment(&self) -> String {
        self.text
            .split("<!--")
            .skip(1)
            .filter_map(|c| c.split("-->").next())
            .collect()
    }

    /// The comment's lines, as words.
    fn command_lines(&self) -> Vec<Vec<String>> {
        self.comment()
            .lines()
            .map(|l| l.split_whitespace().map(str::to_owned).collect())
            .collect()
    }
}

/// Every plist in `launchd/`, read by Python's `plistlib` (there is no `plutil` here); one it
/// cannot read fails the test with plistlib's error. `None` when Python is missing.
fn plists() -> Option<Vec<Plist>> {
    let python = crate::support::python()?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo("launchd"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "plist"))
        .collect();
    files.sort();
    let read = r#"
import json, plistlib, sys
with open(sys.argv[1], "rb") as f:
    print(json.dumps(plistlib.load(f)))
"#;
    let plists = files
        .iter()
        .map(|file| {
            let out = Command::new(&python)
                .args(["-c", read])
                .arg(file)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{} is not a well-formed plist:\n{}",
                file.display(),
                text(&out.stderr)
            );
            Plist {
                name: file.file_name().unwrap().to_str().unwrap().to_owned(),
                keys: serde_json::from_slice(&out.stdout).unwrap(),
                text: std::fs::read_to_string(file).unwrap(),
            }
        })
        .collect();
    Some(plists)
}

fn plist<'a>(all: &'a [Plist], name: &str) -> &'a Plist {
    all.iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no launchd/{name}"))
}

#[test]
fn every_plist_is_well_formed_and_installed_as_its_comment_says() {
    let Some(all) = plists() else { return };
    assert!(all.len() >= 3, "only {} plists in launchd/", all.len());
    for p in &all {
        let label = p.string("Label").unwrap_or_default();
        assert_eq!(
            p.name,
            format!("{label}.plist"),
            "a plist's file is named after its Label"
        );
        let args = p.args();
        assert!(args[0].starts_with('/'), "{}: {args:?}", p.name);
        assert_eq!(p.keys["RunAtLoad"], true, "{}", p.name);
        // Installed into the folder its kind is loaded from, then bootstrapped from there.
        let lines = p.command_lines();
        let (dir, domain) = if p.comment().contains("LaunchDaemon") {
            ("/Library/LaunchDaemons/", "system")
        } else {
            ("~/Library/LaunchAgents/", "gui/$(id -u)")
        };
        let source = format!("launchd/{}", p.name);
        assert!(
            lines.iter().any(|w| w.contains(&source)
                && w.last().map(String::as_str) == Some(dir)
                && ["cp", "install"].iter().any(|c| w.iter().any(|x| x == c))),
            "{}: no line copies {source} to {dir}",
            p.name
        );
        let installed = format!("{dir}{}", p.name);
        let bootstrap = lines
            .iter()
            .find(|w| w.ends_with(std::slice::from_ref(&installed)))
            .unwrap_or_else(|| panic!("{}: no line loads {installed}", p.name));
        let at = bootstrap.iter().position(|w| w == "bootstrap");
        let at = at.unwrap_or_else(|| panic!("{}: {bootstrap:?}", p.name));
        assert_eq!(bootstrap[at - 1], "launchctl", "{}", p.name);
        let target = bootstrap[at + 1..bootstrap.len() - 1].join(" ");
        assert_eq!(target, domain, "{}: {bootstrap:?}", p.name);
        // The service targets of the other commands (kill, bootout) name this job.
        let comment = p.comment();
        for prefix in ["system/", "gui/$(id -u)/"] {
            for (i, _) in comment.match_indices(prefix) {
                let target: String = comment[i + prefix.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
                    .collect();
                assert_eq!(target.trim_end_matches('.'), label, "{}", p.name);
            }
        }
    }
}

#[test]
fn the_launch_agent_serves_the_loopback_ports() {
    let Some(all) = plists() else { return };
    let agent = plist(&all, "com.github.credvend.agent.plist");
    assert_eq!(agent.args()[1..], ["serve"]);
    assert_eq!(agent.keys["KeepAlive"], true);
}

/// The link-local LaunchDaemon, and the repository file its `--config` is copied from.
fn link_local_daemon(all: &[Plist]) -> (&Plist, PathBuf) {
    let daemon = plist(all, "com.github.credvend.linklocal.plist");
    let args = daemon.args();
    assert_eq!(args[1..3], ["serve", "--config"], "{args:?}");
    assert_eq!(args.len(), 4, "{args:?}");
    let installed = args[3];
    let copy = daemon
        .command_lines()
        .into_iter()
        .find(|w| w.len() >= 3 && w[w.len() - 3] == "cp" && w[w.len() - 1] == installed)
        .unwrap_or_else(|| panic!("no `cp FILE {installed}` in the comment"));
    (daemon, repo(&copy[copy.len() - 2]))
}

#[test]
fn the_link_local_launch_daemon_runs_a_shipped_config_with_run_as() {
    let Some(all) = plists() else { return };
    let (daemon, source) = link_local_daemon(&all);
    // credvend must start as root to bind port 80 and then drop: launchd must not change user.
    for key in ["UserName", "GroupName", "InitGroups"] {
        assert!(daemon.keys.get(key).is_none(), "{key} is set");
    }
    assert_eq!(daemon.keys["KeepAlive"], true);
    // Without HOME, credvend cannot read a config that leaves ~/.aws paths at their defaults;
    // root's is enough, because after the drop credvend takes the user's from the user database.
    assert_eq!(daemon.keys["EnvironmentVariables"]["HOME"], "/var/root");
    assert!(
        source.is_file(),
        "{} is not in the repository",
        source.display()
    );
    let config = load_config(&source);
    let user = config.run_as.as_deref();
    assert!(user.is_some_and(|u| u != "root"), "run_as = {user:?}");
    // The five addresses clients look for, as in the socket units, all on port 80.
    let mut ours = listeners(&config);
    let mut socket = socket_unit_addresses();
    ours.sort();
    socket.sort();
    assert_eq!(ours, socket);
}

#[test]
fn the_network_launch_daemon_runs_the_shipped_script_up() {
    let Some(all) = plists() else { return };
    let network = plist(&all, "com.github.credvend.network.plist");
    let args = network.args();
    let script = Path::new(args[0]);
    assert_eq!(args[1..], ["up"]);
    assert!(network.keys.get("KeepAlive").is_none(), "it runs once");
    let name = script.file_name().unwrap().to_str().unwrap();
    assert!(repo(&format!("launchd/{name}")).is_file());
    let dir = format!("{}/", script.parent().unwrap().display());
    let install = network
        .command_lines()
        .into_iter()
        .any(|w| w.contains(&format!("launchd/{name}")) && w.last() == Some(&dir));
    assert!(install, "no line installs launchd/{name} into {dir}");
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

const NETWORK_SCRIPT: &str = "launchd/credvend-network";

#[test]
fn the_network_script_is_valid_sh() {
    let script = repo(NETWORK_SCRIPT);
    let mode = std::os::unix::fs::PermissionsExt::mode(&script.metadata().unwrap().permissions());
    assert_eq!(mode & 0o111, 0o111, "not executable: {mode:o}");
    let out = Command::new("sh").arg("-n").arg(&script).output().unwrap();
    assert!(out.status.success(), "sh -n: {}", text(&out.stderr));
    match on_path("shellcheck") {
        Some(shellcheck) => {
            let out = Command::new(shellcheck).arg(&script).output().unwrap();
            assert!(
                out.status.success(),
                "shellcheck:\n{}{}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        None => eprintln!("NOTE: shellcheck is not installed; {NETWORK_SCRIPT} had sh -n only"),
    }
}

/// macOS `ifconfig` for lo0, as far as the script uses it: the addresses it adds live in
/// `$FAKE_LO0`, one line as `ifconfig lo0` prints it, and every change is appended to
/// `$FAKE_LO0.log`. Adding an address lo0 has, or removing one it lacks, fails.
const FAKE_IFCONFIG: &str = r#"#!/bin/sh
set -eu
[ "${1:-}" = lo0 ] || { echo "ifconfig: interface ${1:-} does not exist" >&2; exit 1; }
shift
state=$FAKE_LO0
touch "$state"
case "$*" in
"")
    printf 'lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 16384\n'
    printf '\tinet 127.0.0.1 netmask 0xff000000\n\tinet6 ::1 prefixlen 128\n'
    while IFS= read -r l; do printf '\t%s\n' "$l"; done < "$state"
    exit 0 ;;
"alias "*" netmask 255.255.255.255") op=add line="inet $2 netmask 0xffffffff" ;;
"inet6 alias "*" prefixlen 128") op=add line="inet6 $3 prefixlen 128" ;;
"-alias "*) op=del line="inet $2 netmask 0xffffffff" ;;
"inet6 -alias "*) op=del line="inet6 $3 prefixlen 128" ;;
*) echo "fake ifconfig: unexpected arguments: $*" >&2; exit 1 ;;
esac
if grep -qx "$line" "$state"; then there=yes; else there=no; fi
if [ $op = add ]; then
    [ $there = no ] || { echo "ifconfig: ioctl (SIOCAIFADDR): File exists" >&2; exit 1; }
    echo "$line" >> "$state"
else
    [ $there = yes ] || { echo "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address" >&2; exit 1; }
    grep -vx "$line" "$state" > "$state.new" || true
    mv "$state.new" "$state"
fi
echo "$op $line" >> "$state.log"
"#;

/// The script run with the fake ifconfig.
struct Lo0 {
    home: Home,
}

impl Lo0 {
    fn new() -> Self {
        let home = Home::new();
        let fake = home.path("ifconfig");
        std::fs::write(&fake, FAKE_IFCONFIG).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&fake, mode).unwrap();
        Self { home }
    }

    fn run(&self, action: &str) -> Output {
        self.run_with(action, &self.home.path("ifconfig"))
    }

    fn run_with(&self, action: &str, ifconfig: &Path) -> Output {
        Command::new(repo(NETWORK_SCRIPT))
            .arg(action)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("CREDVEND_IFCONFIG", ifconfig)
            .env("FAKE_LO0", self.home.path("lo0"))
            .output()
            .unwrap()
    }

    /// The changes so far, as `add ADDR` / `del ADDR`.
    fn changes(&self) -> Vec<String> {
        std::fs::read_to_string(self.home.path("lo0.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>())
            .map(|w| format!("{} {}", w[0], w[2]))
            .collect()
    }
}

fn lines_starting(text: &str, word: &str) -> usize {
    text.lines().filter(|l| l.starts_with(word)).count()
}

fn addresses_in(changes: &[String], op: &str) -> BTreeSet<IpAddr> {
    changes
        .iter()
        .filter_map(|c| c.strip_prefix(op))
        .map(|a| a.trim().parse().unwrap())
        .collect()
}

#[test]
fn the_network_script_puts_exactly_the_daemons_addresses_on_lo0_and_only_once() {
    let Some(all) = plists() else { return };
    let (_, source) = link_local_daemon(&all);
    let wanted: BTreeSet<IpAddr> = listeners(&load_config(&source))
        .iter()
        .map(SocketAddr::ip)
        .collect();
    let lo0 = Lo0::new();
    let ok = |out: &Output| {
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };

    let status = lo0.run("status");
    assert_eq!(status.status.code(), Some(1), "nothing there yet");
    assert_eq!(
        lines_starting(&text(&status.stdout), "absent "),
        wanted.len()
    );

    ok(&lo0.run("up"));
    let added = lo0.changes();
    assert_eq!(addresses_in(&added, "add"), wanted, "{added:?}");
    assert_eq!(added.len(), wanted.len(), "{added:?}");
    let again = ok(&lo0.run("up"));
    assert_eq!(lo0.changes(), added, "a second up changes nothing");
    assert_eq!(again.matches("already on lo0").count(), wanted.len());
    let status = ok(&lo0.run("status"));
    assert_eq!(lines_starting(&status, "present "), wanted.len());

    ok(&lo0.run("down"));
    let changes = lo0.changes();
    assert_eq!(addresses_in(&changes[added.len()..], "del"), wanted);
    ok(&lo0.run("down"));
    assert_eq!(lo0.changes(), changes, "a second down changes nothing");
    assert_eq!(lo0.run("status").status.code(), Some(1));

    assert_eq!(lo0.run("sideways").status.code(), Some(2));
    // Where ifconfig has no lo0 (Linux), it says what to use instead.
    let linux = lo0.run_with("up", Path::new("/bin/false"));
    assert!(!linux.status.success());
    assert!(
        text(&linux.stderr).contains("credvend network up"),
        "{}",
        text(&linux.stderr)
    );
}
