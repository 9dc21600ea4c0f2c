//! Log capture for tests: what is logged on one thread, written into memory.
//!
//! One global subscriber serves every capture, set once and never replaced; each capture is a
//! thread-local sink that it writes to. A subscriber per capture (a thread-local default)
//! raced: a callsite that another test's thread registered while no capturing subscriber
//! existed yet cached "never", and the capture then saw nothing. With one subscriber that
//! lives as long as the process and decides per event, no callsite is ever cached as
//! uninteresting.

use std::cell::RefCell;
use std::io;
use std::sync::{Arc, Mutex, Once};

use tracing_subscriber::filter::dynamic_filter_fn;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::{Layer as _, fmt};

thread_local! {
    /// This thread's capture and its most verbose level, while one is installed.
    static SINK: RefCell<Option<(CapturedLogs, tracing::Level)>> = const { RefCell::new(None) };
}

/// Everything logged on this thread while the guard lives, without colour.
#[derive(Clone, Debug, Default)]
pub(crate) struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

/// Ends a capture on drop.
#[derive(Debug)]
pub(crate) struct CaptureGuard(());

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        SINK.with(|sink| sink.borrow_mut().take());
    }
}

/// Writes into this thread's capture, if any.
struct ThreadSink;

impl io::Write for ThreadSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        SINK.with(|sink| {
            if let Some((logs, _)) = &*sink.borrow() {
                logs.0.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Sets the one subscriber, the first time a capture is installed.
fn install_subscriber() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Dynamic: asked per event, never cached per callsite (a `filter_fn` would cache the
        // answer of whichever thread first hit the callsite).
        let captured = dynamic_filter_fn(|meta, _| {
            SINK.with(|sink| {
                sink.borrow()
                    .as_ref()
                    .is_some_and(|(_, level)| meta.level() <= level)
            })
        });
        let layer = fmt::layer()
            .with_ansi(false)
            .with_writer(|| ThreadSink)
            .with_filter(captured);
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .expect("no other global subscriber in the unit tests");
        // Callsites registered before it existed were cached as uninteresting.
        tracing::callsite::rebuild_interest_cache();
    });
}

impl CapturedLogs {
    /// Captures events up to `level` on this thread until the guard is dropped.
    pub(crate) fn install(level: tracing::Level) -> (Self, CaptureGuard) {
        install_subscriber();
        let captured = Self::default();
        SINK.with(|sink| *sink.borrow_mut() = Some((captured.clone(), level)));
        (captured, CaptureGuard(()))
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
