//! Who is on the other end of a connection: for a process on this host, the uid that owns its
//! socket, the user's name, the pid, the executable and the systemd unit or container its
//! cgroup names. Found once per connection, when it is accepted; requests on the connection
//! reuse the answer.
//!
//! - `sock_diag`: the socket's uid and inode from the kernel (netlink), at a cost that does
//!   not grow with the host; `table`: the same from `/proc/net/tcp`, when netlink is refused.
//! - `holder`: the process holding the socket, from the `/proc/PID/fd` links.
//! - `process`: the process's executable, unit and container.
//! - `docker`: for a peer on a bridge, the container with its address, from the engine.
//!
//! An owner that cannot be found is said so, with the reason; nothing is guessed. A peer with
//! no socket on this host (a container in its own network namespace, another machine) is not
//! a local process, and `uid` policies do not apply to it: its network does.
//!
//! Naming a local process is Linux's (`linux`: the kernel's socket tables and `/proc`);
//! elsewhere (`elsewhere`) local callers are [`Caller::Unidentified`], and only the
//! admit-every-local-user policy can be kept. The `credvend_portable` cfg builds the
//! elsewhere path on Linux, so that it is compiled and linted here too.
//!
//! - `local`: what a lookup finds: [`Process`], [`Place`], or why not.
//! - `docker`: for a peer on a bridge, the container with its address, from the engine.

mod docker;
#[cfg(any(not(target_os = "linux"), credvend_portable))]
mod elsewhere;
#[cfg(all(target_os = "linux", not(credvend_portable)))]
mod linux;
mod local;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

pub use docker::{Container, PROFILE_LABEL};
#[cfg(any(not(target_os = "linux"), credvend_portable))]
use elsewhere::Owners;
#[cfg(all(target_os = "linux", not(credvend_portable)))]
use linux::Owners;
use local::Miss;
pub use local::{Place, Process, SocketOwner};

/// Whether credvend can name the user behind a local connection on this platform; where it
/// cannot, a per-user `allowed_users` list could not be kept, and the config refuses one.
pub const NAMES_LOCAL_CALLERS: bool = cfg!(all(target_os = "linux", not(credvend_portable)));
/// User names remembered; beyond this the table is cleared (names rarely change).
const USERS: usize = 1024;
/// What a [`Caller::Remote`] record says.
const REMOTE: &str = "not a process on this host";
/// What a [`Caller::Unidentified`] record says.
const UNIDENTIFIED: &str = "credvend cannot name local callers on this platform";

/// Who sent a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A process on this host.
    Process(Process),
    /// A container on a bridge, as the Docker engine names it.
    Container(Arc<Container>),
    /// A peer with no socket on this host and no container found for it: a container in its
    /// own network namespace, or another machine; with why no container was found, if one
    /// was looked for.
    Remote(Option<String>),
    /// A peer on this host whose owner could not be found, and why.
    Unknown(String),
    /// A peer on this host, on a platform where credvend cannot name its owner
    /// ([`NAMES_LOCAL_CALLERS`] is false).
    Unidentified,
}

/// Hashed by what tells callers apart (uid and pid, container id, or the reason), not by
/// every string: the audit log hashes the caller of every request it coalesces. Equal callers
/// hash equally, as `Hash` requires, since equal callers have equal parts.
impl std::hash::Hash for Caller {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Self::Process(p) => (p.uid, p.pid).hash(state),
            Self::Container(c) => c.id.hash(state),
            Self::Remote(why) => why.hash(state),
            Self::Unknown(why) => why.hash(state),
            Self::Unidentified => {}
        }
    }
}

impl Caller {
    /// The uid of a local caller.
    #[must_use]
    pub fn uid(&self) -> Option<u32> {
        match self {
            Self::Process(p) => Some(p.uid),
            Self::Container(_) | Self::Remote(_) | Self::Unknown(_) | Self::Unidentified => None,
        }
    }

    /// Why the caller has no uid, for the record.
    #[must_use]
    pub fn reason(&self) -> Option<String> {
        match self {
            Self::Process(_) | Self::Container(_) => None,
            Self::Remote(None) => Some(REMOTE.to_owned()),
            Self::Remote(Some(why)) => Some(format!("{REMOTE}; {why}")),
            Self::Unknown(why) => Some(why.clone()),
            Self::Unidentified => Some(UNIDENTIFIED.to_owned()),
        }
    }

    /// A caller that nothing was looked up for (tests, or a peer the accept loop has no
    /// address for).
    #[must_use]
    pub fn unknown(reason: &str) -> Self {
        Self::Unknown(reason.to_owned())
    }
}

/// Finds callers; one per daemon, shared by the listeners.
#[derive(Debug)]
pub struct Identify {
    owners: Owners,
    docker: Option<docker::Docker>,
    users: Mutex<HashMap<u32, Option<String>>>,
}

impl Identify {
    /// Reads this host's `/proc`, and asks the Docker engine at `docker` (when given) about
    /// peers on its bridges.
    #[must_use]
    pub fn new(docker: Option<&Path>) -> Self {
        Self {
            docker: docker.map(docker::Docker::new),
            ..Self::under(Path::new("/proc"))
        }
    }

    /// Reads the `/proc` tree at `proc_root` (tests).
    #[must_use]
    pub fn under(proc_root: &Path) -> Self {
        Self {
            owners: Owners::under(proc_root),
            docker: None,
            users: Mutex::new(HashMap::new()),
        }
    }

    /// The owner of a local `peer`'s socket to credvend's `local`, when the kernel tells it
    /// in one netlink exchange (no `/proc` reads, no fallback): cheap enough for the accept
    /// loop, which holds each local user to its connection cap before the full
    /// [`Identify::caller`] lookup is spent on a connection. `None` otherwise.
    #[must_use]
    pub fn socket_owner(&self, peer: SocketAddr, local: SocketAddr) -> Option<SocketOwner> {
        Owners::socket_owner(peer, local)
    }

    /// The caller behind the connection from `peer` to credvend's `local`, starting from
    /// `known`, its socket's owner, when [`Identify::socket_owner`] already found it. Blocks
    /// on `/proc` and netlink reads: run it off the async workers.
    pub fn caller(
        &self,
        peer: SocketAddr,
        local: SocketAddr,
        known: Option<SocketOwner>,
    ) -> Caller {
        let loopback = peer.ip().to_canonical().is_loopback();
        match self.owners.process(peer, local, known) {
            Ok(process) => Caller::Process(Process {
                user: self.user(process.uid),
                ..process
            }),
            Err(Miss::Failed(why)) => Caller::Unknown(why),
            // A loopback peer is on this host by definition: its socket is gone (the client
            // left), which is not the same as a peer from elsewhere.
            Err(Miss::NoSocket) if loopback => {
                Caller::Unknown("the client's socket is gone".into())
            }
            Err(Miss::Unsupported) if loopback => Caller::Unidentified,
            Err(Miss::NoSocket | Miss::Unsupported) => {
                match self.docker.as_ref().map(|d| d.container(peer.ip())) {
                    None => Caller::Remote(None),
                    Some(Ok(container)) => Caller::Container(container),
                    Some(Err(e)) => Caller::Remote(Some(e.to_string())),
                }
            }
        }
    }

    fn user(&self, uid: u32) -> Option<String> {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(name) = users.get(&uid) {
            return name.clone();
        }
        if users.len() >= USERS {
            users.clear();
        }
        let name = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map(|u| u.name);
        users.insert(uid, name.clone());
        name
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests;
