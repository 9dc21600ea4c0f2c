//! The stand-in for platforms where credvend cannot yet name a local socket's owner (macOS:
//! no `/proc`, and its socket-to-process calls need `libproc`, which credvend does not bind).
//! Every lookup says so; the guard and the config treat such callers as unidentified
//! (`Caller::Unidentified`), and the daemon warns at start.

use std::net::SocketAddr;
use std::path::Path;

use super::local::{Miss, Process, SocketOwner};

/// Finds no one.
#[derive(Debug)]
pub(super) struct Owners;

impl Owners {
    pub(super) fn under(_proc_root: &Path) -> Self {
        Self
    }

    pub(super) fn socket_owner(_peer: SocketAddr, _local: SocketAddr) -> Option<SocketOwner> {
        None
    }

    pub(super) fn process(
        &self,
        _peer: SocketAddr,
        _local: SocketAddr,
        _known: Option<SocketOwner>,
    ) -> Result<Process, Miss> {
        Err(Miss::Unsupported)
    }
}
