//! An arbitrary request (method, path, headers, body, peer) through the IMDSv2, IMDSv1 or ECS
//! router with `tower::ServiceExt::oneshot`, over a cache that serves fixed credentials or
//! none. `Front::judge` holds every answer to the rules: no panic, never a 500, a 503 only when
//! the cache has nothing, no secret in a refusal. Path segments, hosts, tokens and the ECS
//! authorization come from structured choices, so the handlers behind the guard are reached.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request};
use credvend::fuzzing::{self, Front, Listener};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

#[derive(Arbitrary, Debug)]
struct Input {
    listener: Which,
    credentials: bool,
    peer: Peer,
    method: Verb,
    target: Target,
    headers: Vec<Header>,
    body: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
enum Which {
    ImdsV2,
    ImdsV1,
    Ecs,
}

#[derive(Arbitrary, Debug)]
enum Peer {
    Loopback(u16),
    LoopbackV6,
    Mapped,
    Other([u8; 4]),
}

#[derive(Arbitrary, Debug)]
enum Verb {
    Get,
    Put,
    Head,
    Options,
    Post,
    Delete,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Target {
    /// `/` + segments joined by `/`, an optional trailing slash and query.
    Segments {
        segments: Vec<Segment>,
        trailing_slash: bool,
        query: Option<String>,
    },
    /// Any request target text.
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Segment {
    Known(u8),
    Raw(String),
}

/// Path segments of both endpoints.
const SEGMENTS: [&str; 28] = [
    "latest",
    "meta-data",
    "api",
    "token",
    "iam",
    "security-credentials",
    "security-credentials-extended",
    fuzzing::ROLE_NAME,
    "info",
    "placement",
    "region",
    "availability-zone",
    "instance-id",
    "public-keys",
    "0",
    "openssh-key",
    "dynamic",
    "instance-identity",
    "document",
    "role",
    "dev",
    "prod",
    "v2",
    "credentials",
    fuzzing::CAPABILITY_ID,
    "",
    "..",
    "%2F",
];

#[derive(Arbitrary, Debug)]
enum Header {
    Host(Host),
    ImdsToken(Token),
    Ttl(Ttl),
    Authorization(Auth),
    ForwardedFor,
    ContentLength(u32),
    TransferEncoding,
    Raw { name: String, value: Vec<u8> },
}

#[derive(Arbitrary, Debug)]
enum Host {
    Listener,
    Localhost,
    Metadata,
    MetadataV6,
    WithPort(u16),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Token {
    Valid,
    OtherListener,
    /// The valid token with one byte replaced.
    Flipped(u8, u8),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Ttl {
    Number(u32),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Auth {
    Valid,
    /// The valid token cut to this length.
    Prefix(u8),
    Raw(Vec<u8>),
}

struct World {
    runtime: tokio::runtime::Runtime,
    with: Front,
    without: Front,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let (with, without) =
            runtime.block_on(async { (Front::new(true).await, Front::new(false).await) });
        World {
            runtime,
            with,
            without,
        }
    })
}

fn target(t: &Target) -> String {
    match t {
        Target::Raw(s) => s.clone(),
        Target::Segments {
            segments,
            trailing_slash,
            query,
        } => {
            let mut path = String::new();
            for s in segments {
                path.push('/');
                match s {
                    Segment::Known(i) => path.push_str(SEGMENTS[usize::from(*i) % SEGMENTS.len()]),
                    Segment::Raw(r) => path.push_str(r),
                }
            }
            if path.is_empty() || *trailing_slash {
                path.push('/');
            }
            if let Some(q) = query {
                path.push('?');
                path.push_str(q);
            }
            path
        }
    }
}

fn header(front: &Front, listener: Listener, h: &Header) -> Option<(HeaderName, HeaderValue)> {
    let text = |name: &'static str, value: &str| {
        Some((
            HeaderName::from_static(name),
            HeaderValue::from_str(value).ok()?,
        ))
    };
    match h {
        Header::Host(host) => {
            let own = match listener {
                Listener::Ecs => fuzzing::ECS_LISTEN,
                _ => fuzzing::IMDS_LISTEN,
            };
            let value = match host {
                Host::Listener => own.to_owned(),
                Host::Localhost => "localhost".to_owned(),
                Host::Metadata => "169.254.169.254".to_owned(),
                Host::MetadataV6 => "[fd00:ec2::254]:80".to_owned(),
                Host::WithPort(p) => format!("127.0.0.1:{p}"),
                Host::Raw(r) => r.clone(),
            };
            text("host", &value)
        }
        Header::ImdsToken(token) => {
            let valid = front.imds_token(listener);
            let value = match token {
                Token::Valid => valid.to_owned(),
                Token::OtherListener => match listener {
                    Listener::ImdsV2 => front.imds_token(Listener::ImdsV1).to_owned(),
                    _ => front.imds_token(Listener::ImdsV2).to_owned(),
                },
                Token::Flipped(at, byte) => {
                    let mut bytes = valid.as_bytes().to_vec();
                    if !bytes.is_empty() {
                        let i = usize::from(*at) % bytes.len();
                        bytes[i] = *byte;
                    }
                    return Some((
                        HeaderName::from_static("x-aws-ec2-metadata-token"),
                        HeaderValue::from_bytes(&bytes).ok()?,
                    ));
                }
                Token::Raw(r) => r.clone(),
            };
            text("x-aws-ec2-metadata-token", &value)
        }
        Header::Ttl(Ttl::Number(n)) => text("x-aws-ec2-metadata-token-ttl-seconds", &n.to_string()),
        Header::Ttl(Ttl::Raw(r)) => text("x-aws-ec2-metadata-token-ttl-seconds", r),
        Header::Authorization(auth) => {
            let value = match auth {
                Auth::Valid => fuzzing::ECS_TOKEN.as_bytes().to_vec(),
                Auth::Prefix(n) => {
                    let n = usize::from(*n).min(fuzzing::ECS_TOKEN.len());
                    fuzzing::ECS_TOKEN.as_bytes()[..n].to_vec()
                }
                Auth::Raw(r) => r.clone(),
            };
            Some((
                HeaderName::from_static("authorization"),
                HeaderValue::from_bytes(&value).ok()?,
            ))
        }
        Header::ForwardedFor => text("x-forwarded-for", "203.0.113.9"),
        Header::ContentLength(n) => text("content-length", &n.to_string()),
        Header::TransferEncoding => text("transfer-encoding", "chunked"),
        Header::Raw { name, value } => Some((
            HeaderName::from_bytes(name.as_bytes()).ok()?,
            HeaderValue::from_bytes(value).ok()?,
        )),
    }
}

fuzz_target!(|input: Input| {
    let world = world();
    let front = if input.credentials {
        &world.with
    } else {
        &world.without
    };
    let listener = match input.listener {
        Which::ImdsV2 => Listener::ImdsV2,
        Which::ImdsV1 => Listener::ImdsV1,
        Which::Ecs => Listener::Ecs,
    };
    let method = match &input.method {
        Verb::Get => Method::GET,
        Verb::Put => Method::PUT,
        Verb::Head => Method::HEAD,
        Verb::Options => Method::OPTIONS,
        Verb::Post => Method::POST,
        Verb::Delete => Method::DELETE,
        Verb::Other(m) => match Method::from_bytes(m.as_bytes()) {
            Ok(m) => m,
            Err(_) => return,
        },
    };
    // A target hyper would not parse never reaches a router.
    let Ok(uri) = target(&input.target).parse::<axum::http::Uri>() else {
        return;
    };
    let mut req = Request::builder().method(method).uri(uri);
    for h in &input.headers {
        if let Some((name, value)) = header(front, listener, h) {
            req = req.header(name, value);
        }
    }
    let Ok(req) = req.body(Body::from(input.body.clone())) else {
        return;
    };
    let peer = match input.peer {
        Peer::Loopback(port) => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
        Peer::LoopbackV6 => SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 40000),
        Peer::Mapped => SocketAddr::new(IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()), 40000),
        Peer::Other(ip) => SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), 40000),
    };
    let req = fuzzing::from_peer(req, peer);
    let router = front.router(listener);
    world.runtime.block_on(async {
        let Ok(resp) = router.oneshot(req).await;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("a response body under 1 MiB");
        front.judge(status, &headers, &body);
    });
});
