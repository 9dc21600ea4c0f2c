//! [`AuditLog`], the file sink: the request path stamps the event and offers it to a bounded
//! queue, and one writer thread does everything else (coalescing, rotation, failures).
//!
//! The request path takes no lock and never waits: `try_send` on a full queue counts the event
//! as dropped (reported as `lost` by the writer) and returns. The writer drains the queue in
//! batches and pauses briefly after each, so under load a sender almost never finds it asleep
//! and has to wake it (a futex call per request costs more than the rest of `record` put
//! together: docs/audit.md has the numbers).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use time::OffsetDateTime;

use super::chain::{self, Link};
use super::error::AuditError;
use super::event::AuditEvent;
use super::file::{FsLogFile, LogFile};
use super::sink::AuditSink;
use super::writer::Writer;
use crate::clock::{Clock, SystemClock};
use crate::config::{
    AuditSettings, DEFAULT_AUDIT_CHECKPOINT, DEFAULT_AUDIT_COALESCE, DEFAULT_AUDIT_KEEP_FILES,
    DEFAULT_AUDIT_MAX_FILE_BYTES,
};

/// Events the queue holds. At [`BATCH_PAUSE`] between drains that is room for well over a
/// million requests a second, and at most a few MiB of memory.
pub(super) const QUEUE_CAPACITY: usize = 8192;
/// How long the writer rests after a batch. Events wait at most this long to be written.
const BATCH_PAUSE: Duration = Duration::from_millis(5);
/// How soon the writer retries a file that failed, when no event comes to make it try.
const RETRY: Duration = Duration::from_secs(1);

enum Message {
    Event(OffsetDateTime, AuditEvent),
    Close,
}

/// The audit log file, appended to by one writer thread.
pub struct AuditLog {
    path: PathBuf,
    clock: Arc<dyn Clock>,
    sender: SyncSender<Message>,
    /// Events refused by a full queue, not yet counted by the writer.
    dropped: Arc<AtomicU64>,
    /// Whether a record after `close` was already warned about.
    closed_warned: AtomicBool,
    /// The writer's lines written and events lost, as of its last batch.
    totals: Arc<[AtomicU64; 2]>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A path alone: the log there, with the default rotation and coalescing.
impl From<&Path> for AuditSettings {
    fn from(path: &Path) -> Self {
        Self {
            path: Some(path.to_owned()),
            max_file_bytes: DEFAULT_AUDIT_MAX_FILE_BYTES,
            keep_files: DEFAULT_AUDIT_KEEP_FILES,
            coalesce: DEFAULT_AUDIT_COALESCE,
            checkpoint: DEFAULT_AUDIT_CHECKPOINT,
        }
    }
}

/// See the `From<&Path>` above.
impl From<&PathBuf> for AuditSettings {
    fn from(path: &PathBuf) -> Self {
        Self::from(path.as_path())
    }
}

/// The daemon's call: the settings as configured.
impl From<&AuditSettings> for AuditSettings {
    fn from(settings: &AuditSettings) -> Self {
        settings.clone()
    }
}

impl AuditLog {
    /// Opens (creating, 0600) the log that `settings` name, rotated and coalesced as they say
    /// ([`AuditError::Disabled`] if they name no path); times come from the system clock.
    pub fn open(settings: impl Into<AuditSettings>) -> Result<Self, AuditError> {
        Self::open_with_clock(settings, Arc::new(SystemClock))
    }

