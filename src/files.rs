//! Reading the small text files credvend is handed (its own config, `~/.aws/config`,
//! `~/.aws/credentials`) so that the wrong kind of file cannot hang or exhaust the daemon, and
//! telling when a file that holds keys is open to other users.
//!
//! A FIFO would block the reader until some writer turned up, and a symlink to `/dev/zero`
//! would be read until memory ran out, so only regular files under [`MAX_FILE_BYTES`] are
//! read, and `/dev/null`, which reads as empty (`AWS_SHARED_CREDENTIALS_FILE=/dev/null` is how
//! a shell hides the shared file). Refusals are [`std::io::Error`]s wrapping a
//! [`FileRefused`], so callers keep their `cannot read FILE` errors and the reason follows as
//! the cause.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The largest file credvend reads: profile files and configs are a few kilobytes.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Why a file was not read although it exists.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FileRefused {
    /// A FIFO, device, socket or directory.
    #[error("it is a {0}, not a regular file")]
    NotRegular(&'static str),
    /// Over [`MAX_FILE_BYTES`].
    #[error("it is larger than {} KiB", MAX_FILE_BYTES / 1024)]
    TooLarge,
}

impl From<FileRefused> for io::Error {
    fn from(refused: FileRefused) -> Self {
        io::Error::new(io::ErrorKind::InvalidInput, refused)
    }
}

/// Reads `path` as UTF-8 text when it is a regular file of at most [`MAX_FILE_BYTES`].
/// A missing file is the usual [`io::ErrorKind::NotFound`].
pub fn read_text(path: &Path) -> io::Result<String> {
    // Looking first means a device is never opened at all (opening some has effects).
    check(&std::fs::metadata(path)?)?;
    // The file may be swapped for a FIFO between the look and the open: O_NONBLOCK keeps the
    // open from waiting for a writer, and the opened file is checked again.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)?;
    check(&file.metadata()?)?;
    read_capped(file)
}

fn read_capped(file: File) -> io::Result<String> {
    let mut bytes = Vec::new();
    // One byte past the cap tells a file that grew since the look from one that fits.
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(FileRefused::TooLarge.into());
    }
    String::from_utf8(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}

fn check(meta: &Metadata) -> Result<(), FileRefused> {
    let kind = meta.file_type();
    let what = if kind.is_file() {
        return if meta.len() > MAX_FILE_BYTES {
            Err(FileRefused::TooLarge)
        } else {
            Ok(())
        };
    } else if kind.is_char_device() && is_dev_null(meta) {
        return Ok(());
    } else if kind.is_fifo() {
        "FIFO"
    } else if kind.is_char_device() {
        "character device"
    } else if kind.is_block_device() {
        "block device"
    } else if kind.is_socket() {
        "socket"
    } else if kind.is_dir() {
        "directory"
    } else {
        "special file"
    };
    Err(FileRefused::NotRegular(what))
}

/// Whether `meta` is the null device (under any name): it reads as empty at once.
fn is_dev_null(meta: &Metadata) -> bool {
    std::fs::metadata("/dev/null").is_ok_and(|null| null.rdev() == meta.rdev())
}

/// The permission bits of a regular file that group or others may read or write; `None`
/// when it is private or not a regular file (a device such as `/dev/null` holds nothing).
#[must_use]
pub fn exposed_mode(meta: &Metadata) -> Option<u32> {
    let mode = meta.permissions().mode() & 0o777;
    (meta.is_file() && mode & 0o077 != 0).then_some(mode)
}

/// The warning for a regular file at `path` that group or others may read, naming the file
/// and the fix; `None` when it is private, missing or not a regular file.
#[must_use]
pub fn exposure_warning(path: &Path) -> Option<String> {
    let mode = exposed_mode(&std::fs::metadata(path).ok()?)?;
    Some(format!(
        "{file} holds keys and is readable by group or others (mode {mode:o}); chmod 600 {file}",
        file = path.display()
    ))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;
    use crate::test_util::temp_dir;

    fn refused(err: &io::Error) -> Option<&FileRefused> {
        err.get_ref().and_then(|e| e.downcast_ref())
    }

    #[test]
    fn a_regular_file_is_read_whole() {
        let dir = temp_dir("files-regular");
        let path = dir.join("credentials");
        std::fs::write(&path, "[a]\nk = v\n").unwrap();
        assert_eq!(read_text(&path).unwrap(), "[a]\nk = v\n");
        let missing = read_text(&dir.join("nope")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = temp_dir("files-fifo");
        let path = dir.join("credentials");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        // Without a writer, a plain open would block this test forever.
        let err = read_text(&path).unwrap_err();
        assert_eq!(refused(&err), Some(&FileRefused::NotRegular("FIFO")));
        assert_eq!(err.to_string(), "it is a FIFO, not a regular file");
    }

    #[test]
    fn a_fifo_swapped_in_after_the_look_does_not_block_the_open() {
        let dir = temp_dir("files-fifo-race");
        let path = dir.join("credentials");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(&path)
            .expect("O_NONBLOCK opens a FIFO at once");
        assert_eq!(
            check(&file.metadata().unwrap()),
            Err(FileRefused::NotRegular("FIFO"))
        );
    }

    #[test]
    fn dev_null_reads_as_empty_under_any_name() {
        let dir = temp_dir("files-null");
        let path = dir.join("credentials");
        symlink("/dev/null", &path).unwrap();
        assert_eq!(read_text(&path).unwrap(), "");
        assert_eq!(read_text(Path::new("/dev/null")).unwrap(), "");
    }

    #[test]
    fn a_symlink_to_dev_zero_is_refused() {
        let dir = temp_dir("files-zero");
        let path = dir.join("credentials");
        symlink("/dev/zero", &path).unwrap();
        let err = read_text(&path).unwrap_err();
        assert_eq!(
            refused(&err),
            Some(&FileRefused::NotRegular("character device"))
        );
    }

    #[test]
    fn a_file_over_the_cap_is_refused_and_a_growing_one_read_no_further() {
        let dir = temp_dir("files-large");
        let path = dir.join("config");
        let cap = usize::try_from(MAX_FILE_BYTES).unwrap();
        std::fs::write(&path, vec![b'#'; cap]).unwrap();
        assert_eq!(read_text(&path).unwrap().len(), cap);
        std::fs::write(&path, vec![b'#'; cap + 1]).unwrap();
        let err = read_text(&path).unwrap_err();
        assert_eq!(refused(&err), Some(&FileRefused::TooLarge));
        // Past the look: only cap + 1 bytes are ever read.
        let err = read_capped(File::open("/dev/zero").unwrap()).unwrap_err();
        assert_eq!(refused(&err), Some(&FileRefused::TooLarge));
    }

    #[test]
    fn a_file_others_may_read_is_named_with_the_fix() {
        let dir = temp_dir("files-mode");
        let path = dir.join("credentials");
        std::fs::write(&path, "[a]\n").unwrap();
        for (mode, warned) in [(0o600, false), (0o640, true), (0o604, true), (0o400, false)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let warning = exposure_warning(&path);
            assert_eq!(warning.is_some(), warned, "mode {mode:o}: {warning:?}");
            if let Some(w) = warning {
                let shown = path.display();
                assert!(w.starts_with(&format!("{shown} holds keys")), "{w}");
                assert!(w.contains(&format!("(mode {mode:o})")), "{w}");
                assert!(w.ends_with(&format!("chmod 600 {shown}")), "{w}");
            }
        }
        assert_eq!(exposure_warning(Path::new("/dev/zero")), None);
        assert_eq!(exposure_warning(&dir.join("missing")), None);
    }
}
