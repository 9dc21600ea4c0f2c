//! The owner of a client socket read from `/proc/net/tcp` (or `tcp6`): the fallback for when
//! sock_diag netlink cannot be used (a sandbox that forbids `AF_NETLINK`). It reads the whole
//! table, so it costs more the more sockets the host has.
//!
//! The client's socket is the row whose local address is the connection's peer and whose
//! remote address is credvend's end. The `/proc` root is a parameter so tests can hand in a
//! tree of their own.

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::identity::local::SocketOwner;

/// Why the table gave no owner.
#[derive(Debug, thiserror::Error)]
pub(super) enum TableError {
    /// No row matches: the client closed, or it is in another network namespace.
    #[error("no socket from {peer} to {local} in {table}")]
    NoSocket {
        /// The client's address.
        peer: SocketAddr,
        /// credvend's end.
        local: SocketAddr,
        /// The table searched.
        table: PathBuf,
    },
    /// The table could not be read.
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
pub(super) fn owner(
    proc_root: &Path,
    peer: SocketAddr,
    local: SocketAddr,
) -> Result<SocketOwner, TableError> {
    let table = proc_root.join(match peer {
        SocketAddr::V4(_) => "net/tcp",
        SocketAddr::V6(_) => "net/tcp6",
    });
    let text = fs::read_to_string(&table).map_err(|source| TableError::Unreadable {
        table: table.clone(),
        source,
    })?;
    text.lines()
        .skip(1)
        .filter_map(parse_row)
        .find(|row| row.local == peer && row.remote == local)
        .map(|row| SocketOwner {
            uid: row.uid,
            inode: row.inode,
        })
        .ok_or(TableError::NoSocket { peer, local, table })
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
    fn a_real_loopback_client_is_found_in_the_real_table() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let local = listener.local_addr().unwrap();
        let _client = TcpStream::connect(local).unwrap();
        let (_conn, peer) = listener.accept().unwrap();
        let found = owner(Path::new("/proc"), peer, local).unwrap();
        assert_eq!(found, super::super::sock_diag::owner(peer, local).unwrap());
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
        let found = owner(&dir, "127.0.0.1:40000".parse().unwrap(), local).unwrap();
        assert_eq!(
            found,
            SocketOwner {
                uid: 1000,
                inode: 4242
            }
        );
        let e = owner(&dir, "127.0.0.1:40001".parse().unwrap(), local).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("no socket from 127.0.0.1:40001 to 127.0.0.1:8081 in "),
            "{e}"
        );
        let e = owner(&dir, "[::1]:40000".parse().unwrap(), local).unwrap_err();
        assert!(matches!(e, TableError::Unreadable { .. }), "{e}");
        fs::remove_dir_all(dir).unwrap();
    }
}
