//! Tests of the STS client's own logic (retries, skew correction, limits) against a scripted
//! local HTTP server. Compatibility with real STS is shown against moto in the integration
//! tests; this only checks what credvend decides.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::client::StsClient;
use super::{AssumeRoleParams, Endpoint, Sts, StsErrorKind};
use crate::clock::{AwsClock, Clock, ManualClock};
use crate::config::AwsSettings;
use crate::random::Random;
use crate::secret::{Credentials, Secret};

/// Fixed "randomness" so retry delays are predictable.
#[derive(Debug)]
struct Half;
impl Random for Half {
    fn fill(&self, buf: &mut [u8]) {
        buf.fill(0x80);
    }
}

/// What the scripted server does with one request.
type Script = Box<dyn Fn(&HeaderMap) -> Response + Send + Sync>;

#[derive(Clone, Default)]
struct Server {
    script: Arc<Mutex<VecDeque<Script>>>,
    seen: Arc<Mutex<Vec<HeaderMap>>>,
}

async fn handle(State(server): State<Server>, headers: HeaderMap) -> Response {
    server.seen.lock().unwrap().push(headers.clone());
    let next = server.script.lock().unwrap().pop_front();
    match next {
        Some(script) => script(&headers),
        None => (StatusCode::IM_A_TEAPOT, "script exhausted").into_response(),
    }
}

async fn start(scripts: Vec<Script>) -> (Server, SocketAddr) {
    let server = Server::default();
    server.script.lock().unwrap().extend(scripts);
    let app = Router::new().fallback(handle).with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (server, addr)
}

fn settings() -> AwsSettings {
    AwsSettings {
        config_file: "c".into(),
        credentials_file: "k".into(),
        region: "us-east-1".into(),
        sts_endpoint: None,
        env_sts_endpoint: None,
        ca_file: None,
        connect_timeout: std::time::Duration::from_secs(1),
        timeout: std::time::Duration::from_secs(2),
        max_attempts: 3,
        duration_seconds: 3600,
        role_session_name: "credvend".into(),
        default_profile: "default".into(),
    }
}

const LOCAL_NOW: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

fn client(clock: Arc<ManualClock>) -> StsClient {
    StsClient::new(&settings(), Arc::new(AwsClock::new(clock)), Arc::new(Half)).unwrap()
}

fn creds() -> Credentials {
    Credentials {
        access_key_id: "AKIAEXAMPLE".into(),
        secret_access_key: Secret::new("secret/with+chars="),
        session_token: None,
        expiration: None,
    }
}

fn params() -> AssumeRoleParams {
    AssumeRoleParams {
        role_arn: "arn:aws:iam::123456789012:role/app".into(),
        role_session_name: "s".into(),
        ..Default::default()
    }
}

fn ok_body(expiration: &str) -> String {
    format!(
        "<AssumeRoleResponse><AssumeRoleResult><AssumedRoleUser><AssumedRoleId>AROA:s</AssumedRoleId>\
         <Arn>arn:aws:sts::123456789012:assumed-role/app/s</Arn></AssumedRoleUser><Credentials>\
         <AccessKeyId>ASIAOK</AccessKeyId><SecretAccessKey>x</SecretAccessKey><SessionToken>y</SessionToken>\
         <Expiration>{expiration}</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>"
    )
}

fn ok() -> Script {
    Box::new(|_| (StatusCode::OK, ok_body("2026-01-01T01:00:00Z")).into_response())
}

fn error(status: StatusCode, code: &'static str, message: &'static str) -> Script {
    Box::new(move |_| {
        let body = format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>rid</RequestId></ErrorResponse>"
        );
        (status, body).into_response()
    })
}

fn endpoint(addr: SocketAddr) -> Endpoint {
    Endpoint {
        url: format!("http://{addr}"),
        region: "us-east-1".into(),
    }
}

