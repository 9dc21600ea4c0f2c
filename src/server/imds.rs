//! The EC2 instance metadata endpoint of one listener: the IMDSv2 token PUT and the metadata
//! paths SDKs read (PROTOCOL.md A1-A4), serving one profile as the instance's role.
//!
//! Listings end without a newline and leaf paths answer with or without a trailing slash
//! (botocore asks for `placement/availability-zone/`). Bodies are text/plain, as on EC2.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, Request, State};
use axum::handler::Handler;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use sha2::{Digest, Sha256};

use crate::config::{ImdsListener, IpNet};
use crate::random::{Random, hex};
use crate::server::Services;
use crate::server::error::ApiError;
use crate::server::guard::{self, Guard, UNKNOWN_PEER};
use crate::server::imds_token::{TokenError, TokenIssuer};
use crate::server::wire;
use crate::sts::format_timestamp;

const TOKEN_PATH: &str = "/latest/api/token";
const TTL_HEADER: HeaderName = HeaderName::from_static("x-aws-ec2-metadata-token-ttl-seconds");
const TOKEN_HEADER: HeaderName = HeaderName::from_static("x-aws-ec2-metadata-token");
const FORWARDED_HEADER: HeaderName = HeaderName::from_static("x-forwarded-for");

/// An OpenSSH public key served at `public-keys/0/openssh-key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    /// Listed as `0=<name>`: the key's comment, else the file's stem.
    pub name: String,
    /// The key line, as read.
    pub openssh: String,
}

impl PublicKey {
    /// Reads a `*.pub` file.
    pub fn read(path: &Path) -> io::Result<Self> {
        let openssh = std::fs::read_to_string(path)?.trim().to_owned();
        let name = openssh
            .split_whitespace()
            .nth(2)
            .map(str::to_owned)
            .or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "credvend".to_owned());
        Ok(Self { name, openssh })
    }
}

/// What one IMDS listener serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImdsConfig {
    /// The bound address (also a legal `Host`, and part of the token MAC).
    pub listen: SocketAddr,
    /// The profile served as the instance role.
    pub profile: String,
    /// The role name in `iam/security-credentials/`; must stay stable across refreshes.
    pub role_name: String,
    /// `placement/region`; the zone is `<region>a`.
    pub region: String,
    /// Whether token-less GETs are answered.
    pub imdsv1: bool,
    /// `public-keys/` contents, read at start.
    pub public_key: Option<PublicKey>,
    /// Client networks admitted on a non-loopback `listen`.
    pub allowed_networks: Vec<IpNet>,
    /// The account, when known without asking the cache (from the role ARN); else the cache's.
    pub account_id: Option<String>,
}

impl ImdsConfig {
    /// The config of `listener`, reading its public key file now.
    pub fn from_listener(
        listener: &ImdsListener,
        role_name: String,
        region: String,
        account_id: Option<String>,
    ) -> io::Result<Self> {
        let public_key = match &listener.public_key_file {
            Some(path) => Some(PublicKey::read(path)?),
            None => None,
        };
        Ok(Self {
            listen: listener.listen,
            profile: listener.profile.clone(),
            role_name,
            region,
            imdsv1: listener.imdsv1,
            public_key,
            allowed_networks: listener.allowed_networks.clone(),
            account_id,
        })
    }
}

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
}

impl ImdsState {
    /// A listener's state; the token key is drawn from `random` now.
    pub fn new(config: ImdsConfig, services: Services, random: &dyn Random) -> Self {
        let label = format!("imds@{}", config.listen);
        let digest = hex(&Sha256::digest(config.profile.as_bytes()));
        let guard = Arc::new(Guard {
            label: label.clone(),
            listen: config.listen,
            allowed_networks: config.allowed_networks.clone(),
            audit: services.audit.clone(),
            render: IntoResponse::into_response,
        });
        Self(Arc::new(Inner {
            tokens: TokenIssuer::new(random, label.clone()),
            instance_id: format!("i-{}", &digest[..17]),
            image_id: format!("ami-{}", &digest[17..34]),
            instance_profile_id: format!("AIPA{}", digest[34..51].to_uppercase()),
            pending_time: format_timestamp(services.clock.now()),
            guard,
            label,
            config,
            services,
        }))
    }

