//! Requests over real sockets, for tests that run servers on `127.0.0.1:0`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Longest any test request may take.
pub(crate) const BOUND: Duration = Duration::from_secs(10);

/// One request over a fresh HTTP/1 connection: status, headers and body text.
pub(crate) async fn call(addr: SocketAddr, req: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = tokio::time::timeout(BOUND, sender.send_request(req))
        .await
        .expect("answered in time")
        .unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

/// `GET path` with `Host` set to `addr`.
pub(crate) fn get(addr: SocketAddr, path: &str) -> Request<Body> {
    Request::builder()
        .uri(path)
        .header("host", addr.to_string())
        .body(Body::empty())
        .unwrap()
}

/// Bytes the kernel holds for `local`'s end of the TCP connection to `remote` that the
/// program has not read yet (`/proc/net/tcp`); `None` when there is no such connection.
/// Zero means the server has read the whole request.
pub(crate) fn unread_bytes(local: SocketAddr, remote: SocketAddr) -> Option<u64> {
    let hex = |a: SocketAddr| match a {
        SocketAddr::V4(v4) => format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(v4.ip().octets()),
            v4.port()
        ),
        SocketAddr::V6(_) => String::new(),
    };
    let (local, remote) = (hex(local), hex(remote));
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&local.as_str()) || fields.get(2) != Some(&remote.as_str()) {
            return None;
        }
        let rx = fields.get(4)?.split(':').nth(1)?;
        u64::from_str_radix(rx, 16).ok()
    })
}
