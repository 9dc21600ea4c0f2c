//! What every listener shares: the credential cache it reads, the audit sink, the clock and
//! the caller lookup.

use std::sync::Arc;

use crate::audit::AuditSink;
use crate::cache::CredentialProvider;
use crate::clock::Clock;
use crate::identity::Identify;

/// What every listener shares: the cache it reads, the audit sink and the clock.
#[derive(Clone, Debug)]
pub struct Services {
    /// The credential cache.
    pub credentials: Arc<dyn CredentialProvider>,
    /// Where served and denied events go.
    pub audit: Arc<dyn AuditSink>,
    /// Wall-clock time (token expiry, last expiry check before serving).
    pub clock: Arc<dyn Clock>,
    /// Finds who is behind each connection.
    pub identify: Arc<Identify>,
}
