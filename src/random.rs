//! Randomness, injected: tokens and keys come from the OS, jitter from a [`Random`] that tests
//! can replace with a fixed sequence.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};

/// A source of random bytes.
pub trait Random: Send + Sync + fmt::Debug {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);

    /// A uniformly distributed number in `[0, 1)`, for jitter.
    fn unit(&self) -> f64 {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        // 53 random bits make every f64 in [0, 1) with a 2^-53 step equally likely.
        (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The operating system's CSPRNG (`/dev/urandom`, on Linux and macOS alike).
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRandom;

impl OsRandom {
    /// Reads `buf.len()` bytes from the OS, reporting failure instead of panicking.
    pub fn try_fill(buf: &mut [u8]) -> io::Result<()> {
        File::open("/dev/urandom")?.read_exact(buf)
    }
}

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        // /dev/urandom does not fail on a running Unix system; if it ever does, running on
        // without randomness would be worse than stopping, since tokens would be predictable.
        Self::try_fill(buf).expect("/dev/urandom must be readable");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_random_gives_different_bytes_each_time() {
        let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
        OsRandom.fill(&mut a);
        OsRandom.fill(&mut b);
        assert_ne!(a, b);
        let u = OsRandom.unit();
        assert!((0.0..1.0).contains(&u));
    }
}
