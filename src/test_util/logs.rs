//! Log capture for tests: a thread-local tracing subscriber writing into memory.

use std::io;
use std::sync::{Arc, Mutex};

use tracing::subscriber::DefaultGuard;

/// Everything logged on this thread while the guard lives, without colour.
#[derive(Clone, Debug, Default)]
pub(crate) struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    /// Captures events up to `level` on this thread until the guard is dropped.
    pub(crate) fn install(level: tracing::Level) -> (Self, DefaultGuard) {
        let captured = Self::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        // Other tests may have cached "never" for these callsites: recompute now.
        tracing::callsite::rebuild_interest_cache();
        (captured, guard)
    }

    /// What was logged so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// Forgets what was logged so far.
    pub(crate) fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}
