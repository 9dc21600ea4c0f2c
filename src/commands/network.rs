//! `credvend network up|down|status`: the link-local metadata addresses on a local interface,
//! so containers on a bridge and tools that cannot be configured find credvend where they look.
//!
//! `up` (root) puts them on a link of credvend's own, `credvend0`: a `dummy` link where the
//! kernel has the type, else an `ifb` one, with IPv6 switched on for it when the host creates
//! links without; addresses already on some interface are left as they are. `down` removes that link and so its addresses. `status` says which addresses are
//! present and where, whether something listens on each (asked only once the address is local,
//! so nothing leaves the host), and which `allowed_networks` line admits a Docker bridge.
//! On Linux it drives `ip` (iproute2); on macOS `launchd/credvend-network` puts the addresses on
//! lo0 with `ifconfig lo0 alias` (the README shows it).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use crate::config::Config;

/// The addresses clients look for, with what they serve.
pub const ADDRESSES: [(&str, &str); 5] = [
    ("169.254.169.254/32", "IMDS"),
    ("fd00:ec2::254/128", "IMDS over IPv6"),
    ("169.254.170.2/32", "ECS (RELATIVE_URI)"),
    ("169.254.170.23/32", "ECS (FULL_URI)"),
    ("fd00:ec2::23/128", "ECS (FULL_URI) over IPv6"),
];

/// The link credvend adds the addresses to.
pub const LINK: &str = "credvend0";

/// What to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Add the addresses.
    Up,
    /// Remove credvend's link and its addresses.
    Down,
    /// Report.
    Status,
}

/// Why the addresses could not be changed or read.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// Changing interfaces needs root.
    #[error("credvend network {0} changes the host's interfaces and needs root")]
    NotRoot(&'static str),
    /// `ip` could not be run.
    #[error("cannot run `ip` (iproute2)")]
    Spawn(#[source] std::io::Error),
    /// Not Linux: the addresses are set up another way.
    #[error(
        "credvend network drives Linux's `ip`; on macOS, `sudo credvend-network {0}` \
         (from launchd/) puts the addresses on lo0"
    )]
    NotLinux(&'static str),
    /// `ip` failed.
    #[error("`ip {args}` failed: {stderr}")]
    Ip {
        /// Its arguments.
        args: String,
        /// What it said.
        stderr: String,
    },
}

/// One address line of `ip -o addr show`: the interface and the address with its prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Assigned {
    interface: String,
    cidr: String,
}

/// Runs the action; what it did or found.
pub fn network(action: Action, config: &Config) -> Result<String, NetworkError> {
    let root = nix::unistd::geteuid().is_root();
    if !cfg!(target_os = "linux") {
        return Err(NetworkError::NotLinux(match action {
            Action::Up => "up",
            Action::Down => "down",
            Action::Status => "status",
        }));
    }
    match action {
        Action::Up if !root => Err(NetworkError::NotRoot("up")),
        Action::Down if !root => Err(NetworkError::NotRoot("down")),
        Action::Up => up(),
        Action::Down => down(),
        Action::Status => status(config),
    }
}

fn ip(args: &[&str]) -> Result<String, NetworkError> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(NetworkError::Spawn)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(NetworkError::Ip {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

fn assigned() -> Result<Vec<Assigned>, NetworkError> {
    Ok(parse_addresses(&ip(&["-o", "addr", "show"])?))
}

/// `ip -o addr show` lines: `N: IFACE    inet ADDR/PREFIX ...`.
fn parse_addresses(text: &str) -> Vec<Assigned> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let interface = words.nth(1)?.trim_end_matches(':').to_owned();
            let family = words.next()?;
            let cidr = words.next()?.to_owned();
            matches!(family, "inet" | "inet6").then_some(Assigned { interface, cidr })
        })
        .collect()
}

fn up() -> Result<String, NetworkError> {
    let mut report = String::new();
    if ip(&["link", "show", LINK]).is_err() {
        // This kernel may lack the dummy type; ifb links work as well for local addresses.
        let kind = if ip(&["link", "add", LINK, "type", "dummy"]).is_ok() {
            "dummy"
        } else {
            ip(&["link", "add", LINK, "type", "ifb"])?;
            "ifb"
        };
        let _ = writeln!(report, "added link {LINK} ({kind})");
    }
    ip(&["link", "set", LINK, "up"])?;
    let present = assigned()?;
    let mut ipv6 = None;
    for (cidr, what) in ADDRESSES {
        if let Some(there) = present.iter().find(|a| a.cidr == cidr) {
            let _ = writeln!(report, "{cidr} ({what}) is already on {}", there.interface);
            continue;
        }
        if cidr.contains(':') && !*ipv6.get_or_insert_with(|| enable_ipv6(&mut report)) {
            let _ = writeln!(
                report,
                "skipped {cidr} ({what}): this host has no IPv6; IPv4 clients are served"
            );
            continue;
        }
        // No duplicate address detection: nothing else on this link can have it.
        let mut args = vec!["addr", "add", cidr, "dev", LINK];
        if cidr.contains(':') {
            args.push("nodad");
        }
        ip(&args)?;
        let _ = writeln!(report, "added {cidr} ({what}) to {LINK}");
    }
    Ok(report)
}

