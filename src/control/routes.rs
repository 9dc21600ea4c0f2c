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
use super::wire::{ErrorBody, MfaCode, MfaProfile, MfaStarted, Refreshed};
use crate::cache::{MfaError, RefreshError};
use crate::clock::format_timestamp;
use crate::secret::Secret;
use crate::secret::mask_key_id;

/// The control socket: `GET /status`, `POST /refresh/{profile}`, `GET /healthz`.
pub(super) fn control(state: Arc<ControlState>) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/refresh/{profile}", post(refresh))
        .route("/mfa/{profile}", post(mfa))
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

/// `credvend mfa PROFILE CODE`: the code becomes the device's session (tried once; STS's
/// refusal goes back to the caller as it is).
async fn mfa(
    State(state): State<Arc<ControlState>>,
    Path(profile): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(MfaCode { code }) = serde_json::from_slice::<MfaCode>(&body) else {
        let body = ErrorBody {
            error: "the body must be {\"code\": \"...\"}".into(),
            ..ErrorBody::default()
        };
        return json(StatusCode::BAD_REQUEST, &body);
    };
    match state.cache.submit_mfa(&profile, Secret::new(code)).await {
        Ok(outcome) => {
            let profiles = outcome
                .renewed
                .into_iter()
                .map(|(profile, result)| match result {
                    Ok(served) => MfaProfile {
                        profile,
                        access_key_id: Some(mask_key_id(&served.credentials.access_key_id)),
                        expiration: served.expiration().map(format_timestamp),
                        error: None,
                    },
                    Err(e) => MfaProfile {
                        profile,
                        error: Some(e.to_string()),
                        ..MfaProfile::default()
                    },
                })
                .collect();
            let body = MfaStarted {
                serial: outcome.serial,
                expiration: outcome.expiration.map(format_timestamp),
                profiles,
            };
            json(StatusCode::OK, &body)
        }
        Err(e) => {
            tracing::warn!(profile = %profile, error = %crate::causes::Causes(&e), "MFA code not taken");
            let (status, code, request_id, detail) = match &e {
                MfaError::UnknownProfile(_) => (StatusCode::NOT_FOUND, None, None, None),
                MfaError::NoDevice { .. } => (StatusCode::CONFLICT, None, None, None),
                MfaError::Refused { error, .. } => (
                    StatusCode::FORBIDDEN,
                    error.code.clone(),
                    error.request_id.clone(),
                    Some(error.message.clone()),
                ),
            };
            let error = match detail {
                Some(detail) => format!("{e}: {detail}"),
                None => e.to_string(),
            };
            json(
                status,
                &ErrorBody {
                    error,
                    code,
                    request_id,
                },
            )
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
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt as _;

    use super::*;
    use crate::config::CacheSettings;
    use crate::control::{Metrics, ServedCounts, StatusReport};
    use crate::env::Env;
    use crate::test_util::{
        FakeSts, FixedRandom, RecordingAudit, TokioClock, aws_settings, cache_settings, role_chain,
        sts_error,
    };

    fn state(settings: CacheSettings) -> (Arc<ControlState>, Arc<FakeSts>) {
        let clock = Arc::new(TokioClock::new());
        let sts = Arc::new(FakeSts::new(clock.clone()));
        let cache = Arc::new(crate::cache::CredentialCache::new(
            sts.clone(),
            aws_settings(),
            settings,
            Env::default(),
            clock.clone(),
            Arc::new(FixedRandom(0.5)),
            Arc::new(RecordingAudit::default()),
        ));
        let mut set = std::collections::BTreeMap::new();
        set.insert("app".to_owned(), Ok(role_chain("app")));
        cache.set_profiles(set);
        let state = ControlState {
            cache,
            served: Arc::new(ServedCounts::default()),
            metrics: Arc::new(Metrics::default()),
            audit: None,
            clock,
            listeners: Vec::new(),
        };
        (Arc::new(state), sts)
    }

    async fn ask(router: &Router, method: &str, uri: &str) -> (StatusCode, String) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let Ok(resp) = router.clone().oneshot(req).await;
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn each_command_answers_json_and_errors_carry_the_sts_details() {
        let (state, sts) = state(cache_settings());
        let router = control(state.clone());
        let (status, body) = ask(&router, "GET", "/healthz").await;
        assert_eq!(
            (status.as_u16(), body.as_str()),
            (503, "app: no credentials yet\n")
        );

        let (status, body) = ask(&router, "POST", "/refresh/app").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let done: Refreshed = serde_json::from_str(&body).unwrap();
        assert!(done.access_key_id.starts_with("****"), "{body}");
        assert_eq!(ask(&router, "GET", "/healthz").await.1, "ok\n");

        let (_, body) = ask(&router, "GET", "/status").await;
        let report: StatusReport = serde_json::from_str(&body).unwrap();
        assert_eq!(
            report.profiles[0].access_key_id.as_deref(),
            Some(done.access_key_id.as_str())
        );
        assert!(!body.contains("ASIAFAKE"), "no whole key id: {body}");

        sts.set_failing(Some(sts_error(403, "AccessDenied", "no")));
        let (status, body) = ask(&router, "POST", "/refresh/app").await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        let e: ErrorBody = serde_json::from_str(&body).unwrap();
        assert_eq!(e.code.as_deref(), Some("AccessDenied"));
        assert_eq!(e.request_id.as_deref(), Some("rid-AccessDenied"));
        let (status, _) = ask(&router, "POST", "/refresh/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = ask(&router, "GET", "/refresh/app").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test(start_paused = true)]
    async fn the_metrics_pages_refuse_a_host_that_is_a_foreign_name() {
        let (state, _) = state(cache_settings());
        let router = metrics(state);
        let req = |host: &str| {
            Request::builder()
                .uri("/metrics")
                .header("host", host)
                .body(Body::empty())
                .unwrap()
        };
        let Ok(resp) = router.clone().oneshot(req("127.0.0.1:9169")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let Ok(resp) = router.clone().oneshot(req("evil.example:9169")).await;
        assert_eq!(resp.status(), StatusCode::MISDIRECTED_REQUEST);
    }

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
