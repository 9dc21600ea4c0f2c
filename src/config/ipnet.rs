//! [`IpNet`]: the client networks a non-loopback listener admits (`allowed_networks`).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

/// An IP network in CIDR form (`10.0.0.0/8`, `fd00::/8`).
///
/// Parsed strictly: the address must have no bits set past the prefix, so `10.1.2.3/8` is
/// refused rather than silently meaning `10.0.0.0/8`. A bare address is a single host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    /// The network address.
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

/// Why a string is not an [`IpNet`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IpNetError {
    /// The part before `/` is not an IP address.
    #[error("{0:?} is not a network like 10.0.0.0/8 or fd00::/8")]
    Syntax(String),
    /// The prefix length is not a number within the address's width.
    #[error("{input:?} has a prefix longer than {max} bits")]
    Prefix {
        /// The text as written.
        input: String,
        /// 32 or 128.
        max: u8,
    },
    /// Bits are set past the prefix.
    #[error("{input:?} has host bits set; did you mean {suggestion}?")]
    HostBits {
        /// The text as written.
        input: String,
        /// The same prefix with the host bits cleared.
        suggestion: IpNet,
    },
}

impl IpNet {
    /// Whether `ip` is inside this network. IPv4 peers that reach a dual-stack socket show up
    /// as v4-mapped IPv6 (`::ffff:10.1.2.3`); they match IPv4 networks all the same.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, prefix) = as_v6(self.addr, self.prefix);
        let (ip, _) = as_v6(ip, 0);
        mask(ip, prefix) == net
    }
}

/// Both families on one 128-bit scale: IPv4 as v4-mapped IPv6, its prefix shifted by 96.
fn as_v6(addr: IpAddr, prefix: u8) -> (u128, u8) {
    match addr {
        IpAddr::V4(v4) => (u128::from(v4.to_ipv6_mapped()), prefix.saturating_add(96)),
        IpAddr::V6(v6) => (u128::from(v6), prefix),
    }
}

fn mask(bits: u128, prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p => bits & (u128::MAX << (128 - u32::from(p.min(128)))),
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

/// `addr` with every bit past `prefix` cleared.
fn network(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let keep = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            IpAddr::V4((u32::from(v4) & keep).into())
        }
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(mask(u128::from(v6), prefix))),
    }
}

impl FromStr for IpNet {
    type Err = IpNetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || IpNetError::Syntax(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| syntax())?;
        let max = max_prefix(addr);
        let prefix = match prefix {
            None => max,
            // Digits only: u8's parser would also take "+8".
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| IpNetError::Prefix {
                    input: s.to_owned(),
                    max,
                })?,
            Some(_) => return Err(syntax()),
        };
        let net = network(addr, prefix);
        if net != addr {
            return Err(IpNetError::HostBits {
                input: s.to_owned(),
                suggestion: IpNet { addr: net, prefix },
            });
        }
        Ok(IpNet { addr, prefix })
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_both_families_and_bare_hosts() {
        assert_eq!(
            net("10.0.0.0/8"),
            IpNet {
                addr: ip("10.0.0.0"),
                prefix: 8
            }
        );
        assert_eq!(net("fd00::/8").prefix, 8);
        assert_eq!(net("192.0.2.7").prefix, 32);
        assert_eq!(net("::1").prefix, 128);
        assert_eq!(net("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(net("fd00::/8").to_string(), "fd00::/8");
    }

    #[test]
    fn rejects_bad_networks_with_a_reason() {
        for bad in [
            "",
            "10.0.0.0/",
            "10.0.0/8",
            "x/8",
            "10.0.0.0/+8",
            "10.0.0.0/8/8",
        ] {
            assert_eq!(bad.parse::<IpNet>(), Err(IpNetError::Syntax(bad.into())));
        }
        assert!(matches!(
            "10.0.0.0/33".parse::<IpNet>(),
            Err(IpNetError::Prefix { max: 32, .. })
        ));
        assert!(matches!(
            "::/129".parse::<IpNet>(),
            Err(IpNetError::Prefix { max: 128, .. })
        ));
        let err = "10.1.2.3/8".parse::<IpNet>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"10.1.2.3/8\" has host bits set; did you mean 10.0.0.0/8?"
        );
    }

    #[test]
    fn contains_checks_the_prefix_bits() {
        let n = net("10.20.0.0/16");
        assert!(n.contains(ip("10.20.0.1")));
        assert!(n.contains(ip("10.20.255.255")));
        assert!(!n.contains(ip("10.21.0.1")));
        assert!(!n.contains(ip("11.20.0.1")));
        let v6 = net("fd00:1::/32");
        assert!(v6.contains(ip("fd00:1::5")));
        assert!(!v6.contains(ip("fd00:2::5")));
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(net("192.0.2.7").contains(ip("192.0.2.7")));
        assert!(!net("192.0.2.7").contains(ip("192.0.2.8")));
    }

    #[test]
    fn contains_matches_v4_mapped_peers_against_v4_networks() {
        let n = net("172.17.0.0/16");
        assert!(n.contains(ip("::ffff:172.17.0.2")));
        assert!(!n.contains(ip("::ffff:172.18.0.2")));
        // A v6 network does not take in IPv4 peers by accident.
        assert!(!net("fd00::/8").contains(ip("172.17.0.2")));
        assert!(!n.contains(ip("fd00::1")));
    }
}
