//! Why the audit log could not be opened. Failures while it runs are never errors to a
//! caller: the writer reports them in the daemon's log and as `lost` records.

use std::io;
use std::path::PathBuf;

/// The audit log file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The settings name no file (`[audit] enabled = false`).
    #[error("the audit log is disabled: no path to open")]
    Disabled,
    /// Creating or opening the file (or its folder) failed.
    #[error("cannot open audit log {path}")]
    Open {
        /// The log file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file is open to other users and could not be made 0600.
    #[error("cannot make audit log {path} private")]
    Permissions {
        /// The log file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The last record of the existing files could not be read, so the chain cannot go on.
    #[error("cannot read audit log {path} to continue its chain")]
    Resume {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The writer thread could not start.
    #[error("cannot start the audit writer")]
    Spawn(#[source] io::Error),
}
