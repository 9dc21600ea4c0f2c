//! Who is on the other end of a loopback connection: the uid that owns the client's socket and
//! the process holding it, read from Linux's `/proc` (issue 11's caller identity; not yet wired
//! into the listeners or the audit records).
//!
//! The client's socket is the row of `/proc/net/tcp` (or `tcp6`) whose local address is the
//! connection's peer and whose remote address is credvend's end; the row gives the uid and the
//! socket inode, and the process is the one with an fd that links to `socket:[INODE]`. A row
//! that is not there (the client left, or is in another network namespace) is said so, never
//! guessed. The `/proc` root is a parameter so tests can hand in a tree of their own.
//!
//! Cost: about 5 ms per lookup with 500 extra processes (`lookup_cost_with_500_processes`,
//! release build, the project's 2-core machine), over the 1 ms budget per new connection:
//! the whole-table read and the fd scan. Before this goes on the accept path, ask sock_diag
//! (netlink) for the one socket's uid and inode, and look for the pid off the request path.

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// The owner of a client socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The uid that owns the socket.
    pub uid: u32,
    /// The process holding it, when one could be found (a process of another user is hidden
    /// from an unprivileged daemon).
    pub pid: Option<u32>,
    /// That process's executable.
    pub exe: Option<PathBuf>,
}

