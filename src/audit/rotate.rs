//! Rotation by renaming: `audit.jsonl` -> `audit.jsonl.1` -> ... -> `audit.jsonl.N`, the
//! oldest dropped, so that at most `keep_files` rotated files remain beside the live one.
//!
//! Renames within one folder are atomic, so every file is always whole: a reader sees either
//! the old name or the new one, never a file being copied.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// `audit.jsonl.N`.
pub(super) fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Moves `path` to `path.1`, shifting older files up and dropping the one past `keep`. With
/// `keep` 0 the file is removed. Afterwards `path` does not exist.
pub(super) fn shift(path: &Path, keep: u32) -> io::Result<()> {
    if keep == 0 {
        return remove(path);
    }
    // Only look as far as files exist: `keep` may be large, the files few.
    let mut top = 0;
    while top < keep && fs::symlink_metadata(numbered(path, top + 1)).is_ok() {
        top += 1;
    }
    if top == keep {
        remove(&numbered(path, keep))?;
        top -= 1;
    }
    for n in (1..=top).rev() {
        rename(&numbered(path, n), &numbered(path, n + 1))?;
    }
    rename(path, &numbered(path, 1))
}

/// The log at `path` and its rotated files that exist, oldest first: `path.K` ... `path.1`,
/// `path`, looking no further than `keep` and stopping at the first number missing. This is
/// the order of the chain.
#[must_use]
pub fn log_files(path: &Path, keep: u32) -> Vec<PathBuf> {
    let mut rotated: Vec<PathBuf> = (1..=keep)
        .map(|n| numbered(path, n))
        .take_while(|p| p.exists())
        .collect();
    rotated.reverse();
    rotated.extend(Some(path.to_owned()).filter(|p| p.exists()));
    rotated
}

/// A file already gone is fine: an earlier, interrupted shift may have moved it.
fn rename(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::temp_dir;

    fn contents(path: &Path) -> Option<String> {
        fs::read_to_string(path).ok()
    }

    #[test]
    fn shifting_keeps_at_most_keep_files_newest_first() {
        let dir = temp_dir("audit-rotate");
        let log = dir.join("audit.jsonl");
        for generation in 1..=5 {
            fs::write(&log, format!("{generation}\n")).unwrap();
            shift(&log, 3).unwrap();
            assert!(!log.exists());
        }
        let kept: Vec<_> = (1..=4).map(|n| contents(&numbered(&log, n))).collect();
        assert_eq!(
            kept,
            [
                Some("5\n".into()),
                Some("4\n".into()),
                Some("3\n".into()),
                None
            ]
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn keeping_none_removes_the_file_and_a_missing_file_is_no_error() {
        let dir = temp_dir("audit-rotate");
        let log = dir.join("audit.jsonl");
        fs::write(&log, "x\n").unwrap();
        shift(&log, 0).unwrap();
        assert!(!log.exists() && !numbered(&log, 1).exists());
        shift(&log, 0).unwrap();
        shift(&log, 2).unwrap();
        assert!(!numbered(&log, 1).exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_huge_keep_costs_only_the_files_that_exist() {
        let dir = temp_dir("audit-rotate");
        let log = dir.join("audit.jsonl");
        fs::write(&log, "a\n").unwrap();
        shift(&log, u32::MAX).unwrap();
        fs::write(&log, "b\n").unwrap();
        shift(&log, u32::MAX).unwrap();
        assert_eq!(contents(&numbered(&log, 2)).as_deref(), Some("a\n"));
        assert_eq!(contents(&numbered(&log, 1)).as_deref(), Some("b\n"));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn log_files_are_the_existing_ones_oldest_first() {
        let dir = temp_dir("audit-rotate");
        let log = dir.join("audit.jsonl");
        assert!(log_files(&log, 5).is_empty());
        for name in [
            "audit.jsonl",
            "audit.jsonl.1",
            "audit.jsonl.2",
            "audit.jsonl.4",
        ] {
            fs::write(dir.join(name), "x\n").unwrap();
        }
        let want = [numbered(&log, 2), numbered(&log, 1), log.clone()];
        assert_eq!(log_files(&log, 5), want, "stops at the missing .3");
        assert_eq!(log_files(&log, 1), want[1..]);
        fs::remove_dir_all(dir).unwrap();
    }
}
