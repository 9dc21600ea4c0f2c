//! The two IAM Identity Center calls: the portal's `GetRoleCredentials` and SSO-OIDC's
//! `CreateToken` (refresh grant), over the STS client's HTTPS stack.
//!
//! Shapes are the published API models: `GET /federation/credentials?account_id=&role_name=`
//! with `x-amz-sso_bearer_token`, answering `roleCredentials` with `expiration` in epoch
//! milliseconds; `POST /token` with a JSON body, answering `accessToken`, `expiresIn` and,
//! sometimes, a new `refreshToken`. Neither is signed. Error details are the service's error
//! type and message, cut short and scrubbed of the secrets sent.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper::body::Bytes;
use serde_json::Value;
use time::OffsetDateTime;

use super::error::SsoError;
use super::token::Registration;
use crate::causes::Causes;
use crate::config::AwsSettings;
use crate::secret::{Credentials, Secret};
use crate::sigv4::encode::percent_encode;
use crate::sts::client::{HttpClient, USER_AGENT, https_client};

/// Largest answer read; real ones are a few KiB.
const MAX_RESPONSE_BYTES: usize = 256 << 10;
/// Longest error detail kept from a service's answer.
const MAX_DETAIL_CHARS: usize = 200;

/// One HTTPS client for a mint's portal and OIDC calls.
pub(super) struct Http {
    client: HttpClient,
    timeout: Duration,
}

/// One raw answer.
struct Answer {
    status: u16,
    error_type: Option<String>,
    body: String,
}

/// What `CreateToken` returned.
pub(super) struct NewToken {
    /// `accessToken`.
    pub access_token: Secret,
    /// `expiresIn`, in seconds.
    pub expires_in: i64,
    /// `refreshToken`, when the service rotated it.
    pub refresh_token: Option<Secret>,
}

impl Http {
    /// A client with `aws`'s trust anchors and timeouts.
    pub(super) fn new(aws: &AwsSettings) -> Result<Self, SsoError> {
        let client = https_client(aws).map_err(|e| SsoError::Tls {
            reason: Causes(&e).to_string(),
        })?;
        Ok(Self {
            client,
            timeout: aws.timeout,
        })
    }

