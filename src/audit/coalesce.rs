//! Coalescing: a flood of identical `served` or `denied` events becomes one record per key and
//! interval, while every distinct key still shows up at once.
//!
//! The first event of a [`Key`] is a record right away (so a single request is in the log
//! before the client has used its credentials) and opens a window of one interval. Later
//! events of the key within the window are only counted; when the window ends they become one
//! record with `count`, `first` and `last`, and the next window starts. A window in which
//! nothing happened ends the key: its next event is again a record at once. A steady flood
//! thus writes one line per key and interval. `issued` events are never coalesced.
//!
//! Windows all have the same length and open in time order, so a queue of their ends is
//! already sorted: finding the due ones costs nothing per event.

use std::collections::{HashMap, VecDeque};

use time::{Duration, OffsetDateTime};

use super::event::AuditEvent;
use super::record::{Key, Record, Requests};

/// Keys tracked at once. Past this, new keys are written one line per event, uncoalesced:
/// memory stays bounded, and rotation still bounds the disk.
pub(super) const MAX_KEYS: usize = 16 * 1024;

/// The longest window: a longer interval means nothing more useful, and times stay far from
/// the end of the calendar (`time` panics on overflow).
const MAX_WINDOW: Duration = Duration::days(1);

/// `interval` as a window length, at most [`MAX_WINDOW`].
pub(super) fn window(interval: std::time::Duration) -> Duration {
    Duration::try_from(interval).map_or(MAX_WINDOW, |d| d.min(MAX_WINDOW))
}

/// Counts repeated events per key and interval.
#[derive(Debug)]
pub(super) struct Coalescer {
    interval: Duration,
    slots: HashMap<Key, Slot>,
    /// (window end, key), oldest first.
    windows: VecDeque<(OffsetDateTime, Key)>,
}

#[derive(Debug)]
struct Slot {
    end: OffsetDateTime,
    /// What this window counted so far, not yet written.
    pending: Option<Requests>,
}

impl Coalescer {
    /// Coalesces over windows of `interval` (positive).
    pub(super) fn new(interval: std::time::Duration) -> Self {
        Self {
            interval: window(interval),
            slots: HashMap::new(),
            windows: VecDeque::new(),
        }
    }

    /// Takes one event at time `at`: the record to write now, if any. Call [`Self::due`]
    /// first, so that windows ended by `at` are closed before it counts.
    pub(super) fn observe(&mut self, at: OffsetDateTime, event: AuditEvent) -> Option<Record> {
        let (key, port, path) = match event {
            AuditEvent::Issued {
                profile,
                role_arn,
                session_name,
                access_key_id,
                expiration,
                request_id,
                source_identity,
            } => {
                return Some(Record::Issued {
                    time: at,
                    profile,
                    role_arn,
                    session_name,
                    access_key_id,
                    expiration,
                    request_id,
                    source_identity,
                });
            }
            AuditEvent::Served {
                client,
                caller,
                listener,
                path,
                profile,
                access_key_id,
            } => {
                let key = Key::Served {
                    client: client.ip().to_canonical(),
                    caller,
                    listener,
                    profile,
                    access_key_id,
                };
                (key, client.port(), path)
            }
            AuditEvent::Denied {
                client,
                caller,
                listener,
                path,
                reason,
            } => {
                let key = Key::Denied {
                    client: client.ip().to_canonical(),
                    caller,
                    listener,
                    reason,
                };
                (key, client.port(), path)
            }
        };
        if let Some(slot) = self.slots.get_mut(&key) {
            match &mut slot.pending {
                Some(p) => {
                    p.count += 1;
                    p.first = p.first.min(at);
                    p.last = p.last.max(at);
                    if p.port != Some(port) {
                        p.port = None;
                    }
                }
                None => {
                    slot.pending = Some(Requests {
                        key,
                        port: Some(port),
                        path,
                        count: 1,
                        first: at,
                        last: at,
                    });
                }
            }
            return None;
        }
        let requests = Requests {
            key: key.clone(),
            port: Some(port),
            path,
            count: 1,
            first: at,
            last: at,
        };
        if self.slots.len() < MAX_KEYS {
            let end = at + self.interval;
            self.windows.push_back((end, key.clone()));
            self.slots.insert(key, Slot { end, pending: None });
        }
        Some(Record::Requests { time: at, requests })
    }

