//! IAM Identity Center (SSO) as the source of a chain: the role credentials the portal gives
//! for the access token that `aws sso login` cached.
//!
//! As botocore does (`SSOTokenProvider`, `SSOCredentialFetcher`): an `sso_session` token with
//! less than 15 minutes left is refreshed through SSO-OIDC `CreateToken` with the cached
//! client registration and refresh token, and written back to the cache; a failed refresh is
//! logged and the old token used while it lasts. Legacy tokens (`sso_start_url` in the
//! profile) are never refreshed, as in the CLI. A token that is missing, expired or refused
//! is an error telling to run `aws sso login`, which the cache retries every few minutes, so
//! a new login is picked up without a restart.

mod error;
mod http;
mod token;

use std::path::{Path, PathBuf};

use time::{Duration, OffsetDateTime};
use tracing::{info, warn};

pub use error::SsoError;

use crate::clock::Clock;
use crate::config::AwsSettings;
use crate::env::Env;
use crate::profile::SsoSource;
use crate::secret::Credentials;
use http::Http;
use token::{CachedToken, LoadError};

/// botocore refreshes a token with less than this left.
const REFRESH_WINDOW: Duration = Duration::minutes(15);

/// One refresh at a time in this process, so profiles sharing a session do not spend the same
/// refresh token twice (the second one reads the first one's result from the cache).
static TOKEN_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The command that gives `source` a new token: `aws sso login --sso-session NAME`, or
/// `--profile PROFILE` for the legacy form.
#[must_use]
pub fn login_command(profile: &str, source: &SsoSource) -> String {
    match &source.session {
        Some(session) => format!("aws sso login --sso-session {session}"),
        None => format!("aws sso login --profile {profile}"),
    }
}

/// The cache file of `source`'s token, under `env`'s `HOME`.
pub fn token_file(source: &SsoSource, env: &Env) -> Result<PathBuf, SsoError> {
    let home = env
        .home()
        .filter(|h| !h.is_empty())
        .ok_or(SsoError::NoHome)?;
    let key = source.session.as_deref().unwrap_or(&source.start_url);
    Ok(token::cache_file(Path::new(home), key))
}

/// The state of `source`'s cached token at `now`, for `credvend profiles`: read only, no
/// network. `valid until ...`, `expired at ...` with what happens next, or why there is none.
#[must_use]
pub fn token_status(profile: &str, source: &SsoSource, env: &Env, now: OffsetDateTime) -> String {
    let login = login_command(profile, source);
    let token = match token_file(source, env).and_then(|file| load(&file, &login)) {
        Ok(token) => token,
        Err(e) => return e.to_string(),
    };
    if token.expires_at > now {
        return format!("valid until {}", token.expires_at_text);
    }
    match token.registration(now) {
        Ok(_) if source.session.is_some() => format!(
            "expired at {}; credvend refreshes it through SSO-OIDC with the cached refresh token",
            token.expires_at_text
        ),
        _ => format!("expired at {}: run `{login}`", token.expires_at_text),
    }
}

/// The portal's role credentials for `source` (named in `profile`).
pub(crate) async fn credentials(
    aws: &AwsSettings,
    env: &Env,
    clock: &dyn Clock,
    profile: &str,
    source: &SsoSource,
) -> Result<Credentials, SsoError> {
    let login = login_command(profile, source);
    let file = token_file(source, env)?;
    let portal = endpoint(
        env,
        "SSO",
        source.portal_endpoint.as_deref(),
        "portal.sso",
        source,
    )?;
    let http = Http::new(aws)?;
    let token = {
        let _one_at_a_time = TOKEN_LOCK.lock().await;
        let token = load(&file, &login)?;
        let now = clock.now();
        let mut why = String::new();
        let token = if source.session.is_some() && token.expires_at - now < REFRESH_WINDOW {
            match refresh(&http, env, source, &token, now).await {
                Ok(new) => {
                    save(&new, &file, source);
                    new
                }
                Err(reason) => {
                    warn!(sso_session = source.session.as_deref(), %reason, "IAM Identity Center token refresh failed");
                    why = format!(", and it could not be refreshed: {reason}");
                    token
                }
            }
        } else {
            token
        };
        if token.expires_at <= now {
            return Err(SsoError::TokenExpired {
                expired_at: token.expires_at_text,
                why,
                login,
            });
        }
        token
    };
    http.role_credentials(
        &portal,
        &token.access_token,
        &source.account_id,
        &source.role_name,
        &login,
    )
    .await
}

/// The cached token in `file`, or the error telling to run `login`.
fn load(file: &Path, login: &str) -> Result<CachedToken, SsoError> {
    token::load(file).map_err(|e| match e {
        LoadError::Missing => SsoError::TokenMissing {
            file: file.to_owned(),
            login: login.to_owned(),
        },
        LoadError::Unusable(reason) => SsoError::TokenUnreadable {
            file: file.to_owned(),
            reason,
            login: login.to_owned(),
        },
    })
}

/// A new token through `CreateToken`, or why not (no registration, or the call failed).
async fn refresh(
    http: &Http,
    env: &Env,
    source: &SsoSource,
    token: &CachedToken,
    now: OffsetDateTime,
) -> Result<CachedToken, String> {
    let registration = token.registration(now)?;
    let oidc = endpoint(
        env,
        "SSO_OIDC",
        source.oidc_endpoint.as_deref(),
        "oidc",
        source,
    )
    .map_err(|e| e.to_string())?;
    let new = http
        .create_token(&oidc, &registration)
        .await
        .map_err(|e| e.to_string())?;
    Ok(token.refreshed(
        &source.start_url,
        &source.region,
        new.access_token,
        now + Duration::seconds(new.expires_in),
        new.refresh_token,
    ))
}

/// Writes a refreshed token back; a failure is logged (the new token is used all the same,
/// and the CLI refreshes again from the old file).
fn save(token: &CachedToken, file: &Path, source: &SsoSource) {
    let session = source.session.as_deref();
    match token.save(file) {
        Ok(()) => info!(
            sso_session = session,
            expires_at = %token.expires_at_text,
            file = %file.display(),
            "IAM Identity Center token refreshed"
        ),
        Err(e) => warn!(
            sso_session = session,
            file = %file.display(),
            error = %e,
            "IAM Identity Center token refreshed but not written back"
        ),
    }
}

/// The endpoint of service `id` (`SSO`, `SSO_OIDC`) as the SDKs resolve it:
/// `AWS_ENDPOINT_URL_<ID>`, `AWS_ENDPOINT_URL`, the profile's (`configured`), then
/// `https://<prefix>.<region>.amazonaws.com`. `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`
/// skips all but the last.
fn endpoint(
    env: &Env,
    id: &str,
    configured: Option<&str>,
    prefix: &str,
    source: &SsoSource,
) -> Result<String, SsoError> {
    let ignore = env
        .get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let service_var = format!("AWS_ENDPOINT_URL_{id}");
    let chosen = [
        env.get(&service_var),
        env.get("AWS_ENDPOINT_URL"),
        configured,
    ]
    .into_iter()
    .flatten()
    .find(|v| !v.is_empty())
    .filter(|_| !ignore);
    match chosen {
        Some(url) => {
            crate::validate::check_endpoint_url(url).map_err(|e| SsoError::Endpoint {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
            Ok(url.trim_end_matches('/').to_owned())
        }
        None => {
            let suffix = if source.region.starts_with("cn-") {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            Ok(format!("https://{prefix}.{}.{suffix}", source.region))
        }
    }
}

#[cfg(test)]
mod tests;
