//! The HTTP endpoints: an IMDS router per `[[imds]]` listener, one ECS router, and [`serve`].
//!
//! Layering (outermost first): request log -> CORS stripper -> guard (peer, Host,
//! OPTIONS, sizes) -> per-listener checks (IMDS token) -> handlers. Handlers only read the
//! cache; they never call STS themselves.

pub mod ecs;
mod ecs_files;
mod error;
mod guard;
pub mod imds;
mod imds_token;
mod wire;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::serve::ListenerExt;
use tower::Layer as _;
use tracing::Instrument;

use crate::audit::AuditSink;
use crate::cache::CredentialProvider;
use crate::clock::Clock;

pub use ecs::{
    CapabilityIds, EcsConfig, EcsFileError, EcsState, load_or_create_capabilities,
    load_or_create_token,
};
pub use imds::{ImdsConfig, ImdsState, PublicKey};

/// What every listener shares: the cache it reads, the audit sink and the clock.
#[derive(Clone, Debug)]
pub struct Services {
    /// The credential cache.
    pub credentials: Arc<dyn CredentialProvider>,
    /// Where served and denied events go.
    pub audit: Arc<dyn AuditSink>,
    /// Wall-clock time (token expiry, last expiry check before serving).
    pub clock: Arc<dyn Clock>,
}

/// The router of one IMDS listener.
pub fn imds_router(state: ImdsState) -> Router {
    let guard = state.guard();
    let routes = finish(imds::routes(state), guard);
    // Rewriting must happen before routing, so it wraps the finished router as a service.
    Router::new().fallback_service(middleware::map_request(collapse_slashes).layer(routes))
}

/// Old tools build IMDS paths by joining with `/` (boto 2 asks for
/// `/latest/dynamic/instance-identity//document/`); repeated slashes mean one, as they do to
/// the real IMDS's clients.
async fn collapse_slashes(mut req: Request) -> Request {
    let uri = req.uri();
    if !uri.path().contains("//") {
        return req;
    }
    let mut path = String::with_capacity(uri.path().len());
    for c in uri.path().chars() {
        if !(c == '/' && path.ends_with('/')) {
            path.push(c);
        }
    }
    if let Some(query) = uri.query() {
        path.push('?');
        path.push_str(query);
    }
    let mut parts = uri.clone().into_parts();
    // The collapsed text is a sub-sequence of a valid path, so it parses; keep the original
    // if it somehow does not.
    if let Ok(pq) = path.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(collapsed) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = collapsed;
        }
    }
    req
}

/// The router of the ECS listener.
pub fn ecs_router(state: EcsState) -> Router {
    let guard = state.guard();
    finish(ecs::routes(state), guard)
}

fn finish(router: Router, guard: Arc<guard::Guard>) -> Router {
    router
        .layer(middleware::from_fn_with_state(guard, guard::guard))
        .layer(middleware::from_fn(guard::no_cors))
        .layer(middleware::from_fn(log_request))
}

/// Serves `router` on `listener` until `shutdown` completes, then lets open requests finish.
///
/// The peer address reaches handlers and guards as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    // Responses are small and clients (Go: 500 ms to headers) are impatient: no Nagle delay.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// One log line per request: method, matched route (never the raw URI, which may hold a
/// capability id), status and client; never a header value.
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("<unmatched>", MatchedPath::as_str)
        .to_owned();
    let client = guard::peer_of(&req).unwrap_or(guard::UNKNOWN_PEER);
    let span = tracing::info_span!("request", %method, %route, %client);
    async move {
        let resp = next.run(req).await;
        tracing::info!(status = resp.status().as_u16(), "answered");
        resp
    }
    .instrument(span)
    .await
}

#[cfg(test)]
pub(crate) mod test_util;

#[cfg(test)]
mod tests;
