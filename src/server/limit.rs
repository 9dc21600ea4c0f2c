//! The per-client rate limit: a token bucket per client ([`Tenant`]: a local process's uid,
//! else the address), checked before routing. Refused requests get 429 with `Retry-After`.
//! One user may run many SDKs at once, so the defaults leave room for that (the ECS agent
//! allows 40 rps with bursts of 60 per task). Time is tokio's monotonic clock, which tests
//! can pause.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::tenant::Tenant;

/// Above this many remembered clients, full buckets (idle clients) are forgotten.
const MAX_REMEMBERED: usize = 4096;
/// At most one warning about refused requests in this long.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug, Default)]
struct State {
    buckets: HashMap<Tenant, Bucket>,
    refused: u64,
    logged: Option<Instant>,
}

/// Token buckets by client.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_second: f64,
    burst: f64,
    state: Mutex<State>,
}

impl RateLimiter {
    /// `per_second` requests per client (0: no limit), `burst` at once.
    pub(crate) fn new(per_second: u32, burst: u32) -> Self {
        Self {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            state: Mutex::new(State::default()),
        }
    }

    /// `None` when `client` may go on; else the seconds it should wait.
    pub(crate) fn check(&self, client: Tenant) -> Option<u64> {
        if self.per_second == 0.0 {
            return None;
        }
        let now = Instant::now();
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.buckets.len() > MAX_REMEMBERED {
            let (rate, burst) = (self.per_second, self.burst);
            st.buckets
                .retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let bucket = st.buckets.entry(client).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return None;
        }
        let wait = ((1.0 - bucket.tokens) / self.per_second).ceil().max(1.0);
        st.refused += 1;
        if st
            .logged
            .is_none_or(|t| now.duration_since(t) >= LOG_INTERVAL)
        {
            tracing::warn!(%client, refused = st.refused, "client over the rate limit; answering 429");
            st.logged = Some(now);
            st.refused = 0;
        }
        // At most a burst's worth of seconds; the cast cannot truncate a sane value.
        Some(wait.min(3600.0) as u64)
    }
}

/// The 429 a limited request gets.
pub(crate) fn too_many(retry_after: u64) -> Response {
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests").into_response();
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: Tenant = Tenant::User(1000);

    fn address(ip: [u8; 4]) -> Tenant {
        Tenant::Address(ip.into())
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_passes_then_the_rate_refills() {
        let limiter = RateLimiter::new(2, 3);
        for _ in 0..3 {
            assert_eq!(limiter.check(CLIENT), None);
        }
        assert_eq!(limiter.check(CLIENT), Some(1));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(
            limiter.check(CLIENT),
            None,
            "one token back after 1/rate seconds"
        );
        assert_eq!(limiter.check(CLIENT), Some(1));
        // Another client has its own bucket.
        assert_eq!(limiter.check(Tenant::User(1001)), None);
        assert_eq!(limiter.check(address([127, 0, 0, 1])), None);
    }

    #[tokio::test(start_paused = true)]
    async fn zero_means_no_limit() {
        let limiter = RateLimiter::new(0, 0);
        for _ in 0..10_000 {
            assert_eq!(limiter.check(CLIENT), None);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn idle_clients_are_forgotten_when_many_are_remembered() {
        let limiter = RateLimiter::new(10, 10);
        for i in 0..=MAX_REMEMBERED as u32 + 1 {
            limiter.check(address(i.to_be_bytes()));
        }
        tokio::time::advance(Duration::from_secs(2)).await;
        limiter.check(CLIENT);
        let remembered = limiter.state.lock().unwrap().buckets.len();
        assert!(remembered <= 2, "{remembered}");
    }

    #[test]
    fn the_refusal_says_when_to_retry() {
        let resp = too_many(2);
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "2");
    }
}
