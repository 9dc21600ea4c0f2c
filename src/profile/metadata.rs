//! Where `credential_source = Ec2InstanceMetadata` and `= EcsContainer` read credentials:
//! the endpoint resolved from the daemon's environment and the profile, as the SDKs resolve it
//! (docs/wire-contract.md §4.4, §6.1–6.3), and checked once, when the profile is resolved.
//!
//! IMDS: `AWS_EC2_METADATA_SERVICE_ENDPOINT`, else the profile's
//! `ec2_metadata_service_endpoint`, else the endpoint mode (`IPv4`: `http://169.254.169.254`,
//! `IPv6`: `http://[fd00:ec2::254]`). Containers: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` on
//! `http://169.254.170.2`, else `AWS_CONTAINER_CREDENTIALS_FULL_URI` on one of the hosts the
//! SDKs allow over plain http, with the token from `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`
//! (read at every fetch) or `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
//!
//! A relative URI's path is a credential (an ECS capability id), so only scheme, host and
//! port are ever shown ([`MetadataUrl`]'s `Display`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use crate::env::Env;
use crate::secret::Secret;

/// Overrides the IMDS endpoint.
pub const ENV_IMDS_ENDPOINT: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT";
/// `IPv4` or `IPv6`: which well-known IMDS address to use.
pub const ENV_IMDS_ENDPOINT_MODE: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE";
/// `true` turns IMDS off (botocore, Rust and Go read it so).
pub const ENV_IMDS_DISABLED: &str = "AWS_EC2_METADATA_DISABLED";
/// A path on `http://169.254.170.2`, as ECS sets it.
pub const ENV_RELATIVE_URI: &str = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
/// A whole URL (EKS Pod Identity, credvend's own container endpoint).
pub const ENV_FULL_URI: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
/// The `Authorization` value, inline.
pub const ENV_AUTH_TOKEN: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN";
/// A file holding the `Authorization` value; wins over the inline one.
pub const ENV_AUTH_TOKEN_FILE: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";

/// The IMDS address of the `IPv4` endpoint mode.
pub const IMDS_IPV4: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254));
/// The IMDS address of the `IPv6` endpoint mode.
pub const IMDS_IPV6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254));
/// The ECS agent's address, where relative URIs point.
pub const ECS_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2));
/// Hosts besides loopback that a plain-http FULL_URI may name (EKS Pod Identity's two).
const FULL_URI_HOSTS: [IpAddr; 3] = [
    ECS_HOST,
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 23)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23)),
];

/// A plain-http endpoint: host and port, plus a path that is never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct MetadataUrl {
    /// The host as written (an IP literal without brackets, or `localhost`).
    pub host: String,
    /// The port (80 when the URL names none).
    pub port: u16,
    /// For IMDS the base path (usually empty); for containers the path and query to GET.
    pub path: String,
}

impl MetadataUrl {
    /// The addresses a connection to this URL goes to, without asking DNS: the IP literal, or
    /// both loopback addresses for `localhost`. Empty for any other name.
    #[must_use]
    pub fn socket_addrs(&self) -> Vec<SocketAddr> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return vec![SocketAddr::new(ip, self.port)];
        }
        if self.host.eq_ignore_ascii_case("localhost") {
            return vec![
                SocketAddr::new(Ipv4Addr::LOCALHOST.into(), self.port),
                SocketAddr::new(Ipv6Addr::LOCALHOST.into(), self.port),
            ];
        }
        Vec::new()
    }

    /// `host:port` as a `Host` header or a connect target wants it (IPv6 in brackets).
    #[must_use]
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for MetadataUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}", self.authority())
    }
}

impl fmt::Debug for MetadataUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The path may be an ECS capability id.
        write!(f, "MetadataUrl({self})")
    }
}

