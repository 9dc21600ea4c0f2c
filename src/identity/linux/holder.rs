//! Which process holds a socket: the one with an fd linking to `socket:[INODE]`.
//!
//! Linux has no index from socket to process, so this reads `/proc/PID/fd` directory by
//! directory, cheapest guesses first, and stops at the first hit:
//!
//! 1. the processes that held the last sockets found (a long-lived SDK process opens many
//!    connections);
//! 2. the processes owned by the socket's uid, newest pid first (the client that has just
//!    connected is most often a process that has just started);
//! 3. everyone else, for a process that changed its uid after opening the socket.
//!
//! A search that runs past its deadline gives up, and says so, rather than hold up the
//! connection it is for.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

/// Why no process was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum NoHolder {
    /// Every process was looked at: none this daemon may see holds the socket (a process of
    /// another user is hidden from a daemon that is not root).
    #[error("no process visible to credvend holds the socket")]
    NotVisible,
    /// The deadline came first.
    #[error("gave up looking for the process after {0:?}")]
    OutOfTime(Duration),
}

/// The pid holding socket `inode` (created by `uid`), trying `recent` first.
pub(super) fn find(
    proc_root: &Path,
    uid: u32,
    inode: u64,
    recent: &[u32],
    budget: Duration,
) -> Result<u32, NoHolder> {
    let deadline = Instant::now() + budget;
    let target = format!("socket:[{inode}]");
    let holds = |pid: u32| holds(proc_root, pid, &target);
    if let Some(&pid) = recent.iter().find(|&&pid| holds(pid)) {
        return Ok(pid);
    }
    let mut pids: Vec<u32> = fs::read_dir(proc_root)
        .map_err(|_| NoHolder::NotVisible)?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|pid| !recent.contains(pid))
        .collect();
    pids.sort_unstable_by(|a, b| b.cmp(a));
    let mut others = Vec::new();
    for pid in pids {
        if Instant::now() > deadline {
            return Err(NoHolder::OutOfTime(budget));
        }
        let owner = fs::metadata(proc_root.join(pid.to_string())).map(|m| m.uid());
        if owner.is_ok_and(|owner| owner != uid) {
            others.push(pid);
        } else if holds(pid) {
            return Ok(pid);
        }
    }
    for pid in others {
        if Instant::now() > deadline {
            return Err(NoHolder::OutOfTime(budget));
        }
        if holds(pid) {
            return Ok(pid);
        }
    }
    Err(NoHolder::NotVisible)
}

fn holds(proc_root: &Path, pid: u32, target: &str) -> bool {
    let Ok(fds) = fs::read_dir(proc_root.join(format!("{pid}/fd"))) else {
        return false;
    };
    fds.filter_map(Result::ok)
        .any(|fd| fs::read_link(fd.path()).is_ok_and(|link| link.as_os_str() == target))
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::symlink;

    use super::*;
    use crate::test_util::temp_dir;

    const BUDGET: Duration = Duration::from_secs(5);

    #[test]
    fn the_process_with_the_fd_is_found() {
        let dir = temp_dir("holder-tree");
        for (pid, link) in [(10, "pipe:[1]"), (20, "socket:[42]"), (30, "socket:[7]")] {
            fs::create_dir_all(dir.join(format!("{pid}/fd"))).unwrap();
            symlink(link, dir.join(format!("{pid}/fd/3"))).unwrap();
        }
        fs::create_dir_all(dir.join("self")).unwrap();
        let uid = nix::unistd::getuid().as_raw();
        assert_eq!(find(&dir, uid, 42, &[], BUDGET), Ok(20));
        assert_eq!(find(&dir, uid, 42, &[10, 20], BUDGET), Ok(20));
        // Owned by someone else: still found, in the last round.
        assert_eq!(find(&dir, uid + 1, 7, &[], BUDGET), Ok(30));
        assert_eq!(find(&dir, uid, 99, &[], BUDGET), Err(NoHolder::NotVisible));
        assert_eq!(
            find(&dir, uid, 42, &[], Duration::ZERO),
            Err(NoHolder::OutOfTime(Duration::ZERO))
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn this_process_holds_its_own_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let link = fs::read_link(format!("/proc/self/fd/{}", listener.as_raw_fd())).unwrap();
        let inode: u64 = link.to_str().unwrap()[8..]
            .trim_end_matches(']')
            .parse()
            .unwrap();
        let uid = nix::unistd::geteuid().as_raw();
        let found = find(Path::new("/proc"), uid, inode, &[], BUDGET);
        assert_eq!(found, Ok(std::process::id()));
    }
}
