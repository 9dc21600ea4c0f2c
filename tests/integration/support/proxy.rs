//! A small fault-injecting HTTP proxy in front of moto: it forwards requests untouched (the
//! `Host` header too, so signatures stay valid) except where its fault says otherwise.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use time::{Duration, OffsetDateTime};

/// What the proxy does instead of forwarding.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// The first request gets a `Throttling` error; later ones are forwarded.
    FirstThrottling,
    /// The first request gets a bare 500; later ones are forwarded.
    First500,
    /// A GetSessionToken with this `TokenCode` gets 403 AccessDenied, as STS answers a wrong
    /// MFA code; everything else is forwarded.
    RefuseTokenCode(&'static str),
    /// AWS time is `now + offset`: a request whose `X-Amz-Date` is more than 15 minutes away
    /// from it gets 403 "Signature expired", as real STS answers, with AWS time in `Date`.
    ClockAhead(Duration),
}

/// A running proxy.
pub struct FaultProxy {
    pub url: String,
    pub requests: Arc<AtomicUsize>,
    pub rejected: Arc<AtomicUsize>,
    /// Every request body, with the status it got (from upstream or injected).
    pub seen: Arc<Mutex<Vec<(String, u16)>>>,
}

#[derive(Clone)]
struct Shared {
    upstream: String,
    fault: Fault,
    requests: Arc<AtomicUsize>,
    rejected: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<(String, u16)>>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (an `http://host:port` URL) on a thread of its own.
    pub fn start(upstream: &str, fault: Fault) -> Self {
        let requests = Arc::new(AtomicUsize::new(0));
        let rejected = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            seen: seen.clone(),
            upstream: upstream.trim_end_matches('/').to_owned(),
            fault,
            requests: requests.clone(),
            rejected: rejected.clone(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr: SocketAddr = listener.local_addr().expect("proxy addr");
        listener.set_nonblocking(true).expect("nonblocking");
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let app = Router::new().fallback(forward).with_state(shared);
                axum::serve(listener, app).await.expect("proxy serve");
            });
        });
        Self {
            url: format!("http://{addr}"),
            requests,
            rejected,
            seen,
        }
    }
}

async fn forward(State(s): State<Shared>, request: Request<Body>) -> Response<Body> {
    let n = s.requests.fetch_add(1, Ordering::SeqCst);
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body).into_owned();
    let seen = |status: StatusCode| {
        s.seen
            .lock()
            .expect("seen")
            .push((text.clone(), status.as_u16()));
    };
    if let Some(response) = injected(&s, n, &parts.headers, &text) {
        s.rejected.fetch_add(1, Ordering::SeqCst);
        seen(response.status());
        return response;
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri: Uri = format!("{}{path}", s.upstream)
        .parse()
        .expect("upstream uri");
    let mut upstream = Request::builder().method(parts.method.clone()).uri(uri);
    for (name, value) in &parts.headers {
        upstream = upstream.header(name, value);
    }
    let upstream = upstream.body(Full::new(body)).expect("upstream request");
    match s.client.request(upstream).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            seen(parts.status);
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Response::from_parts(parts, Body::from(body))
        }
        Err(e) => error_response(StatusCode::BAD_GATEWAY, "ProxyError", &e.to_string(), None),
    }
}

fn injected(s: &Shared, n: usize, headers: &HeaderMap, body: &str) -> Option<Response<Body>> {
    match s.fault {
        Fault::RefuseTokenCode(code)
            if body.contains("Action=GetSessionToken")
                && body.contains(&format!("TokenCode={code}")) =>
        {
            Some(error_response(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "MultiFactorAuthentication failed with invalid MFA one time pass code.",
                None,
            ))
        }
        Fault::FirstThrottling if n == 0 => Some(error_response(
            StatusCode::BAD_REQUEST,
            "Throttling",
            "Rate exceeded",
            None,
        )),
        Fault::First500 if n == 0 => Some(
            Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .body(Body::from("internal error"))
                .expect("500"),
        ),
        Fault::ClockAhead(offset) => {
            let aws_now = OffsetDateTime::now_utc() + offset;
            let sent = headers
                .get("x-amz-date")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_amz_date);
            let fresh = sent.is_some_and(|t| (t - aws_now).abs() <= Duration::minutes(15));
            (!fresh).then(|| {
                let message = format!(
                    "Signature expired: {} is now earlier than {} ({} - 15 min.)",
                    headers
                        .get("x-amz-date")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("?"),
                    amz_date(aws_now - Duration::minutes(15)),
                    amz_date(aws_now)
                );
                error_response(
                    StatusCode::FORBIDDEN,
                    "SignatureDoesNotMatch",
                    &message,
                    Some(aws_now),
                )
            })
        }
        _ => None,
    }
}

fn error_response(
    status: StatusCode,
    code: &str,
    message: &str,
    date: Option<OffsetDateTime>,
) -> Response<Body> {
    let body = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
         <Code>{code}</Code><Message>{message}</Message></Error><RequestId>proxy-{}</RequestId></ErrorResponse>",
        status.as_u16()
    );
    let mut response = Response::builder()
        .status(status)
        .header("content-type", "text/xml");
    if let Some(date) = date {
        response = response.header("date", http_date(date));
    }
    response.body(Body::from(body)).expect("error response")
}

fn amz_date(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    t.format(&f).expect("format")
}

fn parse_amz_date(s: &str) -> Option<OffsetDateTime> {
    let f = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(s, &f)
        .ok()
        .map(|t| t.assume_utc())
}

fn http_date(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&f).expect("format")
}
