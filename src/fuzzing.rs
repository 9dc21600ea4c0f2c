//! Entry points for the fuzz targets in `fuzz/` (docs/fuzzing.md): not an API, hidden from the
//! docs, and free to change with the targets.
//!
//! - `sts_xml`: the STS response parsers. They are private to `sts`, so the same source file
//!   is compiled once more here: the targets fuzz exactly the code the client runs, and the
//!   parser's visibility stays as it is.
//! - [`profiles`] and [`config`]: the `~/.aws` reader and credvend's config parser.
//! - [`Front`]: the IMDS and ECS routers over a fake cache that serves fixed credentials (or
//!   none), and [`Front::judge`], the rules every answer must keep.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::audit::{AuditEvent, AuditSink};
use crate::cache::{CacheError, CredentialProvider, Served};
use crate::clock::ManualClock;
use crate::config::{Config, DefaultPaths};
use crate::env::Env;
use crate::profile::{FileKind, ProfileSet};
use crate::random::Random;
use crate::secret::{Credentials, Secret};
use crate::server::{
    CapabilityIds, EcsConfig, EcsState, Endpoint, ImdsConfig, ImdsState, PublicKey, Services,
    ecs_router, imds_router,
};
use crate::sts::BoxFuture;
// What the included parser names as `super::…`.
#[cfg(not(test))]
use crate::sts::{AssumedRole, CallerIdentity, SessionToken, StsError, StsErrorKind};

// Left out of test builds: its unit tests already run once, under `sts::xml`.
#[cfg(not(test))]
#[allow(clippy::duplicate_mod)] // on purpose: see the module's documentation
#[path = "sts/xml.rs"]
mod sts_xml;

/// Feeds `body` to every STS response parser with `status`. Panics if a parser accepts a
/// document without what the type promises.
#[cfg(not(test))]
pub fn sts_xml(status: u16, body: &str) {
    if let Ok(r) = sts_xml::assume_role(status, body) {
        assert!(r.credentials.session_token.is_some() && r.credentials.expiration.is_some());
    }
    if let Ok(t) = sts_xml::session_token(status, body) {
        assert!(t.credentials.session_token.is_some() && t.credentials.expiration.is_some());
    }
    let _ = sts_xml::caller_identity(status, body);
    let _ = sts_xml::error(status, body).to_string();
}

/// The keys whose values are secrets.
const SECRET_KEYS: [&str; 3] = [
    "aws_secret_access_key",
    "aws_session_token",
    "aws_security_token",
];

/// Merges `config` (as `~/.aws/config`) and `credentials` (as `~/.aws/credentials`), either
/// `None` meaning that file is absent, then resolves and reports every profile. Panics if a
/// resolution error or report shows a secret value: a value counts as shown when it appears in
/// the text, but not in the text of the same set with every secret value replaced (profile
/// names and fixed words may contain it by chance).
pub fn profiles(config: Option<&str>, credentials: Option<&str>) {
    let mut set = ProfileSet::default();
    for (text, file, kind) in [
        (config, "/fuzz/.aws/config", FileKind::Config),
        (credentials, "/fuzz/.aws/credentials", FileKind::Credentials),
    ] {
        if let Some(text) = text
            && set.merge_text(text, Path::new(file), kind).is_err()
        {
            return;
        }
    }
    let mut redacted = set.clone();
    let mut secrets = Vec::new();
    for profile in redacted.profiles.values_mut() {
        for (key, property) in &mut profile.properties {
            if SECRET_KEYS.contains(&key.as_str()) {
                secrets.push(std::mem::replace(&mut property.value, "-".into()));
            }
        }
    }
    let env = Env::from_pairs([
        ("AWS_ACCESS_KEY_ID", "AKIAFUZZENVIRONMENT1"),
        ("AWS_SECRET_ACCESS_KEY", "fuzzenvironmentsecret"),
    ]);
    let shown = resolutions(&set, &env);
    if secrets.is_empty() {
        return;
    }
    let vocabulary = resolutions(&redacted, &env);
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        assert!(
            !shown.contains(secret.as_str()) || vocabulary.contains(secret.as_str()),
            "a secret value is shown: {shown}"
        );
    }
}