    /// Closes every window that has ended by `now`: the records of what they counted.
    pub(super) fn due(&mut self, now: OffsetDateTime) -> Vec<Record> {
        let mut records = Vec::new();
        while let Some(&(end, _)) = self.windows.front() {
            // A window far in the future means the wall clock went back: close it now rather
            // than hold its count for as long as the clock jumped.
            let ended = end <= now || end - now > self.interval + self.interval;
            if !ended {
                break;
            }
            let Some((end, key)) = self.windows.pop_front() else {
                break;
            };
            let Some(slot) = self.slots.get_mut(&key) else {
                continue;
            };
            if slot.end != end {
                continue;
            }
            match slot.pending.take() {
                Some(requests) => {
                    records.push(Record::Requests {
                        time: now,
                        requests,
                    });
                    // Still busy: the next window follows on. A writer that woke late (a
                    // suspended machine) or a clock that went back starts it from now.
                    let mut next = end + self.interval;
                    if next <= now || next - now > self.interval {
                        next = now + self.interval;
                    }
                    slot.end = next;
                    self.windows.push_back((next, key));
                }
                None => {
                    self.slots.remove(&key);
                }
            }
        }
        records
    }

    /// When the oldest open window ends.
    pub(super) fn next_due(&self) -> Option<OffsetDateTime> {
        self.windows.front().map(|(end, _)| *end)
    }

    /// Closes every window (shutdown): the records of everything counted and not written.
    pub(super) fn drain(&mut self, now: OffsetDateTime) -> Vec<Record> {
        self.windows.clear();
        let mut pending: Vec<Requests> = self
            .slots
            .drain()
            .filter_map(|(_, slot)| slot.pending)
            .collect();
        pending.sort_by_key(|r| r.first);
        pending
            .into_iter()
            .map(|requests| Record::Requests {
                time: now,
                requests,
            })
            .collect()
    }

    /// Keys with an open window.
    #[cfg(test)]
    pub(super) fn keys(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-22 10:00 UTC);
    const MINUTE: std::time::Duration = std::time::Duration::from_secs(60);

    fn at(seconds: f64) -> OffsetDateTime {
        T0 + Duration::seconds_f64(seconds)
    }

    fn served(client: &str) -> AuditEvent {
        AuditEvent::Served {
            client: client.parse::<SocketAddr>().unwrap(),
            caller: std::sync::Arc::new(crate::identity::Caller::unknown("test")),
            listener: "imds@127.0.0.1:8169".into(),
            path: "/latest/meta-data/iam/security-credentials/dev".into(),
            profile: "dev".into(),
            access_key_id: "ASIAEXAMPLE".into(),
        }
    }

    fn denied(client: &str, reason: &str) -> AuditEvent {
        AuditEvent::Denied {
            client: client.parse::<SocketAddr>().unwrap(),
            caller: std::sync::Arc::new(crate::identity::Caller::unknown("test")),
            listener: "ecs@127.0.0.1:8170".into(),
            path: "/role/dev".into(),
            reason: reason.into(),
        }
    }

    fn requests(record: &Record) -> &Requests {
        match record {
            Record::Requests { requests, .. } => requests,
            other => panic!("not a served/denied record: {other:?}"),
        }
    }

    /// Feeds `event` at `t` the way the writer does: due windows first.
    fn feed(c: &mut Coalescer, t: OffsetDateTime, event: AuditEvent) -> Vec<Record> {
        let mut out = c.due(t);
        out.extend(c.observe(t, event));
        out
    }

    #[test]
    fn the_first_event_is_a_record_at_once_and_repeats_are_counted_until_the_window_ends() {
        let mut c = Coalescer::new(MINUTE);
        let first = feed(&mut c, at(0.0), served("127.0.0.1:5000"));
        assert_eq!(first.len(), 1);
        let r = requests(&first[0]);
        assert_eq!(
            (r.count, r.first, r.last, r.port),
            (1, at(0.0), at(0.0), Some(5000))
        );

        for i in 1..=99 {
            assert!(feed(&mut c, at(f64::from(i) * 0.5), served("127.0.0.1:5000")).is_empty());
        }
        assert_eq!(c.next_due(), Some(at(60.0)));
        assert!(c.due(at(59.9)).is_empty(), "the window is still open");
        let summary = c.due(at(60.0));
        assert_eq!(summary.len(), 1);
        let r = requests(&summary[0]);
        assert_eq!((r.count, r.first, r.last), (99, at(0.5), at(49.5)));
        assert!(matches!(summary[0], Record::Requests { time, .. } if time == at(60.0)));
    }

    #[test]
    fn a_steady_flood_is_one_record_per_interval_and_a_quiet_window_forgets_the_key() {
        let mut c = Coalescer::new(MINUTE);
        let mut lines = Vec::new();
        // 10 requests a second for 5 minutes, from a new port each time.
        for i in 0..3000u32 {
            let port = 10_000 + u16::try_from(i % 20_000).unwrap();
            lines.extend(feed(
                &mut c,
                at(f64::from(i) / 10.0),
                served(&format!("127.0.0.1:{port}")),
            ));
        }
        lines.extend(c.due(at(300.0)));
        // One at once, then one per minute.
        assert_eq!(lines.len(), 6, "{lines:#?}");
        let counted: u64 = lines.iter().map(|r| requests(r).count).sum();
        assert_eq!(counted, 3000);
        assert!(
            lines[1..].iter().all(|r| requests(r).port.is_none()),
            "ports differ"
        );
        // The last window (300..360) saw nothing: the key is forgotten, the next is at once.
        assert!(c.due(at(360.0)).is_empty());
        assert_eq!(c.keys(), 0);
        assert_eq!(feed(&mut c, at(400.0), served("127.0.0.1:5000")).len(), 1);
    }

