//! [`CountingAudit`]: an audit sink in front of the real one that counts, per profile, the
//! reads served and the distinct callers that made them (processes, containers, or other
//! addresses), for `credvend status`.
//!
//! Every `served` event passes through the sink, so counting there sees every read without a
//! hook in the servers. Memory is bounded: each profile remembers at most
//! [`MAX_DISTINCT_CALLERS`] callers and then reports "at least that many".

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::audit::{AuditEvent, AuditSink};
use crate::identity::Caller;

/// Distinct callers remembered per profile; beyond it the count is shown as `10000+`.
pub const MAX_DISTINCT_CALLERS: usize = 10_000;

/// One caller, as `status` counts them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CallerKey {
    /// A local process, by uid and pid (the uid alone when its pid is hidden).
    Process {
        /// Its uid.
        uid: u32,
        /// Its pid.
        pid: Option<u32>,
    },
    /// A container the engine named, by id.
    Container(String),
    /// Anything else, by its address.
    Address(IpAddr),
}

/// Who counts as one caller: the identity found for the connection, else its address.
#[must_use]
pub fn caller_key(client: &SocketAddr, caller: &Caller) -> CallerKey {
    match caller {
        Caller::Process(p) => CallerKey::Process {
            uid: p.uid,
            pid: p.pid,
        },
        Caller::Container(c) => CallerKey::Container(c.id.clone()),
        Caller::Remote(_) | Caller::Unknown(_) | Caller::Unidentified => {
            CallerKey::Address(client.ip().to_canonical())
        }
    }
}

/// Reads of one profile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reads {
    /// Credential responses served.
    pub served: u64,
    /// Distinct callers, at most [`MAX_DISTINCT_CALLERS`].
    pub distinct_callers: u64,
    /// True when more callers came than are remembered (`distinct_callers` is a floor).
    pub callers_capped: bool,
}

#[derive(Debug, Default)]
struct Tally {
    served: AtomicU64,
    callers: RwLock<HashSet<CallerKey>>,
    capped: AtomicBool,
}

/// The counts, shared by the sink and the control socket.
///
/// A read of a known profile by a known caller takes two read locks and one atomic add:
/// readers never wait for each other, and a write lock is taken only for a new profile or a
/// new caller.
#[derive(Debug, Default)]
pub struct ServedCounts {
    profiles: RwLock<HashMap<String, Arc<Tally>>>,
}

impl ServedCounts {
    fn observe(&self, profile: &str, key: CallerKey) {
        let known = read(&self.profiles).get(profile).cloned();
        let tally = known.unwrap_or_else(|| {
            let mut profiles = self.profiles.write().unwrap_or_else(|e| e.into_inner());
            profiles.entry(profile.to_owned()).or_default().clone()
        });
        tally.served.fetch_add(1, Ordering::Relaxed);
        if read(&tally.callers).contains(&key) {
            return;
        }
        let mut callers = tally.callers.write().unwrap_or_else(|e| e.into_inner());
        if callers.len() < MAX_DISTINCT_CALLERS {
            callers.insert(key);
        } else if !callers.contains(&key) {
            tally.capped.store(true, Ordering::Relaxed);
        }
    }

