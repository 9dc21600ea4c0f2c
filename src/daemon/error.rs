//! Why the daemon could not start. Once it runs, failures are logged and served around, never
//! fatal.

use std::io;
use std::net::SocketAddr;

use crate::audit::AuditError;
use crate::server::EcsFileError;
use crate::sts::StsError;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The STS client could not be built (e.g. an unreadable CA file).
    #[error("cannot set up the STS client")]
    Sts(#[from] StsError),
    /// The audit log could not be opened.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({what})")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// `imds` or `ecs`.
        what: &'static str,
        /// The cause.
        source: io::Error,
    },
    /// The ECS token or capability file is unusable.
    #[error(transparent)]
    EcsFiles(#[from] EcsFileError),
    /// The public key file of an IMDS listener is unreadable.
    #[error("cannot read public_key_file of the imds listener on {addr}")]
    PublicKey {
        /// The listener.
        addr: SocketAddr,
        /// The cause.
        source: io::Error,
    },
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers")]
    Signals(#[source] io::Error),
}
