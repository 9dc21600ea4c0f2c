use std::collections::BTreeMap;
use std::io;
use std::sync::Mutex;

use super::*;
use crate::audit::AuditEvent;
use crate::cache::CacheError;
use crate::server::ecs_router;
use crate::server::test_util::*;
use axum::body::Body;
use axum::http::StatusCode;

const TOKEN: &str = "ECSTOKENMARKER0123456789abcdef0123456789";
const DEV_ID: &str = "0123456789abcdef0123456789abcdefcafe";
const HOST: &str = "127.0.0.1:8170";
const LOCAL: &str = "127.0.0.1:41000";

struct Fixture {
    router: Router,
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
    async fn get(&self, path: &str, auth: Option<&str>) -> (StatusCode, Option<String>, String) {
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
    for marker in [SECRET_MARKER, TOKEN_MARKER, KEY_ID, TOKEN] {
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
        assert_eq!(json["SecretAccessKey"], SECRET_MARKER);
        assert_eq!(json["Token"], TOKEN_MARKER);
        assert_eq!(json["Expiration"], "2026-11-22T11:00:00Z");
        assert_eq!(json["RoleArn"], "arn:aws:iam::123456789012:role/dev-role");
        assert_eq!(json["AccountId"], "123456789012");
        assert_eq!(
            f.audit.take(),
            [AuditEvent::Served {
                client: LOCAL.parse().unwrap(),
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
    assert!(body.contains(TOKEN_MARKER));
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

/// A log writer that keeps everything written.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_never_show_tokens_secrets_or_capability_ids() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let f = fixture();
    // Tests on other threads may register these callsites while this thread-local subscriber
    // is not yet counted, caching "never": once every callsite is registered, recompute.
    f.get("/role/dev", Some(TOKEN)).await;
    tracing::callsite::rebuild_interest_cache();
    captured.0.lock().unwrap().clear();
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
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("/role/{profile}"), "{logs}");
    for marker in [TOKEN, SECRET_MARKER, TOKEN_MARKER, DEV_ID] {
        assert!(!logs.contains(marker), "{marker} in {logs}");
    }
}
