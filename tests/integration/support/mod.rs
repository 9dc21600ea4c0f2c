//! Shared helpers for the integration tests: where the real peers live, and how a test that
//! needs one behaves when it is missing (a skip locally, a failure under `CI=true`).

#![allow(dead_code)] // each test module uses a different subset

pub mod daemon;
pub mod docker_ns;
pub mod docker_site;
pub mod dockerd;
pub mod home;
pub mod http;
pub mod moto;
pub mod netns;
pub mod proxy;

use std::path::{Path, PathBuf};

/// Whether we run under CI, where a missing peer is a failure, never a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The folder the test command installs peers into (`.peers/` unless `CREDVEND_PEERS_DIR`).
pub fn peers_dir() -> PathBuf {
    std::env::var_os("CREDVEND_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".peers"))
}

/// A peer that may be absent: `None` (with a message) locally, a panic under CI.
pub fn require(peer: &str, path: PathBuf) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    let msg = format!(
        "peer {peer} missing at {}: run the README's test command (scripts/test) first",
        path.display()
    );
    assert!(!in_ci(), "{msg}");
    eprintln!("SKIP: {msg}");
    None
}

/// Whether this test process is root: `false` (with a note) locally otherwise, a failure
/// under CI, where the tests run as root. `what` names the test in both.
pub fn root(what: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(!in_ci(), "{what} needs root, and CI runs as root");
    eprintln!("SKIP: {what} needs root");
    false
}

/// The Python of the test venv (boto3, botocore, the AWS CLI, moto).
pub fn python() -> Option<PathBuf> {
    require("python venv", peers_dir().join("venv/bin/python"))
}

/// A path under `tests/data`.
pub fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// A script under `tests/peers`.
pub fn peer_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(name)
}

/// The environment every peer and every credvend run gets (docs/testing.md §5): a fresh HOME with
/// the AWS files inside it, a region, proxies that fail at once for anything not on
/// loopback, and none of the `AWS_*` variables this machine exports.
pub fn scrubbed_env(home: Option<&Path>) -> Vec<(String, String)> {
    let home = home.map_or_else(std::env::temp_dir, Path::to_path_buf);
    let mut env = vec![
        ("PATH".to_owned(), std::env::var("PATH").unwrap_or_default()),
        ("HOME".to_owned(), home.display().to_string()),
        (
            "AWS_CONFIG_FILE".to_owned(),
            home.join(".aws/config").display().to_string(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE".to_owned(),
            home.join(".aws/credentials").display().to_string(),
        ),
        ("AWS_DEFAULT_REGION".to_owned(), "us-east-1".to_owned()),
        ("AWS_EC2_METADATA_DISABLED".to_owned(), "true".to_owned()),
        ("HTTP_PROXY".to_owned(), "http://127.0.0.1:9".to_owned()),
        ("HTTPS_PROXY".to_owned(), "http://127.0.0.1:9".to_owned()),
        ("NO_PROXY".to_owned(), "127.0.0.1,localhost".to_owned()),
        (
            "XDG_CONFIG_HOME".to_owned(),
            home.join(".config").display().to_string(),
        ),
        (
            "XDG_STATE_HOME".to_owned(),
            home.join(".local/state").display().to_string(),
        ),
        (
            "XDG_DATA_HOME".to_owned(),
            home.join(".local/share").display().to_string(),
        ),
    ];
    if let Ok(level) = std::env::var("RUST_LOG") {
        env.push(("RUST_LOG".to_owned(), level));
    }
    env
}

/// A Python peer that prints one JSON line when ready and runs until its stdin closes.
pub struct JsonPeer<T> {
    /// What the peer printed.
    pub announced: T,
    /// Held open to keep the peer alive; dropping it lets the peer exit.
    pub stdin: std::process::ChildStdin,
    /// The peer process.
    pub child: std::process::Child,
}

/// Starts `tests/peers/<script> ARGS` with the test venv's Python and the scrubbed environment
/// of `home`, and reads its announcement; `None` when the venv is missing (a failure under CI).
pub fn start_json_peer<T: serde::de::DeserializeOwned>(
    script: &str,
    args: &[&std::ffi::OsStr],
    home: Option<&Path>,
    stderr: std::process::Stdio,
) -> Option<JsonPeer<T>> {
    start_json_peer_under(&[], script, args, home, stderr)
}

/// [`start_json_peer`] run under `prefix`, a command that execs the rest (`ip netns exec NS`).
pub fn start_json_peer_under<T: serde::de::DeserializeOwned>(
    prefix: &[&str],
    script: &str,
    args: &[&std::ffi::OsStr],
    home: Option<&Path>,
    stderr: std::process::Stdio,
) -> Option<JsonPeer<T>> {
    use std::io::BufRead;
    let python = python()?;
    let mut command = match prefix {
        [program, rest @ ..] => {
            let mut c = std::process::Command::new(program);
            c.args(rest).arg(python);
            c
        }
        [] => std::process::Command::new(python),
    };
    let mut child = command
        .arg(peer_script(script))
        .args(args)
        .envs(scrubbed_env(home))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("start {script}: {e}"));
    let stdin = child.stdin.take().expect("peer stdin");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("peer stdout"))
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("read {script}'s announcement: {e}"));
    let announced = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("{script} did not start: {e}: {line:?}"));
    Some(JsonPeer {
        announced,
        stdin,
        child,
    })
}
