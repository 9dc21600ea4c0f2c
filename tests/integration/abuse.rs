//! A misbehaving or hostile local process against the real daemon, each case bounded and on
//! loopback: connections that never finish a header, more connections than the caps, huge
//! unfinished headers, a client over the rate limit, one local user at its caps beside
//! another, peers outside `allowed_networks` on a loopback listener, foreign absolute-form
//! targets, and the log volume of plain load.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::support::daemon::{Daemon, ImdsSpec, Spec, free_port};
use crate::support::http::http;
use crate::support::moto::{Seeded, moto};
use crate::support::{require, root};

/// Longest any one exchange may take before the test calls it a hang.
const BOUND: Duration = Duration::from_secs(15);

fn daemon_with(moto: &Seeded, server: &str) -> Daemon {
    let mut spec = Spec::app(moto, &[true]);
    spec.extra_toml = format!("\n[server]\n{server}\n");
    Daemon::start(moto, &spec)
}

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .expect("listener address")
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(BOUND)).unwrap();
    stream.set_write_timeout(Some(BOUND)).unwrap();
    stream
}

/// Everything the server sends until it closes (or resets) the connection.
fn read_to_close(stream: &mut TcpStream) -> Result<String, std::io::Error> {
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => Ok(String::from_utf8_lossy(&answer).into_owned()),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {
            Ok(String::from_utf8_lossy(&answer).into_owned())
        }
        Err(e) => Err(e),
    }
}

fn get(path: &str, addr: SocketAddr) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n")
}

#[test]
fn idle_and_slow_connections_are_closed_by_the_header_timeout() {
    let Some(m) = moto() else { return };
    let daemon = daemon_with(m, "header_read_timeout_seconds = 1");
    let addr = addr_of(&daemon.imds_url(true));
    let started = Instant::now();
    let mut idle = connect(addr);
    read_to_close(&mut idle).expect("an idle connection is closed, not left open");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // One byte every 100 ms: the header would take seconds; the timer closes it first.
    let mut slow = connect(addr);
    let request = get("/latest/meta-data/", addr);
    let mut closed = false;
    for byte in request.as_bytes() {
        if slow.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        if started.elapsed() > BOUND {
            break;
        }
    }
    let answer = read_to_close(&mut slow).unwrap_or_default();
    assert!(
        closed || !answer.contains("200 OK"),
        "a one-byte-a-second header was served: {answer}"
    );
    // The daemon still serves a normal client.
    let (role, creds) = crate::support::http::imds_credentials(&daemon.imds_url(true));
    assert_eq!(role, "app");
    assert!(creds["AccessKeyId"].is_string(), "{creds}");
}