    /// [`AuditLog::open`] with record times from `clock`.
    pub fn open_with_clock(
        settings: impl Into<AuditSettings>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AuditError> {
        let settings = settings.into();
        let path = settings.path.clone().ok_or(AuditError::Disabled)?;
        let file = FsLogFile::open(&path, settings.keep_files)?;
        let link =
            chain::resume(&path, settings.keep_files).map_err(|source| AuditError::Resume {
                path: path.clone(),
                source,
            })?;
        if link.seq > 0 {
            tracing::info!(
                target: "credvend::audit",
                path = %path.display(),
                "audit log continues after seq={} hash={}",
                link.seq,
                link.hex()
            );
        }
        Self::start(&settings, path, file, clock, QUEUE_CAPACITY, link)
    }

    /// The log on `file`, with a queue of `capacity` (tests make it small), continuing the
    /// chain after `link`.
    pub(super) fn start<F: LogFile + 'static>(
        settings: &AuditSettings,
        path: PathBuf,
        file: F,
        clock: Arc<dyn Clock>,
        capacity: usize,
        link: Link,
    ) -> Result<Self, AuditError> {
        let writer = Writer::new(
            file,
            path.clone(),
            settings.max_file_bytes,
            settings.coalesce,
        )
        .resuming(link)
        .checkpoint_every(settings.checkpoint);
        let (sender, receiver) = mpsc::sync_channel(capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let totals = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let pump = Pump {
            writer,
            receiver,
            clock: clock.clone(),
            dropped: dropped.clone(),
            totals: totals.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("credvend-audit".into())
            .spawn(move || pump.run())
            .map_err(AuditError::Spawn)?;
        Ok(Self {
            path,
            clock,
            sender,
            dropped,
            closed_warned: AtomicBool::new(false),
            totals,
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Records written to the file since it was opened (for the metrics page).
    #[must_use]
    pub fn records_written(&self) -> u64 {
        self.totals[0].load(Ordering::Relaxed)
    }

    /// Events lost since it was opened: not written, or refused by a full queue.
    #[must_use]
    pub fn records_lost(&self) -> u64 {
        self.totals[1].load(Ordering::Relaxed) + self.dropped.load(Ordering::Relaxed)
    }

    /// The log file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes every record already handed over and everything counted, then stops the
    /// writer; later records are dropped. Called on shutdown (and on drop).
    pub fn close(&self) {
        let handle = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(handle) = handle else { return };
        // Blocking here is fine: this is shutdown, not a request. The writer drains the
        // queue, so a full one makes room.
        let _ = self.sender.send(Message::Close);
        if handle.join().is_err() {
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
        match self.sender.try_send(Message::Event(now, event)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {
                if !self.closed_warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!("audit log closed; later records are dropped");
                }
            }
        }
    }
}

/// The writer thread: the queue into the [`Writer`].
struct Pump<F> {
    writer: Writer<F>,
    receiver: Receiver<Message>,
    clock: Arc<dyn Clock>,
    dropped: Arc<AtomicU64>,
    totals: Arc<[AtomicU64; 2]>,
}

impl<F: LogFile> Pump<F> {
    fn run(mut self) {
        loop {
            let message = match self.wait() {
                Some(wait) => match self.receiver.recv_timeout(wait) {
                    Ok(m) => m,
                    Err(RecvTimeoutError::Timeout) => {
                        self.tick();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => Message::Close,
                },
                None => self.receiver.recv().unwrap_or(Message::Close),
            };
            if !self.batch(message) {
                break;
            }
            self.tick();
            std::thread::sleep(BATCH_PAUSE);
        }
        let now = self.clock.now();
        self.writer
            .finish(now, self.dropped.swap(0, Ordering::Relaxed));
    }

    /// Handles `first` and whatever else is queued: false once the log is closing.
    fn batch(&mut self, first: Message) -> bool {
        let mut message = first;
        loop {
            match message {
                Message::Event(at, event) => self.writer.handle(at, event),
                Message::Close => return false,
            }
            message = match self.receiver.try_recv() {
                Ok(m) => m,
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            };
        }
    }

    fn tick(&mut self) {
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        self.writer.tick(self.clock.now(), dropped);
        let (written, lost) = self.writer.totals();
        self.totals[0].store(written, Ordering::Relaxed);
        self.totals[1].store(lost, Ordering::Relaxed);
    }

    /// How long to wait for an event before there is work anyway; `None`: until one comes.
    fn wait(&self) -> Option<Duration> {
        let until_due = self.writer.next_due().map(|due| {
            let left = due - self.clock.now();
            Duration::try_from(left).unwrap_or(Duration::ZERO)
        });
        let retry = self.writer.has_lost().then_some(RETRY);
        match (until_due, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::net::SocketAddr;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Condvar;

    use time::macros::datetime;

    use super::*;
    use crate::clock::ManualClock;
    use crate::test_util::temp_dir;

    fn lines(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn served(port: u16) -> AuditEvent {
        AuditEvent::Served {
            client: SocketAddr::from(([127, 0, 0, 1], port)),
            caller: std::sync::Arc::new(crate::identity::Caller::unknown("test")),
            listener: "imds@127.0.0.1:8169".into(),
            path: "/latest/meta-data/iam/security-credentials/dev".into(),
            profile: "dev".into(),
            access_key_id: "ASIAEXAMPLE".into(),
        }
    }

    fn denied(ip: [u8; 4]) -> AuditEvent {
        AuditEvent::Denied {
            client: SocketAddr::from((ip, 40000)),
            caller: std::sync::Arc::new(crate::identity::Caller::unknown("test")),
            listener: "ecs@0.0.0.0:8170".into(),
            path: "/role/dev".into(),
            reason: "PeerNotAllowed".into(),
        }
    }

    #[test]
    fn records_are_json_lines_in_a_private_file_appended_across_opens() {
        let dir = temp_dir("audit-log");
        let path = dir.join("audit.jsonl");
        let clock = Arc::new(ManualClock::new(datetime!(2026-11-22 10:00:00.5 UTC)));
        let log = AuditLog::open_with_clock(&path, clock.clone()).unwrap();
        log.record(AuditEvent::Issued {
            profile: "dev".into(),
            role_arn: Some("arn:aws:iam::123456789012:role/dev".into()),
            session_name: Some("credvend-dev".into()),
            access_key_id: "ASIAEXAMPLE".into(),
            expiration: datetime!(2026-11-22 11:00:00.9 UTC),
            request_id: None,
            source_identity: None,
        });
        log.record(served(5000));
        drop(log);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let log = AuditLog::open_with_clock(&path, clock).unwrap();
        log.record(AuditEvent::Denied {
            client: SocketAddr::from(([10, 0, 0, 9], 6000)),
            caller: std::sync::Arc::new(crate::identity::Caller::unknown("test")),
            listener: "ecs@127.0.0.1:8170".into(),
            path: "/role/dev".into(),
            reason: "InvalidAuthorization".into(),
        });
        log.close();
        let got = lines(&path);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0]["event"], "issued");
        assert_eq!(got[0]["time"], "2026-11-22T10:00:00.5Z");
        assert_eq!(got[1]["event"], "served");
        assert_eq!(
            (&got[1]["client"], &got[1]["port"]),
            (&"127.0.0.1".into(), &5000.into())
        );
        assert_eq!(got[1]["access_key_id"], "ASIAEXAMPLE");
        assert_eq!(got[2]["event"], "denied");
        assert_eq!(got[2]["reason"], "InvalidAuthorization");
        // The second open continued the chain of the first.
        let seqs: Vec<_> = got.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, [1, 2, 3]);
        let bytes = std::fs::read(&path).unwrap();
        let verdict = crate::audit::verify(&[("a".into(), bytes)], None);
        assert!(verdict.ok() && verdict.records == 3, "{verdict:#?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn settings_name_the_file_and_without_a_path_there_is_no_log() {
        let dir = temp_dir("audit-log");
        let mut settings = AuditSettings::from(dir.join("a/audit.jsonl").as_path());
        settings.coalesce = Duration::from_secs(1);
        let log = AuditLog::open(&settings).unwrap();
        assert_eq!(log.path(), dir.join("a/audit.jsonl"));
        drop(log);
        settings.path = None;
        assert!(matches!(
            AuditLog::open(&settings),
            Err(AuditError::Disabled)
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn records_after_close_are_dropped_without_panic() {
        let dir = temp_dir("audit-log");
        let path = dir.join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        log.record(served(1));
        log.close();
        log.record(served(2));
        log.close();
        assert_eq!(lines(&path).len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_flood_from_many_threads_is_a_few_lines_that_count_every_request() {
        let dir = temp_dir("audit-log");
        let path = dir.join("audit.jsonl");
        let log = Arc::new(AuditLog::open(&path).unwrap());
        // 6000 events: fewer than the queue holds, so none can be dropped however slow the
        // writer is here.
        let threads: Vec<_> = (0..4u16)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..1500 {
                        log.record(served(t * 1500 + i));
                        if i % 500 == 0 {
                            // A distinct client now and then must still show up.
                            log.record(denied([10, 1, u8::try_from(t).unwrap(), 1]));
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        log.close();
        let got = lines(&path);
        let count = |event: &str| -> u64 {
            got.iter()
                .filter(|r| r["event"] == event)
                .map(|r| r["count"].as_u64().unwrap())
                .sum()
        };
        assert_eq!((count("served"), count("denied")), (6000, 12), "{got:#?}");
        let served_lines = got.iter().filter(|r| r["event"] == "served").count();
        assert_eq!(served_lines, 2, "one at once and one at close: {got:#?}");
        let clients: std::collections::BTreeSet<_> = got
            .iter()
            .filter(|r| r["event"] == "denied")
            .map(|r| r["client"].as_str().unwrap())
            .collect();
        assert_eq!(clients.len(), 4, "every client shows");
        assert!(got.len() <= 2 + 4 * 2, "{got:#?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A file whose writes wait at a gate, to hold the writer while the queue fills.
    #[derive(Debug, Default)]
    struct Gate {
        open: Mutex<bool>,
        changed: Condvar,
        waiting: Mutex<bool>,
        arrived: Condvar,
    }

    #[derive(Debug)]
    struct GatedFile {
        gate: Arc<Gate>,
        inner: FsLogFile,
    }

    impl LogFile for GatedFile {
        fn state(&mut self) -> io::Result<(u64, bool)> {
            self.inner.state()
        }
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            *self.gate.waiting.lock().unwrap() = true;
            self.gate.arrived.notify_all();
            let mut open = self.gate.open.lock().unwrap();
            while !*open {
                open = self.gate.changed.wait(open).unwrap();
            }
            self.inner.write(buf)
        }
        fn truncate(&mut self, len: u64) -> io::Result<()> {
            self.inner.truncate(len)
        }
        fn rotate(&mut self) -> io::Result<()> {
            self.inner.rotate()
        }
    }

    #[test]
    fn a_full_queue_drops_without_waiting_and_the_drops_are_a_lost_record() {
        let dir = temp_dir("audit-log");
        let path = dir.join("audit.jsonl");
        let gate = Arc::new(Gate::default());
        let file = GatedFile {
            gate: gate.clone(),
            inner: FsLogFile::open(&path, 1).unwrap(),
        };
        let settings = AuditSettings::from(path.as_path());
        let clock = Arc::new(ManualClock::new(datetime!(2026-11-22 10:00 UTC)));
        let log = AuditLog::start(&settings, path.clone(), file, clock, 4, Link::START).unwrap();
        log.record(denied([10, 0, 0, 1]));
        let mut waiting = gate.waiting.lock().unwrap();
        while !*waiting {
            waiting = gate.arrived.wait(waiting).unwrap();
        }
        drop(waiting);
        // The writer is stuck in a write: four fit in the queue, the rest are refused at once.
        for i in 2..=15 {
            log.record(denied([10, 0, 0, i]));
        }
        *gate.open.lock().unwrap() = true;
        gate.changed.notify_all();
        log.close();
        let got = lines(&path);
        let events: Vec<_> = got.iter().map(|r| r["event"].as_str().unwrap()).collect();
        assert_eq!(
            events,
            ["denied", "denied", "denied", "denied", "denied", "lost"]
        );
        assert_eq!(got[5]["dropped"], 10);
        assert_eq!(got[5]["count"], 10);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// What `record` costs the request path (run with `--release --ignored --nocapture`):
    /// one client flooding one key, from one thread and from two.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn request_path_cost() {
        let dir = temp_dir("audit-log");
        let path = dir.join("audit.jsonl");
        let log = Arc::new(AuditLog::open(&path).unwrap());
        for threads in [1u16, 2] {
            let per_thread = 200_000u32;
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let log = log.clone();
                    std::thread::spawn(move || {
                        let mut inside = std::time::Duration::ZERO;
                        for i in 0..per_thread {
                            // Some request work between records, as a server would do.
                            let work = tokio::time::Instant::now();
                            while work.elapsed() < Duration::from_micros(5) {
                                std::hint::spin_loop();
                            }
                            let event = served(t * 1000 + u16::try_from(i % 1000).unwrap());
                            let start = tokio::time::Instant::now();
                            log.record(event);
                            inside += start.elapsed();
                        }
                        inside
                    })
                })
                .collect();
            let inside: std::time::Duration = handles.into_iter().map(|h| h.join().unwrap()).sum();
            let ops = f64::from(per_thread) * f64::from(threads);
            println!(
                "{threads} thread(s): {:.0} ns per record (timer included)",
                inside.as_secs_f64() * 1e9 / ops
            );
        }
        log.close();
        std::fs::remove_dir_all(dir).unwrap();
    }
}
