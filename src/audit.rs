//! The audit log: who got which session, when.
//!
//! Producers (the cache when STS mints a session, the servers when a client is served or
//! refused) hand an [`AuditEvent`] to an [`AuditSink`]. Events hold no secret by construction:
//! there is no field that could carry a secret key, session token or ECS token.

use std::fmt;
use std::net::SocketAddr;

use time::OffsetDateTime;

/// One audit record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditEvent {
    /// STS minted a session.
    Issued {
        /// The credvend profile.
        profile: String,
        /// The role assumed (`None` for GetSessionToken).
        role_arn: Option<String>,
        /// The session name sent to STS.
        session_name: Option<String>,
        /// Access key id of the issued credentials.
        access_key_id: String,
        /// When they expire.
        expiration: OffsetDateTime,
        /// STS request id.
        request_id: Option<String>,
    },
    /// A client received credentials.
    Served {
        /// The client's address.
        client: SocketAddr,
        /// `imds` or `ecs`, with the listener address.
        listener: String,
        /// The request path.
        path: String,
        /// The profile served.
        profile: String,
        /// Access key id of the served credentials.
        access_key_id: String,
    },
    /// A request was refused.
    Denied {
        /// The client's address.
        client: SocketAddr,
        /// `imds` or `ecs`, with the listener address.
        listener: String,
        /// The request path.
        path: String,
        /// Why, in a few words (never a token).
        reason: String,
    },
}

/// Where audit events go.
pub trait AuditSink: Send + Sync + fmt::Debug {
    /// Records one event. Must not block on slow I/O for long; must not panic.
    fn record(&self, event: AuditEvent);
}

/// Drops every event (tests, or `[audit] enabled = false`).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoAudit;

impl AuditSink for NoAudit {
    fn record(&self, _event: AuditEvent) {}
}
