//! The owner (uid and inode) of one TCP socket on this host, asked of the kernel through
//! sock_diag netlink: one request naming the socket's four-tuple, one reply. This is what
//! `ss` uses; unlike reading `/proc/net/tcp` it costs the same however many sockets the host
//! has.
//!
//! The request is an `inet_diag_req_v2` naming the socket exactly (no dump); the reply is an
//! `inet_diag_msg` or a netlink error (`ENOENT`: no such socket in this network namespace).
//! Both are fixed little structs, built and read here byte by byte in the host's order, so no
//! `unsafe` is needed.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use nix::sys::socket::{
    self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, sockopt,
};
use nix::sys::time::TimeVal;

use crate::identity::local::SocketOwner;

/// `SOCK_DIAG_BY_FAMILY`.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `NLMSG_ERROR`.
const NLMSG_ERROR: u16 = 2;
/// `NLM_F_REQUEST`.
const NLM_F_REQUEST: u16 = 1;
/// `IPPROTO_TCP`.
const IPPROTO_TCP: u8 = 6;
/// `struct nlmsghdr`.
const HEADER_LEN: usize = 16;
/// `struct inet_diag_req_v2`.
const REQUEST_LEN: usize = 56;
/// Where `idiag_uid` and `idiag_inode` sit in a reply (after the header).
const UID_AT: usize = HEADER_LEN + 64;
const INODE_AT: usize = HEADER_LEN + 68;
/// The kernel answers at once; this only bounds a kernel that does not.
const REPLY_TIMEOUT: Duration = Duration::from_millis(200);

/// Why sock_diag gave no owner.
#[derive(Debug, thiserror::Error)]
pub(super) enum DiagError {
    /// No such socket in this network namespace: the client has gone, or it is not local.
    #[error("no such socket on this host")]
    NotFound,
    /// The netlink socket could not be used (a sandbox without `AF_NETLINK`, say).
    #[error("sock_diag netlink: {0}")]
    Netlink(#[source] io::Error),
    /// The kernel's answer was not a diag message.
    #[error("sock_diag netlink: unexpected reply ({0} bytes)")]
    Reply(usize),
}

/// The owner of the TCP socket whose local end is `local` and remote end `remote`.
pub(super) fn owner(local: SocketAddr, remote: SocketAddr) -> Result<SocketOwner, DiagError> {
    let fd = socket::socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    )
    .map_err(|e| DiagError::Netlink(e.into()))?;
    socket::setsockopt(
        &fd,
        sockopt::ReceiveTimeout,
        &TimeVal::new(0, REPLY_TIMEOUT.as_micros().try_into().unwrap_or(200_000)),
    )
    .map_err(|e| DiagError::Netlink(e.into()))?;
    let kernel = NetlinkAddr::new(0, 0);
    let request = request(local, remote);
    socket::sendto(fd.as_raw_fd(), &request, &kernel, MsgFlags::empty())
        .map_err(|e| DiagError::Netlink(e.into()))?;
    let mut reply = [0u8; 512];
    let n = socket::recv(fd.as_raw_fd(), &mut reply, MsgFlags::empty())
        .map_err(|e| DiagError::Netlink(e.into()))?;
    parse_reply(&reply[..n])
}

/// The request naming one socket: `nlmsghdr` then `inet_diag_req_v2`.
fn request(local: SocketAddr, remote: SocketAddr) -> Vec<u8> {
    let mut buf = Vec::with_capacity(HEADER_LEN + REQUEST_LEN);
    let len = u32::try_from(HEADER_LEN + REQUEST_LEN).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_ne_bytes());
    buf.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    buf.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    buf.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
    let family = match local.ip() {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    buf.push(u8::try_from(family as i32).unwrap_or(0));
    buf.push(IPPROTO_TCP);
    buf.push(0); // no extensions
    buf.push(0); // padding
    buf.extend_from_slice(&u32::MAX.to_ne_bytes()); // every TCP state
    // inet_diag_sockid: ports and addresses in network order.
    buf.extend_from_slice(&local.port().to_be_bytes());
    buf.extend_from_slice(&remote.port().to_be_bytes());
    buf.extend_from_slice(&address(local.ip()));
    buf.extend_from_slice(&address(remote.ip()));
    buf.extend_from_slice(&0u32.to_ne_bytes()); // any interface
    buf.extend_from_slice(&u32::MAX.to_ne_bytes()); // no cookie to match
    buf.extend_from_slice(&u32::MAX.to_ne_bytes());
    buf
}