    /// Every profile read so far, by name.
    #[must_use]
    pub fn snapshot(&self) -> BTreeMap<String, Reads> {
        read(&self.profiles)
            .iter()
            .map(|(name, t)| {
                let reads = Reads {
                    served: t.served.load(Ordering::Relaxed),
                    distinct_callers: read(&t.callers).len() as u64,
                    callers_capped: t.capped.load(Ordering::Relaxed),
                };
                (name.clone(), reads)
            })
            .collect()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

/// Counts `served` events into [`ServedCounts`], then hands every event to `inner`.
#[derive(Debug)]
pub struct CountingAudit {
    inner: Arc<dyn AuditSink>,
    counts: Arc<ServedCounts>,
}

impl CountingAudit {
    /// In front of `inner`, counting into `counts`.
    #[must_use]
    pub fn new(inner: Arc<dyn AuditSink>, counts: Arc<ServedCounts>) -> Self {
        Self { inner, counts }
    }
}

impl AuditSink for CountingAudit {
    fn record(&self, event: AuditEvent) {
        if let AuditEvent::Served {
            client,
            caller,
            profile,
            ..
        } = &event
        {
            self.counts.observe(profile, caller_key(client, caller));
        }
        self.inner.record(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::RecordingAudit;

    fn served(profile: &str, ip: [u8; 4], port: u16) -> AuditEvent {
        AuditEvent::Served {
            client: SocketAddr::from((ip, port)),
            caller: Arc::new(Caller::Remote(None)),
            listener: "imds@127.0.0.1:8169".into(),
            path: "/latest/meta-data/iam/security-credentials/app".into(),
            profile: profile.into(),
            access_key_id: "ASIAEXAMPLE".into(),
        }
    }

    #[test]
    fn served_reads_and_distinct_callers_are_counted_per_profile_and_passed_on() {
        let inner = Arc::new(RecordingAudit::default());
        let counts = Arc::new(ServedCounts::default());
        let sink = CountingAudit::new(inner.clone(), counts.clone());
        sink.record(served("app", [127, 0, 0, 1], 4000));
        sink.record(served("app", [127, 0, 0, 1], 4001));
        sink.record(served("app", [172, 17, 0, 2], 4000));
        sink.record(served("other", [127, 0, 0, 1], 4000));
        sink.record(AuditEvent::Denied {
            client: SocketAddr::from(([10, 0, 0, 1], 1)),
            caller: Arc::new(Caller::Remote(None)),
            listener: "ecs@127.0.0.1:8170".into(),
            path: "/role/app".into(),
            reason: "BadToken".into(),
        });
        let snap = counts.snapshot();
        assert_eq!(
            snap["app"],
            Reads {
                served: 3,
                distinct_callers: 2,
                callers_capped: false
            }
        );
        assert_eq!(snap["other"].served, 1);
        assert_eq!(snap.len(), 2, "a denied read counts nowhere");
        assert_eq!(inner.take().len(), 5, "every event goes on to the log");
    }

    #[test]
    fn local_processes_count_by_uid_and_pid_and_containers_by_id() {
        use crate::identity::{Container, Place, Process};
        let addr = SocketAddr::from(([127, 0, 0, 1], 1));
        let process = |uid, pid| {
            Caller::Process(Process {
                uid,
                user: None,
                pid,
                no_pid: None,
                place: Place::default(),
            })
        };
        assert_eq!(
            caller_key(&addr, &process(1000, Some(7))),
            CallerKey::Process {
                uid: 1000,
                pid: Some(7)
            }
        );
        assert_ne!(
            caller_key(&addr, &process(1000, Some(7))),
            caller_key(&addr, &process(1000, Some(8)))
        );
        let web = Caller::Container(Arc::new(Container {
            id: "0123".into(),
            name: "web".into(),
            image: "img".into(),
            profile: None,
        }));
        assert_eq!(caller_key(&addr, &web), CallerKey::Container("0123".into()));
        assert_eq!(
            caller_key(&addr, &Caller::Remote(None)),
            CallerKey::Address(addr.ip())
        );
    }

    #[test]
    fn distinct_callers_stop_growing_at_the_cap_and_say_so() {
        let counts = ServedCounts::default();
        for i in 0..=MAX_DISTINCT_CALLERS as u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            counts.observe("app", CallerKey::Address(ip));
        }
        let reads = &counts.snapshot()["app"];
        assert_eq!(reads.distinct_callers, MAX_DISTINCT_CALLERS as u64);
        assert!(reads.callers_capped);
        assert_eq!(reads.served, MAX_DISTINCT_CALLERS as u64 + 1);
    }
}
