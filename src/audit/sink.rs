//! The seam between producers and the log: [`AuditSink`], and [`NoAudit`] for when there is
//! no log.

use std::fmt;

use super::event::AuditEvent;

/// Where audit events go.
pub trait AuditSink: Send + Sync + fmt::Debug {
    /// Records one event. Called on the request path: must not block on I/O and must not
    /// panic.
    fn record(&self, event: AuditEvent);
}

/// Drops every event (tests, or `[audit] enabled = false`).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoAudit;

impl AuditSink for NoAudit {
    fn record(&self, _event: AuditEvent) {}
}
