//! The file under the writer, behind the small [`LogFile`] trait so that tests can make writes
//! fail, short or whole, the way a full disk does.
//!
//! [`FsLogFile`] is the real one: private (0600, in a 0700 folder when it creates one), opened
//! for appending with no user-space buffer, so each write reaches the kernel as given.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::error::AuditError;
use super::rotate;

/// What the writer needs of a log file.
pub(crate) trait LogFile: Send {
    /// Bytes in the file, and whether it ends inside a line (an earlier crash mid-record).
    fn state(&mut self) -> io::Result<(u64, bool)>;
    /// Appends from `buf`: how many bytes went in, which may be fewer than asked.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// Cuts the file back to `len` bytes.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
    /// Moves the file aside (see `rotate::shift`) and continues in a new, empty one.
    fn rotate(&mut self) -> io::Result<()>;
}

/// The audit log on disk.
#[derive(Debug)]
pub(crate) struct FsLogFile {
    path: PathBuf,
    keep_files: u32,
    file: fs::File,
}

impl FsLogFile {
    /// Opens `path` for appending, creating it (and its folder) privately; rotation keeps
    /// `keep_files` old files.
    pub(crate) fn open(path: &Path, keep_files: u32) -> Result<Self, AuditError> {
        Ok(Self {
            path: path.to_owned(),
            keep_files,
            file: open(path)?,
        })
    }
}

impl LogFile for FsLogFile {
    fn state(&mut self) -> io::Result<(u64, bool)> {
        let len = self.file.metadata()?.len();
        if len == 0 {
            return Ok((0, false));
        }
        let mut last = [0u8];
        self.file.read_exact_at(&mut last, len - 1)?;
        Ok((len, last[0] != b'\n'))
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn rotate(&mut self) -> io::Result<()> {
        rotate::shift(&self.path, self.keep_files)?;
        // Until the new file opens, writes go on into the old one under its new name.
        self.file = open(&self.path).map_err(|e| match e {
            AuditError::Open { source, .. } | AuditError::Permissions { source, .. } => source,
            other => io::Error::other(other.to_string()),
        })?;
        Ok(())
    }
}

/// Opens `path` for appending (and reading its last byte), creating it (and its folder, 0700)
/// with mode 0600, and makes an existing file 0600 if it was open to others.
fn open(path: &Path) -> Result<fs::File, AuditError> {
    let open_err = |source| AuditError::Open {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(open_err)?;
    }
    let file = fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(open_err)?;
    let mode = file.metadata().map_err(open_err)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{mode:03o}"), "audit log was open to other users; setting 0600");
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(|source| AuditError::Permissions {
                path: path.to_owned(),
                source,
            })?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::temp_dir;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_log_is_private_in_a_private_folder() {
        let dir = temp_dir("audit-file");
        let path = dir.join("state/audit.jsonl");
        let mut f = FsLogFile::open(&path, 2).unwrap();
        assert_eq!((mode(&path), mode(path.parent().unwrap())), (0o600, 0o700));
        assert_eq!(f.state().unwrap(), (0, false));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_existing_log_open_to_others_is_made_private() {
        let dir = temp_dir("audit-file");
        let path = dir.join("audit.jsonl");
        fs::write(&path, "").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        FsLogFile::open(&path, 2).unwrap();
        assert_eq!(mode(&path), 0o600);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn state_tells_a_file_that_ends_mid_line() {
        let dir = temp_dir("audit-file");
        let path = dir.join("audit.jsonl");
        fs::write(&path, "{\"a\":1}\n{\"b\"").unwrap();
        let mut f = FsLogFile::open(&path, 2).unwrap();
        assert_eq!(f.state().unwrap(), (12, true));
        f.truncate(8).unwrap();
        assert_eq!(f.state().unwrap(), (8, false));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn rotating_continues_in_a_new_private_file() {
        let dir = temp_dir("audit-file");
        let path = dir.join("audit.jsonl");
        let mut f = FsLogFile::open(&path, 1).unwrap();
        assert_eq!(f.write(b"old\n").unwrap(), 4);
        f.rotate().unwrap();
        assert_eq!(f.write(b"new\n").unwrap(), 4);
        assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(
            fs::read_to_string(rotate::numbered(&path, 1)).unwrap(),
            "old\n"
        );
        assert_eq!(mode(&path), 0o600);
        fs::remove_dir_all(dir).unwrap();
    }
}
