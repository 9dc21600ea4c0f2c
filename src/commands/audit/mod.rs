//! `credvend audit verify` and `credvend audit show`: reading the audit log after the fact
//! (docs/audit.md has the chain, the messages and the line format).
//!
//! - `verify`: the chain and a checkpoint, through [`crate::audit::verify`]; the report.
//! - `show`: one human line per record, filtered by time, profile and client.
//!
//! Both read the files named, or the configured log with its rotated files, oldest first.

mod show;
mod verify;

use std::io;
use std::path::{Path, PathBuf};

pub use show::{ShowOptions, show};
pub use verify::{Checked, verify};

use crate::config::Config;

/// Why an audit command could not run. Messages name the file or the argument at fault.
#[derive(Debug, thiserror::Error)]
pub enum AuditCommandError {
    /// No file given and the log is disabled.
    #[error("the audit log is disabled ([audit] enabled = false); name the files to read")]
    Disabled,
    /// No file given and the configured log does not exist (yet).
    #[error("no audit log at {0}")]
    NoLog(PathBuf),
    /// A file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// `--checkpoint` is not `SEQ:HASH`.
    #[error("--checkpoint {0:?} is not SEQ:HASH (the seq, a colon, 64 lowercase hex digits)")]
    Checkpoint(String),
    /// `--since` is neither a time nor a duration.
    #[error("--since {0:?} is neither an RFC 3339 time nor a duration such as 45s, 30m, 1h or 2d")]
    Since(String),
}

/// `given`, else the configured log and its rotated files that exist, oldest first.
fn files(config: &Config, given: &[PathBuf]) -> Result<Vec<PathBuf>, AuditCommandError> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    let path = config
        .audit
        .path
        .as_deref()
        .ok_or(AuditCommandError::Disabled)?;
    let found = crate::audit::log_files(path, config.audit.keep_files);
    if found.is_empty() {
        return Err(AuditCommandError::NoLog(path.to_owned()));
    }
    Ok(found)
}

/// Each file's name (as given) and contents.
fn read(paths: &[PathBuf]) -> Result<Vec<(String, Vec<u8>)>, AuditCommandError> {
    paths
        .iter()
        .map(|p| {
            let bytes = read_file(p)?;
            Ok((p.display().to_string(), bytes))
        })
        .collect()
}

fn read_file(path: &Path) -> Result<Vec<u8>, AuditCommandError> {
    std::fs::read(path).map_err(|source| AuditCommandError::Read {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::temp_dir;

    fn config_with(path: Option<PathBuf>) -> Config {
        let mut config = crate::test_util::default_config();
        config.audit.path = path;
        config
    }

    #[test]
    fn without_files_the_configured_log_is_read_with_its_rotated_files() {
        let dir = temp_dir("audit-cmd");
        let log = dir.join("audit.jsonl");
        let config = config_with(Some(log.clone()));
        assert!(matches!(files(&config, &[]), Err(AuditCommandError::NoLog(p)) if p == log));
        std::fs::write(&log, "").unwrap();
        std::fs::write(dir.join("audit.jsonl.1"), "").unwrap();
        assert_eq!(
            files(&config, &[]).unwrap(),
            [dir.join("audit.jsonl.1"), log.clone()]
        );
        let given = [dir.join("other")];
        assert_eq!(files(&config, &given).unwrap(), given);
        assert!(matches!(
            files(&config_with(None), &[]),
            Err(AuditCommandError::Disabled)
        ));
        let err = read(&given).unwrap_err();
        assert!(err.to_string().contains("other"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
