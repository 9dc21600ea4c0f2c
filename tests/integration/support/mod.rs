//! Shared helpers for the integration tests: where the real peers live, and how a test that
//! needs one behaves when it is missing (a skip locally, a failure under `CI=true`).

#![allow(dead_code)] // each test module uses a different subset

use std::path::PathBuf;

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
