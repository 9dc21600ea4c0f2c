//! Wall-clock time, injected.
//!
//! [`SystemClock`] is the only code that reads the real clock (clippy's `disallowed-methods`
//! enforces it); tests use [`ManualClock`]. [`AwsClock`] adds the offset learnt from STS when
//! the local clock is skewed: signatures and expiry decisions use it, and the system clock is
//! never changed. Scheduling (sleeps, timeouts) goes through tokio time, which tests pause.

use std::fmt;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use time::{Duration, OffsetDateTime};

/// A source of the current UTC time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The machine's real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that reads the wall clock
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<OffsetDateTime>,
}

impl ManualClock {
    /// A clock standing at `start`.
    #[must_use]
    pub fn new(start: OffsetDateTime) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: OffsetDateTime) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The local clock corrected by the skew learnt from AWS responses.
///
/// Shared by the STS client (which signs with it and records corrections) and the cache
/// (which decides expiry with it).
#[derive(Debug)]
pub struct AwsClock {
    local: Arc<dyn Clock>,
    offset_ms: AtomicI64,
}

impl AwsClock {
    /// A corrected clock over `local`, starting with no offset.
    #[must_use]
    pub fn new(local: Arc<dyn Clock>) -> Self {
        Self {
            local,
            offset_ms: AtomicI64::new(0),
        }
    }

    /// The uncorrected local time.
    #[must_use]
    pub fn local_now(&self) -> OffsetDateTime {
        self.local.now()
    }

    /// How far AWS time is ahead of the local clock (negative: behind).
    #[must_use]
    pub fn offset(&self) -> Duration {
        Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Records that AWS time is `offset` ahead of the local clock.
    pub fn set_offset(&self, offset: Duration) {
        let ms = i64::try_from(offset.whole_milliseconds()).unwrap_or(i64::MAX);
        self.offset_ms.store(ms, Ordering::Relaxed);
    }
}

impl Clock for AwsClock {
    fn now(&self) -> OffsetDateTime {
        self.local.now() + self.offset()
    }
}

/// Whole-second UTC `Z` form used on every wire credvend speaks (`2026-11-22T09:05:47Z`).
#[must_use]
pub fn format_timestamp(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_whole_second_utc() {
        let at = time::macros::datetime!(2026-11-22 09:05:47.837987 +02:00);
        assert_eq!(format_timestamp(at), "2026-11-22T07:05:47Z");
    }
    use time::macros::datetime;

    #[test]
    fn aws_clock_applies_the_learnt_offset() {
        let local = Arc::new(ManualClock::new(datetime!(2026-01-01 00:00 UTC)));
        let aws = AwsClock::new(local.clone());
        assert_eq!(aws.now(), datetime!(2026-01-01 00:00 UTC));
        aws.set_offset(Duration::hours(2) + Duration::minutes(3));
        assert_eq!(aws.now(), datetime!(2026-01-01 02:03 UTC));
        local.advance(Duration::minutes(1));
        assert_eq!(aws.now(), datetime!(2026-01-01 02:04 UTC));
        assert_eq!(aws.local_now(), datetime!(2026-01-01 00:01 UTC));
    }
}
