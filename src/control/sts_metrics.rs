//! [`MeteredSts`]: the STS seam with every call counted by action and outcome and timed into
//! a histogram, for the metrics page. Fixed arrays of atomics: no lock, no allocation.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::Instant;

use crate::secret::Credentials;
use crate::sts::{
    AssumeRoleParams, AssumedRole, BoxFuture, CallerIdentity, Endpoint, GetSessionTokenParams,
    SessionToken, Sts, StsError, StsErrorKind,
};

/// The actions, as the metrics name them.
pub(super) const ACTIONS: [&str; 3] = ["AssumeRole", "GetSessionToken", "GetCallerIdentity"];
/// The outcomes, as the metrics name them: success, or the kind of failure.
pub(super) const OUTCOMES: [&str; 6] = [
    "success",
    "sts_error",
    "invalid_response",
    "timeout",
    "transport",
    "request",
];
/// Upper bounds of the latency histogram's buckets, in seconds (`+Inf` follows).
pub(super) const BUCKETS: [f64; 9] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// One action's latency histogram.
#[derive(Debug, Default)]
struct Histogram {
    /// Cumulative counts are made when read; each slot counts its own bucket, the last `+Inf`.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

/// A histogram as read: cumulative bucket counts (the last is `+Inf`), sum in seconds, count.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramSnapshot {
    /// Cumulative counts, one per [`BUCKETS`] entry and then `+Inf`.
    pub cumulative: Vec<u64>,
    /// Seconds spent in all calls.
    pub sum_seconds: f64,
    /// Calls.
    pub count: u64,
}

/// STS calls by action and outcome, and each action's latency.
#[derive(Debug, Default)]
pub struct StsMetrics {
    calls: [[AtomicU64; OUTCOMES.len()]; ACTIONS.len()],
    latency: [Histogram; ACTIONS.len()],
}

impl StsMetrics {
    fn observe(&self, action: usize, outcome: usize, seconds: f64) {
        self.calls[action][outcome].fetch_add(1, Ordering::Relaxed);
        let h = &self.latency[action];
        let bucket = BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(BUCKETS.len());
        h.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        // Whole microseconds: an atomic float would need a compare-exchange loop.
        h.sum_micros
            .fetch_add((seconds * 1e6).round() as u64, Ordering::Relaxed);
        h.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Calls of action `ACTIONS[action]` that ended in `OUTCOMES[outcome]`.
    #[must_use]
    pub fn calls(&self, action: usize, outcome: usize) -> u64 {
        self.calls[action][outcome].load(Ordering::Relaxed)
    }

    /// The latency histogram of `ACTIONS[action]`.
    #[must_use]
    pub fn latency(&self, action: usize) -> HistogramSnapshot {
        let h = &self.latency[action];
        let mut total = 0;
        let cumulative = h
            .buckets
            .iter()
            .map(|b| {
                total += b.load(Ordering::Relaxed);
                total
            })
            .collect();
        HistogramSnapshot {
            cumulative,
            sum_seconds: h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            count: h.count.load(Ordering::Relaxed),
        }
    }
}

/// Which [`OUTCOMES`] entry a result is.
fn outcome<T>(result: &Result<T, StsError>) -> usize {
    match result.as_ref().map_err(StsError::kind) {
        Ok(_) => 0,
        Err(StsErrorKind::Service { .. }) => 1,
        Err(StsErrorKind::InvalidResponse { .. }) => 2,
        Err(StsErrorKind::Timeout { .. }) => 3,
        Err(StsErrorKind::Transport { .. }) => 4,
        Err(StsErrorKind::Request { .. }) => 5,
    }
}

/// `inner`, measured into `metrics`.
#[derive(Debug)]
pub struct MeteredSts {
    inner: Arc<dyn Sts>,
    metrics: Arc<StsMetrics>,
}

impl MeteredSts {
    /// Measures every call to `inner` into `metrics`.
    #[must_use]
    pub fn new(inner: Arc<dyn Sts>, metrics: Arc<StsMetrics>) -> Self {
        Self { inner, metrics }
    }

    async fn measure<T>(
        &self,
        action: usize,
        call: BoxFuture<'_, Result<T, StsError>>,
    ) -> Result<T, StsError> {
        let start = Instant::now();
        let result = call.await;
        let seconds = start.elapsed().as_secs_f64();
        self.metrics.observe(action, outcome(&result), seconds);
        result
    }
}

impl Sts for MeteredSts {
    fn assume_role<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        credentials: &'a Credentials,
        params: &'a AssumeRoleParams,
    ) -> BoxFuture<'a, Result<AssumedRole, StsError>> {
        let call = self.inner.assume_role(endpoint, credentials, params);
        Box::pin(self.measure(0, call))
    }

    fn get_session_token<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        credentials: &'a Credentials,
        params: &'a GetSessionTokenParams,
    ) -> BoxFuture<'a, Result<SessionToken, StsError>> {
        let call = self.inner.get_session_token(endpoint, credentials, params);
        Box::pin(self.measure(1, call))
    }

    fn get_caller_identity<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        credentials: &'a Credentials,
    ) -> BoxFuture<'a, Result<CallerIdentity, StsError>> {
        let call = self.inner.get_caller_identity(endpoint, credentials);
        Box::pin(self.measure(2, call))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::{Clock, SystemClock};
    use crate::test_util::{FakeSts, sts_error};

    #[test]
    fn latencies_land_in_cumulative_buckets() {
        let m = StsMetrics::default();
        m.observe(0, 0, 0.01);
        m.observe(0, 0, 0.3);
        m.observe(0, 1, 99.0);
        let h = m.latency(0);
        assert_eq!(h.cumulative, [1, 1, 1, 2, 2, 2, 2, 2, 2, 3]);
        assert_eq!(h.count, 3);
        assert!((h.sum_seconds - 99.31).abs() < 1e-6, "{}", h.sum_seconds);
        assert_eq!(m.calls(0, 0), 2);
        assert_eq!(m.calls(0, 1), 1);
        assert_eq!(m.latency(1).count, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn each_call_is_counted_by_action_and_outcome_and_timed() {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let fake = Arc::new(FakeSts::new(clock));
        fake.set_latency(Duration::from_millis(300));
        let metrics = Arc::new(StsMetrics::default());
        let sts = MeteredSts::new(fake.clone(), metrics.clone());
        let endpoint = Endpoint {
            url: "https://sts.us-east-1.amazonaws.com".into(),
            region: "us-east-1".into(),
        };
        let creds = crate::test_util::long_term_keys();
        let params = AssumeRoleParams {
            role_arn: "arn:aws:iam::1:role/a".into(),
            role_session_name: "s".into(),
            ..AssumeRoleParams::default()
        };
        sts.assume_role(&endpoint, &creds, &params).await.unwrap();
        fake.set_failing(Some(sts_error(403, "AccessDenied", "no")));
        assert!(sts.assume_role(&endpoint, &creds, &params).await.is_err());
        assert_eq!(metrics.calls(0, 0), 1);
        assert_eq!(metrics.calls(0, 1), 1);
        let h = metrics.latency(0);
        assert_eq!(h.count, 2);
        assert_eq!(h.cumulative[2], 0, "300 ms is above the 0.25 s bucket");
        assert_eq!(h.cumulative[3], 2, "and within the 0.5 s one");
    }
}
