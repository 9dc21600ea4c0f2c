//! The checks every request passes before a handler sees it, on both listeners.
//!
//! - Peer: loopback only, unless the listener has `allowed_networks`; then those networks (on
//!   a loopback listener too), and on a non-loopback listener also this host's own processes.
//!   A v4-mapped v6 peer counts as its v4 address.
//! - `Host` (DNS rebinding, after aws-vault's `withSecurityChecks`): the listener's own IP,
//!   `localhost`, or one of the metadata addresses clients name for this kind of listener
//!   ([`IMDS_HOSTS`], [`ECS_HOSTS`]); any port. The metadata addresses count on any listener
//!   of the kind, so a listener that a NAT rule reaches (169.254.169.254:80 -> 127.0.0.1:8169)
//!   still serves. Missing -> 400. The authority of an absolute-form request target is held
//!   to the same rule.
//! - `OPTIONS` -> 405 and no CORS header is ever sent, so a browser preflight always fails.
//! - Size: no endpoint takes a body, so any sizeable body is refused. (The header block is
//!   capped while it arrives, by the accept loop's `max_header_bytes`.)
//!
//! Every refusal is a short generic 4xx and an [`AuditEvent::Denied`] with a reason.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::connect_info::ConnectInfo;
use axum::http::{Method, header};
use axum::response::Response;

use crate::audit::{AuditEvent, AuditSink};
use crate::config::{AllowedUsers, IpNet};
use crate::identity::Caller;
use crate::server::audit_path::audit_path;
use crate::server::client::Client;
use crate::server::error::ApiError;

/// Request bodies above this are refused; no endpoint reads one.
pub(crate) const MAX_BODY_BYTES: u64 = 1024;

/// The addresses IMDS clients name in `Host`: EC2's IPv4 and IPv6 endpoints.
pub(crate) const IMDS_HOSTS: &[IpAddr] = &[
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
];

/// The addresses container clients name in `Host`: ECS's `RELATIVE_URI` host and the
/// link-local hosts SDKs accept in `FULL_URI` (EKS Pod Identity's among them).
pub(crate) const ECS_HOSTS: &[IpAddr] = &[
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 23)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23)),
];

/// What one listener's guard checks against, and where it reports refusals.
#[derive(Debug)]
pub(crate) struct Guard {
    /// `imds@127.0.0.1:8169`: the audit `listener` field.
    pub(crate) label: String,
    pub(crate) listen: SocketAddr,
    pub(crate) allowed_networks: Vec<IpNet>,
    /// Local users served besides the daemon's own and root.
    pub(crate) allowed_users: AllowedUsers,
    /// The daemon's uid.
    pub(crate) own_uid: u32,
    /// The metadata addresses `Host` may name besides the listener's own.
    pub(crate) metadata_hosts: &'static [IpAddr],
    pub(crate) audit: Arc<dyn AuditSink>,
    /// How refusals are rendered (plain text for IMDS, JSON for ECS).
    pub(crate) render: fn(ApiError) -> Response,
}

impl Guard {
    /// Records a refusal and renders it.
    pub(crate) fn deny(&self, client: &Client, path: &str, error: ApiError) -> Response {
        self.deny_because(client, path, error, error.code())
    }

    /// Records a refusal with a reason finer than the error's code, and renders it.
    pub(crate) fn deny_because(
        &self,
        client: &Client,
        path: &str,
        error: ApiError,
        reason: &str,
    ) -> Response {
        self.audit.record(AuditEvent::Denied {
            client: client.addr,
            caller: client.caller.clone(),
            listener: self.label.clone(),
            path: audit_path(path),
            reason: reason.to_owned(),
        });
        tracing::debug!(listener = %self.label, client = %client.addr, reason, "request refused");
        (self.render)(error)
    }

    /// Whether the request may go on; the error to deny it with otherwise.
    pub(crate) fn check<B>(
        &self,
        client: &Client,
        req: &axum::http::Request<B>,
    ) -> Result<(), ApiError> {
        if !self.peer_allowed(client.addr.ip()) {
            return Err(ApiError::PeerNotAllowed);
        }
        if !self.user_allowed(&client.caller, &self.allowed_users) {
            return Err(ApiError::UserNotAllowed);
        }
        let host = req
            .headers()
            .get(header::HOST)
            .ok_or(ApiError::MissingHost)?;
        let host = host.to_str().map_err(|_| ApiError::BadHost)?;
        if !self.host_allowed(host) {
            return Err(ApiError::BadHost);
        }
        // An absolute-form target (`GET http://host/...`) names a host too; it must be ours
        // as much as `Host` must.
        if let Some(authority) = req.uri().authority()
            && !self.host_allowed(authority.as_str())
        {
            return Err(ApiError::BadHost);
        }
        if req.method() == Method::OPTIONS {
            return Err(ApiError::MethodNotAllowed);
        }
        let body_len = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .map(|v| v.to_str().ok().and_then(|s| s.parse::<u64>().ok()));
        match body_len {
            Some(Some(n)) if n <= MAX_BODY_BYTES => {}
            None if !req.headers().contains_key(header::TRANSFER_ENCODING) => {}
            _ => return Err(ApiError::BodyTooLarge),
        }
        Ok(())
    }

