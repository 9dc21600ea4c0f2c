//! Checks of single values and of the listeners together. Each error names the key it is
//! given (`imds[0].listen`, `$AWS_REGION`).

use std::net::SocketAddr;
use std::time::Duration;

use super::error::ConfigError;
use super::ipnet::{IpNet, IpNetError};
use crate::validate;

type Result<T> = std::result::Result<T, ConfigError>;

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::invalid(key, message)
}

pub(super) fn positive(key: &str, seconds: Option<u64>, default: Duration) -> Result<Duration> {
    match seconds {
        Some(0) => Err(invalid(key, "must be at least 1")),
        Some(s) => Ok(Duration::from_secs(s)),
        None => Ok(default),
    }
}

pub(super) fn listen(key: &str, value: Option<&str>, default: &str) -> Result<SocketAddr> {
    let value = value.unwrap_or(default);
    value
        .parse()
        .map_err(|_| invalid(key, format!("{value:?} is not an address like {default}")))
}

/// `allowed_networks` of the listener at `prefix`.
pub(super) fn networks(prefix: &str, raw: Option<&[String]>) -> Result<Vec<IpNet>> {
    raw.unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.parse().map_err(|e: IpNetError| {
                invalid(format!("{prefix}.allowed_networks[{i}]"), e.to_string())
            })
        })
        .collect()
}

/// Non-loopback listeners need client networks; no two listeners may share an address
/// (port 0 asks the OS for a free port, so those never clash).
pub(super) fn check_listeners(listeners: &[(String, SocketAddr, &[IpNet])]) -> Result<()> {
    for (i, (key, addr, nets)) in listeners.iter().enumerate() {
        if !addr.ip().is_loopback() && nets.is_empty() {
            return Err(invalid(
                format!("{key}.allowed_networks"),
                format!(
                    "must list the client networks, because listen = \"{addr}\" is not loopback"
                ),
            ));
        }
        let clash = listeners[..i].iter().find(|(_, other, _)| {
            addr.port() != 0
                && addr.port() == other.port()
                && (addr.ip() == other.ip()
                    || addr.ip().is_unspecified()
                    || other.ip().is_unspecified())
        });
        if let Some((other_key, other, _)) = clash {
            return Err(invalid(
                format!("{key}.listen"),
                format!("\"{addr}\" overlaps {other_key}.listen = \"{other}\""),
            ));
        }
    }
    Ok(())
}

/// Region names go into the STS host name, so only DNS label characters pass.
pub(super) fn check_region(key: &str, region: &str) -> Result<()> {
    if validate::is_region_name(region) {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("{region:?} is not a region name like us-east-1"),
        ))
    }
}

/// An http(s) URL with a host; plain http only to this machine, as the STS client requires.
pub(super) fn check_url(key: &str, url: &str) -> Result<String> {
    validate::check_endpoint_url(url)
        .map(|()| url.to_owned())
        .map_err(|e| invalid(key, format!("{url:?} {e}")))
}

/// A RoleSessionName prefix: STS allows `[\w+=,.@-]`, 2 to 64 characters; the prefix keeps
/// to 32 so a suffix fits.
pub(super) fn check_session_name(key: &str, name: &str) -> Result<()> {
    let ok = (2..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("{name:?} must be 2 to 32 characters of letters, digits and _+=,.@-"),
        ))
    }
}

/// Profile names end up in URL paths (`/role/<profile>`, `security-credentials/<role>`).
pub(super) fn check_profile(key: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(invalid(key, "must not be empty"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "/?#%".contains(*c))
    {
        return Err(invalid(
            key,
            format!("profile name {name:?} has {c:?}, which cannot be served in a URL path"),
        ));
    }
    Ok(())
}
