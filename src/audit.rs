//! The audit log: who got which session, when.
//!
//! Producers (the cache when STS mints a session, the servers when a client is served or
//! refused) hand an [`AuditEvent`] to an [`AuditSink`]. Events hold no secret by construction:
//! there is no field that could carry a secret key, session token or ECS token.
//!
//! [`AuditLog`] is the file sink: JSON lines, one dedicated writer thread fed by a channel so a
//! request never waits on the disk, each line one `write` to an `O_APPEND` file (no user-space
//! buffer), so a crash loses at most the record being written. Everything that turns an event
//! into bytes lives in the private `writer` module, the one place a later record chain hooks in.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use time::OffsetDateTime;

use crate::clock::{Clock, SystemClock};

/// One audit record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditEvent {
    /// STS minted a session.
    Issued {
        /// The credvend profile.
        profile: String,
        /// The role assumed (`None` for GetSessionToken).
        role_arn: Option<String>,
        /// The session name sent to STS.
        session_name: Option<String>,
        /// Access key id of the issued credentials.
        access_key_id: String,
        /// When they expire.
        expiration: OffsetDateTime,
        /// STS request id.
        request_id: Option<String>,
    },
    /// A client received credentials.
    Served {
        /// The client's address.
        client: SocketAddr,
        /// `imds` or `ecs`, with the listener address.
        listener: String,
        /// The request path.
        path: String,
        /// The profile served.
        profile: String,
        /// Access key id of the served credentials.
        access_key_id: String,
    },
    /// A request was refused.
    Denied {
        /// The client's address.
        client: SocketAddr,
        /// `imds` or `ecs`, with the listener address.
        listener: String,
        /// The request path.
        path: String,
        /// Why, in a few words (never a token).
        reason: String,
    },
}

/// Where audit events go.
pub trait AuditSink: Send + Sync + fmt::Debug {
    /// Records one event. Must not block on slow I/O for long; must not panic.
    fn record(&self, event: AuditEvent);
}

/// Drops every event (tests, or `[audit] enabled = false`).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoAudit;

impl AuditSink for NoAudit {
    fn record(&self, _event: AuditEvent) {}
}

