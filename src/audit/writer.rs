//! The writer: coalesced records onto the file, rotated by size, with failures contained.
//!
//! - Rotation: before a line would take the file past `max_file_bytes`, the file is rotated,
//!   so the line lands whole in a new file (a file holds at least one line, however long).
//! - A write that fails, short or whole, is undone: the file is cut back to its last whole
//!   line. If even that fails, the next line starts with `\n`, so records never glue together
//!   (the fragment stays as one line no JSON reader accepts).
//! - The chain: each line gets the next `seq` and the hash of the line before as `prev`
//!   (see `chain`), as it is written; a write that fails and is cut back does not advance it,
//!   and a fragment that stays is skipped by the next record.
//! - Checkpoints: the last record's seq and hash go to the daemon's own log (target
//!   `credvend::audit`) `checkpoint_every` after the first record not yet covered, before a
//!   rotation, and when the log closes, so that someone who rewrites the file and its chain
//!   is caught by `credvend audit verify --checkpoint`.
//! - What could not be written is counted, with the events the writer's queue refused. The
//!   outage is logged when it starts and then at most once per interval, with the count so
//!   far; once a write works again a `lost` record with the counts goes first.
//!
//! All of this runs on the writer thread; nothing here is on the request path.

use std::fmt;
use std::io;
use std::path::PathBuf;

use time::{Duration, OffsetDateTime};

use super::chain::Link;
use super::coalesce::{self, Coalescer};
use super::event::AuditEvent;
use super::file::LogFile;
use super::record::{Lost, Record};

/// Coalesces, writes and rotates; owns the file.
pub(super) struct Writer<F> {
    file: F,
    /// For messages only.
    path: PathBuf,
    max_file_bytes: u64,
    /// The coalescing interval, also the least time between two reports of one outage.
    interval: Duration,
    coalescer: Coalescer,
    /// Bytes in the file.
    len: u64,
    /// The file ends inside a line (a fragment that could not be cut off).
    open_line: bool,
    /// Counts not yet reported in a `lost` record.
    lost: Option<Lost>,
    /// When the current outage was last logged.
    reported: Option<OffsetDateTime>,
    /// When a failed rotation was last logged.
    rotation_reported: Option<OffsetDateTime>,
    /// Lines written and events lost since start, for the metrics page.
    totals: (u64, u64),
    /// The last record written.
    link: Link,
    /// The seq the last checkpoint named.
    checkpointed: u64,
    /// How long after the first record it does not cover a checkpoint is logged.
    checkpoint_every: Duration,
    /// When the next checkpoint is due (`None`: nothing new to cover).
    checkpoint_due: Option<OffsetDateTime>,
}

impl<F> fmt::Debug for Writer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.path)
            .field("len", &self.len)
            .field("lost", &self.lost)
            .finish_non_exhaustive()
    }
}

impl<F: LogFile> Writer<F> {
    /// A writer appending to `file` (at `path`).
    pub(super) fn new(
        mut file: F,
        path: PathBuf,
        max_file_bytes: u64,
        interval: std::time::Duration,
    ) -> Self {
        let (len, open_line) = file.state().unwrap_or((0, false));
        Self {
            file,
            path,
            max_file_bytes,
            interval: coalesce::window(interval),
            coalescer: Coalescer::new(interval),
            len,
            open_line,
            lost: None,
            reported: None,
            rotation_reported: None,
            totals: (0, 0),
            link: Link::START,
            checkpointed: 0,
            checkpoint_every: Duration::try_from(crate::config::DEFAULT_AUDIT_CHECKPOINT)
                .unwrap_or(Duration::MINUTE),
            checkpoint_due: None,
        }
    }

    /// Continues the chain after `link` (the last record already in the files).
    #[must_use]
    pub(super) fn resuming(mut self, link: Link) -> Self {
        self.link = link;
        self.checkpointed = link.seq;
        self
    }

    /// Checkpoints at most `every` after the first record not yet covered.
    #[must_use]
    pub(super) fn checkpoint_every(mut self, every: std::time::Duration) -> Self {
        self.checkpoint_every = coalesce::window(every);
        self
    }

    /// Lines written and events lost since start.
    pub(super) fn totals(&self) -> (u64, u64) {
        self.totals
    }

