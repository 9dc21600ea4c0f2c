//! What the platform lookup of a local peer finds: the process behind the socket, or why
//! there is none. Shared by the Linux lookup and the stand-in for platforms without one.

use std::path::PathBuf;

/// A client socket's owner as the kernel keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketOwner {
    /// The uid that created the socket.
    pub uid: u32,
    /// Its inode, as `/proc/PID/fd/N` links name it (`socket:[INODE]`).
    pub inode: u64,
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

/// A process's place on the host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Place {
    /// Its executable (what `/proc/PID/exe` links to).
    pub exe: Option<PathBuf>,
    /// The systemd unit it runs in.
    pub unit: Option<String>,
    /// The container it runs in, by id.
    pub container: Option<String>,
}

/// Why the lookup named no local process.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    any(not(target_os = "linux"), credvend_portable),
    expect(dead_code, reason = "only the Linux lookup reads socket tables")
)]
pub(super) enum Miss {
    /// This host has no such socket: the peer is elsewhere, or it has gone.
    NoSocket,
    /// The socket tables could not be read; why.
    Failed(String),
    /// This platform has no way to name a socket's owner.
    #[cfg_attr(
        all(target_os = "linux", not(credvend_portable)),
        expect(dead_code, reason = "Linux can always look")
    )]
    Unsupported,
}
