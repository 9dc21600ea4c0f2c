//! Socket activation: listening sockets handed over by systemd (`LISTEN_FDS`, checked against
//! `LISTEN_PID`), so credvend can serve privileged ports without ever holding privileges.
//! Taken once at start, on the main thread, before the runtime starts (reading and clearing
//! the variables is not safe once other threads run); then matched to the configured listeners
//! by address in `listeners`.

use std::io;
use std::net::TcpListener;

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