/// Where the container endpoint's `Authorization` value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerToken {
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`: read at every fetch.
    File(PathBuf),
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
    Inline(Secret),
}

/// A resolved metadata source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataSource {
    /// The instance metadata service, through the IMDSv2 token flow.
    Imds {
        /// Its base URL.
        endpoint: MetadataUrl,
    },
    /// A container credentials endpoint.
    Container {
        /// The URL to GET.
        endpoint: MetadataUrl,
        /// The `Authorization` header's source, if any.
        token: Option<ContainerToken>,
    },
}

impl MetadataSource {
    /// The endpoint read.
    #[must_use]
    pub fn endpoint(&self) -> &MetadataUrl {
        match self {
            Self::Imds { endpoint } | Self::Container { endpoint, .. } => endpoint,
        }
    }
}

impl fmt::Display for MetadataSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Imds { endpoint } => write!(f, "Ec2InstanceMetadata (IMDSv2 at {endpoint})"),
            Self::Container { endpoint, token } => {
                write!(f, "EcsContainer (at {endpoint}")?;
                match token {
                    Some(ContainerToken::File(path)) => {
                        write!(f, ", token from {})", path.display())
                    }
                    Some(ContainerToken::Inline(_)) => write!(f, ", token from the environment)"),
                    None => write!(f, ", no token)"),
                }
            }
        }
    }
}

/// Why a metadata source cannot be used; never holds a token or a URL path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MetadataConfigError {
    /// `AWS_EC2_METADATA_DISABLED=true`.
    #[error("IMDS is turned off ({ENV_IMDS_DISABLED}=true in credvend's environment)")]
    ImdsDisabled,
    /// An endpoint mode other than IPv4 / IPv6.
    #[error("{0} must be IPv4 or IPv6")]
    BadMode(&'static str),
    /// An endpoint that is not a plain-http URL with a host.
    #[error("{0} is not an http:// URL with a host (https is not supported)")]
    BadUrl(&'static str),
    /// A FULL_URI host outside the allow-list.
    #[error(
        "{ENV_FULL_URI} over http must name a loopback address, localhost, 169.254.170.2, \
         169.254.170.23 or fd00:ec2::23, not {0}"
    )]
    HostNotAllowed(String),
    /// Neither container variable.
    #[error("{ENV_RELATIVE_URI} or {ENV_FULL_URI} must be set in credvend's environment")]
    NoContainerUri,
    /// An inline token that is no legal header value.
    #[error("{ENV_AUTH_TOKEN} holds a line break")]
    BadToken,
}

/// The IMDS endpoint, from the environment first, then the profile's
/// `ec2_metadata_service_endpoint` and `ec2_metadata_service_endpoint_mode`.
pub fn imds_source(
    env: &Env,
    profile_endpoint: Option<&str>,
    profile_mode: Option<&str>,
) -> Result<MetadataSource, MetadataConfigError> {
    if env
        .get(ENV_IMDS_DISABLED)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Err(MetadataConfigError::ImdsDisabled);
    }
    let endpoint = match (env.get(ENV_IMDS_ENDPOINT), profile_endpoint) {
        (Some(url), _) => parse_url(url).ok_or(MetadataConfigError::BadUrl(ENV_IMDS_ENDPOINT))?,
        (None, Some(url)) => {
            parse_url(url).ok_or(MetadataConfigError::BadUrl("ec2_metadata_service_endpoint"))?
        }
        (None, None) => {
            let (name, mode) = match (env.get(ENV_IMDS_ENDPOINT_MODE), profile_mode) {
                (Some(m), _) => (ENV_IMDS_ENDPOINT_MODE, m),
                (None, Some(m)) => ("ec2_metadata_service_endpoint_mode", m),
                (None, None) => ("", "ipv4"),
            };
            let ip = match mode.to_ascii_lowercase().as_str() {
                "ipv4" => IMDS_IPV4,
                "ipv6" => IMDS_IPV6,
                _ => return Err(MetadataConfigError::BadMode(name)),
            };
            MetadataUrl {
                host: ip.to_string(),
                port: 80,
                path: String::new(),
            }
        }
    };
    Ok(MetadataSource::Imds { endpoint })
}

/// The container endpoint and its token source, from the environment.
pub fn container_source(env: &Env) -> Result<MetadataSource, MetadataConfigError> {
    let endpoint = if let Some(relative) = env.get(ENV_RELATIVE_URI) {
        let path = if relative.starts_with('/') {
            relative.to_owned()
        } else {
            format!("/{relative}")
        };
        MetadataUrl {
            host: ECS_HOST.to_string(),
            port: 80,
            path,
        }
    } else if let Some(full) = env.get(ENV_FULL_URI) {
        let url = parse_url(full).ok_or(MetadataConfigError::BadUrl(ENV_FULL_URI))?;
        if !full_uri_host_allowed(&url.host) {
            return Err(MetadataConfigError::HostNotAllowed(url.host));
        }
        url
    } else {
        return Err(MetadataConfigError::NoContainerUri);
    };
    let token = match (env.get(ENV_AUTH_TOKEN_FILE), env.get(ENV_AUTH_TOKEN)) {
        (Some(file), _) => Some(ContainerToken::File(PathBuf::from(file))),
        (None, Some(t)) if t.contains(['\r', '\n']) => return Err(MetadataConfigError::BadToken),
        (None, Some(t)) => Some(ContainerToken::Inline(Secret::new(t))),
        (None, None) => None,
    };
    Ok(MetadataSource::Container { endpoint, token })
}

/// Whether a plain-http FULL_URI may name `host`: the SDKs' allow-list (loopback literals,
/// `localhost`, the ECS and EKS link-local addresses); names are not resolved.
#[must_use]
pub fn full_uri_host_allowed(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback() || FULL_URI_HOSTS.contains(&ip))
}

/// `http://HOST[:PORT][/PATH]`; the host an IP literal (IPv6 in brackets) or a name.
fn parse_url(text: &str) -> Option<MetadataUrl> {
    let uri: hyper::Uri = text.trim().parse().ok()?;
    if uri.scheme_str() != Some("http") {
        return None;
    }
    let host = uri.host().filter(|h| !h.is_empty())?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().trim_end_matches('/'))
        .unwrap_or_default();
    Some(MetadataUrl {
        host: host.to_owned(),
        port: uri.port_u16().unwrap_or(80),
        path: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
    }

    fn imds(pairs: &[(&str, &str)], endpoint: Option<&str>, mode: Option<&str>) -> String {
        match imds_source(&env(pairs), endpoint, mode) {
            Ok(source) => source.endpoint().to_string(),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn the_imds_endpoint_comes_from_the_environment_then_the_profile_then_the_mode() {
        let v = ENV_IMDS_ENDPOINT;
        let m = ENV_IMDS_ENDPOINT_MODE;
        assert_eq!(imds(&[], None, None), "http://169.254.169.254:80");
        assert_eq!(
            imds(&[(m, "IPv6")], None, None),
            "http://[fd00:ec2::254]:80"
        );
        assert_eq!(imds(&[], None, Some("ipv6")), "http://[fd00:ec2::254]:80");
        assert_eq!(
            imds(&[(m, "IPv4")], None, Some("IPv6")),
            "http://169.254.169.254:80"
        );
        assert_eq!(
            imds(
                &[(v, "http://127.0.0.1:8169/")],
                Some("http://127.0.0.2:1"),
                Some("IPv6")
            ),
            "http://127.0.0.1:8169"
        );
        assert_eq!(imds(&[], Some("http://[::1]:9"), None), "http://[::1]:9");
        assert_eq!(
            imds(&[(m, "IPv5")], None, None),
            "error: AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE must be IPv4 or IPv6"
        );
        assert_eq!(
            imds(&[], Some("https://imds.example"), None),
            "error: ec2_metadata_service_endpoint is not an http:// URL with a host (https is not supported)"
        );
        assert_eq!(
            imds(
                &[(ENV_IMDS_DISABLED, "TRUE"), (v, "http://127.0.0.1:1")],
                None,
                None
            ),
            "error: IMDS is turned off (AWS_EC2_METADATA_DISABLED=true in credvend's environment)"
        );
        assert_eq!(
            imds(&[(ENV_IMDS_DISABLED, "false")], None, None),
            "http://169.254.169.254:80"
        );
    }

    #[test]
    fn a_base_path_is_kept_without_its_trailing_slash() {
        let source = imds_source(
            &env(&[(ENV_IMDS_ENDPOINT, "http://h:81/base/")]),
            None,
            None,
        );
        assert_eq!(source.unwrap().endpoint().path, "/base");
    }

    #[test]
    fn the_full_uri_allow_list_is_the_sdks() {
        for ok in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "localhost",
            "LOCALHOST",
            "169.254.170.2",
            "169.254.170.23",
            "fd00:ec2::23",
        ] {
            assert!(full_uri_host_allowed(ok), "{ok}");
        }
        for refused in [
            "169.254.169.254",
            "10.0.0.1",
            "example.com",
            "fd00:ec2::254",
            "0.0.0.0",
        ] {
            assert!(!full_uri_host_allowed(refused), "{refused}");
        }
    }

    #[test]
    fn the_relative_uri_wins_and_goes_to_the_ecs_agent_with_its_path_hidden() {
        let source = container_source(&env(&[
            (ENV_RELATIVE_URI, "/v2/credentials/0123456789abcdef"),
            (ENV_FULL_URI, "http://127.0.0.1:8170/role/app"),
        ]))
        .unwrap();
        let MetadataSource::Container { endpoint, token } = &source else {
            panic!("{source:?}");
        };
        assert_eq!(endpoint.authority(), "169.254.170.2:80");
        assert_eq!(endpoint.path, "/v2/credentials/0123456789abcdef");
        assert_eq!(token, &None);
        let shown = format!("{source} {source:?}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
    }

    #[test]
    fn a_full_uri_needs_an_allowed_host_and_the_token_file_wins() {
        let full = |url: &str| {
            container_source(&env(&[
                (ENV_FULL_URI, url),
                (ENV_AUTH_TOKEN_FILE, "/run/token"),
                (ENV_AUTH_TOKEN, "inline-token-value"),
            ]))
        };
        let source = full("http://[fd00:ec2::23]/v1/credentials").unwrap();
        assert_eq!(source.endpoint().authority(), "[fd00:ec2::23]:80");
        assert_eq!(
            source.to_string(),
            "EcsContainer (at http://[fd00:ec2::23]:80, token from /run/token)"
        );
        assert_eq!(
            full("http://169.254.169.254/x").unwrap_err().to_string(),
            "AWS_CONTAINER_CREDENTIALS_FULL_URI over http must name a loopback address, localhost, \
             169.254.170.2, 169.254.170.23 or fd00:ec2::23, not 169.254.169.254"
        );
        assert_eq!(
            full("https://creds.example/x").unwrap_err(),
            MetadataConfigError::BadUrl(ENV_FULL_URI)
        );
        assert_eq!(
            container_source(&env(&[])).unwrap_err(),
            MetadataConfigError::NoContainerUri
        );
        let inline = container_source(&env(&[
            (ENV_FULL_URI, "http://localhost:8170/role/app"),
            (ENV_AUTH_TOKEN, "inline-token-value"),
        ]))
        .unwrap();
        let shown = format!("{inline} {inline:?}");
        assert!(!shown.contains("inline-token-value"), "{shown}");
        assert!(shown.contains("token from the environment"), "{shown}");
        assert_eq!(
            container_source(&env(&[
                (ENV_FULL_URI, "http://127.0.0.1/"),
                (ENV_AUTH_TOKEN, "a\nb")
            ]))
            .unwrap_err(),
            MetadataConfigError::BadToken
        );
    }

    #[test]
    fn localhost_stands_for_both_loopback_addresses_and_other_names_for_none() {
        let url = |host: &str| MetadataUrl {
            host: host.into(),
            port: 8,
            path: String::new(),
        };
        assert_eq!(
            url("localhost").socket_addrs(),
            ["127.0.0.1:8".parse().unwrap(), "[::1]:8".parse().unwrap()]
        );
        assert_eq!(
            url("fd00:ec2::254").socket_addrs(),
            ["[fd00:ec2::254]:8".parse().unwrap()]
        );
        assert!(url("imds.internal").socket_addrs().is_empty());
    }
}
