//! The control socket's commands, one route each, and the metrics listener's two pages.
//!
//! Adding a command (`credvend mfa PROFILE CODE` next) is a route here, a handler beside the
//! others, its body in `wire`, and a client call in `commands`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;

use super::prom::CONTENT_TYPE;
use super::state::ControlState;
use super::wire::{ErrorBody, Refreshed};
use crate::cache::RefreshError;
use crate::clock::format_timestamp;
use crate::secret::mask_key_id;

/// The control socket: `GET /status`, `POST /refresh/{profile}`, `GET /healthz`.
pub(super) fn control(state: Arc<ControlState>) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/refresh/{profile}", post(refresh))
        .route("/healthz", get(healthz))
        .with_state(state)
}

/// The metrics listener: `GET /metrics` and `GET /healthz`, for a `Host` that names this
/// host by address or as `localhost` (a DNS-rebinding page names its own domain).
pub(super) fn metrics(state: Arc<ControlState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(healthz))
        .route_layer(axum::middleware::from_fn(local_host))
        .with_state(state)
}

async fn status(State(state): State<Arc<ControlState>>) -> Response {
    json(StatusCode::OK, &state.report())
}

async fn refresh(State(state): State<Arc<ControlState>>, Path(profile): Path<String>) -> Response {
    match state.cache.refresh_now(&profile).await {
        Ok(served) => {
            tracing::info!(profile = %profile, "renewed on request (credvend refresh)");
            let body = Refreshed {
                profile,
                access_key_id: mask_key_id(&served.credentials.access_key_id),
                expiration: served.expiration().map(format_timestamp),
            };
            json(StatusCode::OK, &body)
        }
        Err(e) => {
            let (status, code, request_id) = match &e {
                RefreshError::UnknownProfile(_) => (StatusCode::NOT_FOUND, None, None),
                RefreshError::Unresolved { .. } => (StatusCode::CONFLICT, None, None),
                RefreshError::Failed { error, .. } => (
                    StatusCode::BAD_GATEWAY,
                    error.code.clone(),
                    error.request_id.clone(),
                ),
            };
            let body = ErrorBody {
                error: e.to_string(),
                code,
                request_id,
            };
            json(status, &body)
        }
    }
}

async fn healthz(State(state): State<Arc<ControlState>>) -> Response {
    let (status, body) = state.health().answer();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn metrics_page(State(state): State<Arc<ControlState>>) -> Response {
    let page = state.metrics_page();
    (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], page).into_response()
}

/// Refuses a request whose `Host` is a name other than `localhost`.
async fn local_host(
    headers: HeaderMap,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    if host_is_local(host) {
        next.run(req).await
    } else {
        (StatusCode::MISDIRECTED_REQUEST, "unknown host\n").into_response()
    }
}

/// An IP literal (with or without a port) or `localhost`.
fn host_is_local(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        // `[::1]:9169`, `127.0.0.1:9169`, `localhost:9169`; a bare IPv6 has several colons.
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => {
            name
        }
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let text = serde_json::to_string(body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_and_localhost_are_local_hosts() {
        for host in [
            "127.0.0.1:9169",
            "[::1]:9169",
            "localhost",
            "LOCALHOST:1",
            "::1",
            "10.1.2.3",
        ] {
            assert!(host_is_local(host), "{host}");
        }
        for host in [
            "evil.example:9169",
            "evil.example",
            "127.0.0.1.nip.io:80",
            "",
        ] {
            assert!(!host_is_local(host), "{host}");
        }
    }
}