/// Every resolution error of `set`, and its report, as text.
fn resolutions(set: &ProfileSet, env: &Env) -> String {
    let mut shown = String::new();
    for name in set.profiles.keys() {
        if let Err(e) = set.resolve(name, env) {
            shown.push_str(&crate::causes::Causes(&e).to_string());
        }
    }
    shown.push_str(&format!("{:?}", set.report(env)));
    shown
}

/// Parses `text` as credvend's config file; an error is fine, a panic is not.
pub fn config(text: &str) {
    let defaults = DefaultPaths {
        config_file: None,
        state_dir: Some("/fuzz/state".into()),
    };
    let env = Env::from_pairs([("HOME", "/fuzz/home")]);
    if let Err(e) = Config::parse(text, Some(Path::new("/fuzz/config.toml")), &defaults, &env) {
        let _ = crate::causes::Causes(&e).to_string();
    }
}

/// The profile the IMDS listeners serve.
pub const IMDS_PROFILE: &str = "dev";
/// The role name IMDS lists for it.
pub const ROLE_NAME: &str = "dev-role";
/// The ECS listener's profiles: served at `/role/<name>`, the first also at `/`.
pub const ECS_PROFILES: [&str; 2] = ["dev", "prod"];
/// The ECS `Authorization` token.
pub const ECS_TOKEN: &str = "FUZZECSTOKEN0123456789abcdef0123456789abcdef";
/// The capability id of `dev` (`/v2/credentials/<id>`).
pub const CAPABILITY_ID: &str = "feedfacefeedfacefeedfacefeedfacecafe";
/// The IMDS listeners' address (a valid `Host`).
pub const IMDS_LISTEN: &str = "127.0.0.1:8169";
/// The ECS listener's address.
pub const ECS_LISTEN: &str = "127.0.0.1:8170";
const SECRET: &str = "FUZZSECRETwJalrXUtnFEMIK7MDENGbPxRfiCY";
const SESSION_TOKEN: &str = "FUZZSESSIONTOKENIQoJb3JpZ2luX2VjEJr";
const NOW: OffsetDateTime = datetime!(2026-11-22 10:00:00 UTC);

/// Which router a request goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    /// IMDSv2 only.
    ImdsV2,
    /// IMDS with v1 (token-less GETs) allowed, and a public key.
    ImdsV1,
    /// The ECS endpoint.
    Ecs,
}

/// The three routers over one fake cache, with a valid IMDS token for each IMDS listener.
#[derive(Debug)]
pub struct Front {
    v2: Endpoint,
    v1: Endpoint,
    ecs: Endpoint,
    v2_token: String,
    v1_token: String,
    with_credentials: bool,
}

impl Front {
    /// Routers over a cache that serves fixed valid credentials, or (`with_credentials` false)
    /// one that has none for any profile.
    pub async fn new(with_credentials: bool) -> Self {
        let services = Services {
            credentials: Arc::new(FixedCache(with_credentials)),
            audit: Arc::new(NoSecretsAudit),
            clock: Arc::new(ManualClock::new(NOW)),
            identify: Arc::new(crate::identity::Identify::new(None)),
        };
        let imds = |imdsv1: bool| {
            let config = ImdsConfig {
                listen: IMDS_LISTEN.parse().expect("an address"),
                profile: IMDS_PROFILE.into(),
                role_name: ROLE_NAME.into(),
                region: "eu-west-1".into(),
                imdsv1,
                public_key: imdsv1.then(|| PublicKey {
                    name: "me@laptop".into(),
                    openssh: "ssh-ed25519 AAAAC3Nza me@laptop".into(),
                }),
                allowed_networks: vec![],
                allowed_users: crate::config::AllowedUsers::default(),
                account_id: None,
                labels: Default::default(),
            };
            imds_router(ImdsState::new(config, services.clone(), &FixedRandom))
        };
        let ecs = EcsConfig {
            listen: ECS_LISTEN.parse().expect("an address"),
            profiles: ECS_PROFILES.iter().map(|&p| p.to_owned()).collect(),
            allowed_networks: vec![],
            allowed_users: crate::config::AllowedUsers::default(),
            profile_users: std::collections::BTreeMap::new(),
            token: Secret::new(ECS_TOKEN),
            capabilities: CapabilityIds(
                [(ECS_PROFILES[0].to_owned(), CAPABILITY_ID.to_owned())].into(),
            ),
        };
        let (v2, v1) = (imds(false), imds(true));
        Self {
            v2_token: mint(&v2).await,
            v1_token: mint(&v1).await,
            ecs: ecs_router(EcsState::new(ecs, services)),
            v2,
            v1,
            with_credentials,
        }
    }

