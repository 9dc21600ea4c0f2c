//! Dropping root: a credvend started as root to bind privileged ports becomes the `run_as`
//! user (its uid and primary group, no supplementary groups) once every listener is bound,
//! before it reads any `~/.aws` file, and checks that it cannot become root again.

use std::path::PathBuf;

use nix::unistd::{Gid, Uid, User, geteuid, setgroups, setresgid, setresuid};

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
    let fail = |what: &'static str, e: nix::Error| DaemonError::Drop {
        user: name.to_owned(),
        what,
        source: e.into(),
    };
    if !geteuid().is_root() {
        return Err(DaemonError::NotRoot {
            user: name.to_owned(),
        });
    }
    let user = User::from_name(name)
        .map_err(|e| fail("look up the user", e))?
        .ok_or_else(|| DaemonError::NoSuchUser(name.to_owned()))?;
    if user.uid.is_root() {
        return Err(DaemonError::NoSuchUser(format!(
            "{name} (uid 0 is root itself)"
        )));
    }
    // Groups first: once the uid is not root, they can no longer be changed.
    setgroups(&[]).map_err(|e| fail("clear the supplementary groups", e))?;
    setresgid(user.gid, user.gid, user.gid).map_err(|e| fail("set the group", e))?;
    setresuid(user.uid, user.uid, user.uid).map_err(|e| fail("set the user", e))?;
    let regained = setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0)).is_ok()
        || setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0)).is_ok();
    if regained || geteuid().is_root() {
        return Err(DaemonError::StillRoot(name.to_owned()));
    }
    Ok(Dropped {
        name: user.name,
        home: user.dir,
    })
}
