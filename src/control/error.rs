//! Why the control socket or the metrics listener could not start.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the control socket or the metrics listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Another daemon answers on the socket.
    #[error(
        "another credvend daemon is running: its control socket {0} answers; stop it first, or give this one its own [control] path"
    )]
    AlreadyRunning(PathBuf),
    /// Something that is not a socket is where the socket goes.
    #[error(
        "{0} exists and is not a socket; refusing to replace it (remove it, or set [control] path)"
    )]
    NotASocket(PathBuf),
    /// The socket could not be made.
    #[error("cannot create the control socket {path}")]
    Bind {
        /// The socket's path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The metrics listener could not be bound.
    #[error("cannot listen on {addr} (metrics)")]
    MetricsBind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: io::Error,
    },
}
