//! The commands' side of the control socket: one HTTP/1.1 request per connection, bounded in
//! time and size, with "no daemon" told apart from "not allowed".

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

/// Largest answer read (a status of many profiles is a few kilobytes).
const MAX_BODY: usize = 1024 * 1024;

/// An answer: status and body text.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: String,
}

/// Why a request to the daemon got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ControlClientError {
    /// Nothing listens on the socket.
    #[error(
        "credvend is not running: no daemon answers on {0} (start it with `credvend serve`, or name its config with --config)"
    )]
    NotRunning(PathBuf, #[source] io::Error),
    /// The socket exists but this user may not use it.
    #[error("not allowed to use the control socket {0}: run as the daemon's user or root")]
    Denied(PathBuf, #[source] io::Error),
    /// The config turns the socket off.
    #[error("the control socket is disabled ([control] enabled = false)")]
    Disabled,
    /// No answer in time.
    #[error("the daemon did not answer on {path} within {}s", .limit.as_secs())]
    Timeout {
        /// The socket.
        path: PathBuf,
        /// The bound.
        limit: Duration,
    },
    /// The connection failed half way, or the answer was not HTTP.
    #[error("broken answer on {0}")]
    Broken(PathBuf, #[source] Box<dyn std::error::Error + Send + Sync>),
}

/// `method uri` on the socket at `path`, answered within `limit`.
pub async fn request(
    path: &Path,
    method: Method,
    uri: &str,
    limit: Duration,
) -> Result<Answer, ControlClientError> {
    request_with(path, method, uri, Bytes::new(), limit).await
}

/// [`request`] with a JSON `body` (a command's arguments, such as an MFA code: never in the
/// URI, which the daemon's log may show).
pub async fn request_with(
    path: &Path,
    method: Method,
    uri: &str,
    body: Bytes,
    limit: Duration,
) -> Result<Answer, ControlClientError> {
    tokio::time::timeout(limit, send(path, method, uri, body))
        .await
        .map_err(|_| ControlClientError::Timeout {
            path: path.to_owned(),
            limit,
        })?
}

async fn send(
    path: &Path,
    method: Method,
    uri: &str,
    body: Bytes,
) -> Result<Answer, ControlClientError> {
    let broken = |e: Box<dyn std::error::Error + Send + Sync>| {
        ControlClientError::Broken(path.to_owned(), e)
    };
    let stream = UnixStream::connect(path)
        .await
        .map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => ControlClientError::Denied(path.to_owned(), e),
            _ => ControlClientError::NotRunning(path.to_owned(), e),
        })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| broken(e.into()))?;
    tokio::spawn(conn);
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "credvend")
        .header("content-type", "application/json")
        .body(Full::new(body))
        .map_err(|e| broken(e.into()))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| broken(e.into()))?;
    let (parts, body) = resp.into_parts();
    let bytes = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(broken)?
        .to_bytes();
    Ok(Answer {
        status: parts.status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}