/// The audit log file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Creating or opening the file (or its folder) failed.
    #[error("cannot open audit log {path}")]
    Open {
        /// The log file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file is open to other users and could not be made 0600.
    #[error("cannot make audit log {path} private")]
    Permissions {
        /// The log file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The writer thread could not start.
    #[error("cannot start the audit writer")]
    Spawn(#[source] io::Error),
}

/// The audit log file, appended to by one writer thread.
pub struct AuditLog {
    path: PathBuf,
    clock: Arc<dyn Clock>,
    sender: Mutex<Option<mpsc::Sender<(OffsetDateTime, AuditEvent)>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens (creating, 0600) the log at `path` for appending; times come from the system
    /// clock.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        Self::open_with_clock(path, Arc::new(SystemClock))
    }

    /// [`AuditLog::open`] with record times from `clock`.
    pub fn open_with_clock(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, AuditError> {
        let file = writer::open(path)?;
        let (sender, receiver) = mpsc::channel();
        let writer_path = path.to_owned();
        let handle = std::thread::Builder::new()
            .name("credvend-audit".into())
            .spawn(move || writer::run(file, &writer_path, &receiver))
            .map_err(AuditError::Spawn)?;
        Ok(Self {
            path: path.to_owned(),
            clock,
            sender: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(handle)),
        })
    }

    /// The log file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes every record already handed over, then stops the writer; later records are
    /// dropped. Called on shutdown (and on drop).
    pub fn close(&self) {
        drop(lock(&self.sender).take());
        let handle = lock(&self.writer).take();
        if handle.is_some_and(|h| h.join().is_err()) {
            tracing::error!("audit writer thread panicked");
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.close();
    }
}

impl AuditSink for AuditLog {
    fn record(&self, event: AuditEvent) {
        let now = self.clock.now();
        let sent = lock(&self.sender)
            .as_ref()
            .is_some_and(|s| s.send((now, event)).is_ok());
        if !sent {
            tracing::warn!("audit log closed; record dropped");
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The writer side: the file, the line format and the loop.
mod writer {
    use super::*;

    /// Opens `path` for appending, creating it (and its folder, 0700) with mode 0600, and
    /// makes an existing file 0600 if it was open to others.
    pub(super) fn open(path: &Path) -> Result<fs::File, AuditError> {
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

    /// Writes records until every sender is gone.
    pub(super) fn run(
        mut file: fs::File,
        path: &Path,
        receiver: &mpsc::Receiver<(OffsetDateTime, AuditEvent)>,
    ) {
        for (time, event) in receiver {
            let line = line(time, &event);
            // One write per line on an unbuffered O_APPEND file: the record reaches the kernel
            // whole, and a crash of the daemon loses nothing already written.
            if let Err(e) = file.write_all(line.as_bytes()).and_then(|()| file.flush()) {
                tracing::error!(path = %path.display(), error = %e, "cannot write audit record");
            }
        }
    }

    /// One record: `time`, `event` and the event's fields, as one JSON line.
    pub(super) fn line(time: OffsetDateTime, event: &AuditEvent) -> String {
        let time = time
            .to_offset(time::UtcOffset::UTC)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let mut record = match event {
            AuditEvent::Issued {
                profile,
                role_arn,
                session_name,
                access_key_id,
                expiration,
                request_id,
            } => serde_json::json!({
                "event": "issued",
                "profile": profile,
                "role_arn": role_arn,
                "session_name": session_name,
                "access_key_id": access_key_id,
                "expiration": crate::clock::format_timestamp(*expiration),
                "request_id": request_id,
            }),
            AuditEvent::Served {
                client,
                listener,
                path,
                profile,
                access_key_id,
            } => serde_json::json!({
                "event": "served",
                "client": client.to_string(),
                "listener": listener,
                "path": path,
                "profile": profile,
                "access_key_id": access_key_id,
            }),
            AuditEvent::Denied {
                client,
                listener,
                path,
                reason,
            } => serde_json::json!({
                "event": "denied",
                "client": client.to_string(),
                "listener": listener,
                "path": path,
                "reason": reason,
            }),
        };
        record["time"] = serde_json::Value::String(time);
        let mut line = record.to_string();
        line.push('\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::hex;
    use crate::random::{OsRandom, Random};
    use time::macros::datetime;

    fn temp_path(name: &str) -> PathBuf {
        let mut b = [0u8; 4];
        OsRandom.fill(&mut b);
        std::env::temp_dir()
            .join(format!(
                "credvend-audit-{}-{}",
                std::process::id(),
                hex::encode(&b)
            ))
            .join(name)
    }

    fn lines(path: &Path) -> Vec<serde_json::Value> {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn served(port: u16) -> AuditEvent {
        AuditEvent::Served {
            client: SocketAddr::from(([127, 0, 0, 1], port)),
            listener: "imds@127.0.0.1:8169".into(),
            path: "/latest/meta-data/iam/security-credentials/dev".into(),
            profile: "dev".into(),
            access_key_id: "ASIAEXAMPLE".into(),
        }
    }

    #[test]
    fn records_are_json_lines_in_a_private_file_appended_across_opens() {
        let path = temp_path("audit.jsonl");
        let clock = Arc::new(ManualClock::new(datetime!(2026-11-22 10:00:00.5 UTC)));
        let log = AuditLog::open_with_clock(&path, clock.clone()).unwrap();
        log.record(AuditEvent::Issued {
            profile: "dev".into(),
            role_arn: Some("arn:aws:iam::123456789012:role/dev".into()),
            session_name: Some("credvend-dev".into()),
            access_key_id: "ASIAEXAMPLE".into(),
            expiration: datetime!(2026-11-22 11:00:00.9 UTC),
            request_id: None,
        });
        log.record(served(5000));
        drop(log);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let log = AuditLog::open_with_clock(&path, clock).unwrap();
        log.record(AuditEvent::Denied {
            client: SocketAddr::from(([10, 0, 0, 9], 6000)),
            listener: "ecs@127.0.0.1:8170".into(),
            path: "/role/dev".into(),
            reason: "InvalidAuthorization".into(),
        });
        log.close();
        let got = lines(&path);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0]["event"], "issued");
        assert_eq!(got[0]["time"], "2026-11-22T10:00:00.5Z");
        assert_eq!(got[0]["expiration"], "2026-11-22T11:00:00Z");
        assert_eq!(got[0]["role_arn"], "arn:aws:iam::123456789012:role/dev");
        assert!(got[0]["request_id"].is_null());
        assert_eq!(got[1]["event"], "served");
        assert_eq!(got[1]["client"], "127.0.0.1:5000");
        assert_eq!(got[1]["access_key_id"], "ASIAEXAMPLE");
        assert_eq!(got[2]["event"], "denied");
        assert_eq!(got[2]["reason"], "InvalidAuthorization");
        fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn an_existing_log_open_to_others_is_made_private() {
        let path = temp_path("audit.jsonl");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, "").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let log = AuditLog::open(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        drop(log);
        fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn records_after_close_are_dropped_without_panic() {
        let path = temp_path("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        log.record(served(1));
        log.close();
        log.record(served(2));
        log.close();
        assert_eq!(lines(&path).len(), 1);
        fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn many_concurrent_records_each_land_on_their_own_line() {
        let path = temp_path("audit.jsonl");
        let log = Arc::new(AuditLog::open(&path).unwrap());
        let threads: Vec<_> = (0..4u16)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        log.record(served(t * 100 + i));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        log.close();
        let got = lines(&path);
        assert_eq!(got.len(), 200);
        assert!(got.iter().all(|r| r["event"] == "served"));
        fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