    /// The router of `listener` (cheap to clone).
    pub fn router(&self, listener: Listener) -> Endpoint {
        match listener {
            Listener::ImdsV2 => self.v2.clone(),
            Listener::ImdsV1 => self.v1.clone(),
            Listener::Ecs => self.ecs.clone(),
        }
    }

    /// A valid IMDS token of `listener` (the ECS listener has none: empty).
    #[must_use]
    pub fn imds_token(&self, listener: Listener) -> &str {
        match listener {
            Listener::ImdsV2 => &self.v2_token,
            Listener::ImdsV1 => &self.v1_token,
            Listener::Ecs => "",
        }
    }

    /// The rules every answer keeps, whatever the request: never a 500, a 503 only when the
    /// cache has nothing to serve, and no secret in a refusal's body or headers.
    pub fn judge(&self, status: StatusCode, headers: &axum::http::HeaderMap, body: &[u8]) {
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "a 500");
        if status.is_server_error() {
            assert!(
                status == StatusCode::SERVICE_UNAVAILABLE && !self.with_credentials,
                "{status} from a cache that serves credentials",
            );
        }
        if status != StatusCode::OK {
            let body = String::from_utf8_lossy(body);
            for secret in [SECRET, SESSION_TOKEN, ECS_TOKEN, CAPABILITY_ID] {
                assert!(!body.contains(secret), "{status} shows a secret: {body}");
            }
        }
        for (name, value) in headers {
            let value = String::from_utf8_lossy(value.as_bytes());
            assert!(
                !name.as_str().starts_with("access-control-"),
                "a CORS header"
            );
            for secret in [SECRET, SESSION_TOKEN, ECS_TOKEN, CAPABILITY_ID] {
                assert!(!value.contains(secret), "header {name} shows a secret");
            }
        }
    }
}

/// Marks `req` as coming from `peer`, as `serve` does for a real connection.
pub fn from_peer(mut req: Request<Body>, peer: SocketAddr) -> Request<Body> {
    req.extensions_mut().insert(ConnectInfo(peer));
    req
}

/// A token from `router`'s PUT, from a loopback peer.
async fn mint(router: &Endpoint) -> String {
    let req = Request::put("/latest/api/token")
        .header("host", IMDS_LISTEN)
        .header("x-aws-ec2-metadata-token-ttl-seconds", "21600")
        .body(Body::empty())
        .expect("a request");
    let req = from_peer(req, "127.0.0.1:40000".parse().expect("an address"));
    let resp = call(router.clone(), req).await;
    assert_eq!(resp.status(), StatusCode::OK, "the token PUT answers");
    let body = axum::body::to_bytes(resp.into_body(), 4096)
        .await
        .expect("a token body");
    String::from_utf8(body.to_vec()).expect("a text token")
}

/// One request through `router`, as `tower::ServiceExt::oneshot` does it.
async fn call(mut router: Endpoint, req: Request<Body>) -> Response {
    use tower::Service as _;
    let ready = std::future::poll_fn(|cx| {
        <Endpoint as tower::Service<Request<Body>>>::poll_ready(&mut router, cx)
    });
    let Ok(()) = ready.await;
    let Ok(resp) = router.call(req).await;
    resp
}

