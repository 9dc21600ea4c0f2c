//! What a reload changes and what it keeps, and where it runs. SIGHUP re-reads credvend's
//! config and the `~/.aws` files and re-resolves the served profiles; the listeners, `[aws]`
//! and `[audit]` stay as they started (the log says so when they changed). A reload that fails
//! keeps the previous state serving; a profile that no longer resolves keeps its cached
//! credentials until they expire (see [`CredentialCache::set_profiles`]). Profiles that did not
//! resolve are tried again now and then, in case the files were fixed without a SIGHUP.
//!
//! Reading files can block (a network home directory that stopped answering), so it runs on a
//! thread of its own, one read at a time, and the result comes back to [`Reloader::run`], the
//! daemon's loop, which meanwhile keeps answering signals: SIGTERM never waits for a reload. A
//! read that overruns [`RELOAD_TIMEOUT`] is reported failed; its late result is dropped, and
//! reloads asked for meanwhile run once it has returned.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{error, info, warn};

use super::notify::notify;
use super::profiles::{resolve_served, warn_exposed_keys};
use crate::cache::CredentialCache;
use crate::causes::Causes;
use crate::config::{AwsSettings, Config, ConfigError};
use crate::env::Env;
use crate::profile::{ProfileChain, ProfileError};

/// How often profiles that failed to resolve are tried again.
pub(super) const RESOLVE_RETRY: Duration = Duration::from_secs(30);

/// How long reading the files may take before the reload is reported failed.
pub(super) const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The served profiles, resolved or with the reason they are not.
type Chains = BTreeMap<String, Result<ProfileChain, String>>;

/// The blocking part of a reload: reading files. The daemon reads the disk; tests stall it.
pub(super) trait Files: Send + Sync + 'static {
    /// credvend's config, read again from where `current` came from.
    fn load_config(&self, current: &Config) -> Result<Config, ConfigError>;
    /// The `~/.aws` files, resolved into the served profiles of `config`.
    fn resolve(&self, config: &Config) -> Result<Chains, ProfileError>;
    /// Warns about how the files of `config` keep the keys (after a reload that took effect).
    fn warn_about(&self, config: &Config);
}

/// The files on disk, under the daemon's environment.
#[derive(Debug)]
pub(super) struct Disk(pub(super) Env);

impl Files for Disk {
    fn load_config(&self, current: &Config) -> Result<Config, ConfigError> {
        Config::load(current.file.as_deref(), &self.0)
    }

    fn resolve(&self, config: &Config) -> Result<Chains, ProfileError> {
        resolve_served(config, &self.0)
    }

    fn warn_about(&self, config: &Config) {
        warn_exposed_keys(config, &self.0);
    }
}

/// What a read on the reload thread came back with; `None` when it failed (already logged).
#[derive(Debug)]
enum Read {
    /// For a SIGHUP: the config to serve from now on, and its profiles.
    Reload(Option<Box<(Config, Chains)>>),
    /// For the retry of unresolved profiles.
    Retry(Option<Chains>),
}

/// The read in flight.
#[derive(Debug)]
struct Job {
    done: oneshot::Receiver<Read>,
    /// Until it is reported overdue; `None` once it was.
    deadline: Option<Instant>,
    /// For a SIGHUP (reported), not a retry.
    reload: bool,
}

enum JobEvent {
    /// The read returned (`None`: its thread died).
    Done(Option<Read>),
    Overdue,
}

/// The daemon's loop around reloads: requests in, reads off the loop, results applied.
#[derive(Debug)]
pub(super) struct Reloader<F> {
    files: Arc<F>,
    config: Config,
    cache: Arc<CredentialCache>,
    env: Env,
    job: Option<Job>,
    /// A SIGHUP came while a read was running: reload again once it returns.
    again: bool,
    pub(super) timeout: Duration,
}

