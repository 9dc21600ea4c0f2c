//! The real STS client: form body, SigV4 signature, HTTPS (plain HTTP only to loopback test
//! endpoints), bounded reads, retries with jittered exponential backoff, and clock-skew
//! correction.
//!
//! Skew: when STS rejects a request as expired or skewed and its `Date` header is more than
//! five minutes from our corrected clock, the offset goes into the shared [`AwsClock`] (never
//! the system clock), a warning says so once, and the request is signed again.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use time::OffsetDateTime;
use tracing::{debug, warn};

use super::tls::tls_config;
use super::{
    AssumeRoleParams, AssumedRole, BoxFuture, CallerIdentity, Endpoint, GetSessionTokenParams,
    SessionToken, Sts, StsError, StsErrorKind, form, xml,
};
use crate::causes::Causes;
use crate::clock::{AwsClock, Clock};
use crate::config::AwsSettings;
use crate::random::Random;
use crate::secret::Credentials;
use crate::sigv4::{self, SignableRequest, SigningParams};

/// Largest STS answer read; real ones are a few KiB (session tokens have no fixed bound).
const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// A skew smaller than this is left alone (STS itself tolerates 15 minutes).
const SKEW_THRESHOLD: time::Duration = time::Duration::minutes(5);
/// First retry delay; doubles per attempt up to [`MAX_RETRY_DELAY`].
const BASE_RETRY_DELAY: Duration = Duration::from_millis(200);
/// Longest single retry delay within one call.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);
const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
/// The `User-Agent` of every request credvend sends to AWS.
pub const USER_AGENT: &str = concat!("credvend/", env!("CARGO_PKG_VERSION"));

/// The hyper client credvend talks to AWS services with (STS, and the IAM Identity Center
/// portal and OIDC endpoints).
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// An HTTPS client with the connect timeout and trust anchors of `aws`. It speaks plain HTTP
/// too: callers check URLs with [`crate::validate::check_endpoint_url`] (loopback only).
pub fn https_client(aws: &AwsSettings) -> Result<HttpClient, StsError> {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(aws.connect_timeout));
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config(aws.ca_file.as_deref())?)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(https))
}

/// STS over HTTPS.
#[derive(Debug)]
pub struct StsClient {
    http: HttpClient,
    clock: Arc<AwsClock>,
    random: Arc<dyn Random>,
    timeout: Duration,
    max_attempts: u32,
}

/// One raw answer.
struct Answer {
    status: u16,
    date: Option<OffsetDateTime>,
    body: String,
}

impl StsClient {
    /// A client with the timeouts, attempts and trust anchors of `aws`, signing with `clock`.
    pub fn new(
        aws: &AwsSettings,
        clock: Arc<AwsClock>,
        random: Arc<dyn Random>,
    ) -> Result<Self, StsError> {
        Ok(Self {
            http: https_client(aws)?,
            clock,
            random,
            timeout: aws.timeout,
            max_attempts: aws.max_attempts.max(1),
        })
    }

    /// The corrected clock this client signs with.
    #[must_use]
    pub fn clock(&self) -> &Arc<AwsClock> {
        &self.clock
    }

