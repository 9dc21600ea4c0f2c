//! The daemon's sockets: bound from the config before anything else runs (so a test or a
//! supervisor can hand over its own), then each started as a server with its listener's state
//! built from the config.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

use super::activation;
use super::error::DaemonError;
use super::profiles;
use crate::config::{Config, EcsListener};
use crate::control::Metrics;
use crate::profile::ProfileChain;
use crate::random::Random;
use crate::server::{self, EcsConfig, EcsState, ImdsConfig, ImdsState, Labels, Limits, Services};

/// How long in-flight requests get to finish after shutdown is asked for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The bound sockets: one per IMDS listener address, in config order, and one per ECS
/// listener address.
#[derive(Debug)]
pub struct Listeners {
    imds: Vec<TcpListener>,
    ecs: Vec<TcpListener>,
}

/// Where the daemon serves, once it does: what `run` reports as ready.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// The IMDS listeners' addresses, in config order.
    pub imds: Vec<SocketAddr>,
    /// The ECS listener's addresses, in config order; none when disabled.
    pub ecs: Vec<SocketAddr>,
}

impl Ready {
    /// `imds=ADDR ... ecs=ADDR ...`, one word per socket: the form of the systemd `STATUS=`
    /// line and the ready log.
    #[must_use]
    pub fn status(&self) -> String {
        let imds = self.imds.iter().map(|a| format!("imds={a}"));
        let ecs = self.ecs.iter().map(|a| format!("ecs={a}"));
        imds.chain(ecs).collect::<Vec<_>>().join(" ")
    }
}

/// The running servers.
#[derive(Debug)]
pub(super) struct Servers {
    tasks: JoinSet<io::Result<()>>,
}

impl Listeners {
    /// Binds every configured listener address.
    pub async fn bind(config: &Config) -> Result<Self, DaemonError> {
        raise_fd_limit();
        let mut imds = Vec::with_capacity(config.imds.len());
        for listener in &config.imds {
            imds.push(bind(listener.listen, "imds").await?);
        }
        let mut ecs = Vec::new();
        for addr in config.ecs.iter().flat_map(EcsListener::addresses) {
            ecs.push(bind(addr, "ecs").await?);
        }
        Ok(Self { imds, ecs })
    }