    /// One event, stamped `at` on the request path.
    pub(super) fn handle(&mut self, at: OffsetDateTime, event: AuditEvent) {
        self.flush_due(at);
        if let Some(record) = self.coalescer.observe(at, event) {
            self.write(at, &record);
        }
    }

    /// Time passed: closes the windows due by `now`, counts `dropped` events the queue
    /// refused, writes a pending `lost` record if the file takes it, and reports an outage
    /// that goes on.
    pub(super) fn tick(&mut self, now: OffsetDateTime, dropped: u64) {
        if dropped > 0 {
            self.count_lost(now, dropped, 0, dropped);
            self.report(now, &"the audit queue was full");
        }
        self.flush_due(now);
        if let Err(e) = self.write_lost(now) {
            self.report(now, &e);
        }
        if self.checkpoint_due.is_some_and(|due| now >= due) {
            self.checkpoint();
        }
    }

    /// Shutdown: everything counted is written (or counted as lost, and said so).
    pub(super) fn finish(&mut self, now: OffsetDateTime, dropped: u64) {
        self.tick(now, dropped);
        for record in self.coalescer.drain(now) {
            self.write(now, &record);
        }
        if let Some(lost) = &self.lost {
            tracing::error!(
                path = %self.path.display(),
                lost = lost.events,
                "audit log closed with events lost"
            );
        }
        self.checkpoint();
    }