    /// Sends `body` until it succeeds, fails for good, or runs out of attempts.
    async fn execute<T>(
        &self,
        action: &'static str,
        endpoint: &Endpoint,
        credentials: &Credentials,
        body: String,
        parse: fn(u16, &str) -> Result<T, StsError>,
    ) -> Result<T, StsError> {
        let mut attempt = 0;
        let mut skew_corrected = false;
        loop {
            attempt += 1;
            let result = match self.attempt(endpoint, credentials, &body).await {
                Ok(answer) if answer.status == 200 => parse(answer.status, &answer.body),
                Ok(answer) => {
                    let err = xml::error(answer.status, &answer.body);
                    // One extra, uncounted attempt once the clock is corrected.
                    if err.is_clock_skew() && !skew_corrected && self.correct_skew(answer.date) {
                        skew_corrected = true;
                        attempt -= 1;
                        continue;
                    }
                    Err(err)
                }
                Err(err) => Err(err),
            };
            match result {
                Ok(value) => {
                    debug!(action, endpoint = %endpoint.url, attempt, "sts call succeeded");
                    return Ok(value);
                }
                Err(err) if err.is_retryable() && attempt < self.max_attempts => {
                    let delay = self.retry_delay(attempt);
                    warn!(action, endpoint = %endpoint.url, attempt, error = %err, ?delay, "sts call failed; retrying");
                    tokio::time::sleep(delay).await;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Exponential backoff with "equal jitter": half fixed, half random.
    fn retry_delay(&self, attempt: u32) -> Duration {
        let exp = BASE_RETRY_DELAY.saturating_mul(1 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(MAX_RETRY_DELAY);
        capped / 2 + capped.mul_f64(self.random.unit() / 2.0)
    }

    /// Learns the offset from STS's `Date` when it is far from ours. True if it changed.
    fn correct_skew(&self, server_date: Option<OffsetDateTime>) -> bool {
        let Some(server) = server_date else {
            return false;
        };
        if (server - self.clock.now()).abs() <= SKEW_THRESHOLD {
            return false;
        }
        let offset = server - self.clock.local_now();
        self.clock.set_offset(offset);
        let (direction, sign) = if offset.is_negative() {
            ("ahead of", '-')
        } else {
            ("behind", '+')
        };
        let shown = hours_minutes(offset.abs());
        warn!("local clock is {shown} {direction} AWS; correcting signatures by {sign}{shown}");
        true
    }

    /// STS's idea of the time: the `Date` of its answer to an unsigned GET (which it refuses,
    /// but dated), for `credvend doctor`. One attempt, bounded by the timeout.
    pub async fn server_time(&self, endpoint: &Endpoint) -> Result<OffsetDateTime, StsError> {
        let bad = |reason: String| StsError::new(StsErrorKind::Request { reason });
        let request = Request::get(endpoint.url.as_str())
            .header(hyper::header::USER_AGENT, USER_AGENT)
            .body(Full::new(Bytes::new()))
            .map_err(|e| bad(format!("STS endpoint {:?}: {e}", endpoint.url)))?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| transport(endpoint, &e))?;
            let status = response.status().as_u16();
            response
                .headers()
                .get(hyper::header::DATE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_http_date)
                .ok_or_else(|| {
                    StsError::new(StsErrorKind::InvalidResponse {
                        status,
                        reason: "no Date header".into(),
                    })
                })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                StsError::new(StsErrorKind::Timeout {
                    endpoint: endpoint.url.clone(),
                })
            })?
    }

    /// One signed request and its bounded answer.
    async fn attempt(
        &self,
        endpoint: &Endpoint,
        credentials: &Credentials,
        body: &str,
    ) -> Result<Answer, StsError> {
        let request = self.signed_request(endpoint, credentials, body)?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| transport(endpoint, &e))?;
            let status = response.status().as_u16();
            let date = response
                .headers()
                .get(hyper::header::DATE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_http_date);
            let bytes = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    StsError::new(StsErrorKind::InvalidResponse {
                        status,
                        reason: format!(
                            "body unreadable or over {MAX_RESPONSE_BYTES} bytes ({})",
                            Causes(&*e)
                        ),
                    })
                })?
                .to_bytes();
            let body = String::from_utf8(bytes.to_vec()).map_err(|_| {
                StsError::new(StsErrorKind::InvalidResponse {
                    status,
                    reason: "body is not UTF-8".into(),
                })
            })?;
            Ok(Answer { status, date, body })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                StsError::new(StsErrorKind::Timeout {
                    endpoint: endpoint.url.clone(),
                })
            })?
    }

    /// A POST of `body` to `endpoint`, signed now (by the corrected clock).
    fn signed_request(
        &self,
        endpoint: &Endpoint,
        credentials: &Credentials,
        body: &str,
    ) -> Result<Request<Full<Bytes>>, StsError> {
        let bad = |reason: String| StsError::new(StsErrorKind::Request { reason });
        let uri: Uri = endpoint
            .url
            .parse()
            .map_err(|_| bad(format!("STS endpoint {:?} is not a URL", endpoint.url)))?;
        let host = signed_host(&uri)
            .ok_or_else(|| bad(format!("STS endpoint {:?} has no host", endpoint.url)))?;
        let path = match uri.path() {
            "" => "/",
            p => p,
        };
        let headers = vec![
            ("content-type".to_owned(), CONTENT_TYPE.to_owned()),
            ("host".to_owned(), host),
        ];
        let signing = sigv4::sign(
            &SignableRequest {
                method: "POST",
                path,
                query: "",
                headers: &headers,
                body: body.as_bytes(),
            },
            &SigningParams {
                access_key_id: &credentials.access_key_id,
                secret_access_key: credentials.secret_access_key.expose(),
                session_token: credentials.session_token.as_ref().map(|t| t.expose()),
                region: &endpoint.region,
                service: "sts",
                time: self.clock.now(),
            },
        );
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(hyper::header::USER_AGENT, USER_AGENT);
        for (name, value) in headers.iter().map(|(n, v)| (n.as_str(), v.as_str())) {
            builder = builder.header(name, value);
        }
        for (name, value) in &signing.headers {
            builder = builder.header(*name, value);
        }
        // The error would quote no header values, but say nothing specific to be safe.
        builder
            .body(Full::new(Bytes::from(body.to_owned())))
            .map_err(|_| {
                bad("a header value is not valid in HTTP (check the keys and token)".into())
            })
    }
}

