//! Every refusal and failure the endpoints answer with, mapped to HTTP in one place.
//!
//! Bodies are short and generic: they never carry internal error text, a profile's last STS
//! error, a header value or a token. IMDS answers plain text (as the real service does, and no
//! SDK reads an IMDS error body); the ECS endpoint answers the agent's `{"code","message"}` JSON,
//! which Go, JS and Rust decode.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::cache::CacheError;

/// Why a request got no answer it wanted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ApiError {
    /// Token PUT without a TTL in `1..=21600`.
    BadTtl,
    /// No `Host` header (HTTP/1.1 requires one).
    MissingHost,
    /// A `Host` that is not one of ours: a DNS-rebinding attempt or a misdirected request.
    BadHost,
    /// A peer outside loopback and the listener's allowed networks.
    PeerNotAllowed,
    /// A local caller whose user the listener does not admit (`allowed_users`).
    UserNotAllowed,
    /// A token PUT that came through a proxy (`X-Forwarded-For` or `Forwarded`).
    Forwarded,
    /// `OPTIONS` (never answered permissively: no CORS) or a method a route does not take.
    MethodNotAllowed,
    /// IMDS GET without a token on a v2-only listener.
    TokenMissing,
    /// IMDS GET with a forged, malformed or expired token.
    TokenInvalid,
    /// ECS request without `Authorization`.
    AuthMissing,
    /// ECS request with a wrong `Authorization`.
    AuthWrong,
    /// No such path, role, profile or capability.
    NotFound,
    /// A request body where none is expected, or too large.
    BodyTooLarge,
    /// The cache has nothing valid to serve (cold and failing, or expired after STS failures).
    ///
    /// 503: Rust and Go retry 5xx, botocore and JS treat any non-200 as "no credentials", and
    /// a 404 would be worse: Go and Java take a 404 on the credentials path as "role gone" and
    /// rediscover or fall back, and Rust reports "no role attached". On the extended path Java
    /// fails on a non-404 instead of falling back, which is right here: the legacy path has no
    /// credentials either.
    NoCredentials,
    /// A daemon fault (misconfiguration between listener and cache).
    Internal,
}

impl From<&CacheError> for ApiError {
    /// What a read of the cache that found nothing answers.
    fn from(e: &CacheError) -> Self {
        match e {
            // The listener and the cache disagree about what is served: our fault.
            CacheError::UnknownProfile(_) => Self::Internal,
            CacheError::NoValidCredentials { .. } | CacheError::Pending(_) => Self::NoCredentials,
        }
    }
}

impl ApiError {
    /// The HTTP status for this error.
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Self::BadTtl | Self::MissingHost => StatusCode::BAD_REQUEST,
            Self::TokenMissing | Self::TokenInvalid | Self::AuthMissing => StatusCode::UNAUTHORIZED,
            Self::BadHost
            | Self::PeerNotAllowed
            | Self::UserNotAllowed
            | Self::Forwarded
            | Self::AuthWrong => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NoCredentials => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short code for JSON bodies and audit reasons.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::BadTtl => "InvalidTokenTtl",
            Self::MissingHost => "MissingHost",
            Self::BadHost => "HostNotAllowed",
            Self::PeerNotAllowed => "PeerNotAllowed",
            Self::UserNotAllowed => "UserNotAllowed",
            Self::Forwarded => "ForwardedRequest",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::TokenMissing => "MissingToken",
            Self::TokenInvalid => "InvalidToken",
            Self::AuthMissing => "MissingAuthorization",
            Self::AuthWrong => "InvalidAuthorization",
            Self::NotFound => "NotFound",
            Self::BodyTooLarge => "BodyTooLarge",
            Self::NoCredentials => "CredentialsUnavailable",
            Self::Internal => "InternalError",
        }
    }

    /// A short human message; generic on purpose.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Self::BadTtl => "token ttl must be an integer from 1 to 21600",
            Self::MissingHost => "missing host header",
            Self::BadHost => "host not allowed",
            Self::PeerNotAllowed => "client not allowed",
            Self::UserNotAllowed => "user not allowed",
            Self::Forwarded => "forwarded requests get no token",
            Self::MethodNotAllowed => "method not allowed",
            Self::TokenMissing => "token required",
            Self::TokenInvalid => "invalid or expired token",
            Self::AuthMissing => "authorization required",
            Self::AuthWrong => "invalid authorization",
            Self::NotFound => "not found",
            Self::BodyTooLarge => "request body too large",
            Self::NoCredentials => "credentials unavailable, try again later",
            Self::Internal => "internal error",
        }
    }

    /// The ECS flavour of this error: a JSON body.
    pub(crate) fn json(self) -> Response {
        let body = serde_json::json!({ "code": self.code(), "message": self.message() });
        let mut resp = (self.status(), body.to_string()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self.decorate(resp)
    }

    fn decorate(self, mut resp: Response) -> Response {
        if self == Self::NoCredentials {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

/// The IMDS flavour: plain text.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let resp = (self.status(), self.message()).into_response();
        self.decorate(resp)
    }
}

/// An error answered as JSON (the ECS endpoint).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EcsError(pub(crate) ApiError);

impl From<ApiError> for EcsError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl IntoResponse for EcsError {
    fn into_response(self) -> Response {
        self.0.json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_mistakes_are_never_server_errors() {
        for e in [
            ApiError::BadTtl,
            ApiError::MissingHost,
            ApiError::BadHost,
            ApiError::PeerNotAllowed,
            ApiError::UserNotAllowed,
            ApiError::Forwarded,
            ApiError::MethodNotAllowed,
            ApiError::TokenMissing,
            ApiError::TokenInvalid,
            ApiError::AuthMissing,
            ApiError::AuthWrong,
            ApiError::NotFound,
            ApiError::BodyTooLarge,
        ] {
            assert!(e.status().is_client_error(), "{e:?}");
        }
        assert_eq!(
            ApiError::NoCredentials.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn a_cache_with_nothing_to_serve_is_503_and_a_profile_it_does_not_know_is_ours() {
        let none = CacheError::NoValidCredentials {
            profile: "p".into(),
            last_error: "AccessDenied".into(),
        };
        assert_eq!(
            ApiError::from(&none).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let pending = CacheError::Pending("p".into());
        assert_eq!(ApiError::from(&pending), ApiError::NoCredentials);
        let unknown = CacheError::UnknownProfile("p".into());
        assert_eq!(ApiError::from(&unknown), ApiError::Internal);
    }

    #[test]
    fn ecs_errors_are_json_with_code_and_message() {
        let resp = EcsError(ApiError::AuthWrong).into_response();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    }
}