    /// When the writer next has something to do without a new event.
    pub(super) fn next_due(&self) -> Option<OffsetDateTime> {
        match (self.coalescer.next_due(), self.checkpoint_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Logs the last record's seq and hash, if records were written since the last time.
    fn checkpoint(&mut self) {
        self.checkpoint_due = None;
        if self.link.seq == self.checkpointed {
            return;
        }
        self.checkpointed = self.link.seq;
        tracing::info!(
            target: "credvend::audit",
            "audit checkpoint seq={} hash={}",
            self.link.seq,
            self.link.hex()
        );
    }

    /// Whether a `lost` record waits for the file to work again (worth retrying soon).
    pub(super) fn has_lost(&self) -> bool {
        self.lost.is_some()
    }

    fn flush_due(&mut self, now: OffsetDateTime) {
        for record in self.coalescer.due(now) {
            self.write(now, &record);
        }
    }

    /// Writes `record`, after the pending `lost` record if there is one.
    fn write(&mut self, now: OffsetDateTime, record: &Record) {
        let written = self
            .write_lost(now)
            .and_then(|()| self.write_line(now, &record.line()));
        if let Err(e) = written {
            self.count_lost(now, record.events(), 1, 0);
            self.report(now, &e);
        }
    }

    /// Writes the pending `lost` record, if there is one.
    fn write_lost(&mut self, now: OffsetDateTime) -> io::Result<()> {
        let Some(lost) = &self.lost else {
            return Ok(());
        };
        let (events, records, dropped) = (lost.events, lost.records, lost.dropped);
        let line = Record::Lost {
            time: now,
            lost: lost.clone(),
        }
        .line();
        self.write_line(now, &line)?;
        tracing::warn!(
            path = %self.path.display(),
            lost = events,
            records,
            dropped,
            "audit log writable again; a `lost` record says what is missing"
        );
        self.lost = None;
        self.reported = None;
        Ok(())
    }

    fn count_lost(&mut self, now: OffsetDateTime, events: u64, records: u64, dropped: u64) {
        let lost = self.lost.get_or_insert(Lost {
            events: 0,
            records: 0,
            dropped: 0,
            first: now,
            last: now,
        });
        lost.events = lost.events.saturating_add(events);
        lost.records = lost.records.saturating_add(records);
        lost.dropped = lost.dropped.saturating_add(dropped);
        lost.last = lost.last.max(now);
        self.totals.1 = self.totals.1.saturating_add(events);
    }

    /// Logs an outage when it starts, then at most once per interval: a full disk under load
    /// must not turn into a flood of identical lines on stderr.
    fn report(&mut self, now: OffsetDateTime, cause: &dyn fmt::Display) {
        if self.reported.is_some_and(|t| now < t + self.interval) {
            return;
        }
        self.reported = Some(now);
        let lost = self.lost.as_ref().map_or(0, |l| l.events);
        tracing::error!(
            path = %self.path.display(),
            error = %cause,
            lost,
            "audit events are being lost; they are counted and reported in a `lost` record once the log works again"
        );
    }

    /// Appends `line` whole, rotating first if it would not fit; on failure the file is as
    /// before (or, if it cannot be cut back, the next line starts on a line of its own).
    fn write_line(&mut self, now: OffsetDateTime, line: &str) -> io::Result<()> {
        let (line, link) = self.link.stamp(line);
        let needed = line.len() as u64 + u64::from(self.open_line);
        if self.len > 0 && self.len.saturating_add(needed) > self.max_file_bytes {
            self.rotate(now);
        }
        let mut buf = Vec::with_capacity(line.len() + 1);
        if self.open_line {
            buf.push(b'\n');
        }
        buf.extend_from_slice(line.as_bytes());
        let mut done = 0;
        while done < buf.len() {
            match self.file.write(&buf[done..]) {
                Ok(0) => {
                    self.undo(&buf[..done]);
                    return Err(io::ErrorKind::WriteZero.into());
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.undo(&buf[..done]);
                    return Err(e);
                }
            }
        }
        self.len += buf.len() as u64;
        self.open_line = false;
        self.totals.0 += 1;
        self.link = link;
        if self.checkpoint_due.is_none() {
            self.checkpoint_due = Some(now + self.checkpoint_every);
        }
        Ok(())
    }

    /// Removes the `written` part of a line that failed.
    fn undo(&mut self, written: &[u8]) {
        if written.is_empty() {
            return;
        }
        if let Err(e) = self.file.truncate(self.len) {
            tracing::debug!(error = %e, "cannot cut a partial audit record off; the next starts on a new line");
            self.len += written.len() as u64;
            self.open_line = written.last() != Some(&b'\n');
        }
    }

    fn rotate(&mut self, now: OffsetDateTime) {
        // The file about to be moved aside ends with the record this names.
        self.checkpoint();
        match self.file.rotate() {
            Ok(()) => {
                self.len = 0;
                self.open_line = false;
                self.rotation_reported = None;
            }
            Err(e) => {
                // Records matter more than the size limit: keep writing to the current file.
                if self
                    .rotation_reported
                    .is_none_or(|t| now >= t + self.interval)
                {
                    self.rotation_reported = Some(now);
                    tracing::error!(path = %self.path.display(), error = %e, "cannot rotate the audit log; it grows past max_file_bytes");
                }
                // A failed rotation may have moved the file anyway: learn where we stand.
                if let Ok((len, open_line)) = self.file.state() {
                    self.len = len;
                    self.open_line = open_line;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::{Arc, Mutex};

    use time::macros::datetime;

    use super::*;
    use crate::audit::file::FsLogFile;
    use crate::audit::rotate::numbered;
    use crate::test_util::temp_dir;

    const T0: OffsetDateTime = datetime!(2026-11-22 10:00 UTC);
    const MINUTE: std::time::Duration = std::time::Duration::from_secs(60);

    fn at(seconds: i64) -> OffsetDateTime {
        T0 + Duration::seconds(seconds)
    }

    fn issued(n: usize) -> AuditEvent {
        AuditEvent::Issued {
            profile: format!("profile-{n:05}"),
            role_arn: Some("arn:aws:iam::123456789012:role/dev".into()),
            session_name: Some("credvend-dev".into()),
            access_key_id: "ASIAEXAMPLE".into(),
            expiration: T0 + Duration::hours(1),
            request_id: None,
            source_identity: None,
        }
    }

    fn denied(port: u16) -> AuditEvent {
        AuditEvent::Denied {
            client: SocketAddr::from(([127, 0, 0, 1], port)),
            caller: std::sync::Arc::new(crate::identity::Caller::unknown("test")),
            listener: "ecs@127.0.0.1:8170".into(),
            path: "/role/dev".into(),
            reason: "InvalidAuthorization".into(),
        }
    }

    /// A file in memory on a disk with `free` bytes left: a write past it goes in short, the
    /// next fails with ENOSPC, as on a real full filesystem.
    #[derive(Clone, Debug, Default)]
    struct FakeDisk(Arc<Mutex<DiskState>>);

    #[derive(Debug, Default)]
    struct DiskState {
        data: Vec<u8>,
        free: usize,
        truncate_fails: bool,
        writes: usize,
    }

    impl FakeDisk {
        fn with_free(free: usize) -> Self {
            let disk = Self::default();
            disk.set_free(free);
            disk
        }

        fn set_free(&self, free: usize) {
            self.0.lock().unwrap().free = free;
        }

        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().data.clone()).unwrap()
        }
    }

    impl LogFile for FakeDisk {
        fn state(&mut self) -> io::Result<(u64, bool)> {
            let s = self.0.lock().unwrap();
            Ok((
                s.data.len() as u64,
                s.data.last().is_some_and(|b| *b != b'\n'),
            ))
        }

        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut s = self.0.lock().unwrap();
            s.writes += 1;
            let n = buf.len().min(s.free);
            if n == 0 {
                return Err(io::Error::from_raw_os_error(28)); // ENOSPC
            }
            s.free -= n;
            s.data.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn truncate(&mut self, len: u64) -> io::Result<()> {
            let mut s = self.0.lock().unwrap();
            if s.truncate_fails {
                return Err(io::Error::other("truncate refused"));
            }
            let len = usize::try_from(len).unwrap();
            let freed = s.data.len() - len;
            s.data.truncate(len);
            s.free += freed;
            Ok(())
        }

        fn rotate(&mut self) -> io::Result<()> {
            Err(io::Error::other("this disk does not rotate"))
        }
    }

    fn records(text: &str) -> Vec<serde_json::Value> {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?} in\n{text}")))
            .collect()
    }

    /// Log lines written while `f` runs on this thread.
    fn logs_of(f: impl FnOnce()) -> String {
        let (captured, _guard) =
            crate::test_util::logs::CapturedLogs::install(tracing::Level::INFO);
        f();
        captured.text()
    }

    #[test]
    fn rotation_keeps_keep_files_files_each_of_whole_lines_and_private() {
        let dir = temp_dir("audit-writer");
        let path = dir.join("audit.jsonl");
        let file = FsLogFile::open(&path, 3).unwrap();
        let mut w = Writer::new(file, path.clone(), 3000, MINUTE);
        for n in 0..100 {
            w.handle(at(0), issued(n));
        }
        assert!(
            !numbered(&path, 4).exists(),
            "only keep_files rotated files"
        );
        let mut seen = Vec::new();
        for file in [
            numbered(&path, 3),
            numbered(&path, 2),
            numbered(&path, 1),
            path.clone(),
        ] {
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(
                text.len() <= 3000,
                "{} has {} bytes",
                file.display(),
                text.len()
            );
            assert!(text.ends_with('\n'));
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", file.display());
            seen.extend(records(&text).into_iter().map(|r| r["profile"].clone()));
        }
        // Newest last, nothing missing between the files, ending with the last record.
        let want: Vec<_> = (100 - seen.len()..100)
            .map(|n| serde_json::Value::from(format!("profile-{n:05}")))
            .collect();
        assert_eq!(seen, want);
        assert!(seen.len() > 20, "four files of 3000 bytes hold more");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_line_longer_than_the_limit_gets_a_file_of_its_own() {
        let dir = temp_dir("audit-writer");
        let path = dir.join("audit.jsonl");
        let file = FsLogFile::open(&path, 2).unwrap();
        let mut w = Writer::new(file, path.clone(), 100, MINUTE);
        w.handle(at(0), issued(1));
        w.handle(at(0), issued(2));
        assert_eq!(records(&std::fs::read_to_string(&path).unwrap()).len(), 1);
        assert_eq!(
            records(&std::fs::read_to_string(numbered(&path, 1)).unwrap()).len(),
            1
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_short_write_on_a_full_disk_is_cut_back_and_a_lost_record_follows_recovery() {
        let disk = FakeDisk::with_free(500);
        let mut w = Writer::new(disk.clone(), "audit.jsonl".into(), u64::MAX, MINUTE);
        w.handle(at(0), issued(0)); // fits
        w.handle(at(1), issued(1)); // goes in short, then ENOSPC: cut back
        w.handle(at(2), issued(2)); // no space at all
        let text = disk.text();
        assert_eq!(records(&text).len(), 1, "only the whole record: {text}");
        assert!(
            disk.0.lock().unwrap().writes >= 3,
            "the short write did happen"
        );

        disk.set_free(100_000);
        w.handle(at(3), issued(3));
        let got = records(&disk.text());
        let events: Vec<_> = got.iter().map(|r| r["event"].as_str().unwrap()).collect();
        assert_eq!(events, ["issued", "lost", "issued"]);
        assert_eq!(got[1]["count"], 2);
        assert_eq!(got[1]["records"], 2);
        assert_eq!(got[1]["dropped"], 0);
        assert_eq!(got[1]["first"], "2026-11-22T10:00:01Z");
        assert_eq!(got[1]["last"], "2026-11-22T10:00:02Z");
        assert_eq!(got[2]["profile"], "profile-00003");
    }

    #[test]
    fn a_fragment_that_cannot_be_cut_off_is_ended_before_the_next_record() {
        let disk = FakeDisk::with_free(500);
        disk.0.lock().unwrap().truncate_fails = true;
        let mut w = Writer::new(disk.clone(), "audit.jsonl".into(), u64::MAX, MINUTE);
        w.handle(at(0), issued(0));
        w.handle(at(1), issued(1)); // a fragment stays
        disk.set_free(100_000);
        w.handle(at(2), issued(2));
        let text = disk.text();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(serde_json::from_str::<serde_json::Value>(lines[1]).is_err());
        for line in [lines[0], lines[2], lines[3]] {
            let r: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(line.matches("\"time\"").count(), 1, "glued: {line}");
            assert!(r["event"] == "issued" || r["event"] == "lost");
        }
        assert!(lines[2].contains("\"lost\""));
    }

    #[test]
    fn a_file_that_ended_mid_line_gets_a_newline_before_the_first_record() {
        let dir = temp_dir("audit-writer");
        let path = dir.join("audit.jsonl");
        std::fs::write(&path, "{\"time\":\"2026-11-22T09:00:00Z\",\"event\":\"iss").unwrap();
        let file = FsLogFile::open(&path, 2).unwrap();
        let mut w = Writer::new(file, path.clone(), u64::MAX, MINUTE);
        w.handle(at(0), issued(0));
        let text = std::fs::read_to_string(&path).unwrap();
        let last = text.lines().last().unwrap();
        assert_eq!(text.lines().count(), 2);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(last).unwrap()["event"],
            "issued"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_outage_is_logged_when_it_starts_and_then_once_per_interval_with_the_count() {
        let disk = FakeDisk::with_free(0);
        let mut w = Writer::new(disk.clone(), "audit.jsonl".into(), u64::MAX, MINUTE);
        let logs = logs_of(|| {
            // 150 s of a new client every 100 ms (each would be a record), all lost.
            for i in 0..1500u16 {
                let t = at(0) + Duration::milliseconds(i64::from(i) * 100);
                w.handle(t, denied(1));
                let other = AuditEvent::Denied {
                    client: SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 1)),
                    caller: std::sync::Arc::new(crate::identity::Caller::unknown("test")),
                    listener: "ecs@0.0.0.0:8170".into(),
                    path: "/".into(),
                    reason: "PeerNotAllowed".into(),
                };
                w.handle(t, other);
                w.tick(t, 0);
            }
            disk.set_free(1_000_000);
            w.tick(at(151), 0);
        });
        let errors: Vec<_> = logs.lines().filter(|l| l.contains("ERROR")).collect();
        assert_eq!(errors.len(), 3, "at 0 s, 60 s and 120 s:\n{logs}");
        // Each lost record counts its events: the flooding client's window closing at 60 s
        // adds its 599 repeats to the 600 other clients and its own first request.
        assert!(errors[0].ends_with("lost=1"), "{}", errors[0]);
        assert!(errors[1].ends_with("lost=1200"), "{}", errors[1]);
        assert!(errors[2].ends_with("lost=2400"), "{}", errors[2]);
        assert!(errors.iter().all(|l| l.contains("No space left on device")));
        let recovered: Vec<_> = logs.lines().filter(|l| l.contains("WARN")).collect();
        assert_eq!(recovered.len(), 1, "{logs}");

        let got = records(&disk.text());
        assert_eq!(got.len(), 1, "only the lost record");
        assert_eq!(got[0]["event"], "lost");
        // 1500 other clients, and the flooding one's first request and two closed windows;
        // its window open since 120 s is still counting, not lost.
        assert_eq!(got[0]["records"], 1500 + 3);
        assert_eq!(got[0]["count"], 1500 + 1200);
    }

    #[test]
    fn queue_drops_become_a_lost_record_at_the_next_tick() {
        let disk = FakeDisk::with_free(100_000);
        let mut w = Writer::new(disk.clone(), "audit.jsonl".into(), u64::MAX, MINUTE);
        w.handle(at(0), denied(1));
        let logs = logs_of(|| w.tick(at(1), 7));
        assert!(logs.contains("the audit queue was full"), "{logs}");
        let got = records(&disk.text());
        assert_eq!(got.len(), 2);
        assert_eq!(got[1]["event"], "lost");
        assert_eq!(
            (got[1]["count"].as_u64(), got[1]["dropped"].as_u64()),
            (Some(7), Some(7))
        );
        assert_eq!(got[1]["records"], 0);
    }

    #[test]
    fn finish_writes_what_was_counted() {
        let disk = FakeDisk::with_free(100_000);
        let mut w = Writer::new(disk.clone(), "audit.jsonl".into(), u64::MAX, MINUTE);
        for port in 1..=10 {
            w.handle(at(1), denied(port));
        }
        w.finish(at(2), 0);
        let got = records(&disk.text());
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0]["count"].as_u64(), got[0]["port"].as_u64()),
            (Some(1), Some(1))
        );
        assert_eq!(got[1]["count"], 9);
        assert!(got[1].get("port").is_none(), "nine ports: none shown");
        assert_eq!(got[1]["time"], "2026-11-22T10:00:02Z");
    }

    /// The files of the log at `path`, oldest first, as `verify` takes them.
    fn files(path: &std::path::Path, keep: u32) -> Vec<(String, Vec<u8>)> {
        let mut all: Vec<_> = (1..=keep).rev().map(|n| numbered(path, n)).collect();
        all.push(path.to_owned());
        all.into_iter()
            .filter_map(|p| Some((p.display().to_string(), std::fs::read(&p).ok()?)))
            .collect()
    }

    #[test]
    fn the_chain_runs_across_rotations_failed_writes_and_lost_records() {
        let dir = temp_dir("audit-writer");
        let path = dir.join("audit.jsonl");
        let file = FsLogFile::open(&path, 20).unwrap();
        let mut w = Writer::new(file, path.clone(), 2000, MINUTE);
        for n in 0..30 {
            w.handle(at(0), issued(n));
        }
        w.finish(at(1), 3); // a `lost` record for queue drops, chained too
        let verdict = crate::audit::verify(&files(&path, 20), None);
        assert!(verdict.ok(), "{verdict:#?}");
        assert_eq!(verdict.records, 31);
        assert_eq!(verdict.first_seq, Some(1));
        assert!(numbered(&path, 5).exists(), "it did rotate");
        // The first record of each file links to the last of the one before.
        let first_live = std::fs::read_to_string(&path).unwrap();
        let last_before = std::fs::read_to_string(numbered(&path, 1)).unwrap();
        let last_before = last_before.lines().last().unwrap();
        let want = crate::hex::encode(&crate::audit::chain::hash(last_before.as_bytes()));
        assert_eq!(records(&first_live)[0]["prev"], want.as_str());
        std::fs::remove_dir_all(dir).unwrap();

        // A failed write, cut back or left as a fragment, does not advance the chain.
        for truncate_fails in [false, true] {
            let disk = FakeDisk::with_free(500);
            disk.0.lock().unwrap().truncate_fails = truncate_fails;
            let mut w = Writer::new(disk.clone(), "audit.jsonl".into(), u64::MAX, MINUTE);
            w.handle(at(0), issued(0));
            w.handle(at(1), issued(1)); // short, then ENOSPC
            disk.set_free(100_000);
            w.handle(at(2), issued(2)); // the `lost` record, then this one
            let text = disk.text();
            let verdict = crate::audit::verify(&[("a".into(), text.clone().into_bytes())], None);
            assert!(verdict.ok(), "{verdict:#?}\n{text}");
            assert_eq!(verdict.records, 3, "{text}");
            let torn = usize::from(truncate_fails);
            assert_eq!(verdict.warnings.len(), torn, "{verdict:#?}");
        }
    }

    #[test]
    fn checkpoints_come_after_the_interval_at_rotation_and_at_close_when_there_is_news() {
        let disk = FakeDisk::with_free(1_000_000);
        let mut w = Writer::new(disk.clone(), "audit.jsonl".into(), u64::MAX, MINUTE)
            .checkpoint_every(std::time::Duration::from_secs(300));
        let logs = logs_of(|| {
            w.tick(at(0), 0);
            w.handle(at(10), issued(0));
            assert_eq!(
                w.next_due(),
                Some(at(310)),
                "due 5 minutes after the record"
            );
            w.handle(at(20), issued(1));
            w.tick(at(309), 0);
            w.tick(at(310), 0); // seq 2
            w.tick(at(900), 0); // nothing new
            w.handle(at(901), issued(2));
            w.finish(at(902), 0); // seq 3
            w.finish(at(903), 0); // nothing new
        });
        let lines = records(&disk.text());
        let checkpoints: Vec<_> = logs
            .lines()
            .filter(|l| l.contains("audit checkpoint"))
            .collect();
        assert_eq!(checkpoints.len(), 2, "{logs}");
        for (line, record) in checkpoints.iter().zip([&lines[1], &lines[2]]) {
            assert!(line.contains(&format!("seq={}", record["seq"])), "{line}");
            assert!(line.contains("credvend::audit"), "{line}");
        }
        let raw = disk.text();
        let third = raw.lines().nth(2).unwrap();
        let hash = crate::hex::encode(&crate::audit::chain::hash(third.as_bytes()));
        assert!(
            checkpoints[1].ends_with(&format!("audit checkpoint seq=3 hash={hash}")),
            "{}",
            checkpoints[1]
        );

        // Rotation: the file moved aside ends with the record the checkpoint names.
        let dir = temp_dir("audit-writer");
        let path = dir.join("audit.jsonl");
        let file = FsLogFile::open(&path, 2).unwrap();
        let mut w = Writer::new(file, path.clone(), 500, MINUTE);
        let logs = logs_of(|| {
            w.handle(at(0), issued(0));
            w.handle(at(1), issued(1)); // rotates first
        });
        let moved = std::fs::read_to_string(numbered(&path, 1)).unwrap();
        let hash = crate::hex::encode(&crate::audit::chain::hash(moved.trim_end().as_bytes()));
        assert!(
            logs.contains(&format!("audit checkpoint seq=1 hash={hash}")),
            "{logs}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_torn_line_stays_and_the_next_record_links_to_the_last_whole_one() {
        let dir = temp_dir("audit-writer");
        let path = dir.join("audit.jsonl");
        let file = FsLogFile::open(&path, 2).unwrap();
        let mut w = Writer::new(file, path.clone(), u64::MAX, MINUTE);
        w.handle(at(0), issued(0));
        drop(w);
        let whole = std::fs::read_to_string(&path).unwrap();
        let (torn, _) = crate::audit::chain::resume(&path, 2)
            .unwrap()
            .stamp("{\"time\":\"x\"}");
        std::fs::write(&path, format!("{whole}{}", &torn[..60])).unwrap();

        let link = crate::audit::chain::resume(&path, 2).unwrap();
        assert_eq!(link.seq, 1);
        let file = FsLogFile::open(&path, 2).unwrap();
        let mut w = Writer::new(file, path.clone(), u64::MAX, MINUTE).resuming(link);
        w.handle(at(1), issued(1));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        let verdict = crate::audit::verify(&files(&path, 2), None);
        assert!(verdict.ok(), "{verdict:#?}");
        assert_eq!(verdict.records, 2);
        assert_eq!(
            verdict.warnings,
            [crate::audit::Warning::Torn(crate::audit::Loc {
                file: 0,
                line: 2
            })]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_record_missing_only_its_newline_is_linked_to_and_ended() {
        let dir = temp_dir("audit-writer");
        let path = dir.join("audit.jsonl");
        let mut w = Writer::new(
            FsLogFile::open(&path, 2).unwrap(),
            path.clone(),
            u64::MAX,
            MINUTE,
        );
        w.handle(at(0), issued(0));
        w.handle(at(0), issued(1));
        drop(w);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.trim_end()).unwrap();
        let link = crate::audit::chain::resume(&path, 2).unwrap();
        assert_eq!(link.seq, 2);
        let file = FsLogFile::open(&path, 2).unwrap();
        let mut w = Writer::new(file, path.clone(), u64::MAX, MINUTE).resuming(link);
        w.handle(at(1), issued(2));
        let verdict = crate::audit::verify(&files(&path, 2), None);
        assert!(verdict.ok() && verdict.warnings.is_empty(), "{verdict:#?}");
        assert_eq!(verdict.records, 3);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
