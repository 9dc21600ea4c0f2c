//! Logging: tracing to stderr (systemd and launchd collect it), filtered by `RUST_LOG`.
//!
//! Nothing logged anywhere in credvend carries a secret: the secret types redact themselves,
//! and access key ids are masked.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::env::Env;

/// Installs the global subscriber. `default` applies when `RUST_LOG` is unset or invalid.
pub fn init(env: &Env, default: &str) {
    let filter = env
        .get("RUST_LOG")
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    // A second init (tests) is harmless; ignore its error.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
