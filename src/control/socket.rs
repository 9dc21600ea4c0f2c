//! The control socket's file: made private, a stale one from a dead daemon replaced, a live
//! one (another daemon answers on it) refused, and removed again at shutdown, unless another
//! daemon answers on it by then (it replaced ours after we stopped listening).

use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::UnixListener;

use super::error::ControlError;

/// The socket file while the daemon owns it; removed on drop, which must come after the
/// listener is closed.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
}

/// Binds the control socket at `path`: its directory made (0700) when missing, the socket
/// mode 0600.
pub(super) fn bind(path: &Path) -> Result<(UnixListener, SocketFile), ControlError> {
    let fail = |source: io::Error| ControlError::Bind {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(fail)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(ControlError::NotASocket(path.to_owned()));
        }
        Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => return Err(ControlError::AlreadyRunning(path.to_owned())),
            // Nobody listens: a daemon died without cleaning up.
            Err(_) => {
                tracing::info!(path = %path.display(), "replacing a stale control socket");
                remove(path).map_err(fail)?;
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e)),
    }
    let listener = UnixListener::bind(path).map_err(fail)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
    let file = SocketFile {
        path: path.to_owned(),
    };
    Ok((listener, file))
}

fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

impl SocketFile {
    /// The socket's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        // Ours is closed by now: a socket that answers is a newer daemon's. (Its inode number
        // says nothing: the kernel hands a freed one to the next file.)
        let taken = std::os::unix::net::UnixStream::connect(&self.path).is_ok();
        if !taken && let Err(e) = remove(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove the control socket");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::temp_dir;

    #[tokio::test]
    async fn the_socket_is_private_a_live_one_is_refused_a_stale_one_replaced() {
        let dir = temp_dir("control-socket");
        let path = dir.join("run/control.sock");
        let (listener, file) = bind(&path).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let err = bind(&path).unwrap_err();
        assert!(matches!(err, ControlError::AlreadyRunning(_)), "{err}");
        assert!(err.to_string().contains("another credvend"), "{err}");

        // The daemon dies: the file stays, nobody listens.
        drop(listener);
        std::mem::forget(file);
        let (listener, file) = bind(&path).unwrap();
        drop(listener);
        drop(file);
        assert!(!path.exists(), "removed at shutdown");

        std::fs::write(&path, "not a socket").unwrap();
        let err = bind(&path).unwrap_err();
        assert!(matches!(err, ControlError::NotASocket(_)), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn shutdown_leaves_a_socket_another_daemon_made_since() {
        let dir = temp_dir("control-socket-replaced");
        let path = dir.join("control.sock");
        let (listener, old) = bind(&path).unwrap();
        drop(listener);
        std::fs::remove_file(&path).unwrap();
        let (_listener, _new) = bind(&path).unwrap();
        drop(old);
        assert!(path.exists(), "the newer daemon's socket stays");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
