//! systemd readiness notification (`sd_notify`): one datagram to `$NOTIFY_SOCKET`, when set.
//! Under launchd or by hand the variable is unset and this does nothing.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use tokio::sync::watch;

use tracing::warn;

use crate::env::Env;

/// Sends `state` (e.g. `READY=1`) to systemd if it asked for notifications; whether it was
/// sent. Failures are logged, not fatal: the daemon serves either way.
pub(crate) fn notify(env: &Env, state: &str) -> bool {
    let Some(path) = env.get("NOTIFY_SOCKET") else {
        return false;
    };
    match send(path, state) {
        Ok(()) => true,
        Err(e) => {
            warn!(error = %e, "cannot notify systemd ({state})");
            false
        }
    }
}

/// The watchdog interval systemd asked for (`WatchdogSec=`: `WATCHDOG_USEC`, for this process
/// when `WATCHDOG_PID` says so), halved as sd_watchdog_enabled advises; `None` without one.
pub(crate) fn watchdog_interval(env: &Env) -> Option<Duration> {
    if let Some(pid) = env.get("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    let usec: u64 = env.get("WATCHDOG_USEC")?.parse().ok().filter(|&u| u > 0)?;
    Some(Duration::from_micros(usec / 2))
}

/// Pings the watchdog every `interval` until `stop` turns true. It runs on the same runtime as
/// the servers, so a wedged runtime stops the pings and systemd restarts the service.
pub(crate) async fn watchdog(env: Env, interval: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = tick.tick() => { notify(&env, "WATCHDOG=1"); }
            _ = stop.wait_for(|s| *s) => break,
        }
    }
}

fn send(path: &str, state: &str) -> io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    // A leading '@' names a socket in Linux's abstract namespace.
    if let Some(name) = path.strip_prefix('@') {
        return send_abstract(&socket, name, state);
    }
    socket.send_to(state.as_bytes(), path).map(|_| ())
}

#[cfg(target_os = "linux")]
fn send_abstract(socket: &UnixDatagram, name: &str, state: &str) -> io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    socket.send_to_addr(state.as_bytes(), &addr).map(|_| ())
}

#[cfg(not(target_os = "linux"))]
fn send_abstract(_: &UnixDatagram, _: &str, _: &str) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract sockets are Linux-only",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_reaches_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("credvend-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let receiver = UnixDatagram::bind(&path).unwrap();
        assert!(notify(
            &Env::from_pairs([("NOTIFY_SOCKET", path.to_str().unwrap())]),
            "READY=1",
        ));
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn readiness_reaches_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("credvend-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let receiver = UnixDatagram::bind_addr(&addr).unwrap();
        assert!(notify(
            &Env::from_pairs([("NOTIFY_SOCKET", format!("@{name}"))]),
            "STOPPING=1",
        ));
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
    }

    #[test]
    fn the_watchdog_interval_is_half_of_what_systemd_asks_for_this_process() {
        let asked = Env::from_pairs([("WATCHDOG_USEC", "30000000")]);
        assert_eq!(watchdog_interval(&asked), Some(Duration::from_secs(15)));
        let ours = Env::from_pairs([
            ("WATCHDOG_USEC", "4000000".to_owned()),
            ("WATCHDOG_PID", std::process::id().to_string()),
        ]);
        assert_eq!(watchdog_interval(&ours), Some(Duration::from_secs(2)));
        let other = Env::from_pairs([("WATCHDOG_USEC", "4000000"), ("WATCHDOG_PID", "1")]);
        assert_eq!(watchdog_interval(&other), None);
        assert_eq!(watchdog_interval(&Env::default()), None);
        assert_eq!(
            watchdog_interval(&Env::from_pairs([("WATCHDOG_USEC", "0")])),
            None
        );
    }

    #[test]
    fn nothing_is_sent_without_notify_socket() {
        assert!(!notify(&Env::default(), "READY=1"));
    }

    #[test]
    fn an_unreachable_socket_is_reported_not_fatal() {
        let env = Env::from_pairs([("NOTIFY_SOCKET", "/nonexistent/credvend/notify.sock")]);
        assert!(!notify(&env, "READY=1"));
    }
}
