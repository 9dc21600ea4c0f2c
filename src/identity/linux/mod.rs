//! The process behind a local socket, on Linux: the uid and inode from the kernel, then the
//! process holding that inode and its place, from `/proc`.
//!
//! - `sock_diag`: the socket's uid and inode from the kernel (netlink), at a cost that does
//!   not grow with the host; `table`: the same from `/proc/net/tcp`, when netlink is refused.
//! - `holder`: the process holding the socket, from the `/proc/PID/fd` links.
//! - `process`: the process's executable, unit and container.

mod holder;
mod process;
mod sock_diag;
mod table;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::local::{Miss, Place, Process, SocketOwner};

/// How long the pid search may take for one connection before it gives up (the uid, which
/// policy needs, is known before it starts).
const PID_BUDGET: Duration = Duration::from_millis(20);
/// Holders of recent sockets, tried first.
const RECENT: usize = 16;

/// Looks up local peers under one `/proc` tree, remembering who held the last sockets.
#[derive(Debug)]
pub(super) struct Owners {
    proc_root: PathBuf,
    recent: Mutex<VecDeque<u32>>,
}

impl Owners {
    pub(super) fn under(proc_root: &Path) -> Self {
        Self {
            proc_root: proc_root.to_owned(),
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
        }
    }

    /// The owner of the socket from `peer` to credvend's `local`, from sock_diag alone: one
    /// netlink exchange that the kernel answers at once, with no `/proc` reads. `None` when
    /// netlink is refused or the socket is not on this host.
    pub(super) fn socket_owner(peer: SocketAddr, local: SocketAddr) -> Option<SocketOwner> {
        sock_diag::owner(peer, local).ok()
    }

    /// The process behind the connection from `peer` to credvend's `local` (whose socket
    /// owner is `known` when it was found already), its user's name left for the caller to
    /// fill in. Blocks on netlink and `/proc` reads.
    pub(super) fn process(
        &self,
        peer: SocketAddr,
        local: SocketAddr,
        known: Option<SocketOwner>,
    ) -> Result<Process, Miss> {
        let found = known.map_or_else(|| sock_diag::owner(peer, local), Ok);
        let owner = match found {
            Ok(owner) => owner,
            Err(sock_diag::DiagError::NotFound) => return Err(Miss::NoSocket),
            Err(e) => match table::owner(&self.proc_root, peer, local) {
                Ok(owner) => owner,
                Err(table::TableError::NoSocket { .. }) => return Err(Miss::NoSocket),
                Err(t) => return Err(Miss::Failed(format!("{e}; {t}"))),
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
        Ok(Process {
            uid: owner.uid,
            user: None,
            pid,
            no_pid,
            place,
        })
    }

    fn lock_recent(&self) -> MutexGuard<'_, VecDeque<u32>> {
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
}
