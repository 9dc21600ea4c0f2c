//! One profile's cache slot: what is served, the intermediate hops kept for renewal, the
//! single fetch in flight, and the failure record operators see.
//!
//! All decisions take `now` from the injected clock; the state sits behind a plain mutex that
//! is never held across an await. Fetch completions are announced on a watch channel carrying
//! the number of the last finished attempt, so every waiter of one attempt sees its outcome.
//!
//! Two kinds of trouble are recorded like an STS failure, keeping the last good credentials
//! until they expire: new credentials that are expired or too short-lived to schedule (see
//! [`policy::renewal_of_new`]), and a profile that no longer resolves after a reload (nothing
//! is minted from the chain the files no longer say; the daemon re-reads them now and then).

use std::sync::{Arc, Mutex, MutexGuard};

use time::OffsetDateTime;
use tokio::sync::watch;

use super::policy;
use super::served::{CacheError, Served};
use super::status::{ErrorInfo, ProfileStatus};
use crate::config::CacheSettings;
use crate::mint::{MintedStep, Resume, StepKind};
use crate::profile::ProfileChain;
use crate::secret::Credentials;

/// A fetch to run: its number and where in the chain to start.
#[derive(Debug)]
pub(super) struct Plan {
    pub(super) attempt: u64,
    pub(super) resume: Option<Resume>,
}

/// What a read should do.
#[derive(Debug)]
pub(super) struct ReadDecision {
    /// Answer now (credentials or error), unless `wait` is set.
    pub(super) answer: Result<Arc<Served>, CacheError>,
    /// Wait for this attempt to finish, then ask [`Entry::answer`].
    pub(super) wait: Option<(u64, watch::Receiver<u64>)>,
    /// A fetch the reader must spawn.
    pub(super) start: Option<Plan>,
}

/// What the refresher should do with an entry.
#[derive(Debug)]
pub(super) enum Due {
    /// Spawn this fetch now.
    Start(Plan),
    /// Look again at this time.
    At(OffsetDateTime),
    /// Nothing to schedule (fetch in flight, or the profile did not resolve).
    Idle,
}

/// A failed fetch: what operators see, and how soon to try again.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) info: ErrorInfo,
    /// Whether a quick retry may help (throttling, 5xx, timeouts): the short backoff; else
    /// the slow retry of permanent errors.
    pub(super) retryable: bool,
    /// What makes two failures "the same" for the log, when neither the STS code nor the
    /// message does (a message naming a changing expiry).
    pub(super) fingerprint: Option<String>,
}

impl Failure {
    /// A failure worth a quick retry, described by `message` alone.
    pub(super) fn transient(at: OffsetDateTime, message: String) -> Self {
        Self {
            info: info(at, message),
            retryable: true,
            fingerprint: None,
        }
    }

    /// A failure that retrying soon will not cure, described by `message` alone.
    pub(super) fn permanent(at: OffsetDateTime, message: String) -> Self {
        Self {
            info: info(at, message),
            retryable: false,
            fingerprint: None,
        }
    }

