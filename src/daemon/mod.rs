//! `credvend serve`: wires the STS client, the cache and its refresher, the IMDS and ECS
//! listeners and the audit log; then waits for signals. SIGTERM/SIGINT drain and exit;
//! SIGHUP reloads the config and the `~/.aws` files, keeping the old state when that fails.

mod notify;
mod profiles;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::audit::{AuditError, AuditLog, AuditSink, NoAudit};
use crate::cache::CredentialCache;
use crate::clock::{AwsClock, SystemClock};
use crate::config::Config;
use crate::env::Env;
use crate::random::{OsRandom, Random};
use crate::server::{
    self, EcsConfig, EcsFileError, EcsState, ImdsConfig, ImdsState, Services,
    load_or_create_capabilities, load_or_create_token,
};
use crate::sts::StsError;
use crate::sts::client::StsClient;

use profiles::resolve_served;

/// How long in-flight requests get to finish after SIGTERM.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often profiles that failed to resolve are tried again (the files may have been fixed).
const RESOLVE_RETRY: Duration = Duration::from_secs(30);
/// Where the ECS capability ids are kept, under the state dir.
const CAPABILITIES_FILE: &str = "ecs-capabilities.json";

/// Why the daemon could not start (once running, failures are logged, never fatal).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The STS client could not be built (e.g. an unreadable CA file).
    #[error("cannot set up the STS client: {0}")]
    Sts(#[from] StsError),
    /// The audit log could not be opened.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// `imds` or `ecs`.
        what: &'static str,
        /// The cause.
        source: io::Error,
    },
    /// The ECS token or capability file is unusable.
    #[error(transparent)]
    EcsFiles(#[from] EcsFileError),
    /// The public key file of an IMDS listener is unreadable.
    #[error("cannot read public_key_file of the imds listener on {addr}: {source}")]
    PublicKey {
        /// The listener.
        addr: SocketAddr,
        /// The cause.
        source: io::Error,
    },
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(io::Error),
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn serve(config: Config, env: Env) -> Result<(), DaemonError> {
    let clock = Arc::new(AwsClock::new(Arc::new(SystemClock)));
    let random: Arc<dyn Random> = Arc::new(OsRandom);
    let audit_log = match &config.audit.path {
        Some(path) => Some(Arc::new(AuditLog::open(path)?)),
        None => None,
    };
    let audit: Arc<dyn AuditSink> = match &audit_log {
        Some(log) => log.clone(),
        None => Arc::new(NoAudit),
    };
    let sts = Arc::new(StsClient::new(&config.aws, clock.clone(), random.clone())?);
    let cache = Arc::new(CredentialCache::new(
        sts,
        config.aws.clone(),
        config.cache.clone(),
        env.clone(),
        clock.clone(),
        random.clone(),
        audit.clone(),
    ));
    let chains = profiles::resolve_served_or_errors(&config, &env);
    cache.set_profiles(chains.clone());

    let services = Services {
        credentials: cache.clone(),
        audit,
        clock,
    };
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut servers = JoinSet::new();
    for listener in &config.imds {
        let socket = bind(listener.listen, "imds").await?;
        let addr = socket.local_addr().map_err(|source| DaemonError::Bind {
            addr: listener.listen,
            what: "imds",
            source,
        })?;
        let identity = profiles::instance_identity(
            &listener.profile,
            chains.get(&listener.profile),
            &config.aws.region,
        );
        let mut imds = ImdsConfig::from_listener(
            listener,
            identity.role_name,
            identity.region,
            identity.account_id,
        )
        .map_err(|source| DaemonError::PublicKey { addr, source })?;
        // Tokens and the Host check are bound to the real address (port 0 picks one).
        imds.listen = addr;
        let state = ImdsState::new(imds, services.clone(), random.as_ref());
        info!(
            "imds listening on {addr}, profile {}, {}",
            listener.profile,
            if listener.imdsv1 {
                "IMDSv1 allowed"
            } else {
                "IMDSv2 only"
            }
        );
        servers.spawn(server::serve(
            socket,
            server::imds_router(state),
            stopped(shutdown_rx.clone()),
        ));
    }
    if let Some(ecs) = &config.ecs {
        let socket = bind(ecs.listen, "ecs").await?;
        let addr = socket.local_addr().map_err(|source| DaemonError::Bind {
            addr: ecs.listen,
            what: "ecs",
            source,
        })?;
        let token = load_or_create_token(&ecs.token_file, random.as_ref())?;
        let capabilities = load_or_create_capabilities(
            &config.state_dir.join(CAPABILITIES_FILE),
            &ecs.profiles,
            random.as_ref(),
        )?;
        let state = EcsState::new(
            EcsConfig {
                listen: addr,
                profiles: ecs.profiles.clone(),
                allowed_networks: ecs.allowed_networks.clone(),
                token,
                capabilities,
            },
            services.clone(),
        );
        info!(
            "ecs listening on {addr}, profiles {}, token file {}",
            ecs.profiles.join(", "),
            ecs.token_file.display()
        );
        servers.spawn(server::serve(
            socket,
            server::ecs_router(state),
            stopped(shutdown_rx.clone()),
        ));
    }

    tokio::spawn(cache.clone().run_refresher(shutdown_rx.clone()));
    tokio::spawn(prefetch(cache.clone()));
    let mut signals = Signals::install().map_err(DaemonError::Signals)?;
    notify::notify(&env, "READY=1");
    info!("credvend ready");

    let mut config = config;
    let mut retry = tokio::time::interval(RESOLVE_RETRY);
    retry.tick().await;
    loop {
        tokio::select! {
            _ = signals.term.recv() => { info!("SIGTERM received"); break }
            _ = signals.int.recv() => { info!("SIGINT received"); break }
            _ = signals.hup.recv() => {
                info!("SIGHUP received: reloading");
                notify::notify(&env, "RELOADING=1");
                if let Some(new) = reload(&config, &env, &cache) {
                    config = new;
                }
                notify::notify(&env, "READY=1");
            }
            _ = retry.tick() => retry_unresolved(&config, &env, &cache),
        }
    }

    info!("stopping: draining in-flight requests");
    notify::notify(&env, "STOPPING=1");
    let _ = shutdown_tx.send(true);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while let Some(result) = servers.join_next().await {
            if let Ok(Err(e)) = result {
                warn!(error = %e, "listener ended with an error");
            }
        }
    })
    .await;
    if drained.is_err() {
        warn!("requests still running after {DRAIN_TIMEOUT:?}; exiting anyway");
    }
    if let Some(log) = audit_log {
        log.close();
    }
    info!("stopped");
    Ok(())
}