/// An address as `inet_diag_sockid` holds it: 16 bytes, IPv4 in the first four.
fn address(ip: IpAddr) -> [u8; 16] {
    let mut out = [0u8; 16];
    match ip {
        IpAddr::V4(v4) => out[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => out.copy_from_slice(&v6.octets()),
    }
    out
}

fn parse_reply(reply: &[u8]) -> Result<SocketOwner, DiagError> {
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(reply.get(at..at + 4)?.try_into().ok()?))
    };
    let kind = reply
        .get(4..6)
        .map(|b| u16::from_ne_bytes([b[0], b[1]]))
        .ok_or(DiagError::Reply(reply.len()))?;
    if kind == NLMSG_ERROR {
        // `struct nlmsgerr`: a negative errno after the header.
        let errno = word(HEADER_LEN).map_or(0, |e| -(e.cast_signed()));
        return Err(if errno == nix::libc::ENOENT {
            DiagError::NotFound
        } else {
            DiagError::Netlink(io::Error::from_raw_os_error(errno))
        });
    }
    if kind != SOCK_DIAG_BY_FAMILY {
        return Err(DiagError::Reply(reply.len()));
    }
    match (word(UID_AT), word(INODE_AT)) {
        (Some(uid), Some(inode)) => Ok(SocketOwner {
            uid,
            inode: u64::from(inode),
        }),
        _ => Err(DiagError::Reply(reply.len())),
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::*;

    #[test]
    fn the_request_is_the_size_the_kernel_expects() {
        let r = request(
            "127.0.0.1:40000".parse().unwrap(),
            "127.0.0.1:8169".parse().unwrap(),
        );
        assert_eq!(r.len(), 72);
        assert_eq!(u32::from_ne_bytes(r[..4].try_into().unwrap()), 72);
        // Ports in network order: 40000 = 0x9c40, 8169 = 0x1fe9.
        assert_eq!(&r[24..28], &[0x9c, 0x40, 0x1f, 0xe9]);
        assert_eq!(&r[28..32], &[127, 0, 0, 1]);
    }

    #[test]
    fn a_client_socket_on_this_host_has_our_uid_and_its_inode() {
        for host in ["127.0.0.1:0", "[::1]:0"] {
            let listener = TcpListener::bind(host).unwrap();
            let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (_conn, peer) = listener.accept().unwrap();
            let found = owner(peer, listener.local_addr().unwrap()).unwrap();
            assert_eq!(found.uid, nix::unistd::getuid().as_raw());
            let fd = std::os::fd::AsRawFd::as_raw_fd(&client);
            let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
            assert_eq!(link.to_str().unwrap(), format!("socket:[{}]", found.inode));
        }
    }

    #[test]
    fn a_socket_that_is_not_there_is_not_found() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let e = owner(
            "127.0.0.1:1".parse().unwrap(),
            listener.local_addr().unwrap(),
        )
        .unwrap_err();
        assert!(matches!(e, DiagError::NotFound), "{e:?}");
    }

    #[test]
    fn replies_that_are_not_diag_messages_are_errors() {
        assert!(matches!(parse_reply(&[]), Err(DiagError::Reply(0))));
        let mut short = vec![0u8; 20];
        short[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        assert!(matches!(parse_reply(&short), Err(DiagError::Reply(20))));
    }
}