    /// New credentials of `step`, expiring at `expiration`, that cannot be scheduled: a retryable
    /// failure, the same for the log however the expiry moves.
    fn unusable(
        profile: &str,
        step: &MintedStep,
        expiration: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Self {
        let source = match (&step.kind, &step.role_arn) {
            (StepKind::AssumeRole, Some(role)) => format!("AssumeRole {role}"),
            (StepKind::GetSessionToken, _) => "GetSessionToken".to_owned(),
            _ => format!("the session keys of profile {:?}", step.profile),
        };
        let expires = crate::clock::format_timestamp(expiration);
        let (fingerprint, what) = if expiration <= now {
            (
                "already expired",
                format!("that had already expired at {expires}"),
            )
        } else {
            let left = (expiration - now).whole_seconds();
            (
                "expire too soon",
                format!("that expire at {expires}, in {left}s, too soon to renew"),
            )
        };
        let message = format!(
            "profile {profile:?}: {source} returned credentials {what}; not served (check the \
             local clock and the session length)"
        );
        Self {
            info: info(now, message),
            retryable: true,
            fingerprint: Some(fingerprint.to_owned()),
        }
    }
}

/// How a fetch ended, as the entry records it.
#[derive(Debug)]
pub(super) struct Outcome {
    pub(super) steps: Vec<MintedStep>,
    /// `None` when the chain was minted to the end.
    pub(super) error: Option<Failure>,
}

/// What changed, for the log.
#[derive(Debug)]
pub(super) enum Report {
    /// New credentials are served; `recovered_after` failures preceded them.
    Renewed {
        served: Arc<Served>,
        next: OffsetDateTime,
        recovered_after: u32,
    },
    /// The attempt failed; `changed` is true when the error differs from the last logged one.
    Failed {
        error: ErrorInfo,
        changed: bool,
        failures: u32,
        retry_at: OffsetDateTime,
        serving_until: Option<OffsetDateTime>,
    },
}

/// Intermediate hop credentials kept for the next renewal.
#[derive(Debug)]
struct CachedHop {
    credentials: Credentials,
    refresh_at: OffsetDateTime,
}

#[derive(Debug, Default)]
struct State {
    served: Option<Arc<Served>>,
    served_refresh_at: Option<OffsetDateTime>,
    /// Indexed by hop; only hops before the last are kept.
    intermediates: Vec<Option<CachedHop>>,
    started: u64,
    inflight: bool,
    failures: u32,
    last_error: Option<ErrorInfo>,
    logged_error: Option<String>,
    expiry_logged: bool,
    next_at: Option<OffsetDateTime>,
    /// Why the files no longer resolve the profile, while its cached credentials still serve.
    unresolved: Option<String>,
}

/// One profile's slot.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) name: String,
    pub(super) chain: Result<Arc<ProfileChain>, String>,
    state: Mutex<State>,
    done: watch::Sender<u64>,
}

