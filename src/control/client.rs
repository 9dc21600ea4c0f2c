//! The commands' side of the control socket: one HTTP/1.1 request per connection, bounded in
//! time and size, with "no daemon" told apart from "not allowed".

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

pub use crate::exchange::Answer;
use crate::exchange::exchange;

/// Largest answer read (a status of many profiles is a few kilobytes).
const MAX_BODY: usize = 1024 * 1024;

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
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "credvend")
        .header("content-type", "application/json")
        .body(Full::new(body))
        .map_err(|e| broken(e.into()))?;
    exchange(TokioIo::new(stream), req, MAX_BODY)
        .await
        .map_err(broken)
}
