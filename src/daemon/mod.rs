//! The daemon. [`run`] wires the credential cache, its refresher and the servers onto sockets
//! the caller bound, serves until `shutdown`, applies reload requests, then drains. [`serve`]
//! is the edge `credvend serve` calls: the real STS client, clock and randomness, the
//! configured sockets, and signals as shutdown and reloads.
//!
//! - `listeners`: binding, and each listener's server built from its config.
//! - `signals`: SIGTERM/SIGINT -> shutdown, SIGHUP -> reload requests.
//! - `reload`: what a reload changes and what it keeps; its file reads run off the loop.
//! - `profiles`: which profiles are served, and what IMDS shows as the instance.
//! - `notify`: systemd readiness.

mod activation;
mod error;
mod listeners;
mod notify;
mod privilege;
mod profiles;
mod reload;
mod signals;

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::audit::{AuditLog, AuditSink, NoAudit};
use crate::cache::CredentialCache;
use crate::clock::{AwsClock, Clock, SystemClock, format_timestamp};
use crate::config::Config;
use crate::control::{self, ControlState, CountingAudit, MeteredSts, Metrics, ServedCounts};
use crate::env::Env;
use crate::random::{OsRandom, Random};
use crate::secret::mask_key_id;
use crate::server::Services;
use crate::sts::Sts;
use crate::sts::client::StsClient;

pub use activation::inherited_listeners;
pub use error::DaemonError;
pub use listeners::{Listeners, Ready};
pub(crate) use profiles::reads_own_listener;

/// What the daemon runs on: the real ones from [`serve`], fakes in tests.
#[derive(Clone, Debug)]
pub struct Deps {
    /// The process environment (`credential_source = Environment`, `NOTIFY_SOCKET`).
    pub env: Env,
    /// Wall-clock time, corrected for skew learnt from STS.
    pub clock: Arc<dyn Clock>,
    /// Randomness for tokens and jitter.
    pub random: Arc<dyn Random>,
    /// STS.
    pub sts: Arc<dyn Sts>,
}

/// What the running daemon reports, for whoever watches (tests; the log says the same).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Every listener serves.
    Ready(Ready),
    /// A reload request was handled: whether it took effect.
    Reloaded(bool),
}

/// Runs `credvend serve` until SIGTERM or SIGINT, on the sockets a supervisor `passed` (see
/// [`inherited_listeners`]) or, without any, on sockets it binds itself.
pub async fn serve(
    config: Config,
    env: Env,
    passed: Vec<std::net::TcpListener>,
) -> Result<(), DaemonError> {
    let listeners = Listeners::adopt_or_bind(&config, passed).await?;
    let (config, env) = become_run_as(config, env)?;
    let clock = Arc::new(AwsClock::new(Arc::new(SystemClock)));
    let random: Arc<dyn Random> = Arc::new(OsRandom);
    let sts = Arc::new(StsClient::new(&config.aws, clock.clone(), random.clone())?);
    let deps = Deps {
        env,
        clock,
        random,
        sts,
    };
    let (shutdown, reloads) = signals::install().map_err(DaemonError::Signals)?;
    let (events, _) = mpsc::unbounded_channel();
    run(config, deps, listeners, shutdown, reloads, events).await
}

/// With `run_as`, becomes that user (listeners are bound by now) and reads the config again
/// under the user's home, so `~` and the default state directory are the user's.
fn become_run_as(config: Config, env: Env) -> Result<(Config, Env), DaemonError> {
    let Some(user) = config.run_as.clone() else {
        if nix::unistd::geteuid().is_root() {
            warn!("serving as root: set run_as to the user whose ~/.aws credvend should read");
        }
        return Ok((config, env));
    };
    let dropped = privilege::drop_to(&user)?;
    let home = dropped.home.display().to_string();
    let env = env
        .with("HOME", home)
        .with("USER", dropped.name.clone())
        .with("LOGNAME", dropped.name.clone());
    let env = user_runtime_dir(env);
    let defaults = crate::config::DefaultPaths::under_home(&dropped.home);
    let config =
        Config::load_with(config.file.as_deref(), &defaults, &env).map_err(DaemonError::Config)?;
    info!(user = %dropped.name, "running as {} from now on", dropped.name);
    Ok((config, env))
}

