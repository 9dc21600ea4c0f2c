//! Why a metadata endpoint gave no credentials: which endpoint (scheme, host and port only),
//! which step, and what happened; never a token, a secret or a container path.

use std::path::PathBuf;
use std::time::Duration;

/// What went wrong at one step.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MetadataErrorKind {
    /// The TCP connection failed (refused, unreachable).
    #[error("cannot connect ({0})")]
    Connect(std::io::ErrorKind),
    /// No connection or no whole answer in time.
    #[error("no answer within {}ms", .0.as_millis())]
    Timeout(Duration),
    /// The connection broke, or the answer was not HTTP.
    #[error("broken answer: {0}")]
    Broken(String),
    /// A status other than 200.
    #[error("answered HTTP {0}")]
    Status(u16),
    /// A document whose `Code` is not `Success`.
    #[error("the endpoint answered Code {0}")]
    Code(String),
    /// A 200 whose body is no usable credential document.
    #[error("bad credentials document: {0}")]
    BadDocument(&'static str),
    /// A 200 for the token or the role list with nothing usable in it.
    #[error("an empty or unusable answer")]
    Empty,
    /// The container token file cannot be read or holds a line break.
    #[error("token file {}: {why}", path.display())]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// What is wrong (never its contents).
        why: String,
    },
}

/// A failed fetch from an instance or container endpoint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{service} at {endpoint}: {step} {kind}")]
pub struct MetadataError {
    /// `IMDS` or `container endpoint`.
    pub service: &'static str,
    /// `http://host:port`.
    pub endpoint: String,
    /// The request: `PUT /latest/api/token`, `GET the role list`, ….
    pub step: String,
    /// What happened.
    pub kind: MetadataErrorKind,
}

impl MetadataError {
    /// Whether trying again soon may help: the endpoint is down, slow, failing or confused
    /// (a restart, a throttle); not when it says there is no role or refuses us.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match &self.kind {
            MetadataErrorKind::Status(status) => *status >= 500 || matches!(status, 401 | 429),
            MetadataErrorKind::Code(_) => false,
            _ => true,
        }
    }
}
