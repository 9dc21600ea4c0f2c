//! The EC2 instance metadata endpoint of one listener: the IMDSv2 token PUT and the metadata
//! paths SDKs read (docs/wire-contract.md §1-§3), serving one profile as the instance's role.
//!
//! Listings end without a newline and leaf paths answer with or without a trailing slash
//! (botocore asks for `placement/availability-zone/`). Bodies are text/plain, as on EC2.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, Request, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use sha2::{Digest, Sha256};

use crate::clock::format_timestamp;
use crate::hex;
use crate::random::Random;
use crate::server::client::Client;
use crate::server::error::ApiError;
use crate::server::guard::{self, Guard};
use crate::server::services::Services;
use crate::server::wire::{self, Rendered};

mod config;
mod labels;
mod token;

pub use config::{ImdsConfig, PublicKey};
use labels::Choice;
pub use labels::Labels;

use token::{TokenError, TokenIssuer};

const TOKEN_PATH: &str = "/latest/api/token";
const CREDS: &str = "/latest/meta-data/iam/security-credentials";
/// `CREDS` + this: the extended document (with `AccountId`).
const EXTENDED: &str = "-extended";
const TTL_HEADER: HeaderName = HeaderName::from_static("x-aws-ec2-metadata-token-ttl-seconds");
/// What axum gives a `String` body, and what the real IMDS sends.
const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const TOKEN_HEADER: HeaderName = HeaderName::from_static("x-aws-ec2-metadata-token");
/// Proxy headers: a token PUT that carries one came through a proxy, which IMDSv2 refuses.
const FORWARDED_HEADERS: [HeaderName; 2] = [
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("forwarded"),
];

/// The state of one IMDS listener; cheap to clone.
#[derive(Clone, Debug)]
pub struct ImdsState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    config: ImdsConfig,
    services: Services,
    tokens: TokenIssuer,
    guard: Arc<Guard>,
    label: String,
    instance_id: String,
    image_id: String,
    instance_profile_id: String,
    pending_time: String,
    /// The credential bodies as last rendered: `[plain, extended]`.
    rendered: [Rendered; 2],
}

impl ImdsState {
    /// A listener's state; the token key is drawn from `random` now.
    pub fn new(config: ImdsConfig, services: Services, random: &dyn Random) -> Self {
        let label = format!("imds@{}", config.listen);
        let digest = hex::encode(&Sha256::digest(config.profile.as_bytes()));
        let guard = Arc::new(Guard {
            label: label.clone(),
            listen: config.listen,
            allowed_networks: config.allowed_networks.clone(),
            allowed_users: config.allowed_users.clone(),
            own_uid: nix::unistd::geteuid().as_raw(),
            metadata_hosts: guard::IMDS_HOSTS,
            audit: services.audit.clone(),
            render: IntoResponse::into_response,
        });
        Self(Arc::new(Inner {
            tokens: TokenIssuer::new(random, label.clone()),
            instance_id: format!("i-{}", &digest[..17]),
            image_id: format!("ami-{}", &digest[17..34]),
            instance_profile_id: format!("AIPA{}", digest[34..51].to_uppercase()),
            pending_time: format_timestamp(services.clock.now()),
            rendered: Default::default(),
            guard,
            label,
            config,
            services,
        }))
    }

    pub(crate) fn guard(&self) -> Arc<Guard> {
        self.0.guard.clone()
    }

    pub(crate) fn services(&self) -> &Services {
        &self.0.services
    }
}

/// Adds `path` and `path/` for a GET handler.
fn leaf<H, T>(router: Router<ImdsState>, path: &str, handler: H) -> Router<ImdsState>
where
    H: Handler<T, ImdsState>,
    T: 'static,
{
    router
        .route(path, get(handler.clone()))
        .route(&format!("{path}/"), get(handler))
}

/// A GET answering a fixed listing.
fn listing(router: Router<ImdsState>, path: &str, body: &'static str) -> Router<ImdsState> {
    leaf(router, path, move || async move { body })
}

