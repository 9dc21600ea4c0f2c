//! credvend's own accept loop: hyper's HTTP/1 connection driver under limits that one
//! misbehaving local process cannot get past, with axum doing the routing.
//!
//! - A request's header must arrive whole within `header_read_timeout`, counted from when the
//!   connection opens or its previous response went out: idle keep-alive connections and
//!   one-byte-a-second senders are closed by the same timer.
//! - At most `max_header_bytes` are buffered before a request is refused with 431, so a flood
//!   of unfinished headers costs little memory.
//! - At most `max_connections` open connections per listener and `max_connections_per_client`
//!   per client ([`Tenant`]: a local process's uid, else the address); a connection beyond is
//!   answered one 503 and closed, while the open ones keep being served. Both caps are checked
//!   as a connection is accepted, before any lookup is spent on it: a peer from elsewhere by
//!   its address, a peer on this host (whose address every local user shares) by the uid that
//!   one netlink exchange names; if that fails, its uid's cap applies once the full lookup ends.
//! - Accept errors (EMFILE and the like) are logged at most once per interval, with a count,
//!   and followed by a short pause instead of a busy loop.
//! - Each connection's caller (uid, pid, ...: [`crate::identity`]) is found once, before its
//!   first request is read, on a blocking thread; it goes with every request to the front
//!   ([`Endpoint::answer`]) as a [`Client`]. The rate limit ([`super::limit`]) is per
//!   [`Tenant`] too, checked before the front.
//!
//! On shutdown the loop stops accepting, asks every connection to finish its request in flight
//! and close, and returns when all have.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::client::Client;
use super::limit::RateLimiter;
use super::routers::Endpoint;
use super::tenant::{self, Tenant};
use crate::config::ServerSettings;
use crate::identity::{Caller, Identify, SocketOwner};

/// How long the loop pauses after an accept error (EMFILE: a busy loop would not help).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one log line per kind of trouble in this long.
const LOG_INTERVAL: Duration = Duration::from_secs(10);
/// What a shed connection gets before it is closed.
const SHED_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\n\
content-length: 0\r\nconnection: close\r\n\r\n";

/// What one listener's connections are held to.
#[derive(Clone, Debug)]
pub struct Limits {
    /// See the module header.
    pub header_read_timeout: Duration,
    /// See the module header.
    pub max_header_bytes: usize,
    /// Open connections on this listener.
    pub max_connections: usize,
    /// Open connections per client (a local process's uid, else the address) on this listener.
    pub max_connections_per_client: usize,
    /// Requests per second per client (as above; 0: no limit), and the burst above it.
    pub rate_limit: (u32, u32),
    /// IP TTL / hop limit of every response (non-loopback IMDS listeners: a container one
    /// more hop away cannot talk to it).
    pub hop_limit: Option<u8>,
}

impl Limits {
    /// The limits of `[server]`, without a hop limit.
    #[must_use]
    pub fn from_settings(settings: &ServerSettings) -> Self {
        Self {
            header_read_timeout: settings.header_read_timeout,
            max_header_bytes: settings.max_header_bytes,
            max_connections: settings.max_connections,
            max_connections_per_client: settings.max_connections_per_client,
            rate_limit: (settings.rate_limit_per_second, settings.rate_limit_burst),
            hop_limit: None,
        }
    }
}

/// Open connections, in all and per client.
#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_client: HashMap<Tenant, usize>,
}

impl Counts {
    fn release(&mut self, tenant: Tenant) {
        if let Some(n) = self.per_client.get_mut(&tenant) {
            *n -= 1;
            if *n == 0 {
                self.per_client.remove(&tenant);
            }
        }
    }
}

/// A slot in [`Counts`], given back when the connection ends: counted in the total from
/// accept, and against its tenant by [`Slot::settle`], at accept when the tenant is known then
/// and again once the caller lookup ends.
#[derive(Debug)]
struct Slot {
    counts: Arc<Mutex<Counts>>,
    tenant: Option<Tenant>,
}

impl Slot {
    /// Counts this connection against `tenant` from now on; `false` (and counted against no
    /// one) when `tenant` already holds `cap` connections.
    fn settle(&mut self, tenant: Tenant, cap: usize) -> bool {
        if self.tenant == Some(tenant) {
            return true;
        }
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = self.tenant.take() {
            counts.release(old);
        }
        if counts.per_client.get(&tenant).copied().unwrap_or(0) >= cap {
            return false;
        }
        *counts.per_client.entry(tenant).or_insert(0) += 1;
        self.tenant = Some(tenant);
        true
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.total -= 1;
        if let Some(tenant) = self.tenant {
            counts.release(tenant);
        }
    }
}

