//! [`ControlState`]: what the control socket and the metrics listener read, and the answers
//! they build from it (status, health, metrics page).

use std::fmt;
use std::sync::Arc;

use super::health::Health;
use super::metrics::{AuditCounts, Metrics};
use super::served::ServedCounts;
use super::wire::{ListenerView, ProfileView, StatusReport};
use crate::audit::AuditLog;
use crate::cache::CredentialCache;
use crate::clock::{Clock, format_timestamp};

/// Everything the control handlers need, shared.
pub struct ControlState {
    /// The credential cache (status, refresh).
    pub cache: Arc<CredentialCache>,
    /// Reads served and distinct callers per profile.
    pub served: Arc<ServedCounts>,
    /// The counters of the metrics page.
    pub metrics: Arc<Metrics>,
    /// The audit log, for its counts; `None` when auditing is off.
    pub audit: Option<Arc<AuditLog>>,
    /// The daemon's (STS-corrected) clock.
    pub clock: Arc<dyn Clock>,
    /// The listeners, as status shows them.
    pub listeners: Vec<ListenerView>,
}

impl fmt::Debug for ControlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControlState")
            .field("listeners", &self.listeners)
            .finish_non_exhaustive()
    }
}

impl ControlState {
    /// `GET /status`.
    #[must_use]
    pub fn report(&self) -> StatusReport {
        let reads = self.served.snapshot();
        StatusReport {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            pid: std::process::id(),
            now: format_timestamp(self.clock.now()),
            profiles: self
                .cache
                .status()
                .iter()
                .map(|p| ProfileView::new(p, reads.get(&p.profile)))
                .collect(),
            listeners: self.listeners.clone(),
        }
    }

    /// `GET /healthz`.
    #[must_use]
    pub fn health(&self) -> Health {
        Health::of(&self.cache.status())
    }

    /// `GET /metrics`.
    #[must_use]
    pub fn metrics_page(&self) -> String {
        let audit = self.audit.as_ref().map(|log| AuditCounts {
            written: log.records_written(),
            lost: log.records_lost(),
        });
        self.metrics
            .render(&self.cache.status(), audit, self.clock.now())
    }
}