pub(crate) fn routes(state: ImdsState) -> Router {
    const MD: &str = "/latest/meta-data";
    let ext = format!("{CREDS}{EXTENDED}");
    let mut r = Router::new().route(TOKEN_PATH, put(put_token));
    r = listing(r, "/latest", "dynamic\nmeta-data");
    r = leaf(r, MD, get_meta_data);
    r = listing(r, &format!("{MD}/iam"), "info\nsecurity-credentials/");
    r = leaf(r, &format!("{MD}/iam/info"), get_iam_info);
    r = leaf(r, CREDS, get_role_name);
    r = leaf(r, &format!("{CREDS}/{{role}}"), get_credentials);
    r = leaf(r, &ext, get_role_name);
    r = leaf(r, &format!("{ext}/{{role}}"), get_extended_credentials);
    r = listing(r, &format!("{MD}/placement"), "availability-zone\nregion");
    r = leaf(r, &format!("{MD}/placement/region"), get_region);
    r = leaf(r, &format!("{MD}/placement/availability-zone"), get_zone);
    r = leaf(r, &format!("{MD}/instance-id"), get_instance_id);
    r = leaf(r, &format!("{MD}/public-keys"), get_public_keys);
    r = leaf(r, &format!("{MD}/public-keys/0"), get_public_key_formats);
    r = leaf(
        r,
        &format!("{MD}/public-keys/0/openssh-key"),
        get_public_key,
    );
    r = listing(r, "/latest/dynamic", "instance-identity/");
    r = listing(r, "/latest/dynamic/instance-identity", "document");
    r = leaf(
        r,
        "/latest/dynamic/instance-identity/document",
        get_document,
    );
    r.fallback(|| async { ApiError::NotFound })
        .with_state(state)
}

/// Why a GET's token was refused; its name is the reason in the `denied` record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TokenRefusal {
    /// No token on a v2-only listener.
    Missing,
    /// Forged, malformed, or from another listener or process.
    Invalid,
    /// Past its TTL.
    Expired,
}

impl TokenRefusal {
    fn reason(self) -> &'static str {
        match self {
            Self::Missing => "MissingToken",
            Self::Invalid => "InvalidToken",
            Self::Expired => "ExpiredToken",
        }
    }

    fn error(self) -> ApiError {
        match self {
            Self::Missing => ApiError::TokenMissing,
            Self::Invalid | Self::Expired => ApiError::TokenInvalid,
        }
    }
}

impl From<TokenError> for TokenRefusal {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Forged => Self::Invalid,
            TokenError::Expired => Self::Expired,
        }
    }
}

/// IMDSv2: every GET but the token PUT needs a valid token, or none at all in v1 mode. The
/// refusal to send (already recorded), or `None` to let the request on.
pub(crate) fn refusal(
    s: &ImdsState,
    client: &Client,
    path: &str,
    headers: &HeaderMap,
) -> Option<Response> {
    if let Err(reason) = s.choice(client) {
        return Some(
            s.0.guard
                .deny_because(client, path, ApiError::PeerNotAllowed, reason),
        );
    }
    if path == TOKEN_PATH {
        return None;
    }
    let s = &s.0;
    let verdict = match headers.get(TOKEN_HEADER) {
        None if s.config.imdsv1 => Ok(()),
        None => Err(TokenRefusal::Missing),
        Some(v) => match v.to_str() {
            Ok(t) => s
                .tokens
                .verify(t, s.services.clock.now())
                .map_err(TokenRefusal::from),
            Err(_) => Err(TokenRefusal::Invalid),
        },
    };
    verdict.err().map(|refusal| {
        s.guard
            .deny_because(client, path, refusal.error(), refusal.reason())
    })
}