/// After a drop, the runtime directory (where the control socket goes) is the user's own
/// `/run/user/UID`, where the user's shell looks, or none (an empty value is unset): root's
/// would be neither writable nor where `credvend status` looks.
fn user_runtime_dir(env: Env) -> Env {
    use std::os::unix::fs::MetadataExt;
    let uid = nix::unistd::getuid().as_raw();
    let dir = format!("/run/user/{uid}");
    let owned = std::fs::metadata(&dir).is_ok_and(|m| m.is_dir() && m.uid() == uid);
    let name = crate::config::ENV_XDG_RUNTIME_DIR;
    if owned {
        env.with(name, dir)
    } else {
        env.with(name, "")
    }
}

/// Serves `config` on `listeners` until `shutdown` resolves; each item of `reloads` reloads
/// the config and the profiles. Progress goes to `events` (a closed receiver is fine).
pub async fn run(
    config: Config,
    deps: Deps,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
    reloads: mpsc::Receiver<()>,
    events: mpsc::UnboundedSender<Event>,
) -> Result<(), DaemonError> {
    let audit_log = match &config.audit.path {
        Some(_) => Some(Arc::new(AuditLog::open(&config.audit)?)),
        None => None,
    };
    let audit: Arc<dyn AuditSink> = match &audit_log {
        Some(log) => log.clone(),
        None => Arc::new(NoAudit),
    };
    // Before anything serves: a second daemon stops here, naming the one that runs.
    let control = control::bind(&config).await?;
    // The control socket's counts come from decorators at the seams.
    let metrics = Arc::new(Metrics::default());
    let served = Arc::new(ServedCounts::default());
    let audit: Arc<dyn AuditSink> = Arc::new(CountingAudit::new(audit, served.clone()));
    let sts: Arc<dyn Sts> = Arc::new(MeteredSts::new(deps.sts.clone(), metrics.sts.clone()));
    let cache = Arc::new(CredentialCache::new(
        sts,
        config.aws.clone(),
        config.cache.clone(),
        deps.env.clone(),
        deps.clock.clone(),
        deps.random.clone(),
        audit.clone(),
    ));
    let chains = profiles::resolve_served_or_errors(&config, &deps.env);
    cache.set_profiles(chains.clone());
    profiles::warn_exposed_keys(&config, &deps.env);
    if !crate::identity::NAMES_LOCAL_CALLERS {
        warn!(
            "credvend cannot tell local users apart on this platform: every local user \
             who can reach a listener is served"
        );
    }
    let services = Services {
        credentials: cache.clone(),
        audit,
        clock: deps.clock.clone(),
        identify: Arc::new(crate::identity::Identify::new(
            config.docker.socket.as_deref(),
        )),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready, servers) = listeners.start(
        &config,
        &chains,
        &services,
        deps.random.as_ref(),
        &stop_rx,
        &metrics,
    )?;
    let views = control::listener_views(&config, &ready.imds, &ready.ecs, control.metrics_addr());
    let state = Arc::new(ControlState {
        cache: cache.clone(),
        served,
        metrics,
        audit: audit_log.clone(),
        clock: deps.clock.clone(),
        listeners: views,
    });
    let control = control.serve(state, || {
        let mut stop = stop_rx.clone();
        async move {
            let _ = stop.wait_for(|stop| *stop).await;
        }
    });
    if let Some(interval) = notify::watchdog_interval(&deps.env) {
        tokio::spawn(notify::watchdog(
            deps.env.clone(),
            interval,
            stop_rx.clone(),
        ));
    }
    tokio::spawn(cache.clone().run_refresher(stop_rx));
    tokio::spawn(prefetch(cache.clone()));
    notify::notify(&deps.env, &format!("READY=1\nSTATUS={}", ready.status()));
    info!(listening = %ready.status(), "credvend ready");
    let _ = events.send(Event::Ready(ready));

    // Reloads read the files off this loop, so shutdown is honoured while one is stuck.
    let files = reload::Disk(deps.env.clone());
    reload::Reloader::new(files, config, cache.clone(), deps.env.clone())
        .run(shutdown, reloads, |applied| {
            let _ = events.send(Event::Reloaded(applied));
        })
        .await;

    info!("stopping: draining in-flight requests");
    notify::notify(&deps.env, "STOPPING=1");
    let _ = stop_tx.send(true);
    servers.drain().await;
    control.finish().await;
    if let Some(log) = audit_log {
        log.close();
    }
    info!("stopped");
    Ok(())
}