    #[test]
    fn served_keys_are_client_ip_listener_profile_and_key_id_and_denied_ones_add_the_reason() {
        let mut c = Coalescer::new(MINUTE);
        let mut at_once = 0;
        let mut t = 0.0;
        let mut send = |c: &mut Coalescer, e: AuditEvent| {
            t += 1.0;
            at_once += feed(c, at(t), e).len();
        };
        send(&mut c, served("127.0.0.1:1"));
        send(&mut c, served("127.0.0.1:2")); // another port: same key
        send(&mut c, served("[::ffff:127.0.0.1]:3")); // the same client as v4-mapped v6
        send(&mut c, served("127.0.0.2:1")); // another client
        let mut other_key = served("127.0.0.1:1");
        if let AuditEvent::Served { access_key_id, .. } = &mut other_key {
            *access_key_id = "ASIAOTHER".into();
        }
        send(&mut c, other_key); // a renewed session
        send(&mut c, denied("127.0.0.1:1", "InvalidAuthorization"));
        send(&mut c, denied("127.0.0.1:9", "InvalidAuthorization"));
        send(&mut c, denied("127.0.0.1:1", "BadHost"));
        assert_eq!(at_once, 5);
        let later = c.drain(at(100.0));
        let counts: Vec<_> = later.iter().map(|r| requests(r).count).collect();
        assert_eq!(counts, [2, 1], "{later:#?}");
    }

    #[test]
    fn issued_events_are_never_coalesced() {
        let mut c = Coalescer::new(MINUTE);
        let issued = AuditEvent::Issued {
            profile: "dev".into(),
            role_arn: None,
            session_name: None,
            access_key_id: "ASIAEXAMPLE".into(),
            expiration: at(3600.0),
            request_id: Some("req-1".into()),
            source_identity: None,
        };
        for i in 0..3 {
            let out = feed(&mut c, at(f64::from(i)), issued.clone());
            assert!(matches!(out[..], [Record::Issued { .. }]));
        }
        assert_eq!(c.keys(), 0);
    }

    #[test]
    fn drain_writes_what_was_counted_oldest_first() {
        let mut c = Coalescer::new(MINUTE);
        for (t, client) in [(0.0, "10.0.0.2:1"), (1.0, "10.0.0.1:1")] {
            feed(&mut c, at(t), served(client));
        }
        for (t, client) in [
            (2.0, "10.0.0.1:1"),
            (3.0, "10.0.0.2:1"),
            (4.0, "10.0.0.2:1"),
        ] {
            feed(&mut c, at(t), served(client));
        }
        let out = c.drain(at(5.0));
        let got: Vec<_> = out
            .iter()
            .map(|r| (requests(r).count, requests(r).first))
            .collect();
        assert_eq!(got, [(1, at(2.0)), (2, at(3.0))]);
        assert_eq!((c.keys(), c.next_due()), (0, None));
    }

    #[test]
    fn a_clock_that_jumps_back_closes_the_window_instead_of_holding_it() {
        let mut c = Coalescer::new(MINUTE);
        feed(&mut c, at(3600.0), served("127.0.0.1:1"));
        feed(&mut c, at(3601.0), served("127.0.0.1:1"));
        // An hour back: the window would otherwise end an hour from now.
        let out = c.due(at(0.0));
        assert_eq!(out.len(), 1);
        assert_eq!(c.next_due(), Some(at(60.0)));
    }

    #[test]
    fn an_absurd_interval_is_a_day() {
        let mut c = Coalescer::new(std::time::Duration::from_secs(u64::MAX));
        feed(&mut c, at(0.0), served("127.0.0.1:1"));
        assert_eq!(c.next_due(), Some(at(86_400.0)));
    }

    #[test]
    fn past_the_key_limit_events_are_written_one_by_one() {
        let mut c = Coalescer::new(MINUTE);
        for i in 0..MAX_KEYS {
            let ip = std::net::Ipv6Addr::from(u128::try_from(i).unwrap() + 1);
            let out = c.observe(at(0.0), served(&SocketAddr::from((ip, 1)).to_string()));
            assert!(out.is_some());
        }
        assert_eq!(c.keys(), MAX_KEYS);
        for _ in 0..3 {
            assert!(c.observe(at(1.0), served("10.9.9.9:1")).is_some());
        }
        assert_eq!(c.keys(), MAX_KEYS, "memory stays bounded");
    }
}
