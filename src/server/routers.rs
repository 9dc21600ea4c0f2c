//! The front of each listener: [`Endpoint`], the one service every request of a connection
//! goes through. In order: IMDS path normalising, the guard (peer, Host, OPTIONS, sizes), the
//! listener's own admission check (the IMDS token), the listener's shortcut for the requests
//! clients repeat all the time (the credential GETs and the token PUT), axum's routing to the
//! handlers for every other request, and a CORS strip on the way out.
//!
//! It is one hand-written service rather than a stack of middlewares, and the hot requests
//! skip axum's router, because this runs on every request: each `from_fn` layer boxed a future
//! and cloned the route it wrapped, and the router's matching, boxed route and path extraction
//! cost more than the handler (docs/performance.md). A shortcut calls the very handler its
//! route would; the routes stay for everything else (other methods, unknown names, listings).
//! Handlers only read the cache; they never call STS themselves.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use tower::{Service, ServiceExt as _};
use tracing::Instrument;

use crate::control::StatusCounts;
use crate::server::audit_path::audit_path;
use crate::server::client::Client;
use crate::server::ecs::{self, EcsState};
use crate::server::guard::{self, Guard};
use crate::server::imds::{self, ImdsState};

/// One listener's front: cheap to clone (an `Arc`), and a `tower::Service` for tests and the
/// fuzz target (which hand the peer over as `ConnectInfo`, as axum would).
#[derive(Clone, Debug)]
pub struct Endpoint(Arc<Front>);

#[derive(Debug)]
struct Front {
    guard: Arc<Guard>,
    listener: Listener,
    routes: Router,
    /// Debug-level request logging; fixed at start with the log filter, so the span costs
    /// nothing when nobody will read it.
    log: bool,
    /// Responses by status, for the metrics page (set once at start; a relaxed increment).
    requests: OnceLock<Arc<StatusCounts>>,
}

/// The listener behind a front, for its own checks and shortcuts.
#[derive(Debug)]
enum Listener {
    Imds(ImdsState),
    Ecs(EcsState),
}

impl Listener {
    /// The refusal of a request that passed the guard (already recorded), or `None`.
    fn refusal(&self, client: &Client, path: &str, headers: &HeaderMap) -> Option<Response> {
        match self {
            Self::Imds(s) => imds::refusal(s, client, path, headers),
            Self::Ecs(_) => None,
        }
    }

    /// The answer to a hot request, or `None` to route it.
    async fn shortcut(
        &self,
        client: &Client,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Option<Response> {
        match self {
            Self::Imds(s) => imds::shortcut(s, client, method, path, headers).await,
            Self::Ecs(s) => ecs::shortcut(s, client, method, path, headers).await,
        }
    }
}

/// The front of one IMDS listener.
pub fn imds_router(state: ImdsState) -> Endpoint {
    Endpoint::new(Listener::Imds(state))
}

/// The front of the ECS listener.
pub fn ecs_router(state: EcsState) -> Endpoint {
    Endpoint::new(Listener::Ecs(state))
}

impl Endpoint {
    fn new(listener: Listener) -> Self {
        let (guard, routes) = match &listener {
            Listener::Imds(s) => (s.guard(), imds::routes(s.clone())),
            Listener::Ecs(s) => (s.guard(), ecs::routes(s.clone())),
        };
        Self(Arc::new(Front {
            guard,
            routes,
            listener,
            log: tracing::enabled!(tracing::Level::DEBUG),
            requests: OnceLock::new(),
        }))
    }

    /// The same front with request logging on whatever the log filter said at start: for
    /// tests that read the request log, since the filter's answer is global and other tests
    /// running at the same time can change it under them.
    #[cfg(test)]
    pub(crate) fn logging_requests(self) -> Self {
        let front = Arc::into_inner(self.0).expect("a new front is not shared yet");
        Self(Arc::new(Front { log: true, ..front }))
    }

    /// Counts every response of this listener into `counts` from now on (set once).
    pub fn count_into(&self, counts: Arc<StatusCounts>) {
        let _ = self.0.requests.set(counts);
    }

