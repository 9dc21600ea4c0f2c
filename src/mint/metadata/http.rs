//! One plain-http request to a metadata endpoint: its own connection, a connect timeout, a
//! bound on the whole exchange and on the body read.

use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::error::MetadataErrorKind;
use crate::profile::metadata::MetadataUrl;

/// Largest answer read: credential documents are a few KiB.
const MAX_BODY: usize = 64 * 1024;

/// How long a connection and a whole exchange may take.
#[derive(Clone, Copy, Debug)]
pub(super) struct Timeouts {
    pub(super) connect: Duration,
    pub(super) exchange: Duration,
}

/// A status and a body (which may hold secrets: never log it).
#[derive(Debug)]
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) body: String,
}

/// `method path` to `url`'s host with `headers`.
pub(super) async fn request(
    url: &MetadataUrl,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    timeouts: Timeouts,
) -> Result<Answer, MetadataErrorKind> {
    let authority = url.authority();
    let stream = tokio::time::timeout(timeouts.connect, TcpStream::connect(authority.as_str()))
        .await
        .map_err(|_| MetadataErrorKind::Timeout(timeouts.connect))?
        .map_err(|e| MetadataErrorKind::Connect(e.kind()))?;
    tokio::time::timeout(
        timeouts.exchange,
        exchange(stream, &authority, method, path, headers),
    )
    .await
    .map_err(|_| MetadataErrorKind::Timeout(timeouts.exchange))?
}

async fn exchange(
    stream: TcpStream,
    authority: &str,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Answer, MetadataErrorKind> {
    let broken = |e: &dyn std::fmt::Display| MetadataErrorKind::Broken(e.to_string());
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| broken(&e))?;
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", authority)
        .header(
            "user-agent",
            concat!("credvend/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req
        .body(Empty::<Bytes>::new())
        // Only a header value can be refused here; it may be a token, so it is not shown.
        .map_err(|_| MetadataErrorKind::Broken("a header value is not legal".into()))?;
    let resp = sender.send_request(req).await.map_err(|e| broken(&e))?;
    let (parts, body) = resp.into_parts();
    let bytes = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|e| broken(&e))?
        .to_bytes();
    Ok(Answer {
        status: parts.status.as_u16(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}
