//! Network namespaces of a test's own (docs/testing.md §6), as root: a "host" namespace and
//! "container" namespaces, each joined to the host by a veth pair and routed through it by
//! default, as on a Docker bridge, but with no link off the machine. Every name carries the
//! test process's pid and a counter, since other tests on this machine make namespaces too;
//! dropping the [`Lab`] deletes them, which takes their links along.
//!
//! [`Lab::assert_contained`] is the check to run before any request: only our own links, every
//! route on them, a default route only through the host, and the metadata addresses local in
//! the host namespace.

use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::home::text;

/// The link-local metadata addresses (IMDS v4/v6, ECS RELATIVE_URI, ECS FULL_URI v4/v6).
pub const METADATA: [&str; 5] = [
    "169.254.169.254",
    "fd00:ec2::254",
    "169.254.170.2",
    "169.254.170.23",
    "fd00:ec2::23",
];

/// The link `credvend network up` makes for the metadata addresses.
pub const METADATA_LINK: &str = "credvend0";

/// A container's network: its /24 (the host side is `.1`, the container `.2`) and, optionally,
/// a /64 the same way.
#[derive(Clone, Copy, Debug)]
pub struct Net {
    /// `192.0.2` for 192.0.2.0/24.
    pub v4: &'static str,
    /// `fd00:c0de:2:` for fd00:c0de:2::/64.
    pub v6: Option<&'static str>,
}

impl Net {
    /// `192.0.2.0/24`, and `fd00:c0de:2::/64` when it has one.
    pub fn cidrs(&self) -> Vec<String> {
        let mut all = vec![format!("{}.0/24", self.v4)];
        all.extend(self.v6.map(|p| format!("{p}:/64")));
        all
    }

    /// The host side's IPv4 address: the container's gateway.
    pub fn gateway(&self) -> String {
        format!("{}.1", self.v4)
    }
}

/// A container namespace.
#[derive(Debug)]
pub struct Container {
    pub ns: String,
    /// Its end of the veth pair.
    pub veth: String,
    /// The host's end.
    pub host_veth: String,
    pub net: Net,
}

/// The namespaces; deleted on drop.
#[derive(Debug)]
pub struct Lab {
    pub host: String,
    pub containers: Vec<Container>,
    made: Vec<String>,
}

