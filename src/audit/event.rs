//! What producers hand the audit log: one [`AuditEvent`] per mint, response or refusal.
//!
//! No variant has a field that could carry a secret key, session token or ECS token, so no
//! record made from one can show a secret.

use std::net::SocketAddr;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::identity::Caller;

/// One thing worth auditing.
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
        /// The `SourceIdentity` sent (`aws.source_identity`), if any.
        source_identity: Option<String>,
    },
    /// A client received credentials.
    Served {
        /// The client's address.
        client: SocketAddr,
        /// Who is behind it.
        caller: Arc<Caller>,
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
        /// Who is behind it.
        caller: Arc<Caller>,
        /// `imds` or `ecs`, with the listener address.
        listener: String,
        /// The request path.
        path: String,
        /// Why, in a few words (never a token).
        reason: String,
    },
}
