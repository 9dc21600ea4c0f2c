//! `credvend credential-process --profile NAME`: the `credential_process` JSON (Version 1)
//! for a profile, fetched from the running daemon over its own listener, so a profile line
//! `credential_process = credvend credential-process --profile app` gives any SDK credvend's
//! session with no environment variables. Nothing is minted here: this process never reads
//! the long-term keys.
//!
//! The ECS listener is asked when it serves the profile (with the token from its file), else
//! the IMDS listener that serves it (token PUT, role name, credentials).

use std::net::SocketAddr;
use std::path::PathBuf;

use hyper::{Method, StatusCode};

use super::local_http::{self, Answer, LocalHttpError};
use crate::config::Config;
use crate::secret::Secret;

/// Why the daemon gave no credentials. Never carries a secret or the token.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No daemon answers on the configured listener.
    #[error("cannot reach the credvend daemon; is `credvend serve` running?")]
    Unreachable(#[source] LocalHttpError),
    /// The ECS token file cannot be read.
    #[error("cannot read the ECS token file {}", path.display())]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The daemon's config has the profile, the running daemon does not (a different config).
    #[error("the running daemon does not serve profile {0:?}")]
    NotServed(String),
    /// The daemon serves the profile but has no valid credentials for it now.
    #[error("the running daemon has no valid credentials for profile {0:?} now; its log says why")]
    NoCredentials(String),
    /// The daemon refused the token: it is not the daemon this config describes.
    #[error("the daemon on {0} refused the token; is it running with this config?")]
    Refused(SocketAddr),
    /// Any other answer.
    #[error("the daemon on {addr} answered HTTP {status}")]
    Unexpected {
        /// The listener asked.
        addr: SocketAddr,
        /// Its status.
        status: StatusCode,
    },
    /// A 200 whose body is not a credentials document.
    #[error("the daemon on {0} answered with something that is not a credentials document")]
    BadDocument(SocketAddr),
}

/// The credentials as `credential_process` prints them.
struct Document {
    access_key_id: String,
    secret_access_key: Secret,
    session_token: Secret,
    expiration: String,
}

/// Fetches `profile` from the daemon `config` describes; the JSON line to print.
pub async fn credential_process(
    config: &Config,
    profile: &str,
) -> Result<String, super::CommandError> {
    let ecs = config
        .ecs
        .as_ref()
        .filter(|ecs| ecs.profiles.iter().any(|p| p == profile));
    let document = if let Some(ecs) = ecs {
        let token =
            crate::files::read_text(&ecs.token_file).map_err(|source| FetchError::TokenFile {
                path: ecs.token_file.clone(),
                source,
            })?;
        let addr = local_http::reachable(ecs.listen);
        let answer = get(
            addr,
            &format!("/role/{profile}"),
            &[("authorization", token.trim())],
        )
        .await?;
        parse(addr, profile, &answer, "Token")?
    } else if let Some(imds) = config.imds.iter().find(|l| l.profile == profile) {
        from_imds(local_http::reachable(imds.listen), profile).await?
    } else {
        return Err(super::CommandError::NotServed(profile.to_owned()));
    };
    let json = serde_json::json!({
        "Version": 1,
        "AccessKeyId": document.access_key_id,
        "SecretAccessKey": document.secret_access_key.expose(),
        "SessionToken": document.session_token.expose(),
        "Expiration": document.expiration,
    });
    Ok(format!("{json}\n"))
}

async fn from_imds(addr: SocketAddr, profile: &str) -> Result<Document, FetchError> {
    let answer = local_http::request(
        addr,
        Method::PUT,
        "/latest/api/token",
        &[("x-aws-ec2-metadata-token-ttl-seconds", "60")],
    )
    .await
    .map_err(FetchError::Unreachable)?;
    check(addr, profile, &answer)?;
    let token = answer.body;
    let header = [("x-aws-ec2-metadata-token", token.as_str())];
    let roles = get(addr, "/latest/meta-data/iam/security-credentials/", &header).await?;
    check(addr, profile, &roles)?;
    let role = roles.body.lines().next().unwrap_or_default().to_owned();
    let path = format!("/latest/meta-data/iam/security-credentials/{role}");
    let answer = get(addr, &path, &header).await?;
    parse(addr, profile, &answer, "Token")
}

async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Result<Answer, FetchError> {
    local_http::request(addr, Method::GET, path, headers)
        .await
        .map_err(FetchError::Unreachable)
}

fn check(addr: SocketAddr, profile: &str, answer: &Answer) -> Result<(), FetchError> {
    match answer.status {
        StatusCode::OK => Ok(()),
        StatusCode::NOT_FOUND => Err(FetchError::NotServed(profile.to_owned())),
        StatusCode::SERVICE_UNAVAILABLE => Err(FetchError::NoCredentials(profile.to_owned())),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(FetchError::Refused(addr)),
        status => Err(FetchError::Unexpected { addr, status }),
    }
}

/// The credentials in a 200 answer; `token_field` is where the session token is.
fn parse(
    addr: SocketAddr,
    profile: &str,
    answer: &Answer,
    token_field: &str,
) -> Result<Document, FetchError> {
    check(addr, profile, answer)?;
    let json: serde_json::Value =
        serde_json::from_str(&answer.body).map_err(|_| FetchError::BadDocument(addr))?;
    let field = |name: &str| {
        json.get(name)
            .and_then(serde_json::Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or(FetchError::BadDocument(addr))
    };
    Ok(Document {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: Secret::new(field("SecretAccessKey")?),
        session_token: Secret::new(field(token_field)?),
        expiration: field("Expiration")?,
    })
}