#[test]
fn connections_over_the_caps_are_shed_while_open_ones_keep_working() {
    let Some(m) = moto() else { return };
    let daemon = daemon_with(
        m,
        "max_connections = 16\nmax_connections_per_client = 8\nheader_read_timeout_seconds = 30",
    );
    let addr = addr_of(&daemon.imds_url(true));
    let mut open: Vec<TcpStream> = (0..8).map(|_| connect(addr)).collect();
    // The uid of a local peer is known as it is accepted (sock_diag), so the ninth is shed at
    // once, whatever the caller lookups of the eight are doing.
    let mut ninth = connect(addr);
    let answer = read_to_close(&mut ninth).expect("the ninth connection is answered and closed");
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    // An open connection is still served.
    let first = &mut open[0];
    first
        .write_all(get("/latest/meta-data/iam/security-credentials/", addr).as_bytes())
        .unwrap();
    let mut buf = [0u8; 512];
    let n = first.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200 "));
    // Once they close, new connections are admitted again.
    drop(open);
    daemon.wait_for("connections to be admitted again", || {
        let mut s = connect(addr);
        let request =
            format!("GET /latest/meta-data/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(request.as_bytes()).is_ok()
            && read_to_close(&mut s).is_ok_and(|a| a.starts_with("HTTP/1.1 200 "))
    });
}

#[test]
fn unfinished_huge_headers_are_refused_early_and_cost_little_memory() {
    let Some(m) = moto() else { return };
    let daemon = daemon_with(
        m,
        "max_connections = 512\nmax_connections_per_client = 512\nheader_read_timeout_seconds = 30",
    );
    let addr = addr_of(&daemon.imds_url(true));
    let before = daemon.rss_kib();
    // 200 clients, each trying to send 390 KB of header that never ends: 78 MB if buffered.
    let pad = vec![b'a'; 390 * 1024];
    let mut streams = Vec::new();
    for _ in 0..200 {
        let mut s = connect(addr);
        s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
        let _ = s.write_all(format!("GET / HTTP/1.1\r\nHost: {addr}\r\nX-Pad: ").as_bytes());
        // The server stops reading at the cap and closes: the write fails or stalls.
        let _ = s.write_all(&pad);
        streams.push(s);
    }
    let grown = daemon.rss_kib().saturating_sub(before);
    assert!(
        grown < 30 * 1024,
        "RSS grew by {grown} KiB for 200 unfinished headers"
    );
    // Each was closed by the server (a reset counts: it refused what it did not read); none
    // was left open until our read timeout.
    for s in &mut streams {
        match read_to_close(s) {
            Ok(answer) => assert!(!answer.contains("200 OK"), "{answer}"),
            Err(e) => panic!("a connection with an unfinished huge header stayed open: {e}"),
        }
    }
}

#[test]
fn a_client_over_the_rate_limit_gets_429_with_retry_after() {
    let Some(m) = moto() else { return };
    let daemon = daemon_with(m, "rate_limit_per_second = 1\nrate_limit_burst = 3");
    let url = format!("{}/latest/meta-data/", daemon.imds_url(true));
    let statuses: Vec<u16> = (0..4).map(|_| http("GET", &url, &[]).status).collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
    let refused = http("GET", &url, &[]);
    assert_eq!(refused.status, 429);
    assert!(
        refused
            .header("retry-after")
            .is_some_and(|v| v.parse::<u64>().is_ok_and(|s| s >= 1))
    );
}

/// The status line of what `stream` answers to a GET of `/latest/meta-data/`, read whole
/// (headers and `Content-Length` bytes of body), leaving the connection open.
fn status_on(stream: &mut TcpStream, addr: SocketAddr) -> String {
    stream
        .write_all(get("/latest/meta-data/", addr).as_bytes())
        .unwrap();
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "closed mid-header");
        answer.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&answer).into_owned();
    let length: usize = head
        .to_ascii_lowercase()
        .lines()
        .find_map(|l| {
            l.strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .map_or(0, |v| v.parse().unwrap());
    stream.read_exact(&mut vec![0; length]).unwrap();
    head.lines().next().unwrap_or_default().to_owned()
}

/// The status `nobody` gets for `url`, from curl on a connection of its own.
fn status_as_nobody(curl: &std::path::Path, url: &str) -> String {
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(curl)
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "15",
        ])
        .arg(url)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir("/")
        .output()
        .expect("run curl as nobody");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every local process reaches a loopback listener from 127.0.0.1, so caps per address would
/// let one local user shut out all the others: for local callers they are per uid.
#[test]
fn one_local_user_at_its_caps_leaves_another_user_served() {
    let Some(m) = moto() else { return };
    if !root("per-uid caps (a second local user)") {
        return;
    }
    let Some(curl) = require("curl", "/usr/bin/curl".into()) else {
        return;
    };
    let mut spec = Spec::app(m, &[true]);
    spec.imds[0].extra = "allowed_users = [\"*\"]\n".into();
    let metrics_port = free_port();
    spec.extra_toml = format!(
        "\n[server]\nmax_connections = 16\nmax_connections_per_client = 4\n\
         header_read_timeout_seconds = 30\nrate_limit_per_second = 1\nrate_limit_burst = 3\n\
         [metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n"
    );
    let daemon = Daemon::start(m, &spec);
    let addr = addr_of(&daemon.imds_url(true));
    // This process (root) takes its four connections and spends its burst on them; an answer
    // on each shows the daemon has counted it against root.
    let mut held: Vec<TcpStream> = (0..4).map(|_| connect(addr)).collect();
    let statuses: Vec<String> = held.iter_mut().map(|s| status_on(s, addr)).collect();
    assert_eq!(
        statuses,
        [
            "HTTP/1.1 200 OK",
            "HTTP/1.1 200 OK",
            "HTTP/1.1 200 OK",
            "HTTP/1.1 429 Too Many Requests"
        ],
    );
    let mut fifth = connect(addr);
    let answer = read_to_close(&mut fifth).expect("root's fifth connection is answered");
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    // Another user on the same address is under neither of root's limits.
    let url = format!("http://{addr}/latest/meta-data/");
    assert_eq!(status_as_nobody(&curl, &url), "200");
    // The refusals the accept loop gives itself are on the metrics page too.
    let page = http(
        "GET",
        &format!("http://127.0.0.1:{metrics_port}/metrics"),
        &[],
    )
    .body;
    let count = |status: u16| {
        let series =
            format!("credvend_requests_total{{listener=\"imds@{addr}\",status=\"{status}\"}} ");
        page.lines()
            .find_map(|l| l.strip_prefix(&series))
            .map(|v| v.parse::<f64>().unwrap())
    };
    assert_eq!(
        (count(200), count(429), count(503)),
        (Some(4.0), Some(1.0), Some(1.0)),
        "{page}"
    );
    drop(held);
}