/// Why the owner is unknown.
#[derive(Debug, thiserror::Error)]
pub enum Unknown {
    /// No socket table row matches: the client closed, or it is in another namespace.
    #[error("no socket from {peer} to {local} in {table}")]
    NoSocket {
        /// The client's address.
        peer: SocketAddr,
        /// credvend's end.
        local: SocketAddr,
        /// The table searched.
        table: PathBuf,
    },
    /// The socket table could not be read.
    #[error("cannot read {table}: {source}")]
    Unreadable {
        /// The table.
        table: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// The owner of the client socket at `peer` connected to credvend's `local`, looked up under
/// `proc_root` (`/proc` on a real host).
pub fn owner(proc_root: &Path, peer: SocketAddr, local: SocketAddr) -> Result<Owner, Unknown> {
    let table = proc_root.join(match peer {
        SocketAddr::V4(_) => "net/tcp",
        SocketAddr::V6(_) => "net/tcp6",
    });
    let text = fs::read_to_string(&table).map_err(|source| Unknown::Unreadable {
        table: table.clone(),
        source,
    })?;
    let (uid, inode) = text
        .lines()
        .skip(1)
        .filter_map(parse_row)
        .find(|row| row.local == peer && row.remote == local)
        .map(|row| (row.uid, row.inode))
        .ok_or(Unknown::NoSocket { peer, local, table })?;
    let pid = holder(proc_root, inode);
    let exe = pid.and_then(|p| fs::read_link(proc_root.join(format!("{p}/exe"))).ok());
    Ok(Owner { uid, pid, exe })
}

/// One row of a socket table, the columns credvend uses.
#[derive(Debug, PartialEq, Eq)]
struct Row {
    local: SocketAddr,
    remote: SocketAddr,
    uid: u32,
    inode: u64,
}

/// `sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...`
fn parse_row(line: &str) -> Option<Row> {
    let cols: Vec<&str> = line.split_whitespace().collect();
    Some(Row {
        local: parse_addr(cols.get(1)?)?,
        remote: parse_addr(cols.get(2)?)?,
        uid: cols.get(7)?.parse().ok()?,
        inode: cols.get(9)?.parse().ok()?,
    })
}

/// `0100007F:1F90`: the address as the kernel's 32-bit words in host order (little-endian
/// here), then the port in hex.
fn parse_addr(text: &str) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
        Some(w.to_le_bytes())
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The process with an fd on socket `inode`, if this process may see it.
fn holder(proc_root: &Path, inode: u64) -> Option<u32> {
    let target = format!("socket:[{inode}]");
    let pids = fs::read_dir(proc_root).ok()?;
    pids.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            let Ok(fds) = fs::read_dir(proc_root.join(format!("{pid}/fd"))) else {
                return false;
            };
            fds.filter_map(Result::ok)
                .any(|fd| fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target.as_str()))
        })
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::*;
    use crate::test_util::temp_dir;

    #[test]
    fn table_addresses_read_as_the_kernel_writes_them() {
        assert_eq!(
            parse_addr("0100007F:1F90"),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            parse_addr("00000000000000000000000001000000:0050"),
            Some("[::1]:80".parse().unwrap())
        );
        assert_eq!(
            parse_addr("0000000000000000FFFF00000100007F:0050"),
            Some("[::ffff:127.0.0.1]:80".parse().unwrap())
        );
        for bad in [
            "",
            "0100007F",
            "0100007:1F90",
            "0100007F:XYZ",
            "zz00007F:0050",
        ] {
            assert_eq!(parse_addr(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_real_loopback_client_is_this_process_and_user() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server_side, peer) = listener.accept().unwrap();
        let found = owner(Path::new("/proc"), peer, listener.local_addr().unwrap()).unwrap();
        assert_eq!(found.uid, nix::unistd::getuid().as_raw());
        assert_eq!(found.pid, Some(std::process::id()));
        assert_eq!(found.exe, Some(std::env::current_exe().unwrap()));
        drop(client);
    }

    #[test]
    fn another_process_is_found_with_its_pid_executable_and_uid() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let local = listener.local_addr().unwrap();
        // As root (CI), the client runs as nobody: another user, as on a shared host.
        let root = nix::unistd::geteuid().is_root();
        let script = format!(
            "exec 3<>/dev/tcp/127.0.0.1/{}; read -t 20 _ <&3",
            local.port()
        );
        let mut cmd = if root {
            let mut c = std::process::Command::new("setpriv");
            c.args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "bash",
                "-c",
            ]);
            c
        } else {
            let mut c = std::process::Command::new("bash");
            c.arg("-c");
            c
        };
        let mut child = cmd.arg(&script).spawn().unwrap();
        listener.set_nonblocking(true).unwrap();
        // Waits (bounded: 10 s) until the client connects.
        let (conn, peer) = (0..1000)
            .find_map(|_| match listener.accept() {
                Ok(accepted) => Some(accepted),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    None
                }
                Err(e) => panic!("{e}"),
            })
            .expect("the client never connected");
        let found = owner(Path::new("/proc"), peer, local).unwrap();
        let uid = if root {
            65534
        } else {
            nix::unistd::getuid().as_raw()
        };
        assert_eq!(found.uid, uid);
        assert_eq!(found.pid, Some(child.id()), "bash execs nothing else");
        assert!(
            found.exe.as_ref().is_some_and(|e| e.ends_with("bash")),
            "{found:?}"
        );
        drop(conn);
        child.wait().unwrap();
    }

    /// What one lookup costs with 500 other processes on the host (run with `--release
    /// --ignored --nocapture`): the budget is about 1 ms per new connection.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn lookup_cost_with_500_processes() {
        let mut others: Vec<_> = (0..500)
            .map(|_| {
                std::process::Command::new("sleep")
                    .arg("60")
                    .spawn()
                    .unwrap()
            })
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let local = listener.local_addr().unwrap();
        let _client = TcpStream::connect(local).unwrap();
        let (_conn, peer) = listener.accept().unwrap();
        let rounds = 50u32;
        let start = tokio::time::Instant::now();
        for _ in 0..rounds {
            assert!(
                owner(Path::new("/proc"), peer, local)
                    .unwrap()
                    .pid
                    .is_some()
            );
        }
        let each = start.elapsed() / rounds;
        println!("owner(): {each:?} per lookup with 500 extra processes");
        for child in &mut others {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    #[test]
    fn a_socket_that_is_not_there_is_unknown_and_says_where_it_looked() {
        let dir = temp_dir("caller-table");
        fs::create_dir_all(dir.join("net")).unwrap();
        fs::write(
            dir.join("net/tcp"),
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
             \x20  0: 0100007F:9C40 0100007F:1F91 01 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0 20 4 30 10 -1\n",
        )
        .unwrap();
        let local: SocketAddr = "127.0.0.1:8081".parse().unwrap();
        // The row's owner, with no process holding the inode in this tree.
        let found = owner(&dir, "127.0.0.1:40000".parse().unwrap(), local).unwrap();
        assert_eq!(
            found,
            Owner {
                uid: 1000,
                pid: None,
                exe: None
            }
        );
        let e = owner(&dir, "127.0.0.1:40001".parse().unwrap(), local).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("no socket from 127.0.0.1:40001 to 127.0.0.1:8081 in "),
            "{e}"
        );
        let e = owner(&dir, "[::1]:40000".parse().unwrap(), local).unwrap_err();
        assert!(matches!(e, Unknown::Unreadable { .. }), "{e}");
        fs::remove_dir_all(dir).unwrap();
    }
}