/// The requests SDKs repeat, answered past the router (see `routers.rs`): the token PUT and
/// the GET of this listener's role, plain or extended. `None` for anything else.
pub(crate) async fn shortcut(
    s: &ImdsState,
    client: &Client,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Option<Response> {
    if *method == Method::PUT && path == TOKEN_PATH {
        return Some(issue_token(s, client, headers));
    }
    if *method != Method::GET {
        return None;
    }
    let choice = s.choice(client).ok()?;
    let extended = s.credential_path(path, choice.role_name)?;
    Some(serve_credentials(s, client, path, extended, choice.profile).await)
}

impl ImdsState {
    /// The profile and role `client` is served (see `labels.rs`), or the refusal's reason.
    fn choice(&self, client: &Client) -> Result<Choice<'_>, &'static str> {
        let config = &self.0.config;
        let default = Choice {
            profile: &config.profile,
            role_name: &config.role_name,
        };
        config.labels.choose(&client.caller, default)
    }

    /// Whether `path` is `role_name` under `security-credentials/` (`Some(false)`) or
    /// `security-credentials-extended/` (`Some(true)`), with or without a trailing slash.
    fn credential_path(&self, path: &str, role_name: &str) -> Option<bool> {
        let rest = path.strip_prefix(CREDS)?;
        let (extended, rest) = match rest.strip_prefix(EXTENDED) {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        let role = rest.strip_prefix('/')?;
        let role = role.strip_suffix('/').unwrap_or(role);
        (role == role_name).then_some(extended)
    }
}

async fn put_token(State(s): State<ImdsState>, req: Request) -> Response {
    let client = guard::client_of(&req);
    issue_token(&s, &client, req.headers())
}

fn issue_token(s: &ImdsState, client: &Client, headers: &HeaderMap) -> Response {
    if FORWARDED_HEADERS.iter().any(|h| headers.contains_key(h)) {
        return s.0.guard.deny(client, TOKEN_PATH, ApiError::Forwarded);
    }
    let ttl = headers
        .get(TTL_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(TokenIssuer::parse_ttl);
    let Some(ttl) = ttl else {
        return s.0.guard.deny(client, TOKEN_PATH, ApiError::BadTtl);
    };
    let token = s.0.tokens.issue(s.0.services.clock.now(), ttl);
    let mut resp = token.into_response();
    resp.headers_mut()
        .insert(TTL_HEADER, HeaderValue::from(ttl));
    resp
}

async fn get_meta_data(State(s): State<ImdsState>) -> String {
    let mut items = vec!["iam/", "instance-id", "placement/"];
    if s.0.config.public_key.is_some() {
        items.push("public-keys/");
    }
    items.join("\n")
}

async fn get_role_name(State(s): State<ImdsState>, req: Request) -> String {
    let client = guard::client_of(&req);
    // Refused choices never get here (`refusal`); the default is only a fallback.
    s.choice(&client)
        .map_or(s.0.config.role_name.as_str(), |c| c.role_name)
        .to_owned()
}

async fn get_credentials(s: State<ImdsState>, role: UrlPath<String>, req: Request) -> Response {
    credentials_route(s, role, req, false).await
}

async fn get_extended_credentials(
    s: State<ImdsState>,
    role: UrlPath<String>,
    req: Request,
) -> Response {
    credentials_route(s, role, req, true).await
}

/// A credential GET that the shortcut did not take: another role (404), or a role name
/// spelled with escapes.
async fn credentials_route(
    State(s): State<ImdsState>,
    UrlPath(role): UrlPath<String>,
    req: Request,
    extended: bool,
) -> Response {
    let client = guard::client_of(&req);
    let Ok(choice) = s.choice(&client) else {
        return ApiError::NotFound.into_response();
    };
    if role != choice.role_name {
        return ApiError::NotFound.into_response();
    }
    serve_credentials(&s, &client, req.uri().path(), extended, choice.profile).await
}

async fn serve_credentials(
    s: &ImdsState,
    client: &Client,
    path: &str,
    extended: bool,
    profile: &str,
) -> Response {
    let served = match wire::fetch(&s.0.services, profile).await {
        Ok(served) => served,
        Err(e) => return e.into_response(),
    };
    wire::record_served(&s.0.services, client, &s.0.label, path, &served);
    let rendered = &s.0.rendered[usize::from(extended)];
    let body = rendered.body(&served, |served| wire::imds_body(served, extended));
    ([(header::CONTENT_TYPE, TEXT_PLAIN)], body).into_response()
}

/// The account: configured, else from the cache (which may be cold: then unknown).
async fn account_id(s: &ImdsState) -> Option<String> {
    if let Some(a) = &s.0.config.account_id {
        return Some(a.clone());
    }
    let served = s.0.services.credentials.credentials(&s.0.config.profile);
    served.await.ok().and_then(|sv| sv.account_id.clone())
}

async fn get_iam_info(State(s): State<ImdsState>) -> Result<String, ApiError> {
    let account = account_id(&s).await.ok_or(ApiError::NoCredentials)?;
    let body = serde_json::json!({
        "Code": "Success",
        "LastUpdated": format_timestamp(s.0.services.clock.now()),
        "InstanceProfileArn": format!(
            "arn:aws:iam::{account}:instance-profile/{}", s.0.config.role_name
        ),
        "InstanceProfileId": s.0.instance_profile_id,
    });
    Ok(body.to_string())
}

async fn get_region(State(s): State<ImdsState>) -> String {
    s.0.config.region.clone()
}

async fn get_zone(State(s): State<ImdsState>) -> String {
    format!("{}a", s.0.config.region)
}

async fn get_instance_id(State(s): State<ImdsState>) -> String {
    s.0.instance_id.clone()
}

async fn get_public_keys(State(s): State<ImdsState>) -> Result<String, ApiError> {
    let key = s.0.config.public_key.as_ref().ok_or(ApiError::NotFound)?;
    Ok(format!("0={}", key.name))
}

async fn get_public_key_formats(State(s): State<ImdsState>) -> Result<&'static str, ApiError> {
    s.0.config
        .public_key
        .as_ref()
        .map(|_| "openssh-key")
        .ok_or(ApiError::NotFound)
}

async fn get_public_key(State(s): State<ImdsState>) -> Result<String, ApiError> {
    let key = s.0.config.public_key.as_ref().ok_or(ApiError::NotFound)?;
    Ok(key.openssh.clone())
}

/// EC2's names for the machine architecture.
fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        "x86" => "i386",
        other => other,
    }
}

