//! When to renew and when to retry: the refresh margin with jitter, and the backoff after
//! failures. Pure functions of times, settings and a random draw in `[0, 1)`.

use time::{Duration, OffsetDateTime};

use crate::config::CacheSettings;

/// What a client is promised while STS is healthy, for sessions of an hour or more: botocore
/// rewrites shorter expiries and refetches constantly (docs/wire-contract.md §4, §5).
pub const MIN_SERVED_REMAINING: Duration = Duration::minutes(20);

/// The smallest margin for sessions of an hour or more: the promise above plus room for a
/// slow STS answer and a few quick retries.
const LONG_SESSION_MIN_MARGIN: Duration = Duration::minutes(25);

/// Never renew earlier than this share of a session (a huge margin or jitter would otherwise
/// renew again right after each renewal).
const MAX_MARGIN_SHARE: f64 = 0.75;

/// First retry delay after a retryable failure; doubles per failure up to the cap.
const BACKOFF_BASE: Duration = Duration::seconds(2);

/// Retry delay after a permanent failure (AccessDenied, a bad profile): slow, not hammered.
pub const PERMANENT_RETRY: Duration = Duration::minutes(10);

/// When credentials issued at `issued_at` and expiring at `expiration` should be renewed.
///
/// margin = `refresh_margin` scaled by lifetime / 1 h, at least 25 min for sessions of 1 h or
/// more; then up to `refresh_jitter` earlier at random (`unit` in `[0, 1)`), never earlier
/// than a quarter into the session.
#[must_use]
pub fn refresh_at(
    settings: &CacheSettings,
    issued_at: OffsetDateTime,
    expiration: OffsetDateTime,
    unit: f64,
) -> OffsetDateTime {
    let lifetime = (expiration - issued_at).max(Duration::ZERO);
    let scale = lifetime.as_seconds_f64() / 3600.0;
    let mut margin = Duration::seconds_f64(settings.refresh_margin.as_secs_f64() * scale);
    if lifetime >= Duration::HOUR {
        margin = margin.max(LONG_SESSION_MIN_MARGIN);
    }
    let jitter =
        Duration::seconds_f64(settings.refresh_jitter.as_secs_f64() * unit.clamp(0.0, 1.0));
    let longest = lifetime * MAX_MARGIN_SHARE;
    let total = (margin + jitter).min(longest.max(margin));
    expiration - total
}

/// The shortest wait before renewal that new credentials must leave. STS issues sessions of
/// 15 minutes or more, which leave several minutes; credentials due for renewal sooner have
/// expired or nearly (a broken STS, a wrong clock) and are refused as a failure, with the
/// retry backoff, instead of being renewed again at once, and again.
pub const MIN_RENEWAL_WAIT: Duration = Duration::minutes(1);

/// When new credentials expiring at `expiration`, received at `now`, are to be renewed
/// ([`refresh_at`]); `None` when they are unusable: renewal would be due within
/// [`MIN_RENEWAL_WAIT`] (which includes credentials already expired).
#[must_use]
pub fn renewal_of_new(
    settings: &CacheSettings,
    now: OffsetDateTime,
    expiration: OffsetDateTime,
    unit: f64,
) -> Option<OffsetDateTime> {
    let at = refresh_at(settings, now, expiration, unit);
    (at - now >= MIN_RENEWAL_WAIT).then_some(at)
}

/// How long to wait before retry number `failures` (1 for the first failure).
///
/// Retryable failures back off exponentially from 2 s, capped at `max_backoff`; permanent ones
/// wait [`PERMANENT_RETRY`] (or the cap, if larger). Either way the delay is jittered into its
/// upper half ("equal jitter"), so profiles failing together spread out.
#[must_use]
pub fn retry_delay(
    settings: &CacheSettings,
    failures: u32,
    retryable: bool,
    unit: f64,
) -> Duration {
    let cap = Duration::try_from(settings.max_backoff).unwrap_or(Duration::MINUTE);
    let full = if retryable {
        let doublings = failures.saturating_sub(1).min(30);
        (BACKOFF_BASE * 2_i32.pow(doublings.min(20))).min(cap)
    } else {
        PERMANENT_RETRY.max(cap)
    };
    full / 2 + (full / 2) * unit.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn settings(margin_s: u64, jitter_s: u64) -> CacheSettings {
        CacheSettings {
            refresh_margin: std::time::Duration::from_secs(margin_s),
            refresh_jitter: std::time::Duration::from_secs(jitter_s),
            max_backoff: std::time::Duration::from_secs(60),
            max_read_wait: std::time::Duration::from_millis(1000),
        }
    }

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    #[test]
    fn one_hour_sessions_renew_at_the_margin_minus_jitter() {
        let s = settings(1800, 300);
        let exp = T0 + Duration::HOUR;
        assert_eq!(refresh_at(&s, T0, exp, 0.0), T0 + Duration::minutes(30));
        assert_eq!(refresh_at(&s, T0, exp, 0.5), T0 + Duration::seconds(1650));
    }

    #[test]
    fn the_margin_scales_with_the_session_length() {
        let s = settings(1800, 0);
        let exp = T0 + Duration::hours(12);
        assert_eq!(refresh_at(&s, T0, exp, 0.0), T0 + Duration::hours(6));
        let short = T0 + Duration::minutes(15);
        assert_eq!(refresh_at(&s, T0, short, 0.0), T0 + Duration::seconds(450));
    }

    #[test]
    fn a_small_configured_margin_still_keeps_twenty_minutes_for_hour_sessions() {
        let s = settings(60, 0);
        let exp = T0 + Duration::HOUR;
        let at = refresh_at(&s, T0, exp, 0.0);
        assert!(exp - at > MIN_SERVED_REMAINING, "{at}");
    }

    #[test]
    fn huge_jitter_never_renews_in_the_first_quarter() {
        let s = settings(1800, 86400);
        let at = refresh_at(&s, T0, T0 + Duration::HOUR, 0.99);
        assert_eq!(at, T0 + Duration::minutes(15));
    }

    #[test]
    fn new_credentials_are_usable_only_when_renewal_is_a_minute_away_or_more() {
        let s = settings(1800, 300);
        let renew = |left: i64, unit| renewal_of_new(&s, T0, T0 + Duration::seconds(left), unit);
        // STS's shortest session, with the largest jitter: renewed after a quarter of it.
        assert_eq!(renew(900, 0.999), Some(T0 + Duration::seconds(225)));
        assert_eq!(renew(3600, 0.0), Some(T0 + Duration::minutes(30)));
        // 4 min: a quarter is exactly the minimum wait.
        assert_eq!(renew(240, 0.999), Some(T0 + MIN_RENEWAL_WAIT));
        for left in [239, 30, 1, 0, -1, -3600] {
            assert_eq!(renew(left, 0.5), None, "{left}s left");
        }
    }

    #[test]
    fn retryable_backoff_doubles_up_to_the_cap() {
        let s = settings(1800, 0);
        let delays: Vec<i64> = (1..=8)
            .map(|n| retry_delay(&s, n, true, 1.0).whole_seconds())
            .collect();
        assert_eq!(delays, [2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(retry_delay(&s, 3, true, 0.0).whole_seconds(), 4);
    }

    #[test]
    fn permanent_failures_wait_long() {
        let s = settings(1800, 0);
        assert_eq!(retry_delay(&s, 1, false, 1.0), PERMANENT_RETRY);
        assert_eq!(retry_delay(&s, 9, false, 0.0), PERMANENT_RETRY / 2);
    }
}
