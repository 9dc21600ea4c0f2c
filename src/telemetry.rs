//! Logging: tracing to stderr (systemd and launchd collect it), filtered by `RUST_LOG`.
//!
//! When stderr is systemd's journal (`$JOURNAL_STREAM` names the stream stderr is), lines go
//! without colour and without a timestamp of their own: journald records the time, and would
//! store colour codes as text.
//!
//! Nothing logged anywhere in credvend carries a secret: the secret types redact themselves,
//! and access key ids are masked.

use std::io::IsTerminal;
use std::os::fd::AsFd;

use tracing_subscriber::EnvFilter;

use crate::env::Env;

/// Installs the global subscriber. `default` applies when `RUST_LOG` is unset or invalid.
pub fn init(env: &Env, default: &str) {
    let filter = env
        .get("RUST_LOG")
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // A second init (tests) is harmless; ignore its error.
    let _ = if stderr_is_journal(env) {
        builder.with_ansi(false).without_time().try_init()
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    };
}

/// Whether stderr is the journal stream systemd connected (`JOURNAL_STREAM=DEV:INODE`).
fn stderr_is_journal(env: &Env) -> bool {
    let Some(stream) = env.get("JOURNAL_STREAM").and_then(parse_stream) else {
        return false;
    };
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    nix::sys::stat::fstat(std::io::stderr().as_fd())
        .is_ok_and(|st| (st.st_dev as u64, st.st_ino as u64) == stream)
}

/// `DEV:INODE`, both decimal.
fn parse_stream(value: &str) -> Option<(u64, u64)> {
    let (dev, ino) = value.split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_stream_is_device_and_inode() {
        assert_eq!(parse_stream("64769:123456"), Some((64769, 123456)));
        assert_eq!(parse_stream("64769"), None);
        assert_eq!(parse_stream("a:1"), None);
    }

    #[test]
    fn a_journal_stream_that_is_not_our_stderr_is_ignored() {
        assert!(!stderr_is_journal(&Env::from_pairs([(
            "JOURNAL_STREAM",
            "1:1"
        )])));
        assert!(!stderr_is_journal(&Env::default()));
    }
}
