//! One HTTP/1.1 request over a stream the caller has just opened, and its answer read up to a
//! size: how the one-shot commands talk to the running daemon, over its control socket
//! ([`crate::control`]) or its own listeners. Connecting, timeouts and what a failure means are
//! the caller's; this is the part they share.

use http_body_util::{BodyExt, Limited};
use hyper::body::Body;
use hyper::rt::{Read, Write};
use hyper::{Request, StatusCode};

/// What went wrong half way: the handshake, the request, or an answer that was not HTTP or was
/// over the size.
pub type Broken = Box<dyn std::error::Error + Send + Sync>;

/// An answer: status and body text.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body (invalid UTF-8 replaced).
    pub body: String,
}

/// Sends `req` on `io` and reads the answer, at most `max_body` bytes of body.
pub(crate) async fn exchange<I, B>(
    io: I,
    req: Request<B>,
    max_body: usize,
) -> Result<Answer, Broken>
where
    I: Read + Write + Unpin + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Broken>,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(conn);
    let (parts, body) = sender.send_request(req).await?.into_parts();
    let bytes = Limited::new(body, max_body).collect().await?.to_bytes();
    Ok(Answer {
        status: parts.status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}