    /// `GetRoleCredentials` at `portal`. A 401 or 403 is [`SsoError::Refused`], telling to
    /// run `login`.
    pub(super) async fn role_credentials(
        &self,
        portal: &str,
        token: &Secret,
        account_id: &str,
        role_name: &str,
        login: &str,
    ) -> Result<Credentials, SsoError> {
        const SERVICE: &str = "GetRoleCredentials";
        let url = format!(
            "{portal}/federation/credentials?account_id={}&role_name={}",
            percent_encode(account_id.as_bytes(), false),
            percent_encode(role_name.as_bytes(), false)
        );
        let request = Request::get(&url)
            .header(hyper::header::USER_AGENT, USER_AGENT)
            .header("x-amz-sso_bearer_token", token.expose())
            .body(Full::new(Bytes::new()));
        let answer = self.send(request, portal).await?;
        if matches!(answer.status, 401 | 403) {
            return Err(SsoError::Refused {
                status: answer.status,
                detail: detail(&answer, &[token]),
                login: login.to_owned(),
            });
        }
        let body = success(SERVICE, &answer, &[token])?;
        let invalid = |reason: &str| SsoError::InvalidResponse {
            service: SERVICE,
            reason: reason.to_owned(),
        };
        let role = body
            .get("roleCredentials")
            .ok_or_else(|| invalid("no roleCredentials"))?;
        let field = |key: &str| {
            role.get(key)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| invalid(&format!("no roleCredentials.{key}")))
        };
        let millis = role
            .get("expiration")
            .and_then(Value::as_i64)
            .ok_or_else(|| invalid("no roleCredentials.expiration (epoch milliseconds)"))?;
        let expiration = OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
            .map_err(|_| invalid("roleCredentials.expiration is out of range"))?;
        Ok(Credentials {
            access_key_id: field("accessKeyId")?.to_owned(),
            secret_access_key: Secret::new(field("secretAccessKey")?),
            session_token: Some(Secret::new(field("sessionToken")?)),
            expiration: Some(expiration),
        })
    }

    /// `CreateToken` with the refresh grant at `oidc`.
    pub(super) async fn create_token(
        &self,
        oidc: &str,
        registration: &Registration,
    ) -> Result<NewToken, SsoError> {
        const SERVICE: &str = "CreateToken";
        let body = serde_json::json!({
            "clientId": registration.client_id,
            "clientSecret": registration.client_secret.expose(),
            "grantType": "refresh_token",
            "refreshToken": registration.refresh_token.expose(),
        })
        .to_string();
        let request = Request::post(format!("{oidc}/token"))
            .header(hyper::header::USER_AGENT, USER_AGENT)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)));
        let secrets = [&registration.client_secret, &registration.refresh_token];
        let answer = self.send(request, oidc).await?;
        let body = success(SERVICE, &answer, &secrets)?;
        let invalid = |reason: &str| SsoError::InvalidResponse {
            service: SERVICE,
            reason: reason.to_owned(),
        };
        let access_token = body
            .get("accessToken")
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| invalid("no accessToken"))?;
        let expires_in = body
            .get("expiresIn")
            .and_then(Value::as_i64)
            .filter(|v| *v > 0)
            .ok_or_else(|| invalid("no positive expiresIn"))?;
        Ok(NewToken {
            access_token: Secret::new(access_token),
            expires_in,
            refresh_token: body
                .get("refreshToken")
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(Secret::new),
        })
    }

    /// Sends `request` to `endpoint` and reads the bounded answer, within the timeout.
    async fn send(
        &self,
        request: Result<Request<Full<Bytes>>, hyper::http::Error>,
        endpoint: &str,
    ) -> Result<Answer, SsoError> {
        // The error would name no header value, but say nothing specific to be safe.
        let request = request.map_err(|_| SsoError::Endpoint {
            url: endpoint.to_owned(),
            reason: "does not make a valid request (check the URL and the cached token)".into(),
        })?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| SsoError::Transport {
                    endpoint: endpoint.to_owned(),
                    cause: Causes(&e).to_string(),
                })?;
            let status = response.status().as_u16();
            let error_type = response
                .headers()
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(':').next().unwrap_or(v).to_owned());
            let bytes = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| SsoError::Transport {
                    endpoint: endpoint.to_owned(),
                    cause: format!("answer unreadable or too large ({})", Causes(&*e)),
                })?
                .to_bytes();
            Ok(Answer {
                status,
                error_type,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| SsoError::Timeout {
                endpoint: endpoint.to_owned(),
            })?
    }
}

/// The JSON body of a 200 answer, or the error the status means.
fn success(service: &'static str, answer: &Answer, secrets: &[&Secret]) -> Result<Value, SsoError> {
    if answer.status != 200 {
        return Err(SsoError::Status {
            service,
            status: answer.status,
            detail: detail(answer, secrets),
        });
    }
    serde_json::from_str(&answer.body).map_err(|_| SsoError::InvalidResponse {
        service,
        reason: "not JSON".into(),
    })
}

/// `, Type: message` from an error answer: the `x-amzn-errortype` header or the body's
/// `__type`/`error`, and its `message`/`error_description`. Scrubbed, cut short.
fn detail(answer: &Answer, secrets: &[&Secret]) -> String {
    let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| body.get(*k).and_then(Value::as_str))
            .map(str::to_owned)
    };
    let kind = answer
        .error_type
        .clone()
        .or_else(|| text(&["__type", "error"]));
    let message = text(&["message", "Message", "error_description"]);
    let mut out = match (kind, message) {
        (Some(k), Some(m)) => format!(", {k}: {m}"),
        (Some(k), None) => format!(", {k}"),
        (None, Some(m)) => format!(", {m}"),
        (None, None) => String::new(),
    };
    for secret in secrets {
        if !secret.expose().is_empty() {
            out = out.replace(secret.expose(), "<redacted>");
        }
    }
    if out.chars().count() > MAX_DETAIL_CHARS {
        out = out.chars().take(MAX_DETAIL_CHARS).collect::<String>() + "...";
    }
    out
}
