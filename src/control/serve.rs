//! The accept loops: the control socket (each connection's peer uid checked first) and the
//! metrics listener, both HTTP/1.1 through hyper to an axum router.

use std::future::Future;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tower::ServiceExt as _;

/// A request's header must arrive within this, so an idle or stuck client does not keep its
/// connection (and task) for ever.
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether `peer` may use the control socket of a daemon running as `own`: only that user
/// and root. The socket's mode says the same; this holds even if the mode is loosened.
#[must_use]
pub fn peer_allowed(peer: u32, own: u32) -> bool {
    peer == own || peer == 0
}

/// Serves `routes` on the control socket until `stop` resolves; a peer that is not the
/// daemon's user or root gets one 403 naming who may.
pub(super) async fn control(
    listener: UnixListener,
    routes: Router,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let own = nix::unistd::geteuid().as_raw();
    loop {
        let stream = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    continue;
                }
            },
        };
        let routes = match peer_uid(&stream) {
            Some(uid) if peer_allowed(uid, own) => routes.clone(),
            peer => {
                let who = peer.map_or_else(|| "an unknown user".to_owned(), |u| format!("uid {u}"));
                tracing::warn!(peer = %who, "control socket: refused a connection");
                refusal(format!(
                    "{who} may not use this socket: only uid {own} and root may\n"
                ))
            }
        };
        tokio::spawn(connection(stream, routes));
    }
}

/// The uid at the other end (SO_PEERCRED on Linux).
fn peer_uid(stream: &UnixStream) -> Option<u32> {
    stream.peer_cred().ok().map(|c| c.uid())
}

/// A router that answers everything with 403 and `why`.
fn refusal(why: String) -> Router {
    Router::new().fallback(move || async move { (StatusCode::FORBIDDEN, why).into_response() })
}

/// Serves `routes` on the metrics listener until `stop` resolves.
pub(super) async fn metrics(listener: TcpListener, routes: Router, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, routes.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "metrics listener accept failed"),
            },
        }
    }
}

/// One HTTP/1.1 connection through `routes`.
async fn connection<S>(stream: S, routes: Router)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let routes = routes.clone();
        async move {
            let Ok(resp) = routes.oneshot(req.map(Body::new)).await;
            Ok::<Response, std::convert::Infallible>(resp)
        }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        tracing::debug!(error = %e, "control connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_daemons_user_and_root_may_use_the_socket() {
        assert!(peer_allowed(1000, 1000));
        assert!(peer_allowed(0, 1000));
        assert!(peer_allowed(0, 0));
        assert!(!peer_allowed(65534, 1000));
        assert!(!peer_allowed(1000, 0));
    }
}