    /// Whether `users` admit `caller`: a local process by its uid; one whose owner could not
    /// be found only when anyone may read; one on a platform that cannot name owners unless
    /// users are listed (the config refuses such a list there; this keeps a list from being
    /// read as "everyone"); a peer from elsewhere always (its network is what admits it).
    pub(crate) fn user_allowed(&self, caller: &Caller, users: &AllowedUsers) -> bool {
        match caller {
            Caller::Process(p) => users.admits(p.uid, self.own_uid),
            Caller::Container(_) | Caller::Remote(_) => true,
            Caller::Unknown(_) => users.anyone,
            Caller::Unidentified => users.anyone || users.uids.is_empty(),
        }
    }

    /// Without `allowed_networks`, loopback peers only. With it, the listed networks, on every
    /// listener (a loopback one too); a non-loopback listener also admits this host's own
    /// processes, which reach it from loopback or from the listener's own address.
    fn peer_allowed(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        if self.allowed_networks.is_empty() {
            return peer.is_loopback();
        }
        let listen = self.listen.ip().to_canonical();
        let local = !listen.is_loopback() && (peer.is_loopback() || peer == listen);
        local || self.allowed_networks.iter().any(|n| n.contains(peer))
    }

    fn host_allowed(&self, host: &str) -> bool {
        let Some(name) = strip_port(host) else {
            return false;
        };
        if name.eq_ignore_ascii_case("localhost") {
            return true;
        }
        let ip = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .unwrap_or(name);
        // A bare v6 literal without brackets is not a legal Host.
        if ip.contains(':') && !name.starts_with('[') {
            return false;
        }
        let Ok(ip) = ip.parse::<IpAddr>() else {
            return false;
        };
        ip == self.listen.ip() || self.metadata_hosts.contains(&ip)
    }
}

/// `host[:port]` -> host, or `None` when the port is not a number.
fn strip_port(host: &str) -> Option<&str> {
    let (name, port) = match host.rfind(':') {
        // `[v6]` alone, or `[v6]:port`.
        Some(i) if host.starts_with('[') && !host[..i].ends_with(']') => (host, None),
        Some(i) => (&host[..i], Some(&host[i + 1..])),
        None => (host, None),
    };
    match port {
        Some(p) if p.is_empty() || p.parse::<u16>().is_err() => None,
        _ if name.is_empty() => None,
        _ => Some(name),
    }
}

/// The sender of a request off the shortcut, as the front put it in the extensions.
pub(crate) fn client_of<B>(req: &axum::http::Request<B>) -> Client {
    req.extensions()
        .get::<Client>()
        .cloned()
        .unwrap_or_else(Client::unknown)
}

/// The sender of a request handed to the router as a tower service (in-process: tests and
/// fuzzing), from axum's `ConnectInfo` as a test sets it.
pub(crate) fn connect_info<B>(req: &axum::http::Request<B>) -> Option<Client> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| Client::in_process(c.0))
}

