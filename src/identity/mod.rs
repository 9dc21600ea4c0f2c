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

mod docker;
mod holder;
mod process;
mod sock_diag;
mod table;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use docker::{Container, PROFILE_LABEL};
pub use process::Place;

/// How long the pid search may take for one connection before it gives up (the uid, which
/// policy needs, is known before it starts).
const PID_BUDGET: Duration = Duration::from_millis(20);
/// Holders of recent sockets, tried first.
const RECENT: usize = 16;
/// User names remembered; beyond this the table is cleared (names rarely change).
const USERS: usize = 1024;
/// What a [`Caller::Remote`] record says.
const REMOTE: &str = "not a process on this host";

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
}

/// A local process at the other end of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    /// The uid that owns the socket.
    pub uid: u32,
    /// That user's name, when the user database has one.
    pub user: Option<String>,
    /// The process holding the socket, when found.
    pub pid: Option<u32>,
    /// Why `pid` is `None`.
    pub no_pid: Option<String>,
    /// Its executable, unit and container.
    pub place: Place,
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
        }
    }
}

impl Caller {
    /// The uid of a local caller.
    #[must_use]
    pub fn uid(&self) -> Option<u32> {
        match self {
            Self::Process(p) => Some(p.uid),
            Self::Container(_) | Self::Remote(_) | Self::Unknown(_) => None,
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
    proc_root: PathBuf,
    docker: Option<docker::Docker>,
    recent: Mutex<VecDeque<u32>>,
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
            proc_root: proc_root.to_owned(),
            docker: None,
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
            users: Mutex::new(HashMap::new()),
        }
    }

    /// The caller behind the connection from `peer` to credvend's `local`. Blocks on `/proc`
    /// and netlink reads: run it off the async workers.
    pub fn caller(&self, peer: SocketAddr, local: SocketAddr) -> Caller {
        let missing = || {
            // A loopback peer is on this host by definition: its socket is gone (the client
            // left), which is not the same as a peer from elsewhere.
            if peer.ip().to_canonical().is_loopback() {
                return Caller::Unknown("the client's socket is gone".into());
            }
            match self.docker.as_ref().map(|d| d.container(peer.ip())) {
                None => Caller::Remote(None),
                Some(Ok(container)) => Caller::Container(container),
                Some(Err(e)) => Caller::Remote(Some(e.to_string())),
            }
        };
        let owner = match sock_diag::owner(peer, local) {
            Ok(owner) => owner,
            Err(sock_diag::DiagError::NotFound) => return missing(),
            Err(e) => match table::owner(&self.proc_root, peer, local) {
                Ok(owner) => owner,
                Err(table::TableError::NoSocket { .. }) => return missing(),
                Err(t) => return Caller::Unknown(format!("{e}; {t}")),
            },
        };
        let recent: Vec<u32> = self.lock_recent().iter().copied().collect();
        let found = holder::find(&self.proc_root, owner.uid, owner.inode, &recent, PID_BUDGET);
        let (pid, no_pid) = match found {
            Ok(pid) => {
                self.remember(pid);
                (Some(pid), None)
            }
            Err(e) => (None, Some(e.to_string())),
        };
        let place = pid.map_or_else(Place::default, |p| process::place(&self.proc_root, p));
        Caller::Process(Process {
            uid: owner.uid,
            user: self.user(owner.uid),
            pid,
            no_pid,
            place,
        })
    }

    fn lock_recent(&self) -> std::sync::MutexGuard<'_, VecDeque<u32>> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember(&self, pid: u32) {
        let mut recent = self.lock_recent();
        if let Some(at) = recent.iter().position(|&p| p == pid) {
            recent.remove(at);
        }
        if recent.len() == RECENT {
            recent.pop_back();
        }
        recent.push_front(pid);
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

#[cfg(test)]
mod tests;