/// A connection to `to` from the local address `from` (both on loopback).
fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect, socket};
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::empty(),
        None,
    )
    .unwrap();
    let local: std::net::SocketAddrV4 = format!("{from}:0").parse().unwrap();
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::from(local),
    )
    .unwrap();
    let SocketAddr::V4(remote) = to else {
        panic!("v4 listener")
    };
    connect(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::from(remote),
    )
    .unwrap();
    let stream = TcpStream::from(fd);
    stream.set_read_timeout(Some(BOUND)).unwrap();
    stream
}

fn status_from(from: &str, to: SocketAddr) -> String {
    let mut s = connect_from(from, to);
    s.write_all(
        format!("GET /latest/meta-data/ HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let answer = read_to_close(&mut s).unwrap();
    answer.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn allowed_networks_are_honoured_on_a_loopback_listener() {
    let Some(m) = moto() else { return };
    let mut spec = Spec::app(m, &[]);
    spec.imds = vec![ImdsSpec {
        profile: "app".into(),
        imdsv1: true,
        ip: "127.0.0.2".into(),
        extra: "allowed_networks = [\"127.0.0.5/32\"]\n".into(),
    }];
    let daemon = Daemon::start(m, &spec);
    let addr = addr_of(&daemon.imds_url(true));
    assert!(status_from("127.0.0.5", addr).starts_with("HTTP/1.1 200"));
    for other in ["127.0.0.1", "127.0.0.3"] {
        assert!(
            status_from(other, addr).starts_with("HTTP/1.1 403"),
            "{other}"
        );
    }
}

#[test]
fn an_absolute_form_request_for_another_host_is_refused() {
    let Some(m) = moto() else { return };
    let daemon = Daemon::start(m, &Spec::app(m, &[true]));
    let addr = addr_of(&daemon.imds_url(true));
    let mut s = connect(addr);
    let request = format!(
        "GET http://evil.example/latest/meta-data/iam/security-credentials/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(request.as_bytes()).unwrap();
    let answer = read_to_close(&mut s).unwrap();
    assert!(answer.starts_with("HTTP/1.1 403 "), "{answer}");
    assert!(!answer.contains("app"), "{answer}");
}

#[test]
fn plain_load_writes_no_log_line_per_request() {
    let Some(m) = moto() else { return };
    let daemon = Daemon::start(m, &Spec::app(m, &[true]));
    let url = format!(
        "{}/latest/meta-data/iam/security-credentials/app",
        daemon.imds_url(true)
    );
    // The first read mints; count from once its lines are in (stderr is read by a thread,
    // so the start-up lines may still be on their way).
    assert_eq!(http("GET", &url, &[]).status, 200);
    daemon.wait_for("the credentials-ready line", || {
        daemon.stderr().contains("credentials ready")
    });
    let lines_before = daemon.stderr().lines().count();
    for _ in 0..200 {
        assert_eq!(http("GET", &url, &[]).status, 200);
    }
    let lines_after = daemon.stderr().lines().count();
    assert!(lines_after - lines_before < 5, "{}", daemon.stderr());
}

#[test]
fn a_thousand_idle_connections_under_a_1024_file_limit_leave_the_daemon_serving() {
    let Some(m) = moto() else { return };
    let mut spec = Spec::app(m, &[true]);
    spec.fd_limit = Some(1024);
    spec.extra_toml = "\n[server]\nheader_read_timeout_seconds = 30\n".into();
    let daemon = Daemon::start(m, &spec);
    let imds = addr_of(&daemon.imds_url(true));
    // This test process needs the descriptors too.
    let (_, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let _ = nix::sys::resource::setrlimit(
        nix::sys::resource::Resource::RLIMIT_NOFILE,
        hard.min(8192),
        hard,
    );
    let idle: Vec<TcpStream> = (0..1006)
        .filter_map(|_| TcpStream::connect(imds).ok())
        .collect();
    assert!(idle.len() > 900, "{}", idle.len());
    // The other listener answers, and so does a reload.
    let token = daemon.token();
    let ecs = http(
        "GET",
        &daemon.ecs_role_url("app"),
        &[("Authorization", token.as_str())],
    );
    assert_eq!(ecs.status, 200, "{}", daemon.stderr());
    daemon.signal(Signal::SIGHUP);
    daemon.wait_for("the reload", || {
        daemon.stderr().contains("reloaded profiles")
    });
    assert!(
        !daemon.stderr().contains("Too many open files"),
        "{}",
        daemon.stderr()
    );
    assert!(
        daemon.stderr().contains("connection limit reached"),
        "{}",
        daemon.stderr()
    );
    drop(idle);
}
