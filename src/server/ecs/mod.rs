//! The container-credentials endpoint (docs/wire-contract.md §6): `GET /role/<profile>` and `GET /` (the
//! first profile) behind the `Authorization` token, and `GET /v2/credentials/<id>`, where the
//! unguessable id is the capability (for clients that only take a RELATIVE_URI, such as Go's
//! `credential_source = EcsContainer`).
//!
//! Authorization is checked before the profile is looked up, so an unauthenticated caller
//! learns nothing about which profiles exist.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::config::{AllowedUsers, EcsListener, IpNet};
use crate::random::Random;
use crate::secret::{Secret, ct_eq};
use crate::server::client::Client;
use crate::server::error::{ApiError, EcsError};
use crate::server::guard::{self, Guard};
use crate::server::services::Services;
use crate::server::wire::{self, Rendered};

mod files;

pub use files::{CapabilityIds, EcsFileError, load_or_create_capabilities, load_or_create_token};

/// What the ECS listener serves.
#[derive(Clone, Debug)]
pub struct EcsConfig {
    /// The bound address.
    pub listen: SocketAddr,
    /// Served at `/role/<profile>`; the first also at `/`.
    pub profiles: Vec<String>,
    /// Client networks admitted on a non-loopback `listen`.
    pub allowed_networks: Vec<IpNet>,
    /// Local users served besides the daemon's own and root.
    pub allowed_users: AllowedUsers,
    /// Per profile, the users served that profile instead of `allowed_users`.
    pub profile_users: BTreeMap<String, AllowedUsers>,
    /// The `Authorization` value clients must send ([`load_or_create_token`]).
    pub token: Secret,
    /// The capability ids ([`load_or_create_capabilities`]).
    pub capabilities: CapabilityIds,
}

/// The profile paths: this and the profile's name.
const ROLE_PREFIX: &str = "/role/";
/// The capability paths: this and the id.
const CAPABILITY_PREFIX: &str = "/v2/credentials/";

/// Where the ECS capability ids are kept, under the state dir.
pub const CAPABILITIES_FILE: &str = "ecs-capabilities.json";

impl EcsConfig {
    /// The config of `listener`, bound at `bound`: reads (or creates) the token file and the
    /// capability ids kept in `state_dir`.
    pub fn from_listener(
        listener: &EcsListener,
        bound: SocketAddr,
        state_dir: &std::path::Path,
        random: &dyn Random,
    ) -> Result<Self, EcsFileError> {
        Ok(Self {
            listen: bound,
            profiles: listener.profiles.clone(),
            allowed_networks: listener.allowed_networks.clone(),
            allowed_users: listener.allowed_users.clone(),
            profile_users: listener.profile_users.clone(),
            token: load_or_create_token(&listener.token_file, random)?,
            capabilities: load_or_create_capabilities(
                &state_dir.join(CAPABILITIES_FILE),
                &listener.profiles,
                random,
            )?,
        })
    }
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
    /// Each profile's credential body as last rendered.
    rendered: Rendered,
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
            allowed_users: guard_users(&config),
            own_uid: nix::unistd::geteuid().as_raw(),
            metadata_hosts: guard::ECS_HOSTS,
            audit: services.audit.clone(),
            render: ApiError::json,
        });
        Self(Arc::new(Inner {
            config,
            services,
            guard,
            label,
            rendered: Rendered::default(),
        }))
    }

    pub(crate) fn guard(&self) -> Arc<Guard> {
        self.0.guard.clone()
    }

    pub(crate) fn services(&self) -> &Services {
        &self.0.services
    }
}

/// Whom the guard lets on to the profiles: anyone admitted to at least one of them (each
/// profile's own list is checked when it is served).
fn guard_users(config: &EcsConfig) -> AllowedUsers {
    let mut users = config.allowed_users.clone();
    for more in config.profile_users.values() {
        users.anyone |= more.anyone;
        users.uids.extend(&more.uids);
    }
    users
}

pub(crate) fn routes(state: EcsState) -> Router {
    Router::new()
        .route("/", get(get_first_profile))
        .route(&format!("{ROLE_PREFIX}{{profile}}"), get(get_profile))
        .route(&format!("{CAPABILITY_PREFIX}{{id}}"), get(get_capability))
        .fallback(|| async { EcsError(ApiError::NotFound) })
        .with_state(state)
}

