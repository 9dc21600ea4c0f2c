//! Checks of single values and of the listeners together. Each error names the key it is
//! given (`imds[0].listen`, `$AWS_REGION`).

use std::net::SocketAddr;
use std::time::Duration;

use super::error::ConfigError;
use super::ipnet::{IpNet, IpNetError};
use super::raw::RawListen;
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

/// `listen` of the table at `table` (`imds[0]`, `ecs`): one address or a list, each with the
/// key it is blamed under (`imds[0].listen`, or `imds[0].listen[2]` for a list entry).
pub(super) fn listen(
    table: &str,
    value: Option<&RawListen>,
    default: &str,
) -> Result<Vec<(String, SocketAddr)>> {
    let key = format!("{table}.listen");
    let parse = |key: String, value: &str| match value.parse() {
        Ok(addr) => Ok((key, addr)),
        Err(_) if value.matches(':').count() > 1 && !value.starts_with('[') => Err(invalid(
            key,
            format!("{value:?} is not an address: an IPv6 address goes in brackets, like [::1]:80"),
        )),
        Err(_) => Err(invalid(
            key,
            format!("{value:?} is not an address like {default}"),
        )),
    };
    match value {
        None => Ok(vec![parse(key, default)?]),
        Some(RawListen::One(value)) => Ok(vec![parse(key, value)?]),
        Some(RawListen::List(values)) if values.is_empty() => Err(invalid(
            key,
            format!("must name at least one address, like [\"{default}\"]"),
        )),
        Some(RawListen::List(values)) => values
            .iter()
            .enumerate()
            .map(|(i, value)| parse(format!("{key}[{i}]"), value))
            .collect(),
    }
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

/// One address a listener table listens on, for [`check_listeners`].
#[derive(Debug)]
pub(super) struct ListenAt<'a> {
    /// The table: `imds[0]`, `ecs`.
    pub(super) table: String,
    /// The key of the address: `imds[0].listen`, `ecs.listen[1]`.
    pub(super) key: String,
    pub(super) addr: SocketAddr,
    /// The table's `allowed_networks`.
    pub(super) nets: &'a [IpNet],
}

/// Non-loopback listeners need client networks; no two addresses, in one table or in two, may
/// be the same socket (port 0 asks the OS for a free port, so those never clash).
pub(super) fn check_listeners(listeners: &[ListenAt<'_>]) -> Result<()> {
    for (i, at) in listeners.iter().enumerate() {
        let addr = at.addr;
        if !addr.ip().is_loopback() && at.nets.is_empty() {
            return Err(invalid(
                format!("{}.allowed_networks", at.table),
                format!(
                    "must list the client networks, because listen = \"{addr}\" is not loopback"
                ),
            ));
        }
        let clash = listeners[..i].iter().find(|other| {
            let other = other.addr;
            addr.port() != 0
                && addr.port() == other.port()
                && (addr.ip() == other.ip()
                    || addr.ip().is_unspecified()
                    || other.ip().is_unspecified())
        });
        if let Some(other) = clash {
            return Err(invalid(
                at.key.clone(),
                format!("\"{addr}\" overlaps {} = \"{}\"", other.key, other.addr),
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

/// STS's rule for `SourceIdentity`: 2 to 64 of letters, digits and `_+=,.@-`.
pub(super) fn check_source_identity(key: &str, value: &str) -> Result<String> {
    let ok = (2..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(invalid(
            key,
            format!("{value:?} must be 2 to 64 characters of letters, digits and _+=,.@-"),
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
