//! Socket activation: listening sockets handed over by systemd (`LISTEN_FDS`, checked against
//! `LISTEN_PID`), so credvend can serve privileged ports without ever holding privileges.
//! Taken once at start, on the main thread, before the runtime starts (reading and clearing
//! the variables is not safe once other threads run); then matched to the configured listeners
//! by address in `listeners`.

use std::io;
use std::net::{SocketAddr, TcpListener};

use super::error::DaemonError;

/// The TCP listening sockets passed to this process, in order; none without activation.
pub fn inherited_listeners() -> io::Result<Vec<TcpListener>> {
    let mut fds = listenfd::ListenFd::from_env();
    let mut sockets = Vec::with_capacity(fds.len());
    for i in 0..fds.len() {
        match fds.take_tcp_listener(i)? {
            Some(socket) => sockets.push(socket),
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "passed file descriptor {} is not a TCP listening socket",
                        i + 3
                    ),
                ));
            }
        }
    }
    Ok(sockets)
}

/// The passed sockets, each matched to the configured listener address it is bound to and
/// returned in the order of `wanted` (`(address, "imds" | "ecs")`). Every passed socket must
/// be a configured address, and every configured address must be passed exactly once: a
/// mismatch between the `.socket` unit and the config is refused, naming the address.
pub(super) fn match_passed<S>(
    wanted: &[(SocketAddr, &'static str)],
    passed: Vec<(SocketAddr, S)>,
) -> Result<Vec<S>, DaemonError> {
    let mut pool: Vec<Option<(SocketAddr, S)>> = passed.into_iter().map(Some).collect();
    let mut matched = Vec::with_capacity(wanted.len());
    for &(want, what) in wanted {
        let slot = pool
            .iter_mut()
            .find(|slot| slot.as_ref().is_some_and(|(addr, _)| same(*addr, want)))
            .ok_or(DaemonError::NotPassed { addr: want, what })?;
        let (_, socket) = slot
            .take()
            .ok_or(DaemonError::NotPassed { addr: want, what })?;
        matched.push(socket);
    }
    if let Some((addr, _)) = pool.into_iter().flatten().next() {
        let twice = wanted.iter().any(|(want, _)| same(addr, *want));
        return Err(if twice {
            DaemonError::PassedTwice { addr }
        } else {
            DaemonError::NotConfigured { addr }
        });
    }
    Ok(matched)
}

/// The same socket address: a passed IPv6 socket may report a v4 address v4-mapped, and its
/// flow label and scope are no part of what the config names.
fn same(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && a.ip().to_canonical() == b.ip().to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// The link-local set-up: two IMDS addresses and three ECS ones.
    fn linklocal() -> Vec<(SocketAddr, &'static str)> {
        vec![
            (addr("169.254.169.254:80"), "imds"),
            (addr("[fd00:ec2::254]:80"), "imds"),
            (addr("169.254.170.2:80"), "ecs"),
            (addr("169.254.170.23:80"), "ecs"),
            (addr("[fd00:ec2::23]:80"), "ecs"),
        ]
    }

    #[test]
    fn passed_sockets_are_matched_by_address_in_any_order() {
        let wanted = linklocal();
        // systemd passes them in the unit's order, which need not be the config's.
        let passed: Vec<_> = [4, 2, 0, 3, 1]
            .map(|i| (wanted[i].0, i))
            .into_iter()
            .collect();
        assert_eq!(match_passed(&wanted, passed).unwrap(), vec![0, 1, 2, 3, 4]);
        // A v4 address passed as v4-mapped v6 is the same socket address.
        let mapped = vec![(addr("[::ffff:169.254.169.254]:80"), "s")];
        assert_eq!(match_passed(&wanted[..1], mapped).unwrap(), vec!["s"]);
    }

    #[test]
    fn a_configured_address_not_passed_is_refused_by_name() {
        let wanted = linklocal();
        let passed: Vec<_> = wanted[..4].iter().map(|(a, _)| (*a, ())).collect();
        let err = match_passed(&wanted, passed).unwrap_err();
        assert_eq!(
            err.to_string(),
            "socket activation passed no socket for the ecs listener on [fd00:ec2::23]:80; \
             add it to the .socket unit or change the config"
        );
        // Same address, other port: not the configured socket.
        let err = match_passed(&wanted[..1], vec![(addr("169.254.169.254:8080"), ())]);
        assert!(
            matches!(err, Err(DaemonError::NotPassed { addr: a, what: "imds" }) if a == wanted[0].0)
        );
    }

    #[test]
    fn a_passed_socket_the_config_does_not_name_is_refused_by_name() {
        let wanted = linklocal();
        let mut passed: Vec<_> = wanted.iter().map(|(a, _)| (*a, ())).collect();
        passed.push((addr("[fd00:ec2::99]:80"), ()));
        let err = match_passed(&wanted, passed).unwrap_err();
        assert_eq!(
            err.to_string(),
            "socket activation passed a socket on [fd00:ec2::99]:80, which no listener in the \
             config uses; the .socket unit and the config must name the same addresses"
        );
        let twice = vec![(wanted[0].0, ()), (wanted[0].0, ())];
        assert!(matches!(
            match_passed(&wanted[..1], twice),
            Err(DaemonError::PassedTwice { .. })
        ));
        assert!(
            match_passed(&wanted[..0], Vec::<(SocketAddr, ())>::new())
                .unwrap()
                .is_empty()
        );
    }
}
