//! Dropping root: a credvend started as root to bind privileged ports becomes the `run_as`
//! user (its uid and primary group, no supplementary groups) once every listener is bound,
//! before it reads any `~/.aws` file, and checks that it cannot become root again.
//!
//! Linux sets the real, effective and saved ids in one call each (`setresuid`). macOS has no
//! such call, but `setuid` and `setgid` made as root set all three there too; and its
//! `setgroups`, which nix does not wrap, is called directly: the one `unsafe` in credvend.
//! The `credvend_portable` cfg builds the macOS path on Linux, so it is compiled and linted
//! here as well.

use std::path::PathBuf;

use nix::unistd::{User, getegid, geteuid, getgid, getuid};

use super::error::DaemonError;

/// Who the process is now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Dropped {
    /// The user's name.
    pub(super) name: String,
    /// The user's home directory, from the password database.
    pub(super) home: PathBuf,
}

/// Becomes `name` for good.
pub(super) fn drop_to(name: &str) -> Result<Dropped, DaemonError> {
    if !geteuid().is_root() {
        return Err(DaemonError::NotRoot {
            user: name.to_owned(),
        });
    }
    let user = User::from_name(name)
        .map_err(|e| DaemonError::Drop {
            user: name.to_owned(),
            what: "look up the user",
            source: e.into(),
        })?
        .ok_or_else(|| DaemonError::NoSuchUser(name.to_owned()))?;
    if user.uid.is_root() {
        return Err(DaemonError::NoSuchUser(format!(
            "{name} (uid 0 is root itself)"
        )));
    }
    ids::set(user.uid, user.gid).map_err(|(what, e)| DaemonError::Drop {
        user: name.to_owned(),
        what,
        source: e.into(),
    })?;
    let became =
        (getuid(), geteuid(), getgid(), getegid()) == (user.uid, user.uid, user.gid, user.gid);
    if !became || ids::can_regain_root() {
        return Err(DaemonError::StillRoot(name.to_owned()));
    }
    Ok(Dropped {
        name: user.name,
        home: user.dir,
    })
}

#[cfg(all(target_os = "linux", not(credvend_portable)))]
mod ids {
    use nix::unistd::{Gid, Uid, setgroups, setresgid, setresuid};

    /// Groups first: once the uid is not root, they can no longer be changed. A failure
    /// names its step.
    pub(super) fn set(uid: Uid, gid: Gid) -> Result<(), (&'static str, nix::Error)> {
        setgroups(&[]).map_err(|e| ("clear the supplementary groups", e))?;
        setresgid(gid, gid, gid).map_err(|e| ("set the group", e))?;
        setresuid(uid, uid, uid).map_err(|e| ("set the user", e))
    }

    pub(super) fn can_regain_root() -> bool {
        let root = (Uid::from_raw(0), Gid::from_raw(0));
        setresuid(root.0, root.0, root.0).is_ok() || setresgid(root.1, root.1, root.1).is_ok()
    }
}

#[cfg(any(not(target_os = "linux"), credvend_portable))]
mod ids {
    use nix::errno::Errno;
    use nix::unistd::{Gid, Uid, setegid, seteuid, setgid, setuid};

    /// Groups first, then the group, then the user: each later step takes away the right to
    /// the earlier ones. A failure names its step.
    pub(super) fn set(uid: Uid, gid: Gid) -> Result<(), (&'static str, nix::Error)> {
        clear_groups().map_err(|e| ("clear the supplementary groups", e))?;
        setgid(gid).map_err(|e| ("set the group", e))?;
        setuid(uid).map_err(|e| ("set the user", e))
    }

    pub(super) fn can_regain_root() -> bool {
        let root = (Uid::from_raw(0), Gid::from_raw(0));
        setuid(root.0).is_ok()
            || seteuid(root.0).is_ok()
            || setgid(root.1).is_ok()
            || setegid(root.1).is_ok()
    }

    /// `setgroups(0, NULL)`. On macOS an empty list leaves the process in its effective group
    /// alone, which `setgid` then replaces with the user's; it also takes the process out of
    /// the directory service's group resolution, which is what is wanted here.
    #[allow(unsafe_code)]
    fn clear_groups() -> nix::Result<()> {
        // SAFETY: with a count of zero the kernel reads nothing from the list pointer, so
        // passing null is sound; the call touches no memory of this process.
        let rc = unsafe { nix::libc::setgroups(0, std::ptr::null()) };
        Errno::result(rc).map(drop)
    }
}
