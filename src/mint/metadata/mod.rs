//! Base credentials from an instance or container endpoint, for `credential_source =
//! Ec2InstanceMetadata | EcsContainer` (the endpoint is resolved with the profile:
//! [`crate::profile::metadata`]).
//!
//! IMDS: the IMDSv2 flow (docs/wire-contract.md §1–§3): `PUT /latest/api/token` with a TTL,
//! then the role list and the role's document with the token. There is no IMDSv1 fallback:
//! an endpoint that refuses tokens is an error, not a reason to drop the protection. A new
//! token is asked for at every fetch, as botocore does; fetches come once per renewal.
//! Containers: one GET with `Accept: application/json` and the `Authorization` token, the
//! token file read again every time (§6).
//!
//! Timeouts are the SDKs' (IMDS 1 s to connect and 1 s to answer, as botocore and Rust;
//! containers 2 s and 5 s, as Rust), and a failed fetch is tried once more at once (IMDS) or
//! after a second (containers, as botocore) when it may help. Longer outages are the cache's
//! business: it keeps serving the last good credentials and retries with backoff.

mod document;
mod error;
mod http;

use std::time::Duration;

use hyper::Method;

pub use error::{MetadataError, MetadataErrorKind};

use self::http::{Timeouts, request};
use crate::profile::metadata::{ContainerToken, MetadataSource, MetadataUrl};
use crate::secret::Credentials;

/// The TTL asked for: tokens are used for three requests, then dropped.
const TOKEN_TTL_SECONDS: &str = "300";
const IMDS_TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(1),
    exchange: Duration::from_secs(1),
};
const CONTAINER_TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(2),
    exchange: Duration::from_secs(5),
};
const ATTEMPTS: u32 = 2;
const CONTAINER_RETRY_DELAY: Duration = Duration::from_secs(1);
const ROLE_LIST: &str = "/latest/meta-data/iam/security-credentials/";

/// Fetches the source's credentials, with one more attempt when the first may be cured by it.
pub(super) async fn fetch(source: &MetadataSource) -> Result<Credentials, MetadataError> {
    let mut attempt = 1;
    loop {
        let result = match source {
            MetadataSource::Imds { endpoint } => imds(endpoint).await,
            MetadataSource::Container { endpoint, token } => container(endpoint, token).await,
        };
        match result {
            Err(e) if e.is_retryable() && attempt < ATTEMPTS => {
                tracing::debug!("metadata fetch failed, trying once more: {e}");
                attempt += 1;
                if matches!(source, MetadataSource::Container { .. }) {
                    tokio::time::sleep(CONTAINER_RETRY_DELAY).await;
                }
            }
            other => return other,
        }
    }
}

async fn imds(endpoint: &MetadataUrl) -> Result<Credentials, MetadataError> {
    let fail = |step: &str, kind| MetadataError {
        service: "IMDS",
        endpoint: endpoint.to_string(),
        step: step.to_owned(),
        kind,
    };
    let base = &endpoint.path;
    let step = "PUT /latest/api/token";
    let token = ok_body(
        request(
            endpoint,
            Method::PUT,
            &format!("{base}/latest/api/token"),
            &[("x-aws-ec2-metadata-token-ttl-seconds", TOKEN_TTL_SECONDS)],
            IMDS_TIMEOUTS,
        )
        .await,
    )
    .map_err(|k| fail(step, k))?;
    let token = token.trim();
    if token.is_empty() {
        return Err(fail(step, MetadataErrorKind::Empty));
    }
    let headers = [("x-aws-ec2-metadata-token", token)];
    let step = format!("GET {ROLE_LIST}");
    let list = ok_body(
        request(
            endpoint,
            Method::GET,
            &format!("{base}{ROLE_LIST}"),
            &headers,
            IMDS_TIMEOUTS,
        )
        .await,
    )
    .map_err(|k| fail(&step, k))?;
    // Go takes the first line; botocore the whole body, which is the same on EC2.
    let role = list.lines().next().unwrap_or_default().trim();
    if !is_role_name(role) {
        return Err(fail(&step, MetadataErrorKind::Empty));
    }
    let step = format!("GET {ROLE_LIST}{role}");
    let body = ok_body(
        request(
            endpoint,
            Method::GET,
            &format!("{base}{ROLE_LIST}{role}"),
            &headers,
            IMDS_TIMEOUTS,
        )
        .await,
    )
    .map_err(|k| fail(&step, k))?;
    document::parse(&body).map_err(|k| fail(&step, k))
}

async fn container(
    endpoint: &MetadataUrl,
    token: &Option<ContainerToken>,
) -> Result<Credentials, MetadataError> {
    // The path may be an ECS capability id: it is never shown.
    let fail = |kind| MetadataError {
        service: "container endpoint",
        endpoint: endpoint.to_string(),
        step: "GET".to_owned(),
        kind,
    };
    let authorization = match token {
        None => None,
        Some(ContainerToken::Inline(secret)) => Some(secret.expose().to_owned()),
        Some(ContainerToken::File(path)) => Some(read_token_file(path).await.map_err(fail)?),
    };
    let mut headers = vec![("accept", "application/json")];
    if let Some(value) = &authorization {
        headers.push(("authorization", value.as_str()));
    }
    let path = if endpoint.path.is_empty() {
        "/"
    } else {
        &endpoint.path
    };
    let body = ok_body(request(endpoint, Method::GET, path, &headers, CONTAINER_TIMEOUTS).await)
        .map_err(fail)?;
    document::parse(&body).map_err(fail)
}

/// The token file's contents; a line break is refused as the SDKs refuse it, without
/// showing what the file holds.
async fn read_token_file(path: &std::path::Path) -> Result<String, MetadataErrorKind> {
    let why = |why: String| MetadataErrorKind::TokenFile {
        path: path.to_path_buf(),
        why,
    };
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|e| why(format!("cannot be read ({})", e.kind())))?;
    if text.contains(['\r', '\n']) {
        return Err(why("holds a line break, which no header value may".into()));
    }
    if text.is_empty() {
        return Err(why("is empty".into()));
    }
    Ok(text)
}

/// The body of a 200; any other status is an error of its own.
fn ok_body(answer: Result<http::Answer, MetadataErrorKind>) -> Result<String, MetadataErrorKind> {
    let answer = answer?;
    if answer.status == 200 {
        Ok(answer.body)
    } else {
        Err(MetadataErrorKind::Status(answer.status))
    }
}

/// IAM role names: letters, digits and `+=,.@_-`, at most 64 (they go into a path).
fn is_role_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

#[cfg(test)]
mod tests;
