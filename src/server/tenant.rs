//! [`Tenant`]: whom a connection counts against for the per-client connection cap and rate
//! limit.
//!
//! Every process on this host reaches a loopback listener from 127.0.0.1, and one on a
//! link-local listener of this host from that same local address, so a cap per address would
//! be a cap per host: one local process holding its connections or spending its rate would
//! shut every other local user out. A local process counts against its uid instead (the
//! kernel's word, which no process can change for its sockets: known at accept from sock_diag,
//! and again from the caller lookup); anything else (containers on a bridge, hosts elsewhere,
//! a local caller whose lookup failed) counts against its address.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::identity::Caller;

/// The key of a connection's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Tenant {
    /// A local process, by its uid.
    User(u32),
    /// Anything else, by its address.
    Address(IpAddr),
}

impl Tenant {
    /// The tenant of `caller`, connected from `peer`.
    pub(crate) fn of(peer: SocketAddr, caller: &Caller) -> Self {
        match caller {
            Caller::Process(p) => Self::User(p.uid),
            _ => Self::Address(peer.ip().to_canonical()),
        }
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(uid) => write!(f, "uid {uid}"),
            Self::Address(ip) => ip.fmt(f),
        }
    }
}

/// Whether `peer` is on this host as far as the accept loop can tell before any lookup: a
/// loopback address, or `local`, the address it connected to (the source the kernel picks for
/// a local process dialling a local address). Such peers are never held to the per-address cap,
/// since their address is shared by every local user, but to their uid's.
pub(crate) fn same_host(peer: SocketAddr, local: SocketAddr) -> bool {
    let ip = peer.ip().to_canonical();
    ip.is_loopback() || ip == local.ip().to_canonical()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::identity::{Container, Place, Process};

    fn process(uid: u32) -> Caller {
        Caller::Process(Process {
            uid,
            user: None,
            pid: Some(42),
            no_pid: None,
            place: Place::default(),
        })
    }

    #[test]
    fn local_processes_count_by_uid_and_the_rest_by_address() {
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        assert_eq!(Tenant::of(peer, &process(1000)), Tenant::User(1000));
        assert_ne!(
            Tenant::of(peer, &process(1000)),
            Tenant::of(peer, &process(1001)),
            "two users on one loopback address are two tenants"
        );
        let bridge: SocketAddr = "172.17.0.2:40000".parse().unwrap();
        let container = Caller::Container(Arc::new(Container {
            id: "0123".into(),
            name: "web".into(),
            image: "img".into(),
            profile: None,
        }));
        assert_eq!(Tenant::of(bridge, &container), Tenant::Address(bridge.ip()));
        assert_eq!(
            Tenant::of(peer, &Caller::unknown("lookup failed")),
            Tenant::Address(peer.ip())
        );
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:1".parse().unwrap();
        assert_eq!(
            Tenant::of(mapped, &Caller::Remote(None)),
            Tenant::Address("10.0.0.1".parse().unwrap()),
            "a v4-mapped peer is its v4 address"
        );
        assert_eq!(Tenant::User(7).to_string(), "uid 7");
    }

    #[test]
    fn same_host_is_loopback_or_the_listeners_own_address() {
        let listener: SocketAddr = "169.254.169.254:80".parse().unwrap();
        assert!(same_host("127.0.0.1:1".parse().unwrap(), listener));
        assert!(same_host("[::1]:1".parse().unwrap(), listener));
        assert!(same_host("169.254.169.254:5".parse().unwrap(), listener));
        assert!(!same_host("172.17.0.2:5".parse().unwrap(), listener));
    }
}
