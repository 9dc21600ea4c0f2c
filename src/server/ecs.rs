//! The container-credentials endpoint (PROTOCOL.md B): `GET /role/<profile>` and `GET /` (the
//! first profile) behind the `Authorization` token, and `GET /v2/credentials/<id>`, where the
//! unguessable id is the capability (for clients that only take a RELATIVE_URI, such as Go's
//! `credential_source = EcsContainer`).
//!
//! Authorization is checked before the profile is looked up, so an unauthenticated caller
//! learns nothing about which profiles exist.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::config::IpNet;
use crate::secret::Secret;
use crate::server::Services;
use crate::server::error::{ApiError, EcsError};
use crate::server::guard::{self, Guard, UNKNOWN_PEER, ct_eq};
use crate::server::wire;

pub(crate) use crate::server::ecs_files::CAPABILITY_PREFIX;
pub use crate::server::ecs_files::{
    CapabilityIds, EcsFileError, load_or_create_capabilities, load_or_create_token,
};

/// What the ECS listener serves.
#[derive(Clone, Debug)]
pub struct EcsConfig {
    /// The bound address.
    pub listen: SocketAddr,
    /// Served at `/role/<profile>`; the first also at `/`.
    pub profiles: Vec<String>,
    /// Client networks admitted on a non-loopback `listen`.
    pub allowed_networks: Vec<IpNet>,
    /// The `Authorization` value clients must send ([`load_or_create_token`]).
    pub token: Secret,
    /// The capability ids ([`load_or_create_capabilities`]).
    pub capabilities: CapabilityIds,
}

/// The ECS listener's state; cheap to clone.
#[derive(Clone, Debug)]
pub struct EcsState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    config: EcsConfig,
    services: Services,
    guard: Arc<Guard>,
    label: String,
}

impl EcsState {
    /// The listener's state.
    #[must_use]
    pub fn new(config: EcsConfig, services: Services) -> Self {
        let label = format!("ecs@{}", config.listen);
        let guard = Arc::new(Guard {
            label: label.clone(),
            listen: config.listen,
            allowed_networks: config.allowed_networks.clone(),
            audit: services.audit.clone(),
            render: ApiError::json,
        });
        Self(Arc::new(Inner {
            config,
            services,
            guard,
            label,
        }))
    }

    pub(crate) fn guard(&self) -> Arc<Guard> {
        self.0.guard.clone()
    }
}

pub(crate) fn routes(state: EcsState) -> Router {
    Router::new()
        .route("/", get(get_first_profile))
        .route("/role/{profile}", get(get_profile))
        .route("/v2/credentials/{id}", get(get_capability))
        .fallback(|| async { EcsError(ApiError::NotFound) })
        .with_state(state)
}

async fn get_first_profile(State(s): State<EcsState>, req: Request) -> Response {
    let first = s.0.config.profiles.first().cloned();
    authorized(&s, req, first).await
}

async fn get_profile(
    State(s): State<EcsState>,
    Path(profile): Path<String>,
    req: Request,
) -> Response {
    let known = s.0.config.profiles.contains(&profile).then_some(profile);
    authorized(&s, req, known).await
}

/// Checks `Authorization`, then serves `profile` (`None`: not one of ours, 404).
async fn authorized(s: &EcsState, req: Request, profile: Option<String>) -> Response {
    let client = guard::peer_of(&req).unwrap_or(UNKNOWN_PEER);
    let path = req.uri().path().to_owned();
    let error = match req.headers().get(header::AUTHORIZATION) {
        None => Some(ApiError::AuthMissing),
        Some(v) if !ct_eq(v.as_bytes(), s.0.config.token.expose().as_bytes()) => {
            Some(ApiError::AuthWrong)
        }
        Some(_) => None,
    };
    if let Some(e) = error {
        return s.0.guard.deny(client, &path, e);
    }
    match profile {
        Some(p) => serve(s, client, &path, &p).await,
        None => EcsError(ApiError::NotFound).into_response(),
    }
}

async fn get_capability(
    State(s): State<EcsState>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let client = guard::peer_of(&req).unwrap_or(UNKNOWN_PEER);
    let path = req.uri().path().to_owned();
    match s.0.config.capabilities.profile_of(&id) {
        Some(p) => serve(&s, client, &path, p).await,
        // Someone holding a wrong or revoked id is worth a record.
        None => {
            s.0.guard
                .deny_because(client, &path, ApiError::NotFound, "UnknownCapability")
        }
    }
}

async fn serve(s: &EcsState, client: SocketAddr, path: &str, profile: &str) -> Response {
    let served = match wire::fetch(&s.0.services, profile).await {
        Ok(served) => served,
        Err(e) => return EcsError(e).into_response(),
    };
    wire::record_served(&s.0.services, client, &s.0.label, path, &served);
    let mut resp = wire::ecs_body(&served).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests;
