//! [`StatusCounts`]: one listener's responses by status code, counted on the request path.
//!
//! A fixed array of atomics, one per status code from 100 to 599, made when the listener
//! starts: counting is one relaxed increment, with no lock and no allocation per request. The
//! metrics page reads the non-zero slots.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// The first status code with a slot.
const FIRST: u16 = 100;
/// Slots: 100..=599.
const SLOTS: usize = 500;

/// Responses of one listener, by status code.
pub struct StatusCounts {
    slots: Box<[AtomicU64]>,
}

impl fmt::Debug for StatusCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.snapshot()).finish()
    }
}

impl Default for StatusCounts {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl StatusCounts {
    /// Counts one response with `status` (codes outside 100..=599 are not HTTP; ignored).
    pub fn count(&self, status: u16) {
        if let Some(slot) = status
            .checked_sub(FIRST)
            .and_then(|i| self.slots.get(usize::from(i)))
        {
            slot.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every status code counted at least once, with its count, in code order.
    #[must_use]
    pub fn snapshot(&self) -> Vec<(u16, u64)> {
        (FIRST..)
            .zip(self.slots.iter())
            .map(|(code, slot)| (code, slot.load(Ordering::Relaxed)))
            .filter(|&(_, n)| n > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_counted_by_status_and_only_http_codes_count() {
        let counts = StatusCounts::default();
        for status in [200, 200, 404, 599, 100, 99, 600, 0] {
            counts.count(status);
        }
        assert_eq!(counts.snapshot(), [(100, 1), (200, 2), (404, 1), (599, 1)]);
    }
}
