//! Checks of the values credvend puts into host names and URLs: region names and STS endpoint
//! URLs. The config loader and the STS endpoint resolver both use them, each wrapping the
//! answer in its own error, so a value the config accepts is one the resolver accepts.

use std::fmt;
use std::net::IpAddr;

/// Whether `region` can be part of a host name and a signature scope: 1 to 63 DNS label
/// characters (`us-east-1`).
#[must_use]
pub fn is_region_name(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 63
        && region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `localhost`, or an IP literal in 127.0.0.0/8 or `::1`.
#[must_use]
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Why a URL cannot be an STS endpoint. The text follows the URL in a message:
/// `"ftp://x" is not an http(s) URL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// No `http://` or `https://` scheme.
    NotHttp,
    /// Nothing between the scheme and the path.
    NoHost,
    /// White space or control characters anywhere in it.
    Unprintable,
    /// `http://` to a host that is not this machine: credentials would cross the network in
    /// the clear.
    PlainHttpOffHost,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotHttp => "is not an http(s) URL",
            Self::NoHost => "has no host",
            Self::Unprintable => "contains spaces or control characters",
            Self::PlainHttpOffHost => "uses plain http to a host that is not loopback; use https",
        })
    }
}

impl std::error::Error for UrlError {}

/// HTTPS anywhere; plain HTTP only to this machine (local test endpoints).
pub fn check_endpoint_url(url: &str) -> Result<(), UrlError> {
    let (scheme, rest) = url.split_once("://").ok_or(UrlError::NotHttp)?;
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UrlError::Unprintable);
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    if host.is_empty() {
        return Err(UrlError::NoHost);
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(()),
        "http" if is_loopback_host(host) => Ok(()),
        "http" => Err(UrlError::PlainHttpOffHost),
        _ => Err(UrlError::NotHttp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names_are_dns_labels() {
        for ok in ["us-east-1", "cn-north-1", "a"] {
            assert!(is_region_name(ok), "{ok}");
        }
        for bad in ["", "us-east-1/evil", "x.y", "a b", &"a".repeat(64)] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "http://127.0.0.1:5000",
            "http://127.9.9.9",
            "http://localhost:1",
            "http://[::1]:80/",
            "https://sts.example",
            "HTTPS://sts.example?x=1",
        ] {
            assert_eq!(check_endpoint_url(ok), Ok(()), "{ok}");
        }
        let cases = [
            ("http://10.0.0.1", UrlError::PlainHttpOffHost),
            ("http://sts.amazonaws.com", UrlError::PlainHttpOffHost),
            // The host ends at `?` or `#` as well as at `/`.
            ("http://sts.example?x=127.0.0.1", UrlError::PlainHttpOffHost),
            ("ftp://x", UrlError::NotHttp),
            ("sts.amazonaws.com", UrlError::NotHttp),
            ("http://", UrlError::NoHost),
            ("https://[]:443", UrlError::NoHost),
            ("https://sts.example/ x", UrlError::Unprintable),
        ];
        for (url, want) in cases {
            assert_eq!(check_endpoint_url(url), Err(want), "{url}");
        }
    }
}