/// Logs one kind of trouble at most once per [`LOG_INTERVAL`], with how often it happened.
#[derive(Debug)]
struct Throttled {
    what: &'static str,
    last: Option<Instant>,
    unlogged: u64,
}

impl Throttled {
    fn new(what: &'static str) -> Self {
        Self {
            what,
            last: None,
            unlogged: 0,
        }
    }

    fn hit(&mut self, listener: SocketAddr, detail: &dyn std::fmt::Display) {
        self.unlogged += 1;
        let now = Instant::now();
        if self
            .last
            .is_none_or(|t| now.duration_since(t) >= LOG_INTERVAL)
        {
            tracing::warn!(%listener, count = self.unlogged, "{}: {detail}", self.what);
            self.last = Some(now);
            self.unlogged = 0;
        }
    }
}

/// Serves `endpoint` on `listener` under `limits` until `shutdown` completes, then lets open
/// requests finish and returns.
pub async fn serve(
    listener: TcpListener,
    endpoint: Endpoint,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        // hyper refuses a buffer under 8 KiB; a little room above the header cap lets it see
        // the cap crossed rather than the buffer full.
        .max_buf_size((limits.max_header_bytes + 1024).max(8192))
        .keep_alive(true);
    let counts = Arc::new(Mutex::new(Counts::default()));
    let limiter = Arc::new(RateLimiter::new(limits.rate_limit.0, limits.rate_limit.1));
    let identify = endpoint.identify();
    let (closing_tx, closing) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut accept_errors = Throttled::new("cannot accept connections");
    // Connections are shed here and, once their caller is known, in their own tasks.
    let shed = Arc::new(Mutex::new(Throttled::new(
        "connection limit reached; shedding new connections",
    )));
    let per_client = limits.max_connections_per_client;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            // Reap finished connection tasks as they end, so the set stays small.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_errors.hit(local, &e);
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let here = stream.local_addr().unwrap_or(local);
        let (tenant, owner) = early_tenant(&identify, peer, here);
        let Some(mut slot) = admit(&counts, tenant, &limits) else {
            refuse(
                &stream,
                &endpoint,
                &shed,
                local,
                &format_args!("refused {peer}"),
            );
            continue;
        };
        prepare(&stream, limits.hop_limit);
        let (endpoint, limiter, http) = (endpoint.clone(), limiter.clone(), http.clone());
        let (mut closing, shed) = (closing.clone(), shed.clone());
        connections.spawn(async move {
            let caller = caller(&endpoint, &stream, peer, owner).await;
            let tenant = Tenant::of(peer, &caller);
            if !slot.settle(tenant, per_client) {
                refuse(
                    &stream,
                    &endpoint,
                    &shed,
                    local,
                    &format_args!("refused {peer} ({tenant})"),
                );
                return;
            }
            let sender = Client {
                addr: peer,
                caller: Arc::new(caller),
            };
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let refused = limiter.check(tenant);
                let (endpoint, sender) = (endpoint.clone(), sender.clone());
                async move {
                    Ok::<_, Infallible>(match refused {
                        None => endpoint.answer(&sender, req).await,
                        Some(retry_after) => {
                            endpoint.counted(429);
                            super::limit::too_many(retry_after)
                        }
                    })
                }
            });
            let connection = http.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = async { let _ = closing.wait_for(|c| *c).await; } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Who is behind `stream` (whose socket owner is `owner` when the accept loop found it), looked
/// up on a blocking thread (it reads `/proc`).
async fn caller(
    endpoint: &Endpoint,
    stream: &TcpStream,
    peer: SocketAddr,
    owner: Option<SocketOwner>,
) -> Caller {
    let local = match stream.local_addr() {
        Ok(local) => local,
        Err(e) => return Caller::Unknown(format!("no local address: {e}")),
    };
    let identify = endpoint.identify();
    tokio::task::spawn_blocking(move || identify.caller(peer, local, owner))
        .await
        .unwrap_or_else(|e| Caller::Unknown(format!("lookup failed: {e}")))
}

/// Answers a shed connection: one write that cannot block, then close (on drop). Logged at
/// most once per interval, counted on the metrics page every time.
fn refuse(
    stream: &TcpStream,
    endpoint: &Endpoint,
    shed: &Mutex<Throttled>,
    local: SocketAddr,
    detail: &dyn std::fmt::Display,
) {
    shed.lock()
        .unwrap_or_else(|e| e.into_inner())
        .hit(local, detail);
    endpoint.counted(503);
    let _ = stream.try_write(SHED_RESPONSE);
}

/// Whom a new connection from `peer` to credvend's `here` counts against before its caller
/// lookup: the address of a peer from elsewhere; the uid of one on this host when the kernel
/// tells it at once (one netlink exchange, so a local flood is shed here, before any `/proc`
/// scan); else no one yet, and the uid's cap applies once the lookup ends. With it, the
/// socket's owner when found, which the lookup then starts from.
fn early_tenant(
    identify: &Identify,
    peer: SocketAddr,
    here: SocketAddr,
) -> (Option<Tenant>, Option<SocketOwner>) {
    if !tenant::same_host(peer, here) {
        return (Some(Tenant::Address(peer.ip().to_canonical())), None);
    }
    let owner = identify.socket_owner(peer, here);
    (owner.map(|o| Tenant::User(o.uid)), owner)
}

/// Takes a connection slot counted against `tenant` (when known yet), or `None` when a limit
/// is reached.
fn admit(counts: &Arc<Mutex<Counts>>, tenant: Option<Tenant>, limits: &Limits) -> Option<Slot> {
    let mut slot = {
        let mut c = counts.lock().unwrap_or_else(|e| e.into_inner());
        if c.total >= limits.max_connections {
            return None;
        }
        c.total += 1;
        Slot {
            counts: counts.clone(),
            tenant: None,
        }
    };
    // A refused slot gives its place in the total back as it drops.
    match tenant {
        Some(tenant) if !slot.settle(tenant, limits.max_connections_per_client) => None,
        _ => Some(slot),
    }
}

/// Socket options of an accepted connection: no Nagle delay (responses are small and Go gives
/// up after 500 ms), and the hop limit when one is set.
fn prepare(stream: &TcpStream, hop_limit: Option<u8>) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
    if let Some(hops) = hop_limit
        && let Err(e) = set_hop_limit(stream, hops)
    {
        tracing::warn!(error = %e, "cannot set the hop limit of a connection");
    }
}