    pub(crate) fn guard(&self) -> Arc<Guard> {
        self.0.guard.clone()
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
    const CREDS: &str = "/latest/meta-data/iam/security-credentials";
    const EXT: &str = "/latest/meta-data/iam/security-credentials-extended";
    let mut r = Router::new().route(TOKEN_PATH, put(put_token));
    r = listing(r, "/latest", "dynamic\nmeta-data");
    r = leaf(r, MD, get_meta_data);
    r = listing(r, &format!("{MD}/iam"), "info\nsecurity-credentials/");
    r = leaf(r, &format!("{MD}/iam/info"), get_iam_info);
    r = leaf(r, CREDS, get_role_name);
    r = leaf(r, &format!("{CREDS}/{{role}}"), get_credentials);
    r = leaf(r, EXT, get_role_name);
    r = leaf(r, &format!("{EXT}/{{role}}"), get_extended_credentials);
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
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state)
}

/// IMDSv2: every GET but the token PUT needs a valid token, or none at all in v1 mode.
async fn require_token(State(s): State<ImdsState>, req: Request, next: Next) -> Response {
    if req.uri().path() == TOKEN_PATH {
        return next.run(req).await;
    }
    let verdict = match req.headers().get(TOKEN_HEADER) {
        None if s.0.config.imdsv1 => Ok(()),
        None => Err("MissingToken"),
        Some(v) => match v.to_str() {
            Ok(t) => {
                s.0.tokens
                    .verify(t, s.0.services.clock.now())
                    .map_err(|e| match e {
                        TokenError::Forged => "InvalidToken",
                        TokenError::Expired => "ExpiredToken",
                    })
            }
            Err(_) => Err("InvalidToken"),
        },
    };
    match verdict {
        Ok(()) => next.run(req).await,
        Err(reason) => {
            let client = guard::peer_of(&req).unwrap_or(UNKNOWN_PEER);
            let error = if reason == "MissingToken" {
                ApiError::TokenMissing
            } else {
                ApiError::TokenInvalid
            };
            s.0.guard
                .deny_because(client, req.uri().path(), error, reason)
        }
    }
}

async fn put_token(State(s): State<ImdsState>, req: Request) -> Response {
    let client = guard::peer_of(&req).unwrap_or(UNKNOWN_PEER);
    if req.headers().contains_key(FORWARDED_HEADER) {
        return s.0.guard.deny(client, TOKEN_PATH, ApiError::Forwarded);
    }
    let ttl = req
        .headers()
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

async fn get_role_name(State(s): State<ImdsState>) -> String {
    s.0.config.role_name.clone()
}

async fn get_credentials(s: State<ImdsState>, role: UrlPath<String>, req: Request) -> Response {
    serve_credentials(s, role, req, false).await
}

async fn get_extended_credentials(
    s: State<ImdsState>,
    role: UrlPath<String>,
    req: Request,
) -> Response {
    serve_credentials(s, role, req, true).await
}

async fn serve_credentials(
    State(s): State<ImdsState>,
    UrlPath(role): UrlPath<String>,
    req: Request,
    extended: bool,
) -> Response {
    if role != s.0.config.role_name {
        return ApiError::NotFound.into_response();
    }
    let served = match wire::fetch(&s.0.services, &s.0.config.profile).await {
        Ok(served) => served,
        Err(e) => return e.into_response(),
    };
    let client = guard::peer_of(&req).unwrap_or(UNKNOWN_PEER);
    wire::record_served(&s.0.services, client, &s.0.label, req.uri().path(), &served);
    wire::imds_body(&served, extended).into_response()
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
mod tests;
