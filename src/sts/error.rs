//! STS failures, typed: the service's error code and request id, or what went wrong on the way.

use std::fmt;

/// A failed STS call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct StsError {
    kind: StsErrorKind,
}

/// What kind of failure.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StsErrorKind {
    /// STS answered with an error document.
    Service {
        /// HTTP status.
        status: u16,
        /// `Error/Code`, e.g. `AccessDenied`.
        code: String,
        /// `Error/Message`.
        message: String,
        /// `RequestId`, when present.
        request_id: Option<String>,
    },
    /// The answer was not a usable STS document (truncated, huge, not XML, missing fields).
    InvalidResponse {
        /// HTTP status.
        status: u16,
        /// What was wrong with it.
        reason: String,
    },
    /// No answer within the configured timeout.
    Timeout {
        /// The endpoint.
        endpoint: String,
    },
    /// Could not connect or the connection failed.
    Transport {
        /// The endpoint.
        endpoint: String,
        /// The whole cause chain, as text.
        cause: String,
    },
    /// The request could not be built (bad endpoint, invalid parameter).
    Request {
        /// What was wrong.
        reason: String,
    },
}

impl fmt::Display for StsErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Service {
                status,
                code,
                message,
                request_id,
            } => {
                write!(f, "STS error {code}: {message} (HTTP {status}")?;
                if let Some(id) = request_id {
                    write!(f, ", request id {id}")?;
                }
                f.write_str(")")
            }
            Self::InvalidResponse { status, reason } => {
                write!(f, "unusable STS response (HTTP {status}): {reason}")
            }
            Self::Timeout { endpoint } => write!(f, "STS at {endpoint} did not answer in time"),
            Self::Transport { endpoint, cause } => {
                write!(f, "cannot reach STS at {endpoint}: {cause}")
            }
            Self::Request { reason } => write!(f, "cannot build STS request: {reason}"),
        }
    }
}

/// Codes that mean the local clock is off (docs/wire-contract.md §10).
const SKEW_CODES: &[&str] = &[
    "RequestExpired",
    "RequestTimeTooSkewed",
    "RequestInTheFuture",
    "InvalidSignatureException",
    "AuthFailure",
];

/// Codes worth retrying soon.
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestTimeout",
    "RequestTimeoutException",
    "IDPCommunicationError",
    "ServiceUnavailable",
    "InternalFailure",
];

impl StsError {
    /// An error of the given kind.
    #[must_use]
    pub fn new(kind: StsErrorKind) -> Self {
        Self { kind }
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> &StsErrorKind {
        &self.kind
    }

    /// The STS error code, for service errors.
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        match &self.kind {
            StsErrorKind::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The STS request id, when STS sent one.
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        match &self.kind {
            StsErrorKind::Service { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// Whether trying again soon may succeed: throttling, 5xx, timeouts, transport failures,
    /// garbage answers. Never for AccessDenied, InvalidClientTokenId, SignatureDoesNotMatch,
    /// ValidationError and the like.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match &self.kind {
            StsErrorKind::Service { status, code, .. } => {
                RETRYABLE_CODES.contains(&code.as_str()) || *status >= 500
            }
            StsErrorKind::InvalidResponse { status, .. } => *status >= 500 || *status == 200,
            StsErrorKind::Timeout { .. } | StsErrorKind::Transport { .. } => true,
            StsErrorKind::Request { .. } => false,
        }
    }

    /// Whether STS rejected the request's timestamp: a skew-class code, or
    /// SignatureDoesNotMatch saying "Signature expired".
    #[must_use]
    pub fn is_clock_skew(&self) -> bool {
        match &self.kind {
            StsErrorKind::Service { code, message, .. } => {
                SKEW_CODES.contains(&code.as_str())
                    || (code == "SignatureDoesNotMatch" && message.contains("Signature expired"))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16, code: &str, message: &str) -> StsError {
        StsError::new(StsErrorKind::Service {
            status,
            code: code.into(),
            message: message.into(),
            request_id: Some("req-1".into()),
        })
    }

    #[test]
    fn throttling_and_5xx_are_retryable_auth_errors_are_not() {
        assert!(service(400, "Throttling", "Rate exceeded").is_retryable());
        assert!(service(503, "ServiceUnavailable", "").is_retryable());
        assert!(service(500, "Whatever", "").is_retryable());
        for code in [
            "AccessDenied",
            "InvalidClientTokenId",
            "SignatureDoesNotMatch",
            "ValidationError",
        ] {
            assert!(!service(403, code, "").is_retryable(), "{code}");
        }
    }

    #[test]
    fn signature_expired_is_recognised_as_skew() {
        let expired = service(
            403,
            "SignatureDoesNotMatch",
            "Signature expired: 20260101T000000Z is now earlier than 20260101T020000Z (20260101T021500Z - 15 min.)",
        );
        assert!(expired.is_clock_skew());
        assert!(
            !service(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match"
            )
            .is_clock_skew()
        );
        assert!(service(400, "RequestExpired", "").is_clock_skew());
    }

    #[test]
    fn display_carries_code_message_and_request_id() {
        let text = service(403, "AccessDenied", "not allowed").to_string();
        assert_eq!(
            text,
            "STS error AccessDenied: not allowed (HTTP 403, request id req-1)"
        );
    }
}
