//! The processes a `credential_process` program started, so that a program killed at its
//! timeout does not leave its helpers behind (a shell script's `op read`, a browser
//! launcher, a `sleep` in a retry loop). The program keeps credvend's process group, so a
//! helper that prompts on the terminal still can; instead its descendants are found through
//! `/proc` (Linux) and killed with it.
//!
//! The program is stopped first, then its descendants, pass after pass until a pass finds no
//! one new (a stopped process cannot fork, so the set stops growing); then the descendants are
//! killed, and the caller kills the program. Elsewhere only the program itself is killed.
//!
//! Like any kill by pid, a descendant that ends and is reaped (by a parent not yet stopped)
//! between the reading of `/proc` and the signal could leave its pid to a new process; the
//! program's own pid cannot be reused, since credvend has not reaped it.

/// Stops `root` and every descendant of it, then kills the descendants (`root` is left
/// stopped, for its owner to kill and reap). Reads `/proc`: blocks.
#[cfg(all(target_os = "linux", not(credvend_portable)))]
pub(super) fn kill_descendants(root: u32) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    /// Passes before giving up on a tree that keeps growing (each pass stops what it found).
    const PASSES: usize = 8;
    let _ = kill(Pid::from_raw(root.cast_signed()), Signal::SIGSTOP);
    let mut stopped: Vec<u32> = Vec::new();
    for _ in 0..PASSES {
        let fresh: Vec<u32> = descendants(root)
            .into_iter()
            .filter(|pid| !stopped.contains(pid))
            .collect();
        if fresh.is_empty() {
            break;
        }
        for &pid in &fresh {
            let _ = kill(Pid::from_raw(pid.cast_signed()), Signal::SIGSTOP);
        }
        stopped.extend(fresh);
    }
    for &pid in &stopped {
        let _ = kill(Pid::from_raw(pid.cast_signed()), Signal::SIGKILL);
    }
}

/// Elsewhere: nothing to find the descendants with.
#[cfg(any(not(target_os = "linux"), credvend_portable))]
pub(super) fn kill_descendants(_root: u32) {}

/// Every live process whose parent chain leads to `root`, from one reading of `/proc`.
#[cfg(all(target_os = "linux", not(credvend_portable)))]
fn descendants(root: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: Vec<(u32, u32)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            Some((
                pid,
                parent(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?,
            ))
        })
        .collect();
    let mut found = vec![root];
    let mut next = 0;
    while next < found.len() {
        let of = found[next];
        found.extend(
            parents
                .iter()
                .filter(|&&(_, p)| p == of)
                .map(|&(pid, _)| pid),
        );
        next += 1;
    }
    found.remove(0);
    found
}

/// The parent pid in a `/proc/PID/stat` line: the second field after the command name, which
/// is in parentheses and may itself hold spaces and parentheses.
#[cfg(any(all(target_os = "linux", not(credvend_portable)), test))]
fn parent(stat: &str) -> Option<u32> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_is_read_past_a_command_name_with_spaces_and_parentheses() {
        assert_eq!(parent("42 (sh) S 7 42 42 0 -1"), Some(7));
        assert_eq!(parent("43 (a) b) (c) R 9 43 43 0"), Some(9));
        assert_eq!(parent("garbage"), None);
    }
}