/// Serves the same valid session credentials for every profile the routers name, or none.
#[derive(Debug)]
struct FixedCache(bool);

impl CredentialProvider for FixedCache {
    fn credentials<'a>(
        &'a self,
        profile: &'a str,
    ) -> BoxFuture<'a, Result<Arc<Served>, CacheError>> {
        Box::pin(async move {
            if profile != IMDS_PROFILE && !ECS_PROFILES.contains(&profile) {
                // The routers asked for a profile they do not serve: the 500 judge() catches.
                return Err(CacheError::UnknownProfile(profile.to_owned()));
            }
            if !self.0 {
                return Err(CacheError::NoValidCredentials {
                    profile: profile.to_owned(),
                    last_error: "fuzzing: no credentials".into(),
                });
            }
            Ok(Arc::new(Served {
                profile: profile.to_owned(),
                credentials: Credentials {
                    access_key_id: "ASIAFUZZEXAMPLE12345".into(),
                    secret_access_key: Secret::new(SECRET),
                    session_token: Some(Secret::new(SESSION_TOKEN)),
                    expiration: Some(datetime!(2026-11-22 11:00:00 UTC)),
                },
                issued_at: NOW,
                role_arn: Some(format!("arn:aws:iam::123456789012:role/{ROLE_NAME}")),
                account_id: Some("123456789012".into()),
            }))
        })
    }
}

/// An audit sink that checks no event carries a secret, and no capability path its full id.
/// (A path a client made up is recorded as sent, even when it holds the id elsewhere.)
#[derive(Debug)]
struct NoSecretsAudit;

impl AuditSink for NoSecretsAudit {
    fn record(&self, event: AuditEvent) {
        let shown = format!("{event:?}");
        for secret in [SECRET, SESSION_TOKEN, ECS_TOKEN] {
            assert!(!shown.contains(secret), "an audit event shows a secret");
        }
        if let AuditEvent::Served { path, .. } | AuditEvent::Denied { path, .. } = &event {
            let id = path.strip_prefix("/v2/credentials/").unwrap_or_default();
            assert!(
                !id.contains(CAPABILITY_ID),
                "an audit event shows a capability id"
            );
        }
    }
}

/// The same bytes every run, so a crash replays with the same IMDS token key.
#[derive(Debug)]
struct FixedRandom;

impl Random for FixedRandom {
    fn fill(&self, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = u8::try_from(i % 251).unwrap_or(0) ^ 0x5a;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn status(front: &Front, listener: Listener, req: Request<Body>) -> StatusCode {
        let req = from_peer(req, "127.0.0.1:40001".parse().unwrap());
        let resp = call(front.router(listener), req).await;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        front.judge(status, &headers, &body);
        status
    }

    #[tokio::test]
    async fn the_harness_reaches_the_credential_handlers() {
        for with in [true, false] {
            let front = Front::new(with).await;
            let want = if with {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let path = format!("/latest/meta-data/iam/security-credentials/{ROLE_NAME}");
            let req = Request::get(&path)
                .header("host", IMDS_LISTEN)
                .header(
                    "x-aws-ec2-metadata-token",
                    front.imds_token(Listener::ImdsV2),
                )
                .body(Body::empty())
                .unwrap();
            assert_eq!(status(&front, Listener::ImdsV2, req).await, want);
            let req = Request::get("/role/prod")
                .header("host", ECS_LISTEN)
                .header("authorization", ECS_TOKEN)
                .body(Body::empty())
                .unwrap();
            assert_eq!(status(&front, Listener::Ecs, req).await, want);
        }
    }

    #[test]
    fn the_parsers_take_their_own_shapes() {
        profiles(
            Some("[profile app]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = u\n"),
            Some("[u]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = abcdefgh123\n"),
        );
        config("[aws]\nregion = \"eu-west-1\"\n");
    }
}