impl Lab {
    /// A host namespace with loopback up, and one container per entry of `nets`. The caller
    /// puts the metadata addresses into the host (`credvend network up` there).
    pub fn new(nets: &[Net]) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let tag = format!(
            "{}{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut lab = Self {
            host: format!("credvend-{tag}-host"),
            containers: Vec::new(),
            made: Vec::new(),
        };
        let host = lab.host.clone();
        lab.add_namespace(&host);
        for (i, net) in nets.iter().enumerate() {
            let c = Container {
                ns: format!("credvend-{tag}-ctr{i}"),
                // Link names are at most 15 characters: "cvc" + pid (7) + counter + index.
                veth: format!("cvc{tag}{i}"),
                host_veth: format!("cvh{tag}{i}"),
                net: *net,
            };
            assert!(c.veth.len() <= 15, "veth name {} too long", c.veth);
            lab.add_namespace(&c.ns);
            // Made inside the namespaces, so the pair never exists in the root namespace.
            ip(&[
                "link",
                "add",
                &c.host_veth,
                "netns",
                &host,
                "type",
                "veth",
                "peer",
                "name",
                &c.veth,
                "netns",
                &c.ns,
            ]);
            let (h, v4) = (&host[..], net.v4);
            lab.ns_ip(
                h,
                &["addr", "add", &format!("{v4}.1/24"), "dev", &c.host_veth],
            );
            lab.ns_ip(
                &c.ns,
                &["addr", "add", &format!("{v4}.2/24"), "dev", &c.veth],
            );
            if let Some(v6) = net.v6 {
                let (gw, me) = (format!("{v6}:1/64"), format!("{v6}:2/64"));
                lab.ns_ip(h, &["addr", "add", &gw, "dev", &c.host_veth, "nodad"]);
                lab.ns_ip(&c.ns, &["addr", "add", &me, "dev", &c.veth, "nodad"]);
            }
            lab.ns_ip(h, &["link", "set", &c.host_veth, "up"]);
            lab.ns_ip(&c.ns, &["link", "set", &c.veth, "up"]);
            lab.ns_ip(&c.ns, &["route", "add", "default", "via", &net.gateway()]);
            if let Some(v6) = net.v6 {
                let gw = format!("{v6}:1");
                lab.ns_ip(&c.ns, &["-6", "route", "add", "default", "via", &gw]);
            }
            lab.containers.push(c);
        }
        lab
    }

    fn add_namespace(&mut self, ns: &str) {
        ip(&["netns", "add", ns]);
        self.made.push(ns.to_owned());
        self.ns_ip(ns, &["link", "set", "lo", "up"]);
        // No duplicate address detection: the only other end of each link is ours, and a
        // tentative address would hold up the first packets.
        let mut sysctl = self.exec(ns, "sysctl");
        run(sysctl.args([
            "-qw",
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
            "net.ipv6.conf.lo.disable_ipv6=0",
        ]));
    }

    /// `ip netns exec NS PROGRAM`, which execs PROGRAM (its PID is the program's).
    pub fn exec(&self, ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).arg(program);
        c
    }

    /// `ip ARGS` in `ns`; its stdout. Panics with its stderr on failure.
    pub fn ns_ip(&self, ns: &str, args: &[&str]) -> String {
        let mut all = vec!["-n", ns];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Panics unless no namespace can send a packet off the machine: each holds only
    /// loopback, our veths (whose peers are our namespaces) and the metadata link; every route
    /// is on one of those; only containers have a default route, through the host's veth; and
    /// each metadata address is local in the host and reached through the veth from a
    /// container.
    pub fn assert_contained(&self) {
        let host_links: Vec<&str> = self
            .containers
            .iter()
            .map(|c| c.host_veth.as_str())
            .chain(["lo", METADATA_LINK])
            .collect();
        self.assert_links(&self.host, &host_links);
        self.assert_routes(&self.host, &host_links, None);
        for addr in METADATA {
            let route = self.ns_ip(&self.host, &["route", "get", addr]);
            assert!(
                route.starts_with(&format!("local {addr} ")),
                "{addr} is not local in {}: {route}",
                self.host
            );
        }
        for c in &self.containers {
            let links = [c.veth.as_str(), "lo"];
            self.assert_links(&c.ns, &links);
            self.assert_routes(&c.ns, &links, Some(c));
            let families = [(true, c.net.gateway())]
                .into_iter()
                .chain(c.net.v6.map(|p| (false, format!("{p}:1"))));
            for (v4, gateway) in families {
                let addr = if v4 { METADATA[0] } else { METADATA[1] };
                let route = self.ns_ip(&c.ns, &["route", "get", addr]);
                let want = format!(" via {gateway} dev {} ", c.veth);
                assert!(route.contains(&want), "{addr} from {}: {route}", c.ns);
            }
        }
    }

    fn assert_links(&self, ns: &str, allowed: &[&str]) {
        let ours: Vec<&str> = std::iter::once(self.host.as_str())
            .chain(self.containers.iter().map(|c| c.ns.as_str()))
            .collect();
        for line in self.ns_ip(ns, &["-o", "link", "show"]).lines() {
            let name = line.split_whitespace().nth(1).unwrap_or_default();
            let name = name
                .trim_end_matches(':')
                .split('@')
                .next()
                .unwrap_or_default();
            assert!(allowed.contains(&name), "link {name} in {ns}: {line}");
            if line.contains("link/ether") && name != METADATA_LINK {
                // A veth: its peer must be in one of our namespaces.
                let peer = line.split(" link-netns ").nth(1).unwrap_or_default();
                let peer = peer.split_whitespace().next().unwrap_or_default();
                assert!(
                    ours.contains(&peer),
                    "{name} in {ns} leads to {peer:?}: {line}"
                );
            }
        }
    }

    fn assert_routes(&self, ns: &str, links: &[&str], container: Option<&Container>) {
        for family in ["-4", "-6"] {
            let routes = self.ns_ip(ns, &[family, "route", "show", "table", "all"]);
            for route in routes.lines() {
                let dev = route
                    .split(" dev ")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next());
                assert!(
                    dev.is_some_and(|d| links.contains(&d)),
                    "route in {ns} off our links: {route}"
                );
                if !route.starts_with("default") {
                    continue;
                }
                let via = route
                    .split(" via ")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next());
                let gateway_ok = container.is_some_and(|c| {
                    let via: Option<IpAddr> = via.and_then(|v| v.parse().ok());
                    let v4 = c.net.gateway().parse().ok();
                    let v6 = c.net.v6.and_then(|p| format!("{p}:1").parse().ok());
                    via.is_some() && (via == v4 || via == v6) && dev == Some(c.veth.as_str())
                });
                assert!(
                    gateway_ok,
                    "default route in {ns} not via the host: {route}"
                );
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.made.iter().rev() {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// `ip ARGS` in the test's own namespace (only `netns add` and `link add ... netns`, which
/// make things inside our namespaces); its stdout. Panics with its stderr on failure.
fn ip(args: &[&str]) -> String {
    run(Command::new("ip").args(args))
}

fn run(command: &mut Command) -> String {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}
