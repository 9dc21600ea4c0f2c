//! The background side of the cache: fetch tasks (one per profile at a time) and the refresher
//! loop that starts them when renewals or retries come due.
//!
//! The loop sleeps through tokio time to the earliest due time, but never longer than a minute,
//! and re-reads the injected clock on every wake: a suspended laptop or a corrected clock skew
//! moves wall time without moving tokio's monotonic clock.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use time::OffsetDateTime;
use tokio::sync::watch;

use super::entry::{Due, Entry, Failure, Outcome, Plan, Report};
use super::status::ErrorInfo;
use super::store::Inner;
use crate::audit::AuditEvent;
use crate::causes::Causes;
use crate::clock::format_timestamp;
use crate::mint::{self, MintError, MintedStep, StepKind};
use crate::secret::mask_key_id;

/// The longest the refresher sleeps before looking at the clock again.
const MAX_TICK: StdDuration = StdDuration::from_secs(60);

/// Slack added to the STS client's own time bounds before a fetch is given up.
const FETCH_SLACK: StdDuration = StdDuration::from_secs(30);

impl Inner {
    /// Runs `plan` for `entry` in its own task, so it completes even if every reader gives up.
    pub(super) fn spawn_fetch(self: &Arc<Self>, entry: Arc<Entry>, plan: Plan) {
        let inner = Arc::clone(self);
        tokio::spawn(async move { inner.fetch(&entry, plan).await });
    }

    async fn fetch(&self, entry: &Entry, plan: Plan) {
        // What a person must run, when the failure is a login that ran out.
        let mut login = None;
        let outcome = match &entry.chain {
            Ok(chain) => {
                let mut steps = Vec::new();
                let bound = self.fetch_bound(chain.hops.len())
                    + mint::process::time_bound(&chain.base, &self.aws);
                let run = mint::mint_steps(
                    &*self.sts,
                    chain,
                    &self.aws,
                    &self.env,
                    &*self.clock,
                    &self.mfa,
                    plan.resume.clone(),
                    &mut steps,
                );
                let error = match tokio::time::timeout(bound, run).await {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => {
                        login = e.sso_login().map(str::to_owned);
                        Some(mint_failure(&e, self.clock.now()))
                    }
                    Err(_) => Some(Failure::transient(
                        self.clock.now(),
                        format!(
                            "profile {:?}: STS did not finish within {}s",
                            entry.name,
                            bound.as_secs()
                        ),
                    )),
                };
                self.record_mints(&entry.name, &steps);
                Outcome { steps, error }
            }
            Err(e) => Outcome {
                steps: Vec::new(),
                error: Some(Failure::permanent(self.clock.now(), e.clone())),
            },
        };
        let now = self.clock.now();
        let report = entry.finish(&plan, outcome, &self.settings, now, self.random.unit());
        log_report(&entry.name, &report);
        if let (Report::Failed { changed: true, .. }, Some(login)) = (&report, login) {
            // Once per change, as the log line: an SSO session that ran out needs a person.
            mint::notify::desktop(&self.env, &format!("profile {}: {login}", entry.name));
        }
        self.wake.notify_one();
    }

    /// The STS client bounds each attempt; this bounds a whole chain in case one hangs anyway.
    fn fetch_bound(&self, hops: usize) -> StdDuration {
        let per_call = (self.aws.timeout + self.aws.connect_timeout) * self.aws.max_attempts.max(1);
        let calls = u32::try_from(hops.max(1)).unwrap_or(u32::MAX);
        per_call.saturating_mul(calls) + FETCH_SLACK
    }

    /// Audits and logs every session STS minted (never the secret).
    fn record_mints(&self, profile: &str, steps: &[MintedStep]) {
        for step in steps.iter().filter(|s| s.kind != StepKind::AsGiven) {
            let Some(expiration) = step.expiration() else {
                continue;
            };
            tracing::info!(
                profile,
                hop_profile = %step.profile,
                role_arn = step.role_arn.as_deref().unwrap_or("-"),
                access_key_id = %mask_key_id(step.access_key_id()),
                expiration = %format_timestamp(expiration),
                request_id = step.request_id.as_deref().unwrap_or("-"),
                "STS minted a session"
            );
            self.audit.record(AuditEvent::Issued {
                profile: profile.to_owned(),
                role_arn: step.role_arn.clone(),
                session_name: step.session_name.clone(),
                access_key_id: step.access_key_id().to_owned(),
                expiration,
                request_id: step.request_id.clone(),
                source_identity: step.source_identity.clone(),
            });
        }
    }

    /// The refresher loop; returns when `shutdown` turns true or its sender goes away.
    pub(super) async fn run_refresher(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        tracing::debug!("credential refresher started");
        while !*shutdown.borrow() {
            let now = self.clock.now();
            let mut earliest: Option<OffsetDateTime> = None;
            for entry in self.entries() {
                if let Some(exp) = entry.newly_expired(now) {
                    tracing::warn!(
                        profile = %entry.name,
                        expired_at = %format_timestamp(exp),
                        "credentials expired without renewal; reads now fail"
                    );
                }
                match entry.poll(now) {
                    Due::Start(plan) => self.spawn_fetch(entry, plan),
                    Due::At(at) => earliest = Some(earliest.map_or(at, |e| e.min(at))),
                    Due::Idle => {}
                }
            }
            let wait = earliest.map_or(MAX_TICK, |at| {
                StdDuration::try_from(at - now)
                    .unwrap_or(StdDuration::ZERO)
                    .min(MAX_TICK)
            });
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.wake.notified() => {}
                changed = shutdown.changed() => if changed.is_err() { break },
            }
        }
        tracing::debug!("credential refresher stopped");
    }
}

/// The operator view of a mint failure, and whether a quick retry may help.
fn mint_failure(error: &MintError, at: OffsetDateTime) -> Failure {
    let sts = error.sts_error();
    Failure {
        info: ErrorInfo {
            code: sts.and_then(|e| e.code()).map(str::to_owned),
            message: Causes(error).to_string(),
            request_id: sts.and_then(|e| e.request_id()).map(str::to_owned),
            at,
        },
        retryable: error.is_retryable(),
        fingerprint: None,
    }
}

fn log_report(profile: &str, report: &Report) {
    match report {
        Report::Renewed {
            served,
            next,
            recovered_after,
        } => {
            if *recovered_after > 0 {
                tracing::info!(
                    profile,
                    failures = recovered_after,
                    "STS recovered; serving new credentials"
                );
            }
            tracing::debug!(
                profile,
                access_key_id = %mask_key_id(&served.credentials.access_key_id),
                next_refresh = %format_timestamp(*next),
                "credentials renewed"
            );
        }
        Report::Failed {
            error,
            changed,
            failures,
            retry_at,
            serving_until,
        } => {
            let code = error.code.as_deref().unwrap_or("-");
            let request_id = error.request_id.as_deref().unwrap_or("-");
            let retry_at = format_timestamp(*retry_at);
            let serving = serving_until.map_or_else(|| "nothing".into(), format_timestamp);
            if *changed {
                tracing::warn!(profile, code, request_id, failures, %retry_at,
                    serving_until = %serving, "credential renewal failed: {}", error.message);
            } else {
                tracing::debug!(profile, code, request_id, failures, %retry_at,
                    serving_until = %serving, "credential renewal failed again: {}", error.message);
            }
        }
    }
}
