//! Who sent a request: the connection's address, and the caller behind it that the accept
//! loop found when the connection opened.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use crate::identity::{Caller, Place, Process};

/// A request's sender; cloned per request, so the caller is behind an `Arc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    /// The peer address.
    pub addr: SocketAddr,
    /// Who is behind it.
    pub caller: Arc<Caller>,
}

impl Client {
    /// A client with no address (never from the accept loop, which always has one): it fails
    /// the peer check.
    pub(crate) fn unknown() -> Self {
        Self {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            caller: Arc::new(Caller::unknown("no connection")),
        }
    }

    /// A client in this very process: what a router called in-process (tests, fuzzing) is
    /// handed, since nothing looked its caller up.
    #[must_use]
    pub fn in_process(addr: SocketAddr) -> Self {
        Self {
            addr,
            caller: Arc::new(Caller::Process(Process {
                uid: nix::unistd::geteuid().as_raw(),
                user: None,
                pid: Some(std::process::id()),
                no_pid: None,
                place: Place::default(),
            })),
        }
    }
}