async fn bind(addr: SocketAddr, what: &'static str) -> Result<TcpListener, DaemonError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| DaemonError::Bind { addr, what, source })
}

/// Resolves when shutdown is signalled (or the sender is gone).
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Fetches every profile once at start, so the first client does not wait, and says how it went.
async fn prefetch(cache: Arc<CredentialCache>) {
    for (profile, result) in cache.prefetch_all().await {
        match result {
            Ok(served) => info!(
                profile = %profile,
                key = %crate::secret::mask_key_id(&served.credentials.access_key_id),
                expires = ?served.expiration().map(crate::clock::format_timestamp),
                "credentials ready"
            ),
            Err(e) => error!(profile = %profile, "no credentials yet: {e}"),
        }
    }
}

/// SIGHUP: the new config and profiles, or `None` (logged) when they cannot be used.
fn reload(current: &Config, env: &Env, cache: &CredentialCache) -> Option<Config> {
    let new = match Config::load(current.file.as_deref(), env) {
        Ok(new) => new,
        Err(e) => {
            error!("reload failed, still serving the previous configuration: {e}");
            return None;
        }
    };
    if new.imds != current.imds
        || new.ecs != current.ecs
        || new.audit != current.audit
        || new.aws != current.aws
    {
        warn!(
            "reload: changes to listeners, [aws] or [audit] take effect after a restart; profiles are reloaded now"
        );
    }
    // Listeners stay as they are, so the served set stays that of the running config.
    let serving = Config {
        aws: crate::config::AwsSettings {
            config_file: new.aws.config_file.clone(),
            credentials_file: new.aws.credentials_file.clone(),
            ..current.aws.clone()
        },
        ..current.clone()
    };
    match resolve_served(&serving, env) {
        Ok(chains) => {
            let summary = cache.set_profiles(chains);
            info!(
                unchanged = ?summary.unchanged,
                changed = ?summary.changed,
                added = ?summary.added,
                removed = ?summary.removed,
                "reloaded profiles"
            );
            Some(serving)
        }
        Err(e) => {
            error!("reload failed, still serving the previous profiles: {e}");
            None
        }
    }
}

/// Tries again the profiles that did not resolve, in case the files were fixed since.
fn retry_unresolved(config: &Config, env: &Env, cache: &CredentialCache) {
    if cache.status().iter().all(|s| s.resolve_error.is_none()) {
        return;
    }
    if let Ok(chains) = resolve_served(config, env) {
        let summary = cache.set_profiles(chains);
        if !summary.changed.is_empty() {
            info!(changed = ?summary.changed, "profiles re-resolved");
        }
    }
}

/// SIGTERM, SIGINT and SIGHUP.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> io::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}
