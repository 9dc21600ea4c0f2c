//! The few HTTP requests the one-shot commands make to the running daemon's own listeners:
//! one request per connection, plain HTTP, bounded in time and size.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub(super) use crate::exchange::Answer;
use crate::exchange::exchange;

/// Longest a request to the daemon may take: a cold profile may wait on STS for a while.
pub(super) const TIMEOUT: Duration = Duration::from_secs(35);
/// Largest answer read; the daemon's are well under a kilobyte.
const MAX_BODY: usize = 64 * 1024;

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum LocalHttpError {
    /// Nothing accepts connections there.
    #[error("nothing answers on {0}")]
    Refused(SocketAddr, #[source] io::Error),
    /// No answer in time.
    #[error("{addr} did not answer within {}s", TIMEOUT.as_secs())]
    Timeout {
        /// The address asked.
        addr: SocketAddr,
    },
    /// The connection failed half way, or the answer was not HTTP.
    #[error("broken answer from {0}")]
    Broken(
        SocketAddr,
        #[source] Box<dyn std::error::Error + Send + Sync>,
    ),
}

/// `method path` to `addr` with `headers`; `Host` is the address.
pub(super) async fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Answer, LocalHttpError> {
    tokio::time::timeout(TIMEOUT, send(addr, method, path, headers))
        .await
        .map_err(|_| LocalHttpError::Timeout { addr })?
}

async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Answer, LocalHttpError> {
    let broken = |e: Box<dyn std::error::Error + Send + Sync>| LocalHttpError::Broken(addr, e);
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| LocalHttpError::Refused(addr, e))?;
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req
        .body(Empty::<Bytes>::new())
        .map_err(|e| broken(e.into()))?;
    exchange(TokioIo::new(stream), req, MAX_BODY)
        .await
        .map_err(broken)
}

/// Where to connect to reach a listener bound to `listen` (a wildcard means this host).
pub(super) fn reachable(listen: SocketAddr) -> SocketAddr {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}