#[tokio::test]
async fn throttling_and_5xx_are_retried_until_success() {
    let (server, addr) = start(vec![
        error(StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded"),
        Box::new(|_| (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response()),
        ok(),
    ])
    .await;
    let sts = client(Arc::new(ManualClock::new(LOCAL_NOW)));
    let role = sts
        .assume_role(&endpoint(addr), &creds(), &params())
        .await
        .unwrap();
    assert_eq!(role.credentials.access_key_id, "ASIAOK");
    assert_eq!(server.seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    for code in [
        "AccessDenied",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ValidationError",
    ] {
        let (server, addr) = start(vec![error(StatusCode::FORBIDDEN, code, "no"), ok()]).await;
        let sts = client(Arc::new(ManualClock::new(LOCAL_NOW)));
        let err = sts
            .assume_role(&endpoint(addr), &creds(), &params())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(code));
        assert_eq!(err.request_id(), Some("rid"));
        assert_eq!(server.seen.lock().unwrap().len(), 1, "{code} was retried");
    }
}

#[tokio::test]
async fn attempts_are_bounded() {
    let throttle = || error(StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded");
    let (server, addr) = start(vec![throttle(), throttle(), throttle(), ok()]).await;
    let sts = client(Arc::new(ManualClock::new(LOCAL_NOW)));
    let err = sts
        .assume_role(&endpoint(addr), &creds(), &params())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("Throttling"));
    assert_eq!(server.seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn requests_are_signed_posts_with_the_session_token_when_present() {
    let (server, addr) = start(vec![ok()]).await;
    let sts = client(Arc::new(ManualClock::new(LOCAL_NOW)));
    let mut session = creds();
    session.session_token = Some(Secret::new("the-token"));
    sts.assume_role(&endpoint(addr), &session, &params())
        .await
        .unwrap();
    let seen = server.seen.lock().unwrap();
    let h = &seen[0];
    assert_eq!(h["x-amz-date"], "20260101T000000Z");
    assert_eq!(h["x-amz-security-token"], "the-token");
    assert_eq!(
        h["content-type"],
        "application/x-www-form-urlencoded; charset=utf-8"
    );
    assert_eq!(h["host"], addr.to_string());
    let auth = h["authorization"].to_str().unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/us-east-1/sts/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="),
        "{auth}"
    );
}

/// The field story: a clock hours behind, and STS answering "Signature expired" with its Date.
#[tokio::test]
async fn a_two_hour_skew_is_learnt_from_date_and_corrected() {
    let aws_now = LOCAL_NOW + Duration::hours(2) + Duration::minutes(3);
    let date = "Thu, 01 Jan 2026 02:03:00 GMT";
    let skew_checking: Script = Box::new(move |h| {
        let sent = h["x-amz-date"].to_str().unwrap();
        let format =
            time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
        let sent = time::PrimitiveDateTime::parse(sent, &format)
            .unwrap()
            .assume_utc();
        if (sent - aws_now).abs() > Duration::minutes(15) {
            let body = "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>Signature expired: 20260101T000000Z is now earlier than 20260101T014800Z (20260101T020300Z - 15 min.)</Message></Error></ErrorResponse>";
            return (StatusCode::FORBIDDEN, [("date", date)], body).into_response();
        }
        (
            StatusCode::OK,
            [("date", date)],
            ok_body("2026-01-01T03:03:00Z"),
        )
            .into_response()
    });
    let shared: Arc<Script> = Arc::new(skew_checking);
    let (s1, s2, s3) = (shared.clone(), shared.clone(), shared);
    let (server, addr) = start(vec![
        Box::new(move |h| s1(h)),
        Box::new(move |h| s2(h)),
        Box::new(move |h| s3(h)),
    ])
    .await;
    let local = Arc::new(ManualClock::new(LOCAL_NOW));
    let sts = client(local.clone());
    sts.assume_role(&endpoint(addr), &creds(), &params())
        .await
        .unwrap();
    assert_eq!(
        sts.clock().offset(),
        Duration::hours(2) + Duration::minutes(3)
    );
    assert_eq!(sts.clock().now(), aws_now);
    // The offset is kept: the next call is signed right the first time.
    sts.assume_role(&endpoint(addr), &creds(), &params())
        .await
        .unwrap();
    let seen = server.seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[1]["x-amz-date"], "20260101T020300Z");
    assert_eq!(seen[2]["x-amz-date"], "20260101T020300Z");
    assert_eq!(
        local.now(),
        LOCAL_NOW,
        "the local clock itself is never changed"
    );
}

#[tokio::test]
async fn a_skew_error_without_a_far_date_is_not_retried() {
    // STS's clock agrees with ours (within five minutes): nothing to correct.
    let expired: Script = Box::new(|_| {
        let body = "<ErrorResponse><Error><Code>RequestExpired</Code><Message>Request has expired</Message></Error></ErrorResponse>";
        (
            StatusCode::FORBIDDEN,
            [("date", "Thu, 01 Jan 2026 00:04:00 GMT")],
            body,
        )
            .into_response()
    });
    let (server, addr) = start(vec![expired, ok()]).await;
    let sts = client(Arc::new(ManualClock::new(LOCAL_NOW)));
    let err = sts
        .assume_role(&endpoint(addr), &creds(), &params())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("RequestExpired"));
    assert_eq!(sts.clock().offset(), Duration::ZERO);
    assert_eq!(server.seen.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_endpoint_that_never_answers_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts and holds connections without ever answering.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let sts = client(Arc::new(ManualClock::new(LOCAL_NOW)));
    let err = sts
        .assume_role(&endpoint(addr), &creds(), &params())
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), StsErrorKind::Timeout { .. }), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn garbage_and_huge_answers_are_typed_errors() {
    let huge = "x".repeat(2 << 20);
    let (_, addr) = start(vec![
        Box::new(|_| (StatusCode::OK, "<html>captive portal</html>").into_response()),
        Box::new(|_| (StatusCode::OK, "<html>captive portal</html>").into_response()),
        Box::new(move |_| (StatusCode::OK, huge.clone()).into_response()),
    ])
    .await;
    let sts = client(Arc::new(ManualClock::new(LOCAL_NOW)));
    let err = sts
        .assume_role(&endpoint(addr), &creds(), &params())
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), StsErrorKind::InvalidResponse { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn nothing_listening_is_a_transport_error_naming_the_endpoint() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let sts = client(Arc::new(ManualClock::new(LOCAL_NOW)));
    let err = sts
        .assume_role(&endpoint(addr), &creds(), &params())
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), StsErrorKind::Transport { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}