/// Fetches every profile once at start, so the first client does not wait, and says how it went.
async fn prefetch(cache: Arc<CredentialCache>) {
    for (profile, result) in cache.prefetch_all().await {
        match result {
            Ok(served) => info!(
                profile = %profile,
                key = %mask_key_id(&served.credentials.access_key_id),
                expires = ?served.expiration().map(format_timestamp),
                "credentials ready"
            ),
            Err(e) => error!(profile = %profile, "no credentials yet: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    //! `run` in-process: real sockets on 127.0.0.1:0, the profiles in a temporary home, a
    //! fake STS behind the seam.

    use std::net::SocketAddr;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    use super::*;
    use crate::config::DefaultPaths;
    use crate::test_util::http::{BOUND, call, get, unread_bytes};
    use crate::test_util::{FakeSts, temp_dir};

    const ROLE: &str = "arn:aws:iam::111122223333:role/app";
    const CREDENTIALS_PATH: &str = "/latest/meta-data/iam/security-credentials/app";

    /// A running `run` and the handles a supervisor would have.
    struct Rig {
        dir: PathBuf,
        sts: Arc<FakeSts>,
        ready: Ready,
        shutdown: Option<oneshot::Sender<()>>,
        reloads: mpsc::Sender<()>,
        events: mpsc::UnboundedReceiver<Event>,
        task: JoinHandle<Result<(), DaemonError>>,
    }

    fn write_profiles(dir: &Path, session: &str) {
        let config = format!(
            "[profile app]\nrole_arn = {ROLE}\nsource_profile = base\nrole_session_name = {session}\n"
        );
        std::fs::write(dir.join("aws-config"), config).unwrap();
    }

    async fn start(prepare: impl FnOnce(&FakeSts)) -> Rig {
        let dir = temp_dir("daemon");
        write_profiles(&dir, "first");
        std::fs::write(
            dir.join("aws-credentials"),
            "[base]\naws_access_key_id = AKIAEXAMPLEBASE01\naws_secret_access_key = base-secret\n",
        )
        .unwrap();
        let path = |name: &str| dir.join(name).display().to_string();
        let toml = format!(
            "state_dir = {state:?}\n[aws]\nconfig_file = {config:?}\ncredentials_file = {creds:?}\n\
             region = \"eu-west-1\"\n[[imds]]\nlisten = \"127.0.0.1:0\"\nprofile = \"app\"\n\
             [ecs]\nlisten = \"127.0.0.1:0\"\nprofiles = [\"app\"]\n[audit]\nenabled = false\n\
             [cache]\nmax_read_wait_ms = 60000\n",
            state = path("state"),
            config = path("aws-config"),
            creds = path("aws-credentials"),
        );
        std::fs::write(dir.join("credvend.toml"), toml).unwrap();
        let env = Env::from_pairs([("HOME", dir.display().to_string())]);
        let config = Config::load_with(
            Some(&dir.join("credvend.toml")),
            &DefaultPaths::default(),
            &env,
        )
        .unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let sts = Arc::new(FakeSts::new(clock.clone()));
        prepare(&sts);
        let deps = Deps {
            env,
            clock,
            random: Arc::new(OsRandom),
            sts: sts.clone(),
        };
        let listeners = Listeners::bind(&config).await.unwrap();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let (reloads, reload_rx) = mpsc::channel(1);
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let stop = async move {
            let _ = stopped.await;
        };
        let task = tokio::spawn(run(config, deps, listeners, stop, reload_rx, events_tx));
        let ready = match tokio::time::timeout(BOUND, events.recv()).await {
            Ok(Some(Event::Ready(ready))) => ready,
            other => panic!("no readiness: {other:?}"),
        };
        Rig {
            dir,
            sts,
            ready,
            shutdown: Some(shutdown),
            reloads,
            events,
            task,
        }
    }

    impl Rig {
        fn imds(&self) -> SocketAddr {
            self.ready.imds[0]
        }

        /// The access key id IMDS serves now.
        async fn served_key(&self) -> String {
            let (status, _, body) = call(self.imds(), get(self.imds(), CREDENTIALS_PATH)).await;
            assert_eq!(status, 200, "{body}");
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            json["AccessKeyId"].as_str().unwrap().to_owned()
        }

        async fn reload(&mut self) -> bool {
            self.reloads.send(()).await.unwrap();
            match tokio::time::timeout(BOUND, self.events.recv()).await {
                Ok(Some(Event::Reloaded(applied))) => applied,
                other => panic!("no reload outcome: {other:?}"),
            }
        }

        /// Asks for shutdown and waits for `run` to return.
        async fn stop(&mut self) -> Result<(), DaemonError> {
            let _ = self.shutdown.take().unwrap().send(());
            tokio::time::timeout(BOUND, &mut self.task)
                .await
                .expect("run returns after shutdown")
                .unwrap()
        }
    }

    impl Drop for Rig {
        fn drop(&mut self) {
            self.task.abort();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[tokio::test]
    async fn run_serves_both_listeners_and_returns_after_shutdown() {
        let mut rig = start(|_| {}).await;
        let key = rig.served_key().await;
        assert!(key.starts_with("ASIAFAKE"), "{key}");
        let ecs = *rig.ready.ecs.first().expect("ecs listener");
        let token = std::fs::read_to_string(rig.dir.join("state/ecs-token")).unwrap();
        let mut req = get(ecs, "/role/app");
        req.headers_mut()
            .insert("authorization", token.parse().unwrap());
        let (status, _, body) = call(ecs, req).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(&key), "{body}");
        assert_eq!(rig.sts.count(&format!("AssumeRole:{ROLE}")), 1);

        rig.stop().await.unwrap();
        assert!(
            TcpStream::connect(rig.imds()).await.is_err(),
            "the listener is closed once run returned"
        );
    }

    #[tokio::test]
    async fn a_reload_renews_a_changed_profile_and_a_failed_one_keeps_serving() {
        let mut rig = start(|_| {}).await;
        let first = rig.served_key().await;

        write_profiles(&rig.dir, "second");
        assert!(rig.reload().await, "the reload took effect");
        let second = rig.served_key().await;
        assert_ne!(second, first, "the changed profile was minted again");
        let sessions: Vec<_> = rig
            .sts
            .calls()
            .into_iter()
            .filter_map(|c| c.session_name)
            .collect();
        assert_eq!(sessions, ["first", "second"]);

        std::fs::write(rig.dir.join("aws-config"), "[profile app\nnot ini\n").unwrap();
        assert!(!rig.reload().await, "a broken file is refused");
        assert_eq!(
            rig.served_key().await,
            second,
            "the old state keeps serving"
        );
        assert_eq!(rig.sts.calls().len(), 2, "no STS call for a failed reload");
        rig.stop().await.unwrap();
    }

    #[tokio::test]
    async fn shutdown_lets_a_request_in_flight_finish() {
        // STS stalls, so the first read waits on the fetch that start-up began (for up to the
        // rig's max_read_wait of a minute, far longer than this test holds STS).
        let mut rig = start(|sts| sts.hold()).await;
        let imds = rig.imds();
        let mut client = TcpStream::connect(imds).await.unwrap();
        let request = format!("GET {CREDENTIALS_PATH} HTTP/1.1\r\nHost: {imds}\r\n\r\n");
        client.write_all(request.as_bytes()).await.unwrap();
        let me = client.local_addr().unwrap();
        // In flight: the server has read the whole request (nothing left in its socket).
        tokio::time::timeout(BOUND, async {
            while unread_bytes(imds, me) != Some(0) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the server reads the request");

        let _ = rig.shutdown.take().unwrap().send(());
        // Draining: while the request waits on STS, `run` must not return. Nothing can make
        // it return here, so a short bound proves the absence without slowing the suite.
        let early = tokio::time::timeout(Duration::from_millis(200), &mut rig.task).await;
        assert!(early.is_err(), "run returned with a request in flight");
        rig.sts.release();
        let mut answer = String::new();
        tokio::time::timeout(BOUND, client.read_to_string(&mut answer))
            .await
            .expect("answered in time")
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
        assert!(answer.contains("ASIAFAKE"), "{answer}");
        tokio::time::timeout(BOUND, &mut rig.task)
            .await
            .expect("run returns after draining")
            .unwrap()
            .unwrap();
    }
}