/// IPv6 on credvend's own link, which a host (or a fresh network namespace) may create with
/// `disable_ipv6 = 1`; then the kernel refuses its v6 addresses. False when the kernel has no
/// IPv6 at all, or it stays off.
fn enable_ipv6(report: &mut String) -> bool {
    let knob = format!("/proc/sys/net/ipv6/conf/{LINK}/disable_ipv6");
    match std::fs::read_to_string(&knob) {
        Ok(value) if value.trim() == "0" => true,
        Ok(_) => match std::fs::write(&knob, "0") {
            Ok(()) => {
                let _ = writeln!(report, "enabled IPv6 on {LINK} (it was disabled)");
                true
            }
            Err(e) => {
                let _ = writeln!(report, "cannot enable IPv6 on {LINK} ({e})");
                false
            }
        },
        // No such file: a kernel without IPv6 (or booted with ipv6.disable=1).
        Err(_) => false,
    }
}

fn down() -> Result<String, NetworkError> {
    let mut report = String::new();
    if ip(&["link", "show", LINK]).is_ok() {
        ip(&["link", "del", LINK])?;
        let _ = writeln!(report, "removed link {LINK} and its addresses");
    } else {
        let _ = writeln!(report, "no link {LINK}: nothing to remove");
    }
    for a in assigned()?
        .iter()
        .filter(|a| ADDRESSES.iter().any(|(c, _)| *c == a.cidr))
    {
        let _ = writeln!(
            report,
            "{} is still on {}, which credvend did not set up; remove it there if you want",
            a.cidr, a.interface
        );
    }
    Ok(report)
}

fn status(config: &Config) -> Result<String, NetworkError> {
    let present = assigned()?;
    let mut report = String::new();
    for (cidr, what) in ADDRESSES {
        let Some(there) = present.iter().find(|a| a.cidr == cidr) else {
            let _ = writeln!(
                report,
                "absent    {cidr} ({what}): `credvend network up` adds it"
            );
            continue;
        };
        let ip: IpAddr = cidr
            .split('/')
            .next()
            .unwrap_or_default()
            .parse()
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        // The address is on this host, so a connection to it stays here.
        let listening =
            TcpStream::connect_timeout(&SocketAddr::new(ip, 80), Duration::from_millis(300))
                .is_ok();
        let _ = writeln!(
            report,
            "present   {cidr} ({what}) on {}; {}",
            there.interface,
            if listening {
                "something listens on port 80"
            } else {
                "nothing listens on port 80"
            }
        );
    }
    let networks: Vec<String> = config
        .imds
        .iter()
        .flat_map(|l| l.allowed_networks.iter())
        .chain(config.ecs.iter().flat_map(|e| e.allowed_networks.iter()))
        .map(ToString::to_string)
        .collect();
    for bridge in present
        .iter()
        .filter(|a| a.interface == "docker0" || a.interface.starts_with("br-"))
    {
        let Some(subnet) = network_of(&bridge.cidr) else {
            continue;
        };
        let admitted = networks.contains(&subnet);
        let _ = writeln!(
            report,
            "bridge    {} {}: {}",
            bridge.interface,
            bridge.cidr,
            if admitted {
                format!("admitted by allowed_networks = [\"{subnet}\"]")
            } else {
                format!(
                    "add allowed_networks = [\"{subnet}\"] to the link-local listeners to serve its containers"
                )
            }
        );
    }
    Ok(report)
}

/// `172.17.0.1/16` -> `172.17.0.0/16` (IPv4 only; bridges are).
fn network_of(cidr: &str) -> Option<String> {
    let (addr, prefix) = cidr.split_once('/')?;
    let addr: std::net::Ipv4Addr = addr.parse().ok()?;
    let prefix: u32 = prefix.parse().ok().filter(|p| *p <= 32)?;
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    Some(format!(
        "{}/{prefix}",
        std::net::Ipv4Addr::from(u32::from(addr) & mask)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_lines_of_ip_are_read_with_their_interface() {
        let text = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n\
                    2: credvend0    inet 169.254.169.254/32 scope global credvend0\\ x\n\
                    2: credvend0    inet6 fd00:ec2::254/128 scope global \\ x\n\
                    3: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\n";
        let found = parse_addresses(text);
        assert_eq!(found.len(), 4);
        assert_eq!(found[1].interface, "credvend0");
        assert_eq!(found[1].cidr, "169.254.169.254/32");
        assert_eq!(found[2].cidr, "fd00:ec2::254/128");
        assert_eq!(found[3].interface, "docker0");
    }

    #[test]
    fn a_bridge_address_names_its_network() {
        assert_eq!(
            network_of("172.17.0.1/16").as_deref(),
            Some("172.17.0.0/16")
        );
        assert_eq!(network_of("10.1.2.3/24").as_deref(), Some("10.1.2.0/24"));
        assert_eq!(network_of("10.1.2.3/0").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(network_of("fd00::1/64"), None);
    }
}
