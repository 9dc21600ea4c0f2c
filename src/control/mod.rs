//! A view of the running daemon: the control socket (`credvend status`, `credvend refresh`,
//! `GET /healthz`) and the optional metrics listener (`GET /metrics`, `GET /healthz`).
//!
//! The socket is a Unix stream socket, mode 0600, that only the daemon's user and root may
//! use (the peer's uid is checked too); it speaks HTTP/1.1 with JSON bodies. The counts it
//! reports come from decorators the daemon puts at its seams, so nothing on the request path
//! knows about them: [`CountingAudit`] (reads and callers per profile), [`MeteredSts`] (STS
//! calls and latency) and one [`StatusCounts`] per listener, bumped in `Endpoint::answer`.
//!
//! - `routes`: the commands, one route each (the place to add one), and the metrics pages.
//! - `state`: what the handlers read; `wire`: the JSON bodies, shared with the commands.
//! - `serve`: the accept loops and the peer check; `socket`: the socket file's life.
//! - `health`, `metrics`, `prom`: the health decision and the Prometheus page.
//! - `served`, `sts_metrics`, `requests`: the counters.
//! - `client`: the commands' side of the socket.

mod client;
mod error;
mod health;
mod metrics;
mod prom;
mod requests;
mod routes;
mod serve;
mod served;
mod socket;
mod state;
mod sts_metrics;
mod wire;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, UnixListener};
use tokio::task::JoinHandle;

pub use client::{Answer, ControlClientError, request, request_with};
pub use error::ControlError;
pub use health::Health;
pub use metrics::{AuditCounts, Metrics};
pub use requests::StatusCounts;
pub use serve::peer_allowed;
pub use served::{CountingAudit, MAX_DISTINCT_CALLERS, Reads, ServedCounts, caller_key};
pub use socket::SocketFile;
pub use state::ControlState;
pub use sts_metrics::{MeteredSts, StsMetrics};
pub use wire::{
    ErrorBody, ErrorView, ListenerView, MfaCode, MfaProfile, MfaStarted, ProfileView, Refreshed,
    StatusReport,
};

use crate::config::Config;

/// The control socket and the metrics listener, bound but not yet serving.
#[derive(Debug)]
pub struct Bound {
    socket: Option<(UnixListener, SocketFile)>,
    metrics: Option<TcpListener>,
}

/// The running control socket and metrics listener.
#[derive(Debug)]
pub struct Running {
    socket: Option<SocketFile>,
    tasks: Vec<JoinHandle<()>>,
}

/// Binds the control socket (if enabled) and the metrics listener (if configured). Fails when
/// another daemon answers on the socket. Done before the credential listeners serve, so a
/// second daemon stops before it answers anyone.
pub async fn bind(config: &Config) -> Result<Bound, ControlError> {
    let socket = match &config.control.path {
        Some(path) => Some(socket::bind(path)?),
        None => None,
    };
    let metrics = match config.metrics.listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|source| ControlError::MetricsBind { addr, source })?,
        ),
        None => None,
    };
    Ok(Bound { socket, metrics })
}

impl Bound {
    /// Where the metrics listener listens, if it does.
    #[must_use]
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves `state` until a future made by `stop` resolves.
    pub fn serve<F>(self, state: Arc<ControlState>, stop: impl Fn() -> F) -> Running
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut running = Running {
            socket: None,
            tasks: Vec::new(),
        };
        let metrics_addr = self.metrics_addr();
        if let Some((listener, file)) = self.socket {
            tracing::info!(path = %file.path().display(), "control socket ready (credvend status)");
            let routes = routes::control(state.clone());
            running
                .tasks
                .push(tokio::spawn(serve::control(listener, routes, stop())));
            running.socket = Some(file);
        }
        if let (Some(listener), Some(addr)) = (self.metrics, metrics_addr) {
            tracing::info!("metrics listening on {addr} (/metrics, /healthz)");
            let routes = routes::metrics(state);
            running
                .tasks
                .push(tokio::spawn(serve::metrics(listener, routes, stop())));
        }
        running
    }
}

impl Running {
    /// Waits for the accept loops to stop (after `stop` resolved), then removes the socket.
    pub async fn finish(self) {
        for task in self.tasks {
            let _ = task.await;
        }
        drop(self.socket);
    }
}

/// The listeners as status lists them: each IMDS address with its profile, the ECS
/// addresses with theirs, and the metrics listener.
#[must_use]
pub fn listener_views(
    config: &Config,
    imds: &[SocketAddr],
    ecs: &[SocketAddr],
    metrics: Option<SocketAddr>,
) -> Vec<ListenerView> {
    let mut views: Vec<ListenerView> = config
        .imds
        .iter()
        .zip(imds)
        .map(|(l, addr)| ListenerView {
            kind: "imds".into(),
            addresses: vec![addr.to_string()],
            profiles: vec![l.profile.clone()],
            note: Some(
                if l.imdsv1 {
                    "IMDSv1 and v2"
                } else {
                    "IMDSv2 only"
                }
                .into(),
            ),
        })
        .collect();
    if let Some(e) = config.ecs.as_ref().filter(|_| !ecs.is_empty()) {
        views.push(ListenerView {
            kind: "ecs".into(),
            addresses: ecs.iter().map(ToString::to_string).collect(),
            profiles: e.profiles.clone(),
            note: None,
        });
    }
    if let Some(addr) = metrics {
        views.push(ListenerView {
            kind: "metrics".into(),
            addresses: vec![addr.to_string()],
            profiles: Vec::new(),
            note: Some("/metrics, /healthz".into()),
        });
    }
    views
}