    /// The caller lookup of the listener's services.
    pub(crate) fn identify(&self) -> Arc<crate::identity::Identify> {
        match &self.0.listener {
            Listener::Imds(s) => s.services().identify.clone(),
            Listener::Ecs(s) => s.services().identify.clone(),
        }
    }

    /// The answer to `req` from `client`: what the accept loop calls for each request.
    pub(crate) async fn answer<B>(&self, client: &Client, req: axum::http::Request<B>) -> Response
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let front = &self.0;
        let mut resp = if front.log {
            // Never the raw path, which may hold a capability id; never a header value.
            let span = tracing::debug_span!(
                "request",
                method = %req.method(),
                path = %audit_path(req.uri().path()),
                client = %client.addr,
            );
            async {
                let resp = front.answer(client, req).await;
                tracing::debug!(status = resp.status().as_u16(), "answered");
                resp
            }
            .instrument(span)
            .await
        } else {
            front.answer(client, req).await
        };
        guard::strip_cors(&mut resp);
        self.counted(resp.status().as_u16());
        resp
    }

    /// Counts one response with `status` on the metrics page: every answer of the front, and
    /// those the accept loop gives without it (429 over the rate limit, 503 to a shed
    /// connection).
    pub(crate) fn counted(&self, status: u16) {
        if let Some(counts) = self.0.requests.get() {
            counts.count(status);
        }
    }
}

impl<B> Service<axum::http::Request<B>> for Endpoint
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::http::Request<B>) -> Self::Future {
        let endpoint = self.clone();
        let client = guard::connect_info(&req).unwrap_or_else(Client::unknown);
        Box::pin(async move { Ok(endpoint.answer(&client, req).await) })
    }
}

impl Front {
    async fn answer<B>(&self, client: &Client, mut req: axum::http::Request<B>) -> Response
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        if matches!(self.listener, Listener::Imds(_)) {
            collapse_slashes(&mut req);
        }
        if let Err(e) = self.guard.check(client, &req) {
            return self.guard.deny(client, req.uri().path(), e);
        }
        let (path, headers) = (req.uri().path(), req.headers());
        if let Some(refused) = self.listener.refusal(client, path, headers) {
            return refused;
        }
        if let Some(resp) = self
            .listener
            .shortcut(client, req.method(), path, headers)
            .await
        {
            return resp;
        }
        // Handlers off the shortcut read the sender from the extensions.
        req.extensions_mut().insert(client.clone());
        let Ok(resp) = self.routes.clone().oneshot(req.map(Body::new)).await;
        resp
    }
}

/// Old tools build IMDS paths by joining with `/` (boto 2 asks for
/// `/latest/dynamic/instance-identity//document/`); repeated slashes mean one, as they do to
/// the real IMDS's clients.
fn collapse_slashes<B>(req: &mut axum::http::Request<B>) {
    let uri = req.uri();
    if !uri.path().contains("//") {
        return;
    }
    let mut path = String::with_capacity(uri.path().len());
    for c in uri.path().chars() {
        if !(c == '/' && path.ends_with('/')) {
            path.push(c);
        }
    }
    if let Some(query) = uri.query() {
        path.push('?');
        path.push_str(query);
    }
    let mut parts = uri.clone().into_parts();
    // The collapsed text is a sub-sequence of a valid path, so it parses; keep the original
    // if it somehow does not.
    if let Ok(pq) = path.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(collapsed) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = collapsed;
        }
    }
}

#[cfg(test)]
mod tests {
    //! Real sockets on 127.0.0.1:0: the routers under [`serve`], a hyper client and raw TCP, the
    //! audit log file end to end, and graceful shutdown.

    use std::collections::BTreeMap;
    use std::io;
    use std::net::SocketAddr;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::{Notify, oneshot};

    use super::*;
    use crate::audit::{AuditEvent, AuditLog};
    use crate::cache::CredentialProvider;
    use crate::cache::{CacheError, Served};
    use crate::random::OsRandom;
    use crate::secret::Secret;
    use crate::server::accept::serve;
    use crate::server::ecs::{CapabilityIds, EcsConfig};
    use crate::server::imds::ImdsConfig;
    use crate::server::services::Services;
    use crate::server::wire;
    use crate::sts::BoxFuture;
    use crate::test_util::http::call;
    use crate::test_util::*;