async fn get_document(State(s): State<ImdsState>) -> Response {
    let c = &s.0.config;
    let body = serde_json::json!({
        "accountId": account_id(&s).await,
        "architecture": architecture(),
        "availabilityZone": format!("{}a", c.region),
        "billingProducts": null,
        "devpayProductCodes": null,
        "marketplaceProductCodes": null,
        "imageId": s.0.image_id,
        "instanceId": s.0.instance_id,
        "instanceType": "t3.micro",
        "kernelId": null,
        "pendingTime": s.0.pending_time,
        "privateIp": c.listen.ip().to_string(),
        "ramdiskId": null,
        "region": c.region,
        "version": "2017-09-30",
    });
    (StatusCode::OK, body.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditEvent;
    use crate::cache::CacheError;
    use crate::clock::ManualClock;
    use crate::config::IpNet;
    use crate::random::OsRandom;
    use crate::server::imds_router;
    use crate::test_util::*;
    use axum::body::Body;
    use axum::http::{HeaderMap, StatusCode};

    const HOST: &str = "169.254.169.254";
    const LOCAL: &str = "127.0.0.1:40000";
    const CREDS: &str = "/latest/meta-data/iam/security-credentials/";
    const EXT: &str = "/latest/meta-data/iam/security-credentials-extended/";

    struct Fixture {
        router: crate::server::Endpoint,
        audit: Arc<crate::test_util::RecordingAudit>,
        clock: Arc<ManualClock>,
        cache: Arc<FakeCache>,
    }

    fn config(imdsv1: bool) -> ImdsConfig {
        ImdsConfig {
            listen: "127.0.0.1:8169".parse().unwrap(),
            profile: "dev".into(),
            role_name: "dev-role".into(),
            region: "eu-west-1".into(),
            imdsv1,
            public_key: Some(PublicKey {
                name: "me@laptop".into(),
                openssh: "ssh-ed25519 AAAAC3Nza me@laptop".into(),
            }),
            allowed_networks: vec![],
            allowed_users: crate::config::AllowedUsers::default(),
            account_id: None,
            labels: Default::default(),
        }
    }

    fn fixture_with(config: ImdsConfig) -> Fixture {
        let cache = Arc::new(FakeCache::serving(&["dev"]));
        let (services, audit, clock) = services(cache.clone());
        let router = imds_router(ImdsState::new(config, services, &OsRandom));
        Fixture {
            router,
            audit,
            clock,
            cache,
        }
    }

    fn fixture(imdsv1: bool) -> Fixture {
        fixture_with(config(imdsv1))
    }

    impl Fixture {
        async fn token(&self, ttl: &str) -> (StatusCode, HeaderMap, String) {
            let req = request("PUT", TOKEN_PATH, HOST)
                .header("x-aws-ec2-metadata-token-ttl-seconds", ttl)
                .body(Body::empty())
                .unwrap();
            let (resp, body) = send(&self.router, LOCAL, req).await;
            assert_no_cors(&resp);
            (resp.status(), resp.headers().clone(), body)
        }

        async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, String) {
            let mut req = request("GET", path, HOST);
            if let Some(t) = token {
                req = req.header("x-aws-ec2-metadata-token", t);
            }
            let (resp, body) = send(&self.router, LOCAL, req.body(Body::empty()).unwrap()).await;
            assert_no_cors(&resp);
            (resp.status(), body)
        }

        /// GET with a fresh token.
        async fn get_v2(&self, path: &str) -> (StatusCode, String) {
            let (_, _, token) = self.token("21600").await;
            self.get(path, Some(&token)).await
        }

        fn denied_reasons(&self) -> Vec<String> {
            self.audit
                .take()
                .into_iter()
                .filter_map(|e| match e {
                    AuditEvent::Denied { reason, .. } => Some(reason),
                    _ => None,
                })
                .collect()
        }
    }

    #[tokio::test]
    async fn token_put_answers_the_token_and_echoes_the_ttl() {
        let f = fixture(false);
        let (status, headers, token) = f.token("21600").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["x-aws-ec2-metadata-token-ttl-seconds"], "21600");
        assert!(HeaderValue::from_str(&token).is_ok());
        assert!(token.len() >= 40, "{token}");
        let (status, headers, _) = f.token("1").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["x-aws-ec2-metadata-token-ttl-seconds"], "1");
    }

    #[tokio::test]
    async fn token_put_with_a_bad_ttl_is_400() {
        let f = fixture(false);
        for ttl in ["0", "21601", "abc", "", "-1"] {
            let (status, headers, body) = f.token(ttl).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{ttl:?}");
            assert!(!headers.contains_key("x-aws-ec2-metadata-token-ttl-seconds"));
            assert!(!body.is_empty() && body.len() < 80, "{body}");
        }
        let req = request("PUT", TOKEN_PATH, HOST)
            .body(Body::empty())
            .unwrap();
        let (resp, _) = send(&f.router, LOCAL, req).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "missing ttl");
    }

    #[tokio::test]
    async fn token_put_through_a_proxy_is_403_and_audited() {
        let f = fixture(false);
        for (name, value) in [
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9;proto=http"),
        ] {
            let req = request("PUT", TOKEN_PATH, HOST)
                .header("x-aws-ec2-metadata-token-ttl-seconds", "60")
                .header(name, value)
                .body(Body::empty())
                .unwrap();
            let (resp, body) = send(&f.router, LOCAL, req).await;
            assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{name}");
            assert!(!body.contains("203.0.113.9"));
        }
        assert_eq!(f.denied_reasons(), ["ForwardedRequest", "ForwardedRequest"]);
    }

    #[tokio::test]
    async fn an_absolute_form_target_must_name_us_like_host() {
        let f = fixture(true);
        let req = request("GET", "http://evil.example/latest/meta-data/", HOST)
            .body(Body::empty())
            .unwrap();
        let (resp, _) = send(&f.router, LOCAL, req).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(f.denied_reasons(), ["HostNotAllowed"]);
        let ours = format!("http://{HOST}/latest/meta-data/");
        let req = request("GET", &ours, HOST).body(Body::empty()).unwrap();
        let (resp, _) = send(&f.router, LOCAL, req).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn other_methods_on_the_token_path_are_405() {
        let f = fixture(false);
        for method in ["GET", "POST", "DELETE", "OPTIONS"] {
            let req = request(method, TOKEN_PATH, HOST)
                .header("x-aws-ec2-metadata-token-ttl-seconds", "60")
                .body(Body::empty())
                .unwrap();
            let (resp, _) = send(&f.router, LOCAL, req).await;
            assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
            assert_no_cors(&resp);
        }
    }

    #[tokio::test]
    async fn a_v2_only_listener_refuses_a_tokenless_get_and_v1_answers_it() {
        let v2 = fixture(false);
        assert_eq!(
            v2.get(CREDS, None).await.0,
            StatusCode::UNAUTHORIZED,
            "v2-only without token"
        );
        assert_eq!(v2.denied_reasons(), ["MissingToken"]);
        assert_eq!(v2.get_v2(CREDS).await, (StatusCode::OK, "dev-role".into()));
        let v1 = fixture(true);
        assert_eq!(
            v1.get(CREDS, None).await,
            (StatusCode::OK, "dev-role".into())
        );
    }

    #[tokio::test]
    async fn forged_and_expired_tokens_are_401_in_both_modes() {
        for imdsv1 in [false, true] {
            let f = fixture(imdsv1);
            let (_, _, token) = f.token("60").await;
            assert_eq!(f.get(CREDS, Some(&token)).await.0, StatusCode::OK);
            let other = fixture(imdsv1);
            let (_, _, foreign) = other.token("60").await;
            for bad in [foreign.as_str(), "not-a-token", &token[..20]] {
                assert_eq!(
                    f.get(CREDS, Some(bad)).await.0,
                    StatusCode::UNAUTHORIZED,
                    "{bad}"
                );
            }
            f.clock.advance(time::Duration::seconds(59));
            assert_eq!(f.get(CREDS, Some(&token)).await.0, StatusCode::OK);
            f.clock.advance(time::Duration::seconds(1));
            let (status, body) = f.get(CREDS, Some(&token)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "expired, v1={imdsv1}");
            assert!(!body.contains(&token));
            let reasons = f.denied_reasons();
            assert_eq!(reasons.iter().filter(|r| *r == "InvalidToken").count(), 3);
            assert_eq!(reasons.last().unwrap(), "ExpiredToken");
        }
    }

    #[tokio::test]
    async fn the_role_list_is_exactly_the_role_name() {
        let f = fixture(false);
        for path in [CREDS, EXT, CREDS.trim_end_matches('/')] {
            assert_eq!(f.get_v2(path).await, (StatusCode::OK, "dev-role".into()));
        }
    }

    #[tokio::test]
    async fn credentials_have_the_sdk_field_names_and_whole_second_utc_times() {
        let f = fixture(false);
        let (status, body) = f.get_v2(&format!("{CREDS}dev-role")).await;
        assert_eq!(status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["Code"], "Success");
        assert_eq!(json["Type"], "AWS-HMAC");
        assert_eq!(json["AccessKeyId"], KEY_ID);
        assert_eq!(json["SecretAccessKey"], SECRET_MARK);
        assert_eq!(json["Token"], TOKEN_MARK);
        assert_eq!(json["Expiration"], "2026-11-22T11:00:00Z");
        assert_eq!(json["LastUpdated"], "2026-11-22T10:00:00Z");
        assert!(json.get("AccountId").is_none());
        let served: Vec<_> = f.audit.take();
        assert_eq!(
            served,
            [AuditEvent::Served {
                client: LOCAL.parse().unwrap(),
                caller: Client::in_process(LOCAL.parse().unwrap()).caller,
                listener: "imds@127.0.0.1:8169".into(),
                path: format!("{CREDS}dev-role"),
                profile: "dev".into(),
                access_key_id: KEY_ID.into(),
            }]
        );
    }

    #[tokio::test]
    async fn the_extended_path_adds_the_account_id() {
        let f = fixture(false);
        for path in [format!("{EXT}dev-role"), format!("{EXT}dev-role/")] {
            let (status, body) = f.get_v2(&path).await;
            assert_eq!(status, StatusCode::OK);
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(json["AccountId"], "123456789012");
            assert_eq!(json["Token"], TOKEN_MARK);
        }
    }

    #[tokio::test]
    async fn the_shortcut_and_the_route_answer_a_credential_get_alike() {
        let f = fixture(false);
        // The exact name takes the front's shortcut; an escaped one goes through axum's route.
        let fast = f.get_v2(&format!("{CREDS}dev-role")).await;
        let routed = f.get_v2(&format!("{CREDS}dev%2Drole")).await;
        assert_eq!(fast.0, StatusCode::OK);
        assert_eq!(fast, routed);
        let paths: Vec<_> = f
            .audit
            .take()
            .into_iter()
            .map(|e| match e {
                AuditEvent::Served { path, .. } => path,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            paths,
            [format!("{CREDS}dev-role"), format!("{CREDS}dev%2Drole")]
        );
        // Methods the shortcut leaves alone get the route's answers.
        let token = f.token("60").await.2;
        let req = request("POST", &format!("{CREDS}dev-role"), HOST)
            .header("x-aws-ec2-metadata-token", token)
            .body(Body::empty())
            .unwrap();
        let (resp, _) = send(&f.router, LOCAL, req).await;
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test]
    async fn wrong_roles_and_unknown_paths_are_404() {
        let f = fixture(false);
        for path in [
            format!("{CREDS}other-role"),
            format!("{EXT}other-role"),
            "/latest/meta-data/nope".into(),
            "/latest/user-data".into(),
            "/".into(),
        ] {
            assert_eq!(f.get_v2(&path).await.0, StatusCode::NOT_FOUND, "{path}");
        }
        assert!(f.denied_reasons().is_empty(), "a 404 is not a refusal");
    }

    #[tokio::test]
    async fn leaf_paths_answer_with_and_without_a_trailing_slash() {
        let f = fixture(false);
        let md = "/latest/meta-data";
        for (path, want) in [
            ("placement/region", "eu-west-1"),
            ("placement/availability-zone", "eu-west-1a"),
            ("public-keys", "0=me@laptop"),
            (
                "public-keys/0/openssh-key",
                "ssh-ed25519 AAAAC3Nza me@laptop",
            ),
        ] {
            for slash in ["", "/"] {
                let got = f.get_v2(&format!("{md}/{path}{slash}")).await;
                assert_eq!(got, (StatusCode::OK, want.to_owned()), "{path}{slash}");
            }
        }
        let (_, id) = f.get_v2(&format!("{md}/instance-id/")).await;
        assert_eq!(f.get_v2(&format!("{md}/instance-id")).await.1, id);
        assert!(id.starts_with("i-") && id.len() == 19, "{id}");
        assert!(id[2..].bytes().all(|b| b.is_ascii_hexdigit()));
        let (_, listing) = f.get_v2(&format!("{md}/")).await;
        assert_eq!(listing, "iam/\ninstance-id\nplacement/\npublic-keys/");
        let (status, creds) = f.get_v2(&format!("{CREDS}dev-role/")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(creds.contains(TOKEN_MARK));
    }

    #[tokio::test]
    async fn the_instance_id_is_stable_per_profile() {
        let a = fixture(false);
        let b = fixture(false);
        let mut other = config(false);
        other.profile = "prod".into();
        let c = fixture_with(other);
        let path = "/latest/meta-data/instance-id";
        let id = a.get_v2(path).await.1;
        assert_eq!(b.get_v2(path).await.1, id);
        assert_ne!(c.get_v2(path).await.1, id);
    }

    #[tokio::test]
    async fn public_keys_are_404_without_a_key_file() {
        let mut cfg = config(false);
        cfg.public_key = None;
        let f = fixture_with(cfg);
        for path in ["public-keys/", "public-keys/0/openssh-key"] {
            let got = f.get_v2(&format!("/latest/meta-data/{path}")).await;
            assert_eq!(got.0, StatusCode::NOT_FOUND, "{path}");
        }
        let (_, listing) = f.get_v2("/latest/meta-data/").await;
        assert!(!listing.contains("public-keys"));
    }

    #[tokio::test]
    async fn the_identity_document_has_the_fields_sdks_read() {
        let f = fixture(false);
        let (status, body) = f.get_v2("/latest/dynamic/instance-identity/document").await;
        assert_eq!(status, StatusCode::OK);
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        let (_, id) = f.get_v2("/latest/meta-data/instance-id").await;
        assert_eq!(doc["region"], "eu-west-1");
        assert_eq!(doc["availabilityZone"], "eu-west-1a");
        assert_eq!(doc["accountId"], "123456789012");
        assert_eq!(doc["instanceId"], id.as_str());
        assert_eq!(doc["version"], "2017-09-30");
        assert_eq!(doc["pendingTime"], "2026-11-22T10:00:00Z");
        assert_eq!(doc["privateIp"], "127.0.0.1");
        assert!(doc["imageId"].as_str().unwrap().starts_with("ami-"));
        for key in ["architecture", "instanceType"] {
            assert!(doc[key].is_string(), "{key}");
        }
        for key in [
            "kernelId",
            "ramdiskId",
            "billingProducts",
            "devpayProductCodes",
            "marketplaceProductCodes",
        ] {
            assert!(doc[key].is_null() && doc.get(key).is_some(), "{key}");
        }
    }

    #[tokio::test]
    async fn iam_info_names_the_instance_profile() {
        let f = fixture(false);
        let (status, body) = f.get_v2("/latest/meta-data/iam/info").await;
        assert_eq!(status, StatusCode::OK);
        let info: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(info["Code"], "Success");
        assert_eq!(
            info["InstanceProfileArn"],
            "arn:aws:iam::123456789012:instance-profile/dev-role"
        );
        let id = info["InstanceProfileId"].as_str().unwrap();
        assert!(id.starts_with("AIPA") && id.len() == 21, "{id}");
    }

    #[tokio::test]
    async fn no_credentials_in_the_cache_is_503_without_internal_text() {
        let f = fixture(false);
        f.cache.set(
            "dev",
            Err(CacheError::NoValidCredentials {
                profile: "dev".into(),
                last_error: "INTERNALDETAIL sts said AccessDenied".into(),
            }),
        );
        for path in [format!("{CREDS}dev-role"), format!("{EXT}dev-role")] {
            let (status, body) = f.get_v2(&path).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert!(
                !body.contains("INTERNALDETAIL") && !body.contains("dev"),
                "{body}"
            );
        }
        f.cache.set("dev", Err(CacheError::Pending("dev".into())));
        let (status, _) = f.get_v2(&format!("{CREDS}dev-role")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        // The role list does not depend on the cache: clients can still discover the role.
        assert_eq!(f.get_v2(CREDS).await.0, StatusCode::OK);
        let served = f
            .audit
            .take()
            .into_iter()
            .filter(|e| matches!(e, AuditEvent::Served { .. }))
            .count();
        assert_eq!(served, 0);
    }

    #[tokio::test]
    async fn expired_credentials_from_the_cache_are_not_served() {
        let f = fixture(false);
        f.clock.advance(time::Duration::hours(2));
        let (status, body) = f.get_v2(&format!("{CREDS}dev-role")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!body.contains(TOKEN_MARK));
    }

    #[tokio::test]
    async fn peers_off_loopback_are_refused_on_a_loopback_listener() {
        let f = fixture(true);
        let req = request("GET", CREDS, HOST).body(Body::empty()).unwrap();
        let (resp, body) = send(&f.router, "192.0.2.7:5000", req).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(!body.contains("dev-role"));
        assert_eq!(f.denied_reasons(), ["PeerNotAllowed"]);
    }

    #[tokio::test]
    async fn a_non_loopback_listener_admits_only_its_allowed_networks() {
        let mut cfg = config(true);
        cfg.listen = "169.254.169.254:80".parse().unwrap();
        cfg.allowed_networks = vec![IpNet {
            addr: "172.17.0.0".parse().unwrap(),
            prefix: 16,
        }];
        let f = fixture_with(cfg);
        for (peer, want) in [
            ("172.17.0.2:40000", StatusCode::OK),
            ("[::ffff:172.17.3.4]:40000", StatusCode::OK),
            ("127.0.0.1:40000", StatusCode::OK),
            ("172.18.0.2:40000", StatusCode::FORBIDDEN),
            ("[2001:db8::1]:40000", StatusCode::FORBIDDEN),
        ] {
            let req = request("GET", CREDS, HOST).body(Body::empty()).unwrap();
            let (resp, _) = send(&f.router, peer, req).await;
            assert_eq!(resp.status(), want, "{peer}");
        }
    }

    #[tokio::test]
    async fn foreign_or_missing_host_headers_are_refused() {
        let f = fixture(true);
        for (host, want) in [
            (Some("attacker.example"), StatusCode::FORBIDDEN),
            (Some("attacker.example:8169"), StatusCode::FORBIDDEN),
            (None, StatusCode::BAD_REQUEST),
            (Some("127.0.0.1:8169"), StatusCode::OK),
            (Some("localhost:8169"), StatusCode::OK),
            (Some("169.254.169.254"), StatusCode::OK),
        ] {
            let mut req = Request::builder().uri(CREDS);
            if let Some(h) = host {
                req = req.header("host", h);
            }
            let (resp, body) = send(&f.router, LOCAL, req.body(Body::empty()).unwrap()).await;
            assert_eq!(resp.status(), want, "{host:?}");
            if want != StatusCode::OK {
                assert!(!body.contains("dev-role"));
            }
        }
        assert_eq!(
            f.denied_reasons(),
            ["HostNotAllowed", "HostNotAllowed", "MissingHost"]
        );
    }

    #[tokio::test]
    async fn options_is_405_and_no_response_carries_cors_headers() {
        let f = fixture(true);
        for path in [CREDS, TOKEN_PATH, "/nope"] {
            let req = request("OPTIONS", path, HOST)
                .header("origin", "https://evil.example")
                .header("access-control-request-method", "PUT")
                .header(
                    "access-control-request-headers",
                    "x-aws-ec2-metadata-token-ttl-seconds",
                )
                .body(Body::empty())
                .unwrap();
            let (resp, _) = send(&f.router, LOCAL, req).await;
            assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
            assert_no_cors(&resp);
        }
        let req = request("GET", CREDS, HOST)
            .header("origin", "https://evil.example")
            .body(Body::empty())
            .unwrap();
        let (resp, _) = send(&f.router, LOCAL, req).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_no_cors(&resp);
    }

    #[tokio::test]
    async fn oversized_bodies_are_refused() {
        let f = fixture(true);
        let req = request("PUT", TOKEN_PATH, HOST)
            .header("x-aws-ec2-metadata-token-ttl-seconds", "60")
            .header("content-length", "100000")
            .body(Body::from(vec![b'a'; 100_000]))
            .unwrap();
        let (resp, _) = send(&f.router, LOCAL, req).await;
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(f.denied_reasons(), ["BodyTooLarge"]);
    }

    #[test]
    fn public_keys_are_named_by_their_comment_else_their_file() {
        let dir = std::env::temp_dir().join(format!("credvend-pubkey-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let with_comment = dir.join("id_ed25519.pub");
        std::fs::write(&with_comment, "ssh-ed25519 AAAAC3Nza me@laptop\n").unwrap();
        let key = PublicKey::read(&with_comment).unwrap();
        assert_eq!(key.name, "me@laptop");
        assert_eq!(key.openssh, "ssh-ed25519 AAAAC3Nza me@laptop");
        let bare = dir.join("deploy.pub");
        std::fs::write(&bare, "ssh-rsa AAAAB3Nza").unwrap();
        assert_eq!(PublicKey::read(&bare).unwrap().name, "deploy");
        let listener = crate::config::ImdsListener {
            listen: "127.0.0.1:8169".parse().unwrap(),
            profile: "dev".into(),
            imdsv1: false,
            public_key_file: Some(bare),
            allowed_networks: vec![],
            allowed_users: crate::config::AllowedUsers::default(),
            label_profiles: vec![],
            require_label: false,
            token_hop_limit: 1,
        };
        let cfg = ImdsConfig::from_listener(
            &listener,
            listener.listen,
            "dev-role".into(),
            "us-east-1".into(),
            None,
            Labels::default(),
        )
        .unwrap();
        assert_eq!(cfg.public_key.unwrap().openssh, "ssh-rsa AAAAB3Nza");
        let missing = crate::config::ImdsListener {
            public_key_file: Some(dir.join("nope.pub")),
            ..listener
        };
        assert!(
            ImdsConfig::from_listener(
                &missing,
                missing.listen,
                "r".into(),
                "us-east-1".into(),
                None,
                Labels::default(),
            )
            .is_err()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn repeated_slashes_count_as_one_as_old_tools_send_them() {
        let f = fixture(true);
        let (status, body) = f
            .get("/latest/dynamic/instance-identity//document/", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("\"region\""), "{body}");
        let (status, body) = f
            .get("/latest//meta-data///iam/security-credentials/", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, _) = f.get("//latest/meta-data/no-such-thing", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
