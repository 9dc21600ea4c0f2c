//! The identity lookups against real sockets and processes on this host.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command};
use std::time::Duration;

use super::*;

fn accept_within(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    listener.set_nonblocking(true).unwrap();
    // Bounded: 10 s for the client to connect.
    (0..1000)
        .find_map(|_| match listener.accept() {
            Ok(accepted) => Some(accepted),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
                None
            }
            Err(e) => panic!("{e}"),
        })
        .expect("the client never connected")
}

/// A bash that connects to `port` and waits; as nobody when this runs as root (CI), so it is
/// another user, as on a shared host.
fn bash_client(port: u16) -> (Child, u32) {
    let script = format!("exec 3<>/dev/tcp/127.0.0.1/{port}; read -t 20 _ <&3");
    if nix::unistd::geteuid().is_root() {
        let child = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args(["bash", "-c", &script])
            .spawn()
            .unwrap();
        (child, 65534)
    } else {
        let child = Command::new("bash").args(["-c", &script]).spawn().unwrap();
        (child, nix::unistd::getuid().as_raw())
    }
}

fn process(caller: Caller) -> Process {
    match caller {
        Caller::Process(p) => p,
        other => panic!("not a local process: {other:?}"),
    }
}

#[test]
fn a_loopback_client_in_this_process_is_this_process_and_user() {
    let identify = Identify::new(None);
    for host in ["127.0.0.1:0", "[::1]:0"] {
        let Ok(listener) = TcpListener::bind(host) else {
            continue; // no IPv6 loopback here
        };
        let local = listener.local_addr().unwrap();
        let _client = TcpStream::connect(local).unwrap();
        let (_conn, peer) = listener.accept().unwrap();
        let found = process(identify.caller(peer, local, None));
        assert_eq!(found.uid, nix::unistd::getuid().as_raw());
        assert_eq!(found.pid, Some(std::process::id()), "{found:?}");
        assert_eq!(found.place.exe, Some(std::env::current_exe().unwrap()));
        assert_eq!(found.no_pid, None);
    }
}

#[test]
fn a_socket_owner_found_at_accept_is_where_the_lookup_starts() {
    let identify = Identify::new(None);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let local = listener.local_addr().unwrap();
    let _client = TcpStream::connect(local).unwrap();
    let (_conn, peer) = listener.accept().unwrap();
    let owner = identify
        .socket_owner(peer, local)
        .expect("sock_diag names the socket");
    assert_eq!(owner.uid, nix::unistd::getuid().as_raw());
    let found = process(identify.caller(peer, local, Some(owner)));
    assert_eq!(
        (found.uid, found.pid),
        (owner.uid, Some(std::process::id()))
    );
    // The lookup asks the kernel no second time: an owner it was handed is taken as it is.
    let handed = SocketOwner {
        uid: owner.uid + 1,
        ..owner
    };
    assert_eq!(
        process(identify.caller(peer, local, Some(handed))).uid,
        owner.uid + 1
    );
}

#[test]
fn another_process_is_found_with_its_pid_executable_user_and_unit() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let local = listener.local_addr().unwrap();
    let (mut child, uid) = bash_client(local.port());
    let (conn, peer) = accept_within(&listener);
    let found = process(Identify::new(None).caller(peer, local, None));
    assert_eq!(found.uid, uid);
    assert_eq!(found.pid, Some(child.id()), "bash execs nothing else");
    assert!(
        found
            .place
            .exe
            .as_ref()
            .is_some_and(|e| e.ends_with("bash")),
        "{found:?}"
    );
    let name = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .unwrap()
        .map(|u| u.name);
    assert_eq!(found.user, name);
    // The same unit (or none) as this test process: it is our child.
    let _own = TcpStream::connect(local).unwrap();
    let (_own_conn, own_peer) = accept_within(&listener);
    let ours = process(Identify::new(None).caller(own_peer, local, None));
    assert_eq!(ours.pid, Some(std::process::id()));
    assert_eq!(found.place.unit, ours.place.unit);
    drop(conn);
    child.wait().unwrap();
}

#[test]
fn a_peer_with_no_socket_here_is_remote_unless_it_is_loopback() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let local = listener.local_addr().unwrap();
    let identify = Identify::new(None);
    let gone = identify.caller("127.0.0.1:1".parse().unwrap(), local, None);
    assert_eq!(gone, Caller::Unknown("the client's socket is gone".into()));
    assert_eq!(gone.uid(), None);
    let remote = identify.caller("192.0.2.7:40000".parse().unwrap(), local, None);
    assert_eq!(remote, Caller::Remote(None));
    assert_eq!(
        remote.reason().as_deref(),
        Some("not a process on this host")
    );
    let asked = Identify::new(Some(Path::new("/nonexistent/docker.sock"))).caller(
        "192.0.2.7:40000".parse().unwrap(),
        local,
        None,
    );
    let why = asked.reason().unwrap();
    assert!(
        why.starts_with("not a process on this host; cannot ask the Docker engine at "),
        "{why}"
    );
}

#[test]
fn a_process_hidden_from_the_daemon_has_its_uid_and_says_why_no_pid() {
    // A /proc with no processes in it: the uid comes from the kernel, the pid cannot.
    let empty = crate::test_util::temp_dir("identity-empty-proc");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let local = listener.local_addr().unwrap();
    let _client = TcpStream::connect(local).unwrap();
    let (_conn, peer) = listener.accept().unwrap();
    let found = process(Identify::under(&empty).caller(peer, local, None));
    assert_eq!(found.uid, nix::unistd::getuid().as_raw());
    assert_eq!(found.pid, None);
    assert_eq!(
        found.no_pid.as_deref(),
        Some("no process visible to credvend holds the socket")
    );
    std::fs::remove_dir_all(empty).unwrap();
}

/// What one lookup costs with 500 other processes of the same user on the host (run with
/// `cargo test --release --lib identity -- --ignored --nocapture`; the bench reports the same
/// through the daemon). Two cases: the client started after the 500 (the usual one: a CLI or
/// SDK process that has just started), and before them (a long-running process).
#[test]
#[ignore = "a measurement, not a check"]
fn lookup_cost_with_500_processes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let local = listener.local_addr().unwrap();
    let (mut old, _) = bash_client(local.port());
    let (old_conn, old_peer) = accept_within(&listener);
    let mut others: Vec<_> = (0..500)
        .map(|_| Command::new("sleep").arg("60").spawn().unwrap())
        .collect();
    let (mut new, _) = bash_client(local.port());
    let (new_conn, new_peer) = accept_within(&listener);
    for (what, peer) in [("new", new_peer), ("old", old_peer)] {
        let rounds = 50u32;
        let start = tokio::time::Instant::now();
        for _ in 0..rounds {
            // Fresh each round, so no round is helped by the recent-holder list.
            let found = process(Identify::new(None).caller(peer, local, None));
            assert!(found.pid.is_some(), "{found:?}");
        }
        println!(
            "caller() for a {what} client: {:?} per lookup with 500 extra processes",
            start.elapsed() / rounds
        );
    }
    for child in others.iter_mut().chain([&mut old, &mut new]) {
        let _ = child.kill();
        let _ = child.wait();
    }
    drop((old_conn, new_conn));
}
