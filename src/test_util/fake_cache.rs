//! For the servers: a cache that answers each profile with a fixed result, services around it,
//! and helpers that send a request through a router as if from a peer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::ConnectInfo;

use crate::server::Endpoint;
use axum::http::{Request, Response};
use http_body_util::BodyExt;
use time::OffsetDateTime;
use time::macros::datetime;
use tower::ServiceExt;

use super::{RecordingAudit, SECRET_MARK, TOKEN_MARK};
use crate::cache::{CacheError, CredentialProvider, Served};
use crate::clock::ManualClock;
use crate::secret::{Credentials, Secret};
use crate::server::Services;
use crate::sts::BoxFuture;

/// The access key id of [`served`] credentials.
pub(crate) const KEY_ID: &str = "ASIAMARKEREXAMPLE123";
/// The manual clock's time in [`services`]; [`served`] credentials were issued then.
pub(crate) const NOW: OffsetDateTime = datetime!(2026-11-22 10:00:00.250 UTC);

/// Answers each profile with a fixed result.
#[derive(Debug, Default)]
pub(crate) struct FakeCache {
    pub(crate) answers: Mutex<HashMap<String, Result<Arc<Served>, CacheError>>>,
}

impl FakeCache {
    pub(crate) fn serving(profiles: &[&str]) -> Self {
        let cache = Self::default();
        for p in profiles {
            cache.set(p, Ok(Arc::new(served(p))));
        }
        cache
    }

    pub(crate) fn set(&self, profile: &str, answer: Result<Arc<Served>, CacheError>) {
        self.answers
            .lock()
            .unwrap()
            .insert(profile.to_owned(), answer);
    }
}

impl CredentialProvider for FakeCache {
    fn credentials<'a>(
        &'a self,
        profile: &'a str,
    ) -> BoxFuture<'a, Result<Arc<Served>, CacheError>> {
        let answer = self
            .answers
            .lock()
            .unwrap()
            .get(profile)
            .cloned()
            .unwrap_or_else(|| Err(CacheError::UnknownProfile(profile.to_owned())));
        Box::pin(async move { answer })
    }
}

/// Session credentials for `profile` with marker secrets, issued at NOW, valid one hour.
pub(crate) fn served(profile: &str) -> Served {
    Served {
        profile: profile.to_owned(),
        credentials: Credentials {
            access_key_id: KEY_ID.into(),
            secret_access_key: Secret::new(SECRET_MARK),
            session_token: Some(Secret::new(TOKEN_MARK)),
            expiration: Some(datetime!(2026-11-22 11:00:00.5 UTC)),
        },
        issued_at: NOW,
        role_arn: Some("arn:aws:iam::123456789012:role/dev-role".into()),
        account_id: Some("123456789012".into()),
    }
}

/// Services over a fake cache, a recording sink and a manual clock at NOW.
pub(crate) fn services(cache: Arc<FakeCache>) -> (Services, Arc<RecordingAudit>, Arc<ManualClock>) {
    let audit = Arc::new(RecordingAudit::default());
    let clock = Arc::new(ManualClock::new(NOW));
    let services = Services {
        credentials: cache,
        audit: audit.clone(),
        clock: clock.clone(),
        identify: Arc::new(crate::identity::Identify::new(None)),
    };
    (services, audit, clock)
}

/// Sends `req` to `router` as if from `peer`; returns the response and its body as text.
pub(crate) async fn send(
    endpoint: &Endpoint,
    peer: &str,
    mut req: Request<Body>,
) -> (Response<Body>, String) {
    let peer: SocketAddr = peer.parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    let Ok(resp) = endpoint.clone().oneshot(req).await;
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    (Response::from_parts(parts, Body::empty()), text)
}

/// A request builder with `Host` set to `host`.
pub(crate) fn request(method: &str, uri: &str, host: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("host", host)
}

/// Asserts that no response header is a CORS header.
pub(crate) fn assert_no_cors(resp: &Response<Body>) {
    for name in resp.headers().keys() {
        assert!(
            !name.as_str().starts_with("access-control-"),
            "cors header {name}"
        );
    }
}
