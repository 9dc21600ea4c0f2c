//! [`Admission`]: a listener's own check of a request that passed the guard, before routing.
//! It lives apart from the front (`routers.rs`) so a listener can implement it without the
//! front and the listener importing each other.

use std::net::SocketAddr;

use axum::extract::Request;
use axum::response::Response;

/// A listener's own check of a request that passed the guard, before routing (for IMDS, the
/// session token).
pub(crate) trait Admission: Send + Sync + std::fmt::Debug {
    /// The refusal to send (already recorded), or `None` to let the request on.
    fn refusal(&self, client: SocketAddr, req: &Request) -> Option<Response>;
}