impl Entry {
    pub(super) fn new(name: String, chain: Result<ProfileChain, String>) -> Self {
        Self {
            name,
            chain: chain.map(Arc::new),
            state: Mutex::new(State::default()),
            done: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A read: serve at once when possible; start a due fetch; wait only when never served.
    pub(super) fn read(&self, now: OffsetDateTime) -> ReadDecision {
        let mut st = self.lock();
        if let Some(served) = valid(&st, now) {
            return ReadDecision {
                answer: Ok(served),
                wait: None,
                start: None,
            };
        }
        let start = self.begin_if_due(&mut st, now);
        let wait =
            (st.inflight && st.served.is_none()).then(|| (st.started, self.done.subscribe()));
        ReadDecision {
            answer: Err(self.no_valid(&st)),
            wait,
            start,
        }
    }

    /// The answer after waiting for a fetch.
    pub(super) fn answer(&self, now: OffsetDateTime) -> Result<Arc<Served>, CacheError> {
        let st = self.lock();
        valid(&st, now).ok_or_else(|| self.no_valid(&st))
    }

    /// For the refresher: start a fetch if one is due, else say when to look again.
    pub(super) fn poll(&self, now: OffsetDateTime) -> Due {
        let mut st = self.lock();
        if self.chain.is_err() || st.unresolved.is_some() || st.inflight {
            return Due::Idle;
        }
        match self.begin_if_due(&mut st, now) {
            Some(plan) => Due::Start(plan),
            None => st.next_at.map_or(Due::Idle, Due::At),
        }
    }

    /// True once, when what was served has expired and nothing replaced it.
    pub(super) fn newly_expired(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        let mut st = self.lock();
        let exp = st.served.as_ref()?.expiration()?;
        if exp > now || st.expiry_logged {
            return None;
        }
        st.expiry_logged = true;
        Some(exp)
    }

    fn begin_if_due(&self, st: &mut State, now: OffsetDateTime) -> Option<Plan> {
        let due = self.chain.is_ok()
            && st.unresolved.is_none()
            && !st.inflight
            && st.next_at.is_none_or(|t| t <= now);
        due.then(|| self.begin(st, Some(now)))
    }

    fn begin(&self, st: &mut State, now: Option<OffsetDateTime>) -> Plan {
        st.inflight = true;
        st.started += 1;
        Plan {
            attempt: st.started,
            resume: now.and_then(|now| resume_point(st, now)),
        }
    }

    /// Records how attempt `plan` ended. `unit` draws the jitter; `now` is the finish time.
    pub(super) fn finish(
        &self,
        plan: &Plan,
        outcome: Outcome,
        settings: &CacheSettings,
        now: OffsetDateTime,
        unit: f64,
    ) -> Report {
        let hops = self.chain.as_ref().map_or(0, |c| c.hops.len());
        let first = plan.resume.as_ref().map_or(0, |r| r.next_hop);
        let mut st = self.lock();
        st.inflight = false;
        if st.intermediates.len() < hops {
            st.intermediates.resize_with(hops, || None);
        }
        let mut final_step = None;
        let mut unusable = None;
        for (offset, step) in outcome.steps.into_iter().enumerate() {
            let index = first + offset;
            let is_last = hops == 0 || index + 1 == hops;
            // Scheduling credentials that are expired or nearly would renew them at once, and
            // again: refuse them (and what was minted from them) as a failure instead.
            let refresh_at = match step.credentials.expiration {
                Some(exp) => match policy::renewal_of_new(settings, now, exp, unit) {
                    Some(at) => Some(at),
                    None => {
                        unusable = Some(Failure::unusable(&self.name, &step, exp, now));
                        break;
                    }
                },
                None => None,
            };
            if is_last {
                final_step = Some((step, refresh_at));
            } else if let Some(refresh_at) = refresh_at {
                st.intermediates[index] = Some(CachedHop {
                    refresh_at,
                    credentials: step.credentials,
                });
            }
        }
        let error = match (unusable.or(outcome.error), final_step) {
            (Some(error), _) => Err(error),
            (None, Some((step, refresh_at))) => self.install(&mut st, step, refresh_at, now),
            (None, None) => Err(Failure::transient(
                now,
                "minting returned no credentials".into(),
            )),
        };
        let report = match error {
            Ok(served) => {
                let recovered_after = std::mem::take(&mut st.failures);
                st.logged_error = None;
                st.expiry_logged = false;
                let next = earliest_refresh(&st).unwrap_or(now);
                st.next_at = Some(next);
                Report::Renewed {
                    served,
                    next,
                    recovered_after,
                }
            }
            Err(Failure {
                info: error,
                retryable,
                fingerprint,
            }) => {
                st.failures += 1;
                let retry_at = now + policy::retry_delay(settings, st.failures, retryable, unit);
                st.next_at = Some(retry_at);
                let fingerprint = fingerprint
                    .or_else(|| error.code.clone())
                    .unwrap_or_else(|| error.message.clone());
                let changed = record_error(&mut st, fingerprint, &error);
                Report::Failed {
                    error,
                    changed,
                    failures: st.failures,
                    retry_at,
                    serving_until: valid(&st, now).and_then(|s| s.expiration()),
                }
            }
        };
        self.done.send_replace(plan.attempt);
        report
    }

    /// Serves the chain's last step; `refresh_at` is its renewal (`None`: it has no expiry).
    fn install(
        &self,
        st: &mut State,
        step: MintedStep,
        refresh_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<Arc<Served>, Failure> {
        let Some(refresh_at) = refresh_at else {
            let message = format!(
                "profile {:?} has session keys with no known expiry; credvend serves only \
                 credentials that expire: drop aws_session_token (credvend then calls \
                 GetSessionToken) or assume a role",
                self.name
            );
            return Err(Failure::permanent(now, message));
        };
        let served = Arc::new(Served {
            profile: self.name.clone(),
            account_id: step
                .assumed_role_arn
                .as_deref()
                .and_then(crate::sts::account_of_arn)
                .map(str::to_owned),
            role_arn: step.role_arn,
            credentials: step.credentials,
            issued_at: now,
        });
        st.served = Some(served.clone());
        st.served_refresh_at = Some(refresh_at);
        Ok(served)
    }

    /// A renewal asked for now (`credvend refresh`): joins the fetch in flight, else starts
    /// one whatever the schedule says. Gives the attempt to wait for and, when this call began
    /// it, its plan to spawn; `Err` with the reason when the profile does not resolve.
    pub(super) fn force(
        &self,
        now: OffsetDateTime,
    ) -> Result<(u64, watch::Receiver<u64>, Option<Plan>), String> {
        let mut st = self.lock();
        if let Some(reason) = self.chain.as_ref().err().or(st.unresolved.as_ref()) {
            return Err(reason.clone());
        }
        let plan = (!st.inflight).then(|| self.begin(&mut st, Some(now)));
        Ok((st.started, self.done.subscribe(), plan))
    }

    /// After a forced attempt finished: what it installed, or the failure that ended it.
    pub(super) fn forced_outcome(&self, now: OffsetDateTime) -> Result<Arc<Served>, ErrorInfo> {
        let st = self.lock();
        match valid(&st, now) {
            Some(served) if st.failures == 0 => Ok(served),
            _ => Err(st
                .last_error
                .clone()
                .unwrap_or_else(|| info(now, "the renewal gave no credentials".into()))),
        }
    }

    /// Whether the entry has credentials that serve at `now`.
    pub(super) fn serves(&self, now: OffsetDateTime) -> bool {
        valid(&self.lock(), now).is_some()
    }

    /// The files no longer resolve the profile (`error` says why): keep serving what was
    /// minted until it expires, mint nothing more, and count it as a failure. Returns whether
    /// the error is new (to be logged) and until when credentials serve.
    pub(super) fn mark_unresolved(
        &self,
        error: String,
        now: OffsetDateTime,
    ) -> (bool, Option<OffsetDateTime>) {
        let mut st = self.lock();
        st.failures += 1;
        let changed = record_error(&mut st, error.clone(), &info(now, error.clone()));
        st.unresolved = Some(error);
        (changed, valid(&st, now).and_then(|s| s.expiration()))
    }

    /// The files resolve the profile to its chain again; true if they had not. Renewal goes on
    /// as scheduled (at once if it came due meanwhile).
    pub(super) fn mark_resolved(&self) -> bool {
        let mut st = self.lock();
        if st.unresolved.take().is_none() {
            return false;
        }
        st.failures = 0;
        st.logged_error = None;
        true
    }

    fn no_valid(&self, st: &State) -> CacheError {
        let last_error = match (&st.last_error, &st.served) {
            (_, Some(s)) if st.failures == 0 => match s.expiration() {
                Some(exp) => format!(
                    "credentials expired at {}, renewal pending",
                    crate::clock::format_timestamp(exp)
                ),
                None => "credentials have no expiry".into(),
            },
            (Some(e), _) => e.message.clone(),
            (None, _) => match &self.chain {
                Err(e) => e.clone(),
                Ok(_) => "not fetched yet".into(),
            },
        };
        CacheError::NoValidCredentials {
            profile: self.name.clone(),
            last_error,
        }
    }

    pub(super) fn status(&self, now: OffsetDateTime) -> ProfileStatus {
        let st = self.lock();
        let served = st.served.as_ref();
        ProfileStatus {
            profile: self.name.clone(),
            resolve_error: self
                .chain
                .as_ref()
                .err()
                .or(st.unresolved.as_ref())
                .cloned(),
            source: self
                .chain
                .as_ref()
                .ok()
                .map(|c| crate::profile::Resolution::from_chain(c).to_string()),
            role_arn: served.and_then(|s| s.role_arn.clone()).or_else(|| {
                let chain = self.chain.as_ref().ok()?;
                chain.hops.last().map(|h| h.role_arn.clone())
            }),
            access_key_id: served.map(|s| crate::secret::mask_key_id(&s.credentials.access_key_id)),
            expiration: served.and_then(|s| s.expiration()),
            serving: valid(&st, now).is_some(),
            last_refresh: served.map(|s| s.issued_at),
            next_refresh: st.next_at,
            refreshing: st.inflight,
            consecutive_failures: st.failures,
            last_error: st.last_error.clone(),
        }
    }
}

/// Builds an [`ErrorInfo`] with no STS details.
fn info(at: OffsetDateTime, message: String) -> ErrorInfo {
    ErrorInfo {
        code: None,
        message,
        request_id: None,
        at,
    }
}

/// Records a failure as the last error; true when its `fingerprint` differs from the last
/// one logged (so it is logged once per change).
fn record_error(st: &mut State, fingerprint: String, error: &ErrorInfo) -> bool {
    let changed = st.logged_error.as_ref() != Some(&fingerprint);
    st.logged_error = Some(fingerprint);
    st.last_error = Some(error.clone());
    changed
}

/// The served credentials, if they have not expired.
fn valid(st: &State, now: OffsetDateTime) -> Option<Arc<Served>> {
    st.served
        .as_ref()
        .filter(|s| s.expiration().is_some_and(|exp| exp > now))
        .cloned()
}

/// The earliest renewal of the served credentials and the kept hops.
fn earliest_refresh(st: &State) -> Option<OffsetDateTime> {
    st.intermediates
        .iter()
        .flatten()
        .map(|h| h.refresh_at)
        .chain(st.served_refresh_at)
        .min()
}

/// Where a renewal starts: after the longest prefix of kept hops that are not yet due; hops
/// are renewed in order, each from the one before.
fn resume_point(st: &State, now: OffsetDateTime) -> Option<Resume> {
    let mut resume = None;
    for (index, hop) in st.intermediates.iter().enumerate() {
        match hop {
            Some(h) if h.refresh_at > now => {
                resume = Some(Resume {
                    next_hop: index + 1,
                    credentials: h.credentials.clone(),
                });
            }
            _ => break,
        }
    }
    resume
}

#[cfg(test)]
mod tests {
    use time::Duration;
    use time::macros::datetime;

    use super::*;
    use crate::secret::Secret;
    use crate::test_util::{cache_settings, chain, hop};

    const T0: OffsetDateTime = datetime!(2026-03-01 08:00 UTC);

    fn step(role: &str, key: &str, expires: OffsetDateTime) -> MintedStep {
        MintedStep {
            kind: StepKind::AssumeRole,
            profile: role.into(),
            role_arn: Some(format!("arn:aws:iam::1:role/{role}")),
            session_name: Some("s".into()),
            assumed_role_arn: Some(format!("arn:aws:sts::1:assumed-role/{role}/s")),
            credentials: Credentials {
                access_key_id: key.into(),
                secret_access_key: Secret::new("x"),
                session_token: Some(Secret::new("y")),
                expiration: Some(expires),
            },
            request_id: None,
            source_identity: None,
        }
    }

    fn failure(code: &str, retryable: bool) -> Option<Failure> {
        Some(Failure {
            info: ErrorInfo {
                code: Some(code.into()),
                message: format!("STS error {code}"),
                request_id: Some(format!("rid-{}", code.len())),
                at: T0,
            },
            retryable,
            fingerprint: None,
        })
    }

    fn two_hops() -> Entry {
        let hops = vec![
            hop("a", "arn:aws:iam::1:role/a"),
            hop("b", "arn:aws:iam::1:role/b"),
        ];
        Entry::new("b".into(), Ok(chain("b", hops)))
    }

    fn fail(entry: &Entry, now: OffsetDateTime, code: &str) -> bool {
        let Due::Start(plan) = entry.poll(now) else {
            panic!("not due at {now}");
        };
        let outcome = Outcome {
            steps: Vec::new(),
            error: failure(code, true),
        };
        match entry.finish(&plan, outcome, &cache_settings(), now, 0.0) {
            Report::Failed { changed, .. } => changed,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_repeated_failure_is_reported_as_new_only_when_it_changes() {
        let entry = two_hops();
        let later = |s: i64| T0 + Duration::minutes(s);
        assert!(fail(&entry, later(0), "Throttling"));
        assert!(!fail(&entry, later(1), "Throttling"));
        assert!(fail(&entry, later(2), "AccessDenied"));
        assert!(!fail(&entry, later(3), "AccessDenied"));
        assert_eq!(entry.status(later(3)).consecutive_failures, 4);
    }

    #[test]
    fn unusable_credentials_fail_and_are_reported_once_however_their_expiry_moves() {
        let entry = Entry::new(
            "a".into(),
            Ok(chain("a", vec![hop("a", "arn:aws:iam::1:role/a")])),
        );
        let mut changes = Vec::new();
        for (minute, left) in [(0, -60), (1, -30), (2, 0), (3, 30), (4, 50)] {
            let now = T0 + Duration::minutes(minute);
            let Due::Start(plan) = entry.poll(now) else {
                panic!("a retry is due at {now}");
            };
            let outcome = Outcome {
                steps: vec![step("a", "ASIABAD", now + Duration::seconds(left))],
                error: None,
            };
            match entry.finish(&plan, outcome, &cache_settings(), now, 0.0) {
                Report::Failed {
                    changed, retry_at, ..
                } => {
                    assert!(retry_at > now, "backs off");
                    changes.push(changed);
                }
                other => panic!("{left}s left: {other:?}"),
            }
            assert!(entry.answer(now).is_err(), "never served");
        }
        // Expired, then too short: two changes, each logged once.
        assert_eq!(changes, [true, false, false, true, false]);
        let status = entry.status(T0 + Duration::minutes(4));
        assert_eq!(status.consecutive_failures, 5);
        let message = status.last_error.unwrap().message;
        assert!(
            message.starts_with("profile \"a\": AssumeRole arn:aws:iam::1:role/a returned credentials that expire at"),
            "{message}"
        );
    }

    #[test]
    fn an_expired_first_hop_is_a_failure_not_a_renewal_due_at_once() {
        let entry = two_hops();
        let Due::Start(plan) = entry.poll(T0) else {
            panic!("due");
        };
        let outcome = Outcome {
            steps: vec![
                step("a", "ASIAHOPA", T0 - Duration::minutes(5)),
                step("b", "ASIAHOPB", T0 + Duration::HOUR),
            ],
            error: None,
        };
        let report = entry.finish(&plan, outcome, &cache_settings(), T0, 0.0);
        let Report::Failed {
            error, retry_at, ..
        } = report
        else {
            panic!("{report:?}");
        };
        assert!(
            error.message.contains("already expired"),
            "{}",
            error.message
        );
        assert_eq!(retry_at, T0 + Duration::seconds(1));
        assert!(entry.answer(T0).is_err());
        assert!(matches!(entry.poll(T0), Due::At(at) if at == retry_at));
    }

    #[test]
    fn renewal_resumes_after_the_kept_hop_until_that_hop_is_due() {
        let entry = two_hops();
        let Due::Start(plan) = entry.poll(T0) else {
            panic!("a cold entry is due");
        };
        assert_eq!(plan.resume, None);
        let outcome = Outcome {
            steps: vec![
                step("a", "ASIAHOPA", T0 + Duration::hours(4)),
                step("b", "ASIAHOPB", T0 + Duration::HOUR),
            ],
            error: None,
        };
        let report = entry.finish(&plan, outcome, &cache_settings(), T0, 0.0);
        let Report::Renewed { next, .. } = report else {
            panic!("{report:?}");
        };
        // The served hop is due first (30 min before its 1 h expiry).
        assert_eq!(next, T0 + Duration::minutes(30));
        let Due::Start(plan) = entry.poll(next) else {
            panic!("due at {next}");
        };
        let resume = plan
            .resume
            .as_ref()
            .expect("resumes from the kept first hop");
        assert_eq!(resume.next_hop, 1);
        assert_eq!(resume.credentials.access_key_id, "ASIAHOPA");
        // Once the kept hop itself is due (2 h before its 4 h expiry), start from the base.
        let outcome = Outcome {
            steps: vec![step("b", "ASIAHOPB2", next + Duration::HOUR)],
            error: None,
        };
        entry.finish(&plan, outcome, &cache_settings(), next, 0.0);
        let Due::Start(plan) = entry.poll(T0 + Duration::hours(2)) else {
            panic!("due");
        };
        assert_eq!(plan.resume, None);
    }

    #[test]
    fn reads_never_get_expired_credentials_and_say_when_they_expired() {
        let entry = Entry::new(
            "a".into(),
            Ok(chain("a", vec![hop("a", "arn:aws:iam::1:role/a")])),
        );
        let Due::Start(plan) = entry.poll(T0) else {
            panic!("due");
        };
        let outcome = Outcome {
            steps: vec![step("a", "ASIAONE", T0 + Duration::HOUR)],
            error: None,
        };
        entry.finish(&plan, outcome, &cache_settings(), T0, 0.0);
        assert!(entry.answer(T0 + Duration::minutes(59)).is_ok());
        let err = entry.answer(T0 + Duration::HOUR).unwrap_err().to_string();
        assert_eq!(
            err,
            "no valid credentials for profile \"a\": credentials expired at 2026-03-01T09:00:00Z, renewal pending"
        );
    }
}
