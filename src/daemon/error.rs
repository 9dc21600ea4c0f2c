//! Why the daemon could not start. Once it runs, failures are logged and served around, never
//! fatal.

use std::io;
use std::net::SocketAddr;

use crate::audit::AuditError;
use crate::control::ControlError;
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
    /// The control socket or the metrics listener could not start.
    #[error(transparent)]
    Control(#[from] ControlError),
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
    /// A listener's address is on no interface of this host.
    #[error(
        "cannot listen on {addr} ({what}): the address is on no interface of this host; add it with `sudo credvend network up` (macOS: `sudo launchd/credvend-network up`)"
    )]
    AddressMissing {
        /// The address.
        addr: SocketAddr,
        /// `imds` or `ecs`.
        what: &'static str,
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
    /// A socket passed by the supervisor could not be used.
    #[error("cannot use the sockets passed by the supervisor (LISTEN_FDS)")]
    Activation(#[source] io::Error),
    /// Socket activation passed no socket for a configured listener.
    #[error(
        "socket activation passed no socket for the {what} listener on {addr}; add it to the .socket unit or change the config"
    )]
    NotPassed {
        /// The configured address.
        addr: SocketAddr,
        /// `imds` or `ecs`.
        what: &'static str,
    },
    /// Socket activation passed a socket no listener is configured for.
    #[error(
        "socket activation passed a socket on {addr}, which no listener in the config uses; the .socket unit and the config must name the same addresses"
    )]
    NotConfigured {
        /// The passed socket's address.
        addr: SocketAddr,
    },
    /// Socket activation passed two sockets on one configured address.
    #[error(
        "socket activation passed two sockets on {addr}; name each address once in the .socket unit"
    )]
    PassedTwice {
        /// The address.
        addr: SocketAddr,
    },
    /// `run_as` is set but credvend did not start as root.
    #[error("run_as = {user:?} needs credvend to start as root (to bind, then become that user)")]
    NotRoot {
        /// The configured user.
        user: String,
    },
    /// `run_as` names no user.
    #[error("run_as names no usable user: {0}")]
    NoSuchUser(String),
    /// A step of the privilege drop failed.
    #[error("cannot become {user}: cannot {what}")]
    Drop {
        /// The configured user.
        user: String,
        /// The step.
        what: &'static str,
        /// The cause.
        source: io::Error,
    },
    /// After the drop the process could become root again.
    #[error("after becoming {0}, credvend could still become root; refusing to serve")]
    StillRoot(String),
    /// credvend's config could not be read again as the `run_as` user.
    #[error("cannot read the config again as the run_as user")]
    Config(#[source] crate::config::ConfigError),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers")]
    Signals(#[source] io::Error),
}