/// Sets the IP TTL (IPv4) or unicast hop limit (IPv6) of `stream`'s outgoing packets.
pub(crate) fn set_hop_limit(stream: &TcpStream, hops: u8) -> std::io::Result<()> {
    match stream.local_addr()? {
        SocketAddr::V4(_) => stream.set_ttl(u32::from(hops)),
        SocketAddr::V6(_) => nix::sys::socket::setsockopt(
            stream,
            nix::sys::socket::sockopt::Ipv6Ttl,
            &i32::from(hops),
        )
        .map_err(std::io::Error::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair(addr: &str) -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind(addr).await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, server)
    }

    #[tokio::test]
    async fn accepted_connections_get_no_nagle_and_the_hop_limit() {
        let (_client, server) = pair("127.0.0.1:0").await;
        prepare(&server, Some(1));
        assert_eq!(server.ttl().unwrap(), 1);
        assert!(server.nodelay().unwrap());
        let (_client, server) = pair("127.0.0.1:0").await;
        let default_ttl = server.ttl().unwrap();
        prepare(&server, None);
        assert_eq!(
            server.ttl().unwrap(),
            default_ttl,
            "no hop limit: the system's TTL"
        );
    }

    #[tokio::test]
    async fn the_hop_limit_applies_to_ipv6_too() {
        let Ok(listener) = TcpListener::bind("[::1]:0").await else {
            return; // no IPv6 loopback on this host
        };
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        set_hop_limit(&server, 1).unwrap();
        let hops =
            nix::sys::socket::getsockopt(&server, nix::sys::socket::sockopt::Ipv6Ttl).unwrap();
        assert_eq!(hops, 1);
        drop(client);
    }

    fn limits(max_connections: usize, max_connections_per_client: usize) -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(1),
            max_header_bytes: 8192,
            max_connections,
            max_connections_per_client,
            rate_limit: (0, 0),
            hop_limit: None,
        }
    }

    fn address(s: &str) -> Option<Tenant> {
        Some(Tenant::Address(s.parse().unwrap()))
    }

    #[test]
    fn slots_are_given_back_when_a_connection_ends() {
        let counts = Arc::new(Mutex::new(Counts::default()));
        let limits = limits(3, 2);
        let (a, b) = (address("172.17.0.2"), address("172.17.0.3"));
        let first = admit(&counts, a, &limits).unwrap();
        let _second = admit(&counts, a, &limits).unwrap();
        assert!(admit(&counts, a, &limits).is_none(), "per-client cap");
        let _third = admit(&counts, b, &limits).unwrap();
        assert!(admit(&counts, b, &limits).is_none(), "listener cap");
        drop(first);
        assert!(admit(&counts, a, &limits).is_some(), "a slot came back");
        let c = counts.lock().unwrap();
        assert_eq!(c.total, 2, "the slot above was dropped at once");
    }

    #[test]
    fn a_local_uid_known_at_accept_is_capped_there() {
        let counts = Arc::new(Mutex::new(Counts::default()));
        let limits = limits(10, 2);
        let (hostile, other) = (Some(Tenant::User(1001)), Some(Tenant::User(1000)));
        let _held = [
            admit(&counts, hostile, &limits).unwrap(),
            admit(&counts, hostile, &limits).unwrap(),
        ];
        assert!(
            admit(&counts, hostile, &limits).is_none(),
            "uid cap at accept"
        );
        let mut others = admit(&counts, other, &limits).expect("another user gets in");
        assert!(
            others.settle(Tenant::User(1000), 2),
            "the lookup agrees: no change"
        );
        assert_eq!(counts.lock().unwrap().per_client[&Tenant::User(1000)], 1);
    }

    #[test]
    fn local_peers_whose_uid_comes_late_are_capped_once_it_is_known() {
        let counts = Arc::new(Mutex::new(Counts::default()));
        let limits = limits(10, 2);
        let (hostile, other) = (Tenant::User(1001), Tenant::User(1000));
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut slot = admit(&counts, None, &limits).unwrap();
            assert!(slot.settle(hostile, 2));
            held.push(slot);
        }
        // Not capped at accept: a third connection gets in, and only its uid's cap refuses it.
        let mut third = admit(&counts, None, &limits).expect("no cap before the uid is known");
        assert!(!third.settle(hostile, 2), "uid cap");
        drop(third);
        let mut others = admit(&counts, None, &limits).unwrap();
        assert!(
            others.settle(other, 2),
            "another user from the same address gets in"
        );
        assert!(others.settle(other, 2), "settling twice counts once");
        {
            let c = counts.lock().unwrap();
            assert_eq!(
                (c.total, c.per_client[&hostile], c.per_client[&other]),
                (3, 2, 1)
            );
        }
        drop((held, others));
        let c = counts.lock().unwrap();
        assert_eq!(
            (c.total, c.per_client.len()),
            (0, 0),
            "everything given back"
        );
    }

    #[test]
    fn a_peer_from_elsewhere_found_to_be_local_moves_to_its_uid() {
        let counts = Arc::new(Mutex::new(Counts::default()));
        let limits = limits(10, 1);
        let peer = address("10.0.0.5");
        let mut slot = admit(&counts, peer, &limits).unwrap();
        assert!(
            admit(&counts, peer, &limits).is_none(),
            "address cap at accept"
        );
        assert!(slot.settle(Tenant::User(1000), 1));
        let c = counts.lock().unwrap();
        assert_eq!(c.per_client.get(&peer.unwrap()), None, "address released");
        assert_eq!(c.per_client[&Tenant::User(1000)], 1);
    }

    /// Only Linux names a socket's uid (see `identity`).
    #[cfg(all(target_os = "linux", not(credvend_portable)))]
    #[tokio::test]
    async fn a_loopback_peers_uid_is_known_at_accept() {
        let (client, server) = pair("127.0.0.1:0").await;
        let identify = Identify::new(None);
        let (peer, here) = (client.local_addr().unwrap(), server.local_addr().unwrap());
        let (tenant, owner) = early_tenant(&identify, peer, here);
        assert_eq!(
            tenant,
            Some(Tenant::User(nix::unistd::geteuid().as_raw())),
            "sock_diag names this process's uid"
        );
        assert!(owner.is_some_and(|o| o.inode != 0), "{owner:?}");
        let elsewhere: SocketAddr = "172.17.0.2:1".parse().unwrap();
        assert_eq!(
            early_tenant(&identify, elsewhere, here),
            (address("172.17.0.2"), None),
            "a peer from elsewhere is its address, with no lookup"
        );
    }
}