impl<F: Files> Reloader<F> {
    /// Reloads for the daemon serving `config` from `cache`; `env` has `NOTIFY_SOCKET`.
    pub(super) fn new(files: F, config: Config, cache: Arc<CredentialCache>, env: Env) -> Self {
        Self {
            files: Arc::new(files),
            config,
            cache,
            env,
            job: None,
            again: false,
            timeout: RELOAD_TIMEOUT,
        }
    }

    /// Handles reload `requests` until `shutdown` resolves; `reported` hears whether each
    /// reload took effect.
    pub(super) async fn run(
        mut self,
        shutdown: impl Future<Output = ()>,
        mut requests: mpsc::Receiver<()>,
        mut reported: impl FnMut(bool),
    ) {
        let mut retry = tokio::time::interval(RESOLVE_RETRY);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        retry.tick().await;
        tokio::pin!(shutdown);
        let mut open = true;
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                request = requests.recv(), if open => match request {
                    Some(()) => self.requested(&mut reported),
                    None => open = false,
                },
                event = job_event(&mut self.job) => self.job_event(event, &mut reported),
                _ = retry.tick() => self.retry(),
            }
        }
        if self.job.is_some() {
            warn!("stopping while files are still being read for a reload; not waiting for it");
        }
    }

    fn requested(&mut self, reported: &mut impl FnMut(bool)) {
        if self.job.is_some() {
            info!("reload requested while files are being read; it follows that read");
            self.again = true;
            return;
        }
        notify(&self.env, "RELOADING=1");
        let files = Arc::clone(&self.files);
        let current = self.config.clone();
        if !self.start(true, move || Read::Reload(read_reload(&*files, &current))) {
            notify(&self.env, "READY=1");
            reported(false);
        }
    }

    /// Tries again the profiles that did not resolve, in case the files were fixed since.
    fn retry(&mut self) {
        let unresolved = self
            .cache
            .status()
            .iter()
            .any(|s| s.resolve_error.is_some());
        if !unresolved || self.job.is_some() {
            return;
        }
        let files = Arc::clone(&self.files);
        let config = self.config.clone();
        self.start(false, move || Read::Retry(files.resolve(&config).ok()));
    }

    /// Runs `read` on a thread of its own; false if no thread could be started (logged).
    fn start(&mut self, reload: bool, read: impl FnOnce() -> Read + Send + 'static) -> bool {
        let (tx, done) = oneshot::channel();
        // Not spawn_blocking: the runtime waits for those as it shuts down, and a read that
        // hangs must not keep the daemon from exiting.
        let spawned = std::thread::Builder::new()
            .name("credvend-reload".into())
            .spawn(move || {
                let _ = tx.send(read());
            });
        match spawned {
            Ok(_) => {
                self.job = Some(Job {
                    done,
                    deadline: Some(Instant::now() + self.timeout),
                    reload,
                });
                true
            }
            Err(e) => {
                error!(
                    "cannot start a thread to read the files, still serving the previous state: {e}"
                );
                false
            }
        }
    }

    fn job_event(&mut self, event: JobEvent, reported: &mut impl FnMut(bool)) {
        match event {
            JobEvent::Overdue => {
                let Some(job) = &mut self.job else { return };
                job.deadline = None;
                error!(
                    "reading the files took longer than {:?}, still serving the previous state; \
                     is a file not answering?",
                    self.timeout
                );
                if job.reload {
                    notify(&self.env, "READY=1");
                    reported(false);
                }
                return;
            }
            JobEvent::Done(read) => {
                let Some(job) = self.job.take() else { return };
                match read {
                    // Already reported failed; applying it now would surprise more than help.
                    _ if job.deadline.is_none() => {
                        warn!("the overdue read of the files returned; its result is dropped");
                    }
                    Some(Read::Reload(read)) => {
                        let applied = read.is_some();
                        if let Some(read) = read {
                            self.apply(read.0, read.1);
                        }
                        notify(&self.env, "READY=1");
                        reported(applied);
                    }
                    Some(Read::Retry(Some(chains))) => {
                        let summary = self.cache.set_profiles(chains);
                        if !summary.changed.is_empty() {
                            info!(changed = ?summary.changed, "profiles re-resolved");
                        }
                    }
                    Some(Read::Retry(None)) => {}
                    None => {
                        error!(
                            "reading the files failed unexpectedly, still serving the previous state"
                        );
                        if job.reload {
                            notify(&self.env, "READY=1");
                            reported(false);
                        }
                    }
                }
            }
        }
        if std::mem::take(&mut self.again) {
            self.requested(reported);
        }
    }

    fn apply(&mut self, config: Config, chains: Chains) {
        let summary = self.cache.set_profiles(chains);
        info!(
            unchanged = ?summary.unchanged,
            changed = ?summary.changed,
            added = ?summary.added,
            removed = ?summary.removed,
            unresolved = ?summary.unresolved,
            "reloaded profiles"
        );
        self.config = config;
    }
}

