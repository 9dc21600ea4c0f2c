//! The edge between Unix signals and the daemon: SIGTERM and SIGINT become one shutdown
//! future, SIGHUP a stream of reload requests. Repeated SIGHUPs while a reload is pending
//! coalesce into one.

use std::future::Future;
use std::io;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tracing::info;

/// Installs the handlers and a task that forwards them: the shutdown future (resolves on
/// the first SIGTERM or SIGINT) and the reload requests.
pub(super) fn install() -> io::Result<(impl Future<Output = ()> + Send, mpsc::Receiver<()>)> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let (shutdown_tx, shutdown) = oneshot::channel();
    let (reload_tx, reloads) = mpsc::channel(1);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => { info!("SIGTERM received"); break }
                _ = int.recv() => { info!("SIGINT received"); break }
                _ = hup.recv() => {
                    info!("SIGHUP received: reloading");
                    // Full means a reload is already waiting, which will read the same files.
                    let _ = reload_tx.try_send(());
                }
            }
        }
        let _ = shutdown_tx.send(());
    });
    let shutdown = async move {
        // An error means the forwarding task is gone, which only happens as the runtime stops.
        let _ = shutdown.await;
    };
    Ok((shutdown, reloads))
}