impl Sts for StsClient {
    fn assume_role<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        credentials: &'a Credentials,
        params: &'a AssumeRoleParams,
    ) -> BoxFuture<'a, Result<AssumedRole, StsError>> {
        Box::pin(self.execute(
            "AssumeRole",
            endpoint,
            credentials,
            form::assume_role(params),
            xml::assume_role,
        ))
    }

    fn get_session_token<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        credentials: &'a Credentials,
        params: &'a GetSessionTokenParams,
    ) -> BoxFuture<'a, Result<SessionToken, StsError>> {
        Box::pin(self.execute(
            "GetSessionToken",
            endpoint,
            credentials,
            form::get_session_token(params),
            xml::session_token,
        ))
    }

    fn get_caller_identity<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        credentials: &'a Credentials,
    ) -> BoxFuture<'a, Result<CallerIdentity, StsError>> {
        Box::pin(self.execute(
            "GetCallerIdentity",
            endpoint,
            credentials,
            form::get_caller_identity(),
            xml::caller_identity,
        ))
    }
}

/// The `host` value to sign: the authority without the scheme's default port.
fn signed_host(uri: &Uri) -> Option<String> {
    let authority = uri.authority()?;
    let default_port = match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    };
    Some(match authority.port_u16() {
        Some(port) if port != default_port => format!("{}:{port}", authority.host()),
        _ => authority.host().to_owned(),
    })
}

fn transport(endpoint: &Endpoint, e: &hyper_util::client::legacy::Error) -> StsError {
    StsError::new(StsErrorKind::Transport {
        endpoint: endpoint.url.clone(),
        // The whole chain: hyper-util's own text hides the rustls cause.
        cause: Causes(e).to_string(),
    })
}

/// `2h03m` style, to the nearest minute (`Date` has whole seconds, our clock does not).
fn hours_minutes(d: time::Duration) -> String {
    let minutes = (d.whole_seconds() + 30) / 60;
    format!("{}h{:02}m", minutes / 60, minutes % 60)
}

/// An HTTP `Date` (RFC 1123, `Sun, 06 Nov 1994 08:49:37 GMT`).
fn parse_http_date(value: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(value.trim(), &format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

#[cfg(test)]
mod tests {
    //! Tests of the STS client's own logic (retries, skew correction, limits) against a scripted
    //! local HTTP server. Compatibility with real STS is shown against moto in the integration
    //! tests; this only checks what credvend decides.

    use super::*;
    use std::collections::VecDeque;
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use time::{Duration, OffsetDateTime};

    use crate::clock::{AwsClock, Clock, ManualClock};
    use crate::config::AwsSettings;
    use crate::random::Random;
    use crate::secret::{Credentials, Secret};
    use crate::sts::{AssumeRoleParams, Endpoint, Sts, StsErrorKind};

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
            credential_process_timeout: std::time::Duration::from_secs(60),
            duration_seconds: 3600,
            role_session_name: "credvend".into(),
            source_identity: None,
            default_profile: "default".into(),
            mfa: crate::config::MfaSettings::default(),
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
    use time::macros::datetime;

    #[test]
    fn http_dates_parse_as_utc() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(datetime!(1994-11-06 08:49:37 UTC))
        );
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn offsets_are_shown_to_the_nearest_minute() {
        assert_eq!(
            hours_minutes(time::Duration::seconds(2 * 3600 - 1)),
            "2h00m"
        );
        assert_eq!(
            hours_minutes(time::Duration::seconds(2 * 3600 + 3 * 60 + 10)),
            "2h03m"
        );
        assert_eq!(hours_minutes(time::Duration::seconds(29)), "0h00m");
    }

    #[test]
    fn the_signed_host_drops_only_the_default_port() {
        let host = |u: &str| signed_host(&u.parse().unwrap());
        assert_eq!(
            host("https://sts.amazonaws.com"),
            Some("sts.amazonaws.com".into())
        );
        assert_eq!(
            host("https://sts.amazonaws.com:443/"),
            Some("sts.amazonaws.com".into())
        );
        assert_eq!(host("http://127.0.0.1:5000"), Some("127.0.0.1:5000".into()));
        assert_eq!(host("http://[::1]:80"), Some("[::1]".into()));
    }
}