/// What the read in flight did next; never resolves while none runs.
async fn job_event(job: &mut Option<Job>) -> JobEvent {
    let Some(job) = job else {
        return std::future::pending().await;
    };
    let overdue = async {
        match job.deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        read = &mut job.done => JobEvent::Done(read.ok()),
        () = overdue => JobEvent::Overdue,
    }
}

/// A SIGHUP's read, on the reload thread: the config to serve and its profiles.
fn read_reload(files: &impl Files, current: &Config) -> Option<Box<(Config, Chains)>> {
    let new = match files.load_config(current) {
        Ok(new) => new,
        Err(e) => {
            error!(
                "reload failed, still serving the previous configuration: {}",
                Causes(&e)
            );
            return None;
        }
    };
    if new.imds != current.imds
        || new.ecs != current.ecs
        || new.audit != current.audit
        || new.aws != current.aws
        || new.control != current.control
        || new.metrics != current.metrics
    {
        warn!(
            "reload: changes to listeners, [aws], [audit], [control] or [metrics] take effect after a restart; profiles are reloaded now"
        );
    }
    // Listeners stay as they are, so the served set stays that of the running config.
    let serving = Config {
        aws: AwsSettings {
            config_file: new.aws.config_file.clone(),
            credentials_file: new.aws.credentials_file.clone(),
            ..current.aws.clone()
        },
        ..current.clone()
    };
    match files.resolve(&serving) {
        Ok(chains) => {
            files.warn_about(&serving);
            Some(Box::new((serving, chains)))
        }
        Err(e) => {
            error!(
                "reload failed, still serving the previous profiles: {}",
                Causes(&e)
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    //! The loop with files whose reading stalls until the test lets it go: real time, real
    //! threads (tokio's paused clock would run ahead while a thread works).

    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
    use tokio::task::JoinHandle;

    use super::*;
    use crate::clock::Clock;
    use crate::config::DefaultPaths;
    use crate::test_util::http::BOUND;
    use crate::test_util::{
        FakeSts, FixedRandom, RecordingAudit, TokioClock, aws_settings, cache_settings,
    };

    /// Each read says it began (and whether the gate was open by then), then waits at the gate.
    struct Stalled {
        began: mpsc::UnboundedSender<bool>,
        gate: Mutex<std::sync::mpsc::Receiver<()>>,
        open: Arc<AtomicBool>,
    }

    impl Files for Stalled {
        fn load_config(&self, current: &Config) -> Result<Config, ConfigError> {
            let _ = self.began.send(self.open.load(Ordering::SeqCst));
            // Returns when the test drops the gate's sender.
            let _ = self.gate.lock().unwrap().recv();
            Ok(current.clone())
        }

        fn resolve(&self, _: &Config) -> Result<Chains, ProfileError> {
            Ok(Chains::new())
        }

        fn warn_about(&self, _: &Config) {}
    }

    struct Rig {
        began: UnboundedReceiver<bool>,
        gate: Option<std::sync::mpsc::Sender<()>>,
        open: Arc<AtomicBool>,
        requests: mpsc::Sender<()>,
        reported: UnboundedReceiver<bool>,
        shutdown: Option<oneshot::Sender<()>>,
        task: JoinHandle<()>,
    }

    fn start(timeout: Duration) -> Rig {
        let (began_tx, began) = unbounded_channel();
        let (gate, gate_rx) = std::sync::mpsc::channel();
        let open = Arc::new(AtomicBool::new(false));
        let files = Stalled {
            began: began_tx,
            gate: Mutex::new(gate_rx),
            open: open.clone(),
        };
        let env = Env::from_pairs([("HOME", "/nonexistent")]);
        let paths = DefaultPaths {
            config_file: None,
            state_dir: Some("/nonexistent/state".into()),
        };
        let config = Config::defaults(&paths, &env).unwrap();
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::new());
        let cache = Arc::new(CredentialCache::new(
            Arc::new(FakeSts::new(clock.clone())),
            aws_settings(),
            cache_settings(),
            env.clone(),
            clock,
            Arc::new(FixedRandom(0.5)),
            Arc::new(RecordingAudit::default()),
        ));
        let mut reloader = Reloader::new(files, config, cache, env);
        reloader.timeout = timeout;
        let (requests, requests_rx) = mpsc::channel(1);
        let (reported_tx, reported) = unbounded_channel();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let stop = async move {
            let _ = stopped.await;
        };
        let task = tokio::spawn(reloader.run(stop, requests_rx, move |applied| {
            let _ = reported_tx.send(applied);
        }));
        Rig {
            began,
            gate: Some(gate),
            open,
            requests,
            reported,
            shutdown: Some(shutdown),
            task,
        }
    }

    impl Rig {
        async fn began(&mut self) -> bool {
            let began = tokio::time::timeout(BOUND, self.began.recv()).await;
            began.expect("a read began in time").expect("files alive")
        }

        async fn reported(&mut self) -> bool {
            let reported = tokio::time::timeout(BOUND, self.reported.recv()).await;
            reported.expect("reported in time").expect("loop alive")
        }

        /// Sends a reload request and waits until the loop has taken it.
        async fn request(&self) {
            self.requests.send(()).await.unwrap();
            tokio::time::timeout(BOUND, async {
                while self.requests.capacity() == 0 {
                    tokio::task::yield_now().await;
                }
            })
            .await
            .expect("the loop takes the request");
        }

        fn release(&mut self) {
            self.open.store(true, Ordering::SeqCst);
            self.gate.take();
        }
    }

    impl Drop for Rig {
        fn drop(&mut self) {
            self.release();
            self.task.abort();
        }
    }

    #[tokio::test]
    async fn shutdown_returns_at_once_while_a_reload_is_stuck_reading_files() {
        let mut rig = start(RELOAD_TIMEOUT);
        rig.request().await;
        assert!(!rig.began().await);
        let _ = rig.shutdown.take().unwrap().send(());
        // Before reloads ran off the loop, this waited for the files forever.
        tokio::time::timeout(Duration::from_secs(2), &mut rig.task)
            .await
            .expect("the loop returns while the read is stuck")
            .unwrap();
    }

    #[tokio::test]
    async fn an_overdue_reload_is_reported_failed_and_the_next_waits_for_it() {
        let timeout = Duration::from_millis(200);
        let mut rig = start(timeout);
        let asked = Instant::now();
        rig.request().await;
        assert!(!rig.began().await);
        assert!(!rig.reported().await, "an overdue reload is a failed one");
        assert!(Instant::now() - asked >= timeout);
        // Asked for while the stuck read still runs: it starts only once that one returned.
        rig.request().await;
        rig.release();
        assert!(
            rig.began().await,
            "the second read began after the gate opened"
        );
        assert!(rig.reported().await, "the second reload took effect");
        assert!(rig.began.try_recv().is_err(), "two reads, no more");
    }
}