    /// The configured listeners from sockets a supervisor passed (socket activation), each
    /// matched by its address; or, when none were passed, [`bind`](Self::bind). Every passed
    /// socket must be a configured listener address and every configured address must be
    /// passed.
    pub async fn adopt_or_bind(
        config: &Config,
        passed: Vec<std::net::TcpListener>,
    ) -> Result<Self, DaemonError> {
        if passed.is_empty() {
            return Self::bind(config).await;
        }
        raise_fd_limit();
        let mut pool = Vec::with_capacity(passed.len());
        for socket in passed {
            let addr = socket.local_addr().map_err(DaemonError::Activation)?;
            pool.push((addr, socket));
        }
        let wanted: Vec<(SocketAddr, &'static str)> = config
            .imds
            .iter()
            .map(|l| (l.listen, "imds"))
            .chain(
                config
                    .ecs
                    .iter()
                    .flat_map(EcsListener::addresses)
                    .map(|a| (a, "ecs")),
            )
            .collect();
        let mut sockets = activation::match_passed(&wanted, pool)?
            .into_iter()
            .map(|socket| {
                socket
                    .set_nonblocking(true)
                    .and_then(|()| TcpListener::from_std(socket))
                    .map_err(DaemonError::Activation)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ecs = sockets.split_off(config.imds.len());
        info!("serving on sockets passed by the supervisor");
        Ok(Self { imds: sockets, ecs })
    }

    /// Starts a server on each socket; they stop when `stop` turns true.
    pub(super) fn start(
        self,
        config: &Config,
        chains: &BTreeMap<String, Result<ProfileChain, String>>,
        services: &Services,
        random: &dyn Random,
        stop: &watch::Receiver<bool>,
        metrics: &Metrics,
    ) -> Result<(Ready, Servers), DaemonError> {
        let mut ready = Ready::default();
        let mut tasks = JoinSet::new();
        for (listener, socket) in config.imds.iter().zip(self.imds) {
            let addr = local_addr(&socket, listener.listen, "imds")?;
            let identity = profiles::instance_identity(
                &listener.profile,
                chains.get(&listener.profile),
                &config.aws.region,
            );
            let labels = Labels {
                profiles: listener
                    .label_profiles
                    .iter()
                    .map(|p| {
                        let role = profiles::instance_identity(p, chains.get(p), "").role_name;
                        (p.clone(), role)
                    })
                    .collect(),
                required: listener.require_label,
            };
            let imds = ImdsConfig::from_listener(
                listener,
                addr,
                identity.role_name,
                identity.region,
                identity.account_id,
                labels,
            )
            .map_err(|source| DaemonError::PublicKey { addr, source })?;
            let state = ImdsState::new(imds, services.clone(), random);
            info!(
                "imds listening on {addr}, profile {}, {}",
                listener.profile,
                if listener.imdsv1 {
                    "IMDSv1 allowed"
                } else {
                    "IMDSv2 only"
                }
            );
            let router = server::imds_router(state);
            router.count_into(metrics.listener(&format!("imds@{addr}")));
            let mut limits = Limits::from_settings(&config.server);
            // As on EC2: token (and every) response of a listener that containers reach
            // through a network carries a small hop limit.
            if !addr.ip().is_loopback() {
                limits.hop_limit = Some(listener.token_hop_limit);
            }
            tasks.spawn(server::serve(socket, router, limits, stopped(stop.clone())));
            ready.imds.push(addr);
        }
        if let Some(ecs) = &config.ecs {
            // One config for every address: the token and capability files are read once.
            let mut shared: Option<EcsConfig> = None;
            for (configured, socket) in ecs.addresses().zip(self.ecs) {
                let addr = local_addr(&socket, configured, "ecs")?;
                let config_here = match &shared {
                    Some(first) => EcsConfig {
                        listen: addr,
                        ..first.clone()
                    },
                    None => EcsConfig::from_listener(ecs, addr, &config.state_dir, random)?,
                };
                shared.get_or_insert_with(|| config_here.clone());
                let state = EcsState::new(config_here, services.clone());
                info!(
                    "ecs listening on {addr}, profiles {}, token file {}",
                    ecs.profiles.join(", "),
                    ecs.token_file.display()
                );
                let router = server::ecs_router(state);
                router.count_into(metrics.listener(&format!("ecs@{addr}")));
                let limits = Limits::from_settings(&config.server);
                tasks.spawn(server::serve(socket, router, limits, stopped(stop.clone())));
                ready.ecs.push(addr);
            }
        }
        Ok((ready, Servers { tasks }))
    }
}

impl Servers {
    /// Waits for the servers to finish their open requests (they stop accepting once `stop`
    /// was set), at most [`DRAIN_TIMEOUT`].
    pub(super) async fn drain(mut self) {
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while let Some(result) = self.tasks.join_next().await {
                if let Ok(Err(e)) = result {
                    warn!(error = %e, "listener ended with an error");
                }
            }
        })
        .await;
        if drained.is_err() {
            warn!("requests still running after {DRAIN_TIMEOUT:?}; exiting anyway");
        }
    }
}

/// Lifts the soft limit on open files to the hard one: every client connection is a file, and
/// the connection caps, not a low default limit, should be what sheds load.
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                warn!(error = %e, soft, hard, "cannot raise the open-file limit");
            }
        }
        Ok(_) => {}
        Err(e) => warn!(error = %e, "cannot read the open-file limit"),
    }
}

async fn bind(addr: SocketAddr, what: &'static str) -> Result<TcpListener, DaemonError> {
    TcpListener::bind(addr).await.map_err(|source| {
        // The usual cause on a fresh host: the link-local address is on no interface yet.
        if source.kind() == std::io::ErrorKind::AddrNotAvailable && !addr.ip().is_loopback() {
            DaemonError::AddressMissing { addr, what }
        } else {
            DaemonError::Bind { addr, what, source }
        }
    })
}

fn local_addr(
    socket: &TcpListener,
    configured: SocketAddr,
    what: &'static str,
) -> Result<SocketAddr, DaemonError> {
    socket.local_addr().map_err(|source| DaemonError::Bind {
        addr: configured,
        what,
        source,
    })
}

/// Resolves when shutdown is signalled (or the sender is gone).
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_names_every_socket_in_config_order() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        let ready = Ready {
            imds: vec![addr("169.254.169.254:80"), addr("[fd00:ec2::254]:80")],
            ecs: vec![
                addr("169.254.170.2:80"),
                addr("169.254.170.23:80"),
                addr("[fd00:ec2::23]:80"),
            ],
        };
        assert_eq!(
            ready.status(),
            "imds=169.254.169.254:80 imds=[fd00:ec2::254]:80 ecs=169.254.170.2:80 \
             ecs=169.254.170.23:80 ecs=[fd00:ec2::23]:80"
        );
        assert_eq!(Ready::default().status(), "");
    }
}