/// Strips any CORS header a handler could ever add; belt and braces for the "never" rule.
pub(crate) fn strip_cors(resp: &mut Response) {
    let is_cors = |k: &header::HeaderName| k.as_str().starts_with("access-control-");
    // No handler sets one; look before collecting anything.
    if !resp.headers().keys().any(is_cors) {
        return;
    }
    let cors: Vec<_> = resp
        .headers()
        .keys()
        .filter(|k| is_cors(k))
        .cloned()
        .collect();
    for k in cors {
        resp.headers_mut().remove(k);
    }
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;

    use super::*;
    use crate::audit::NoAudit;

    fn guard(listen: &str, nets: &[(&str, u8)]) -> Guard {
        Guard {
            label: "imds@test".into(),
            listen: listen.parse().unwrap(),
            allowed_networks: nets
                .iter()
                .map(|(a, p)| IpNet {
                    addr: a.parse().unwrap(),
                    prefix: *p,
                })
                .collect(),
            allowed_users: AllowedUsers::default(),
            own_uid: 1000,
            metadata_hosts: IMDS_HOSTS,
            audit: Arc::new(NoAudit),
            render: IntoResponse::into_response,
        }
    }

    #[test]
    fn networks_contain_their_addresses_and_nothing_else() {
        let net = IpNet {
            addr: "10.1.0.0".parse().unwrap(),
            prefix: 16,
        };
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let all = IpNet {
            addr: "0.0.0.0".parse().unwrap(),
            prefix: 0,
        };
        assert!(all.contains("192.0.2.1".parse().unwrap()));
        assert!(!all.contains("2001:db8::1".parse().unwrap()));
        let v6 = IpNet {
            addr: "fd00::".parse().unwrap(),
            prefix: 8,
        };
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
    }

    #[test]
    fn users_admit_callers_by_uid_and_unnamed_ones_only_as_far_as_the_policy_allows() {
        let g = guard("127.0.0.1:8169", &[]);
        let process = |uid| {
            Caller::Process(crate::identity::Process {
                uid,
                user: None,
                pid: None,
                no_pid: None,
                place: crate::identity::Place::default(),
            })
        };
        let listed = AllowedUsers {
            anyone: false,
            uids: vec![1001],
        };
        let policies = [AllowedUsers::default(), listed, AllowedUsers::anyone()];
        // (caller, admitted by: the default, a list naming 1001, "*")
        let cases = [
            (process(1000), [true, true, true]),
            (process(1001), [false, true, true]),
            (process(1002), [false, false, true]),
            (Caller::unknown("gone"), [false, false, true]),
            // Where callers cannot be named, the default serves every local user (the daemon
            // warns); a list, which the config refuses there, is never read as "everyone".
            (Caller::Unidentified, [true, false, true]),
            (Caller::Remote(None), [true, true, true]),
        ];
        for (caller, want) in cases {
            for (users, want) in policies.iter().zip(want) {
                assert_eq!(g.user_allowed(&caller, users), want, "{caller:?} {users:?}");
            }
        }
    }

    #[test]
    fn without_networks_a_listener_admits_only_loopback_peers() {
        let g = guard("127.0.0.1:8169", &[]);
        assert!(g.peer_allowed("127.0.0.1".parse().unwrap()));
        assert!(g.peer_allowed("::ffff:127.0.0.1".parse().unwrap()));
        assert!(g.peer_allowed("::1".parse().unwrap()));
        assert!(!g.peer_allowed("10.0.0.5".parse().unwrap()));
    }

    #[test]
    fn a_loopback_listener_honours_its_networks_too() {
        let g = guard("127.0.0.2:8169", &[("127.0.0.5", 32)]);
        assert!(g.peer_allowed("127.0.0.5".parse().unwrap()));
        assert!(!g.peer_allowed("127.0.0.1".parse().unwrap()));
        assert!(!g.peer_allowed("127.0.0.3".parse().unwrap()));
        let g = guard("127.0.0.1:8169", &[("10.0.0.0", 8)]);
        assert!(g.peer_allowed("10.0.0.5".parse().unwrap()));
        assert!(!g.peer_allowed("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn non_loopback_listener_admits_its_networks_and_this_hosts_processes() {
        let g = guard("169.254.169.254:80", &[("172.17.0.0", 16)]);
        assert!(g.peer_allowed("172.17.0.2".parse().unwrap()));
        assert!(g.peer_allowed("::ffff:172.17.0.2".parse().unwrap()));
        assert!(!g.peer_allowed("192.168.1.9".parse().unwrap()));
        // A local process reaches the address from loopback or from the address itself.
        assert!(g.peer_allowed("127.0.0.1".parse().unwrap()));
        assert!(g.peer_allowed("169.254.169.254".parse().unwrap()));
    }

    #[test]
    fn hosts_are_the_listener_localhost_or_metadata_addresses_of_its_kind() {
        let g = guard("127.0.0.1:8169", &[]);
        for ok in [
            "127.0.0.1",
            "127.0.0.1:8169",
            "localhost",
            "LocalHost:1",
            "169.254.169.254",
            "169.254.169.254:80",
            "[fd00:ec2::254]",
            "[fd00:ec2::254]:80",
        ] {
            assert!(g.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8169",
            "127.0.0.2",
            "127.0.0.1:",
            "127.0.0.1:x",
            "fd00:ec2::254",
            "",
            "[::1]",
            // The container endpoint's names are not an instance's.
            "169.254.170.2:80",
            "169.254.170.23",
            "[fd00:ec2::23]",
        ] {
            assert!(!g.host_allowed(bad), "{bad}");
        }
        let ecs = Guard {
            metadata_hosts: ECS_HOSTS,
            ..guard("169.254.170.2:80", &[])
        };
        for ok in ["169.254.170.2", "169.254.170.23:80", "[fd00:ec2::23]:80"] {
            assert!(ecs.host_allowed(ok), "{ok}");
        }
        for bad in ["169.254.169.254", "[fd00:ec2::254]", "127.0.0.1"] {
            assert!(!ecs.host_allowed(bad), "{bad}");
        }
    }
}