/// The requests container clients repeat, answered past the router (see `routers.rs`): the
/// GET of a configured profile or of a capability path. `None` for anything else.
pub(crate) async fn shortcut(
    s: &EcsState,
    client: &Client,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Option<Response> {
    if *method != Method::GET {
        return None;
    }
    if let Some(name) = path.strip_prefix(ROLE_PREFIX) {
        let profile = s.0.config.profiles.iter().find(|p| *p == name)?;
        return Some(authorized(s, client, path, headers, Some(profile)).await);
    }
    let id = path.strip_prefix(CAPABILITY_PREFIX)?;
    // What the route's `{id}` would take: one non-empty segment.
    if id.is_empty() || id.contains('/') {
        return None;
    }
    Some(capability(s, client, path, id).await)
}

async fn get_first_profile(State(s): State<EcsState>, req: Request) -> Response {
    let client = guard::client_of(&req);
    let first = s.0.config.profiles.first().map(String::as_str);
    authorized(&s, &client, req.uri().path(), req.headers(), first).await
}

async fn get_profile(
    State(s): State<EcsState>,
    Path(profile): Path<String>,
    req: Request,
) -> Response {
    let client = guard::client_of(&req);
    let known = s.0.config.profiles.iter().find(|p| **p == profile);
    authorized(
        &s,
        &client,
        req.uri().path(),
        req.headers(),
        known.map(String::as_str),
    )
    .await
}

/// Checks `Authorization`, then serves `profile` (`None`: not one of ours, 404).
async fn authorized(
    s: &EcsState,
    client: &Client,
    path: &str,
    headers: &HeaderMap,
    profile: Option<&str>,
) -> Response {
    let error = match headers.get(header::AUTHORIZATION) {
        None => Some(ApiError::AuthMissing),
        Some(v) if !ct_eq(v.as_bytes(), s.0.config.token.expose().as_bytes()) => {
            Some(ApiError::AuthWrong)
        }
        Some(_) => None,
    };
    if let Some(e) = error {
        return s.0.guard.deny(client, path, e);
    }
    match profile {
        Some(p) => serve(s, client, path, p).await,
        None => EcsError(ApiError::NotFound).into_response(),
    }
}

async fn get_capability(
    State(s): State<EcsState>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let client = guard::client_of(&req);
    capability(&s, &client, req.uri().path(), &id).await
}

async fn capability(s: &EcsState, client: &Client, path: &str, id: &str) -> Response {
    match s.0.config.capabilities.profile_of(id) {
        Some(p) => serve(s, client, path, p).await,
        // Someone holding a wrong or revoked id is worth a record.
        None => {
            s.0.guard
                .deny_because(client, path, ApiError::NotFound, "UnknownCapability")
        }
    }
}

async fn serve(s: &EcsState, client: &Client, path: &str, profile: &str) -> Response {
    let users = s.0.config.profile_users.get(profile);
    if let Some(users) = users
        && !s.0.guard.user_allowed(&client.caller, users)
    {
        return s.0.guard.deny(client, path, ApiError::UserNotAllowed);
    }
    let served = match wire::fetch(&s.0.services, profile).await {
        Ok(served) => served,
        Err(e) => return EcsError(e).into_response(),
    };
    wire::record_served(&s.0.services, client, &s.0.label, path, &served);
    let body = s.0.rendered.body(&served, wire::ecs_body);
    let json = HeaderValue::from_static("application/json");
    ([(header::CONTENT_TYPE, json)], body).into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::audit::AuditEvent;
    use crate::cache::CacheError;
    use crate::server::ecs_router;
    use crate::test_util::*;
    use axum::body::Body;
    use axum::http::StatusCode;

    const TOKEN: &str = "ECSTOKENMARKER0123456789abcdef0123456789";
    const DEV_ID: &str = "0123456789abcdef0123456789abcdefcafe";
    const HOST: &str = "127.0.0.1:8170";
    const LOCAL: &str = "127.0.0.1:41000";

    struct Fixture {
        router: crate::server::Endpoint,
        audit: Arc<RecordingAudit>,
        cache: Arc<FakeCache>,
    }

    fn fixture() -> Fixture {
        let cache = Arc::new(FakeCache::serving(&["dev", "prod"]));
        let (services, audit, _clock) = services(cache.clone());
        let config = EcsConfig {
            listen: "127.0.0.1:8170".parse().unwrap(),
            profiles: vec!["dev".into(), "prod".into()],
            allowed_networks: vec![],
            allowed_users: crate::config::AllowedUsers::default(),
            profile_users: BTreeMap::new(),
            token: Secret::new(TOKEN),
            capabilities: CapabilityIds(BTreeMap::from([("dev".to_owned(), DEV_ID.to_owned())])),
        };
        Fixture {
            router: ecs_router(EcsState::new(config, services)),
            audit,
            cache,
        }
    }

    impl Fixture {
        async fn get(
            &self,
            path: &str,
            auth: Option<&str>,
        ) -> (StatusCode, Option<String>, String) {
            let mut req = request("GET", path, HOST).header("accept", "application/json");
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let (resp, body) = send(&self.router, LOCAL, req.body(Body::empty()).unwrap()).await;
            assert_no_cors(&resp);
            let ct = resp
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            (resp.status(), ct, body)
        }
    }

    fn assert_no_credentials(body: &str) {
        for marker in [SECRET_MARK, TOKEN_MARK, KEY_ID, TOKEN] {
            assert!(!body.contains(marker), "{body}");
        }
    }

    #[tokio::test]
    async fn a_missing_authorization_is_401_with_a_json_error() {
        let f = fixture();
        for path in ["/", "/role/dev", "/role/nope"] {
            let (status, ct, body) = f.get(path, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(ct.as_deref(), Some("application/json"));
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert!(json["code"].is_string() && json["message"].is_string());
            assert_no_credentials(&body);
        }
        let events = f.audit.take();
        assert_eq!(events.len(), 3);
        assert!(events.iter().all(|e| matches!(
            e,
            AuditEvent::Denied { reason, listener, .. }
                if reason == "MissingAuthorization" && listener == "ecs@127.0.0.1:8170"
        )));
    }

    #[tokio::test]
    async fn a_wrong_authorization_is_403_with_a_json_error() {
        let f = fixture();
        let shorter = &TOKEN[..TOKEN.len() - 1];
        let same_length = format!("{shorter}X");
        for auth in [
            "wrong",
            shorter,
            &same_length,
            &format!("Bearer {TOKEN}"),
            &format!("{TOKEN}x"),
        ] {
            let (status, ct, body) = f.get("/role/dev", Some(auth)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{auth}");
            assert_eq!(ct.as_deref(), Some("application/json"));
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&body).unwrap()["code"],
                "InvalidAuthorization"
            );
            assert_no_credentials(&body);
        }
    }

    #[tokio::test]
    async fn an_unknown_profile_is_404_once_authorized() {
        let f = fixture();
        let (status, _, body) = f.get("/role/nope", Some(TOKEN)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_no_credentials(&body);
        assert_eq!(f.get("/nope", Some(TOKEN)).await.0, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn an_authorized_request_gets_json_credentials() {
        let f = fixture();
        for (path, profile) in [("/role/dev", "dev"), ("/", "dev"), ("/role/prod", "prod")] {
            let (status, ct, body) = f.get(path, Some(TOKEN)).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(ct.as_deref(), Some("application/json"));
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(json["AccessKeyId"], KEY_ID);
            assert_eq!(json["SecretAccessKey"], SECRET_MARK);
            assert_eq!(json["Token"], TOKEN_MARK);
            assert_eq!(json["Expiration"], "2026-11-22T11:00:00Z");
            assert_eq!(json["RoleArn"], "arn:aws:iam::123456789012:role/dev-role");
            assert_eq!(json["AccountId"], "123456789012");
            assert_eq!(
                f.audit.take(),
                [AuditEvent::Served {
                    client: LOCAL.parse().unwrap(),
                    caller: Client::in_process(LOCAL.parse().unwrap()).caller,
                    listener: "ecs@127.0.0.1:8170".into(),
                    path: path.into(),
                    profile: profile.into(),
                    access_key_id: KEY_ID.into(),
                }]
            );
        }
    }

    #[tokio::test]
    async fn the_capability_path_needs_no_authorization_and_hides_its_id_in_the_audit() {
        let f = fixture();
        let (status, ct, body) = f.get(&format!("/v2/credentials/{DEV_ID}"), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ct.as_deref(), Some("application/json"));
        assert!(body.contains(TOKEN_MARK));
        let wrong = format!("{}0", &DEV_ID[..DEV_ID.len() - 1]);
        for path in [
            format!("/v2/credentials/{wrong}"),
            "/v2/credentials/x".into(),
        ] {
            let (status, _, body) = f.get(&path, Some(TOKEN)).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert_no_credentials(&body);
        }
        let events = f.audit.take();
        let shown = format!("{events:?}");
        assert!(
            !shown.contains(DEV_ID) && !shown.contains(&wrong),
            "{shown}"
        );
        assert!(matches!(
            &events[0],
            AuditEvent::Served { path, profile, .. }
                if path == "/v2/credentials/****cafe" && profile == "dev"
        ));
        assert!(matches!(
            &events[1],
            AuditEvent::Denied { reason, .. } if reason == "UnknownCapability"
        ));
    }

    #[tokio::test]
    async fn cache_failures_are_503_json_without_internal_text() {
        let f = fixture();
        f.cache.set(
            "dev",
            Err(CacheError::NoValidCredentials {
                profile: "dev".into(),
                last_error: "INTERNALDETAIL throttled".into(),
            }),
        );
        let (status, ct, body) = f.get("/role/dev", Some(TOKEN)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(ct.as_deref(), Some("application/json"));
        assert!(!body.contains("INTERNALDETAIL"), "{body}");
        f.cache
            .set("dev", Err(CacheError::UnknownProfile("dev".into())));
        let (status, _, body) = f.get("/role/dev", Some(TOKEN)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body,
            r#"{"code":"InternalError","message":"internal error"}"#
        );
    }

    #[tokio::test]
    async fn guards_apply_to_the_ecs_listener_too() {
        let f = fixture();
        let req = request("GET", "/role/dev", "rebind.example:8170")
            .header("authorization", TOKEN)
            .body(Body::empty())
            .unwrap();
        let (resp, body) = send(&f.router, LOCAL, req).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert_no_credentials(&body);
        let req = request("GET", "/role/dev", HOST)
            .header("authorization", TOKEN)
            .body(Body::empty())
            .unwrap();
        let (resp, _) = send(&f.router, "10.1.2.3:5000", req).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let req = request("OPTIONS", "/role/dev", HOST)
            .header("origin", "http://evil.example")
            .body(Body::empty())
            .unwrap();
        let (resp, _) = send(&f.router, LOCAL, req).await;
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_no_cors(&resp);
    }

    #[tokio::test]
    async fn logs_never_show_tokens_secrets_or_capability_ids() {
        let (captured, _guard) =
            crate::test_util::logs::CapturedLogs::install(tracing::Level::TRACE);
        let mut f = fixture();
        f.router = f.router.logging_requests();
        // Tests on other threads may register these callsites while this thread-local subscriber
        // is not yet counted, caching "never": once every callsite is registered, recompute.
        f.get("/role/dev", Some(TOKEN)).await;
        tracing::callsite::rebuild_interest_cache();
        captured.clear();
        f.get("/role/dev", Some(TOKEN)).await;
        f.get("/role/dev", Some("wrong")).await;
        f.get(&format!("/v2/credentials/{DEV_ID}"), None).await;
        f.cache.set(
            "dev",
            Err(CacheError::NoValidCredentials {
                profile: "dev".into(),
                last_error: "expired".into(),
            }),
        );
        f.get("/role/dev", Some(TOKEN)).await;
        let logs = captured.text();
        // The request log names the path with any capability id masked, as the audit log does.
        assert!(logs.contains("path=/role/dev"), "{logs}");
        assert!(logs.contains("path=/v2/credentials/****"), "{logs}");
        for marker in [TOKEN, SECRET_MARK, TOKEN_MARK, DEV_ID] {
            assert!(!logs.contains(marker), "{marker} in {logs}");
        }
    }
}