    const ECS_TOKEN: &str = "ECSTOKENMARKERfedcba9876543210fedcba98765";
    const CAP_ID: &str = "feedfacefeedfacefeedfacefeedface0001";
    /// Bounds every wait so a broken server fails the test instead of hanging it.
    const BOUND: Duration = crate::test_util::http::BOUND;

    struct Running {
        addr: SocketAddr,
        stop: oneshot::Sender<()>,
        task: tokio::task::JoinHandle<io::Result<()>>,
    }

    async fn start(router: Endpoint) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, router, server_limits(), async {
            let _ = stopped.await;
        }));
        Running { addr, stop, task }
    }

    impl Running {
        async fn shutdown(self) {
            self.stop.send(()).unwrap();
            let done = tokio::time::timeout(BOUND, self.task).await;
            done.expect("server stops").unwrap().unwrap();
        }
    }

    fn imds_state(listen: SocketAddr, services: Services, imdsv1: bool) -> ImdsState {
        let config = ImdsConfig {
            listen,
            profile: "dev".into(),
            role_name: "dev-role".into(),
            region: "us-east-1".into(),
            imdsv1,
            public_key: None,
            allowed_networks: vec![],
            allowed_users: crate::config::AllowedUsers::default(),
            account_id: Some("123456789012".into()),
            labels: Default::default(),
        };
        ImdsState::new(config, services, &OsRandom)
    }

    #[tokio::test]
    async fn imds_and_ecs_over_real_sockets_write_a_private_audit_log_without_secrets() {
        let dir = crate::test_util::temp_dir("server");
        let log_path = dir.join("audit.jsonl");
        let audit = Arc::new(AuditLog::open(&log_path).unwrap());
        let cache = Arc::new(FakeCache::serving(&["dev"]));
        let (mut services, _, _) = services(cache);
        services.audit = audit.clone();
        services.clock = Arc::new(crate::clock::ManualClock::new(NOW));

        // The IMDS listener must know its own address for Host and the token MAC: bind first.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let imds_addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let imds_task = tokio::spawn(serve(
            listener,
            imds_router(imds_state(imds_addr, services.clone(), false)),
            server_limits(),
            async {
                let _ = stopped.await;
            },
        ));
        let host = imds_addr.to_string();

        let put = Request::put("/latest/api/token")
            .header("host", &host)
            .header("x-aws-ec2-metadata-token-ttl-seconds", "21600")
            .body(Body::empty())
            .unwrap();
        let (status, headers, token) = call(imds_addr, put).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["x-aws-ec2-metadata-token-ttl-seconds"], "21600");
        let get = |path: &str, token: Option<&str>| {
            let mut req = Request::get(path).header("host", &host);
            if let Some(t) = token {
                req = req.header("x-aws-ec2-metadata-token", t);
            }
            req.body(Body::empty()).unwrap()
        };
        let creds = "/latest/meta-data/iam/security-credentials/";
        let (status, _, role) = call(imds_addr, get(creds, Some(&token))).await;
        assert_eq!((status, role.as_str()), (StatusCode::OK, "dev-role"));
        let (status, _, body) = call(imds_addr, get(&format!("{creds}{role}"), Some(&token))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains(TOKEN_MARK));
        let (status, _, _) = call(imds_addr, get(creds, None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // Raw bytes: HTTP/1.0 without Host is a client mistake (400), never a 5xx.
        let mut raw = TcpStream::connect(imds_addr).await.unwrap();
        raw.write_all(b"GET /latest/meta-data/ HTTP/1.0\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(BOUND, raw.read_to_end(&mut answer))
            .await
            .unwrap()
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.0 400"), "{answer}");

        let ecs_config = EcsConfig {
            listen: "127.0.0.1:8170".parse().unwrap(),
            profiles: vec!["dev".into()],
            allowed_networks: vec![],
            allowed_users: crate::config::AllowedUsers::default(),
            profile_users: BTreeMap::new(),
            token: Secret::new(ECS_TOKEN),
            capabilities: CapabilityIds(BTreeMap::from([("dev".into(), CAP_ID.into())])),
        };
        let ecs = start(ecs_router(EcsState::new(ecs_config, services))).await;
        let ecs_get = |path: &str, auth: &str| {
            Request::get(path)
                .header("host", "localhost")
                .header("authorization", auth)
                .body(Body::empty())
                .unwrap()
        };
        let (status, headers, body) = call(ecs.addr, ecs_get("/role/dev", ECS_TOKEN)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-type"], "application/json");
        assert!(body.contains(SECRET_MARK));
        let (status, _, _) = call(ecs.addr, ecs_get("/role/dev", "guess")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let cap = format!("/v2/credentials/{CAP_ID}");
        let (status, _, _) = call(ecs.addr, ecs_get(&cap, "")).await;
        assert_eq!(status, StatusCode::OK);

        ecs.shutdown().await;
        stop.send(()).unwrap();
        tokio::time::timeout(BOUND, imds_task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        audit.close();

        let mode = std::fs::metadata(&log_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&log_path).unwrap();
        let records: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("one json object per line"))
            .collect();
        let count = |event: &str| records.iter().filter(|r| r["event"] == event).count();
        assert_eq!(count("served"), 3, "{text}");
        assert_eq!(count("denied"), 3, "{text}");
        assert!(
            records
                .iter()
                .all(|r| r["time"].as_str().is_some_and(|t| t.ends_with('Z')))
        );
        assert!(
            records
                .iter()
                .any(|r| r["reason"] == "InvalidAuthorization")
        );
        for secret in [SECRET_MARK, TOKEN_MARK, ECS_TOKEN, CAP_ID, token.as_str()] {
            assert!(!text.contains(secret), "{secret} in the audit log");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A cache that answers only when released, to hold a request in flight.
    #[derive(Debug, Default)]
    struct GatedCache {
        entered: Notify,
        release: Notify,
    }

    impl CredentialProvider for GatedCache {
        fn credentials<'a>(
            &'a self,
            profile: &'a str,
        ) -> BoxFuture<'a, Result<Arc<Served>, CacheError>> {
            Box::pin(async move {
                self.entered.notify_one();
                self.release.notified().await;
                Ok(Arc::new(served(profile)))
            })
        }
    }

    #[tokio::test]
    async fn shutdown_lets_a_request_in_flight_finish() {
        let cache = Arc::new(GatedCache::default());
        let (mut services, _, _) = services(Arc::new(FakeCache::default()));
        services.credentials = cache.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // v1 on, so one request suffices.
        let state = imds_state(addr, services, true);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            imds_router(state),
            server_limits(),
            async {
                let _ = stopped.await;
            },
        ));
        let req = Request::get("/latest/meta-data/iam/security-credentials/dev-role")
            .header("host", "localhost")
            .body(Body::empty())
            .unwrap();
        let client = tokio::spawn(call(addr, req));
        tokio::time::timeout(BOUND, cache.entered.notified())
            .await
            .unwrap();
        stop.send(()).unwrap();
        // New connections are no longer accepted once shutdown begins; the old one drains.
        cache.release.notify_one();
        let (status, _, body) = tokio::time::timeout(BOUND, client).await.unwrap().unwrap();
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains(TOKEN_MARK));
        tokio::time::timeout(BOUND, server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }

    #[test]
    fn served_events_from_the_wire_helpers_carry_no_secret() {
        let (services, audit, _) = services(Arc::new(FakeCache::default()));
        let s = served("dev");
        wire::record_served(
            &services,
            &Client::in_process("127.0.0.1:1".parse().unwrap()),
            "imds@x",
            "/p",
            &s,
        );
        let events = audit.take();
        assert!(matches!(
            events.as_slice(),
            [AuditEvent::Served { access_key_id, .. }] if access_key_id == KEY_ID
        ));
        let shown = format!("{events:?}");
        assert!(!shown.contains(SECRET_MARK) && !shown.contains(TOKEN_MARK));
    }
}
