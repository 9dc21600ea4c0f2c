//! [`CredentialCache`]: the profiles' slots, reads (single flight, bounded wait), reloads and
//! status. The background fetches and the refresher loop are in `refresher`.
//!
//! The servers read through [`CredentialProvider`], which waits at most `max_read_wait` for a
//! fetch in flight: a stalled STS turns into a quick 503 with Retry-After, not a client that
//! hangs (and retries) for the length of the STS timeouts.

use crate::mint::MfaSessions;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::entry::Entry;
use super::served::{CacheError, CredentialProvider, Served};
use super::status::{ProfileStatus, RefreshError};

use crate::audit::AuditSink;
use crate::clock::{Clock, format_timestamp};
use crate::config::{AwsSettings, CacheSettings};
use crate::env::Env;
use crate::profile::ProfileChain;
use crate::random::Random;
use crate::sts::{BoxFuture, Sts};

/// What a [`CredentialCache::set_profiles`] call changed, for the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reload {
    /// Profiles kept as they were (still served, no STS call).
    pub unchanged: Vec<String>,
    /// Profiles whose chain (or resolution error) changed: renewed.
    pub changed: Vec<String>,
    /// New profiles.
    pub added: Vec<String>,
    /// Profiles no longer served.
    pub removed: Vec<String>,
    /// Profiles the files no longer resolve: their cached credentials are served until they
    /// expire, and nothing is minted for them until they resolve again.
    pub unresolved: Vec<String>,
}

/// The per-profile credential cache. Cheap to clone (one shared state).
#[derive(Clone)]
pub struct CredentialCache {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) sts: Arc<dyn Sts>,
    pub(super) aws: AwsSettings,
    pub(super) settings: CacheSettings,
    pub(super) env: Env,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) random: Arc<dyn Random>,
    pub(super) audit: Arc<dyn AuditSink>,
    pub(super) entries: Mutex<BTreeMap<String, Arc<Entry>>>,
    /// The MFA sessions chains with `mfa_serial` are built on (`credvend mfa` fills them).
    pub(super) mfa: MfaSessions,
    /// Wakes the refresher when schedules change.
    pub(super) wake: Notify,
}

impl fmt::Debug for CredentialCache {
    // The environment may hold keys, so only the profile names are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialCache")
            .field("profiles", &self.profiles())
            .finish_non_exhaustive()
    }
}

impl CredentialCache {
    /// An empty cache; [`set_profiles`](Self::set_profiles) fills it. Every expiry decision
    /// uses `clock` (the STS-corrected [`AwsClock`](crate::clock::AwsClock) in production).
    #[must_use]
    pub fn new(
        sts: Arc<dyn Sts>,
        aws: AwsSettings,
        cache: CacheSettings,
        env: Env,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
        audit: Arc<dyn AuditSink>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                sts,
                aws,
                settings: cache,
                env,
                clock,
                random,
                audit,
                entries: Mutex::new(BTreeMap::new()),
                mfa: MfaSessions::default(),
                wake: Notify::new(),
            }),
        }
    }

    /// Replaces the set of served profiles. A profile whose chain (or resolution error) is
    /// unchanged keeps its credentials and schedule; a changed or new one starts cold and is
    /// fetched at once when a refresher runs; a removed one is dropped. An `Err` is kept so
    /// reads say why the profile has no credentials, except for a profile that still has
    /// valid credentials: it keeps serving them until they expire, like during an STS outage,
    /// and renews as before once the files give the same chain again.
    pub fn set_profiles(&self, profiles: BTreeMap<String, Result<ProfileChain, String>>) -> Reload {
        let mut reload = Reload::default();
        let now = self.inner.clock.now();
        let mut news = false;
        {
            let mut entries = self.inner.lock_entries();
            let mut next = BTreeMap::new();
            for (name, chain) in profiles {
                let old = entries.remove(&name);
                let same = old
                    .as_ref()
                    .is_some_and(|e| e.chain.as_ref().map(|c| &**c) == chain.as_ref());
                let entry = match (old, chain) {
                    (Some(old), _) if same => {
                        if old.mark_resolved() {
                            news = true;
                            tracing::info!(profile = %name, "profile resolves again; renewing as usual");
                        }
                        reload.unchanged.push(name.clone());
                        old
                    }
                    (Some(old), Err(error)) if old.chain.is_ok() && old.serves(now) => {
                        let (changed, until) = old.mark_unresolved(error.clone(), now);
                        if changed {
                            news = true;
                            let until = until.map_or_else(|| "-".into(), format_timestamp);
                            tracing::warn!(profile = %name, serving_until = %until,
                                "profile no longer resolves, serving its cached credentials until they expire: {error}");
                        }
                        reload.unresolved.push(name.clone());
                        old
                    }
                    (Some(_), chain) => {
                        log_unresolvable(&name, &chain);
                        reload.changed.push(name.clone());
                        Arc::new(Entry::new(name.clone(), chain))
                    }
                    (None, chain) => {
                        log_unresolvable(&name, &chain);
                        reload.added.push(name.clone());
                        Arc::new(Entry::new(name.clone(), chain))
                    }
                };
                next.insert(name, entry);
            }
            reload.removed = entries.keys().cloned().collect();
            *entries = next;
        }
        let quiet = !news
            && reload.changed.is_empty()
            && reload.added.is_empty()
            && reload.removed.is_empty();
        // The daemon re-resolves unresolved profiles every half minute: say so only on news.
        if quiet {
            tracing::debug!(unchanged = reload.unchanged.len(), unresolved = ?reload.unresolved,
                "credential profiles set, nothing changed");
        } else {
            tracing::info!(
                unchanged = reload.unchanged.len(),
                changed = ?reload.changed,
                added = ?reload.added,
                removed = ?reload.removed,
                unresolved = ?reload.unresolved,
                "credential profiles set"
            );
        }
        self.inner.wake.notify_one();
        reload
    }

    /// The served profile names.
    #[must_use]
    pub fn profiles(&self) -> Vec<String> {
        self.inner.lock_entries().keys().cloned().collect()
    }

    /// The current credentials of `profile`. Answers at once once the profile is warm; a cold
    /// read waits for the one shared fetch, however long it takes (the servers read through
    /// [`CredentialProvider`], which bounds the wait).
    pub async fn get(&self, profile: &str) -> Result<Arc<Served>, CacheError> {
        self.read(profile, None).await
    }

    /// Like [`get`](Self::get), but waits at most `limit` for a cold fetch
    /// ([`CacheError::Pending`] after that; the fetch goes on, and later reads get its result).
    pub async fn get_within(
        &self,
        profile: &str,
        limit: Duration,
    ) -> Result<Arc<Served>, CacheError> {
        self.read(profile, Some(limit)).await
    }

    async fn read(
        &self,
        profile: &str,
        limit: Option<Duration>,
    ) -> Result<Arc<Served>, CacheError> {
        let entry = self
            .inner
            .entry(profile)
            .ok_or_else(|| CacheError::UnknownProfile(profile.to_owned()))?;
        let decision = entry.read(self.inner.clock.now());
        if let Some(plan) = decision.start {
            self.inner.spawn_fetch(Arc::clone(&entry), plan);
        }
        let Some((attempt, mut done)) = decision.wait else {
            return decision.answer;
        };
        let finished = done.wait_for(|finished| *finished >= attempt);
        match limit {
            Some(limit) => match tokio::time::timeout(limit, finished).await {
                Ok(_) => {}
                Err(_) => return Err(CacheError::Pending(profile.to_owned())),
            },
            None => {
                let _ = finished.await;
            }
        }
        entry.answer(self.inner.clock.now())
    }

    /// Fetches every profile that has nothing valid yet, concurrently, and waits for all.
    pub async fn prefetch_all(&self) -> BTreeMap<String, Result<Arc<Served>, CacheError>> {
        let mut tasks = tokio::task::JoinSet::new();
        for name in self.profiles() {
            let cache = self.clone();
            tasks.spawn(async move {
                let result = cache.get(&name).await;
                (name, result)
            });
        }
        let mut results = BTreeMap::new();
        while let Some(joined) = tasks.join_next().await {
            if let Ok((name, result)) = joined {
                results.insert(name, result);
            }
        }
        results
    }

    /// Renews `profile` now, whatever its schedule (`credvend refresh`). Callers that ask
    /// while a fetch is in flight, this one's or the refresher's, share it: one STS call
    /// however many ask at once. The new credentials, or the failure with STS's code and
    /// request id; a failure leaves what was served serving.
    pub async fn refresh_now(&self, profile: &str) -> Result<Arc<Served>, RefreshError> {
        let entry = self
            .inner
            .entry(profile)
            .ok_or_else(|| RefreshError::UnknownProfile(profile.to_owned()))?;
        let (attempt, mut done, plan) =
            entry
                .force(self.inner.clock.now())
                .map_err(|reason| RefreshError::Unresolved {
                    profile: profile.to_owned(),
                    reason,
                })?;
        if let Some(plan) = plan {
            self.inner.spawn_fetch(Arc::clone(&entry), plan);
        }
        // The fetch is bounded by the STS client's own timeouts (and `fetch_bound`).
        let _ = done.wait_for(|finished| *finished >= attempt).await;
        entry
            .forced_outcome(self.inner.clock.now())
            .map_err(|error| RefreshError::Failed {
                profile: profile.to_owned(),
                error,
            })
    }

    /// Each profile's state, by name.
    #[must_use]
    pub fn status(&self) -> Vec<ProfileStatus> {
        let now = self.inner.clock.now();
        self.inner.entries().iter().map(|e| e.status(now)).collect()
    }

    /// Renews profiles ahead of expiry and retries failures until `shutdown` is true (or its
    /// sender is dropped). Spawn it once.
    pub async fn run_refresher(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        Arc::clone(&self.inner).run_refresher(shutdown).await;
    }
}

impl Inner {
    fn lock_entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Entry>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn entry(&self, profile: &str) -> Option<Arc<Entry>> {
        self.lock_entries().get(profile).cloned()
    }

    pub(super) fn entries(&self) -> Vec<Arc<Entry>> {
        self.lock_entries().values().cloned().collect()
    }
}

/// Says why a new or changed profile has no chain (an unchanged one was said before).
fn log_unresolvable(profile: &str, chain: &Result<ProfileChain, String>) {
    if let Err(e) = chain {
        tracing::error!(profile, "cannot resolve profile: {e}");
    }
}

impl CredentialProvider for CredentialCache {
    /// [`get_within`](CredentialCache::get_within) the configured `max_read_wait`.
    fn credentials<'a>(
        &'a self,
        profile: &'a str,
    ) -> BoxFuture<'a, Result<Arc<Served>, CacheError>> {
        Box::pin(self.get_within(profile, self.inner.settings.max_read_wait))
    }
}

#[cfg(test)]
mod tests {
    //! Behaviour of the credential cache under a fake STS and paused tokio time. The wall clock
    //! ([`TokioClock`]) follows tokio's paused clock, so sleeping in a test moves both.

    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration as StdDuration;

    use time::{Duration, OffsetDateTime};
    use tokio::sync::watch;
    use tokio::time::{Instant, sleep};

    use super::*;
    use crate::audit::AuditEvent;
    use crate::clock::Clock;
    use crate::config::CacheSettings;
    use crate::random::Random;
    use crate::secret::Secret;
    use crate::test_util::{
        FakeSts, FixedRandom, RecordingAudit, SECRET_MARK, TOKEN_MARK, TokioClock, aws_settings,
        cache_settings, chain, hop, role_chain, sts_error,
    };

    /// Jitter draws spread over `[0, 1)` by a fixed LCG: deterministic, not constant.
    #[derive(Debug)]
    struct SeqRandom(AtomicU64);

    impl Random for SeqRandom {
        fn fill(&self, buf: &mut [u8]) {
            buf.fill(0);
        }

        fn unit(&self) -> f64 {
            let x = self
                .0
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    struct Rig {
        cache: Arc<CredentialCache>,
        sts: Arc<FakeSts>,
        clock: Arc<TokioClock>,
        audit: Arc<RecordingAudit>,
        shutdown: watch::Sender<bool>,
    }

    fn rig_with(settings: CacheSettings, random: Arc<dyn Random>) -> Rig {
        let clock = Arc::new(TokioClock::new());
        let sts = Arc::new(FakeSts::new(clock.clone()));
        let audit = Arc::new(RecordingAudit::default());
        let cache = Arc::new(CredentialCache::new(
            sts.clone(),
            aws_settings(),
            settings,
            Env::default(),
            clock.clone(),
            random,
            audit.clone(),
        ));
        Rig {
            cache,
            sts,
            clock,
            audit,
            shutdown: watch::Sender::new(false),
        }
    }

    fn rig() -> Rig {
        rig_with(cache_settings(), Arc::new(FixedRandom(0.5)))
    }

    impl Rig {
        fn serve(&self, chains: Vec<ProfileChain>) {
            let set = chains
                .into_iter()
                .map(|c| (c.profile.clone(), Ok(c)))
                .collect();
            self.cache.set_profiles(set);
        }

        fn start_refresher(&self) {
            tokio::spawn(Arc::clone(&self.cache).run_refresher(self.shutdown.subscribe()));
        }

        fn now(&self) -> OffsetDateTime {
            self.clock.now()
        }
    }

    fn key(served: &Served) -> &str {
        &served.credentials.access_key_id
    }

    fn remaining(served: &Served, now: OffsetDateTime) -> Duration {
        served.expiration().expect("served credentials expire") - now
    }

    /// Sleeps in `step`s until `done` holds, at most `limit` (paused time: instant).
    async fn wait_until(step: StdDuration, limit: StdDuration, mut done: impl FnMut() -> bool) {
        let until = Instant::now() + limit;
        while !done() {
            assert!(Instant::now() < until, "condition not reached in {limit:?}");
            sleep(step).await;
        }
    }

    const ROLE_A: &str = "AssumeRole:arn:aws:iam::111122223333:role/a";

    #[tokio::test(start_paused = true)]
    async fn a_hundred_concurrent_cold_reads_make_one_sts_call_per_hop() {
        let r = rig();
        r.sts.set_latency(StdDuration::from_secs(2));
        let two_hops = chain(
            "two",
            vec![
                hop("a", "arn:aws:iam::1:role/a"),
                hop("two", "arn:aws:iam::2:role/two"),
            ],
        );
        r.serve(vec![two_hops]);
        let mut readers = tokio::task::JoinSet::new();
        for _ in 0..100 {
            let cache = Arc::clone(&r.cache);
            readers.spawn(async move { cache.get("two").await });
        }
        let results: Vec<_> = readers.join_all().await;
        let first = results[0].clone().unwrap();
        for result in &results {
            assert!(Arc::ptr_eq(result.as_ref().unwrap(), &first));
        }
        assert_eq!(r.sts.count("AssumeRole:arn:aws:iam::1:role/a"), 1);
        assert_eq!(r.sts.count("AssumeRole:arn:aws:iam::2:role/two"), 1);
        assert_eq!(r.sts.calls().len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hundred_concurrent_cold_reads_share_one_failure() {
        let r = rig();
        r.sts.set_latency(StdDuration::from_secs(2));
        r.sts
            .set_failing(Some(sts_error(403, "AccessDenied", "not authorized")));
        r.serve(vec![role_chain("a")]);
        let mut readers = tokio::task::JoinSet::new();
        for _ in 0..100 {
            let cache = Arc::clone(&r.cache);
            readers.spawn(async move { cache.get("a").await });
        }
        let results: Vec<_> = readers.join_all().await;
        let first = results[0].clone().unwrap_err();
        assert!(results.iter().all(|e| e.as_ref().unwrap_err() == &first));
        let text = first.to_string();
        assert!(
            text.starts_with("no valid credentials for profile \"a\": "),
            "{text}"
        );
        assert!(
            text.contains("AccessDenied") && text.contains("rid-AccessDenied"),
            "{text}"
        );
        assert_eq!(r.sts.count(ROLE_A), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_bounded_cold_read_gives_up_while_the_fetch_goes_on() {
        let r = rig();
        r.sts.set_latency(StdDuration::from_secs(10));
        r.serve(vec![role_chain("a")]);
        let err = r
            .cache
            .get_within("a", StdDuration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err, CacheError::Pending("a".into()));
        let served = r.cache.get("a").await.unwrap();
        assert!(served.credentials.is_session());
        assert_eq!(r.sts.count(ROLE_A), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_read_waits_at_most_max_read_wait_for_a_stalled_sts() {
        let mut settings = cache_settings();
        settings.max_read_wait = StdDuration::from_millis(250);
        let r = rig_with(settings, Arc::new(FixedRandom(0.5)));
        r.sts.hold();
        r.serve(vec![role_chain("a")]);
        let asked = Instant::now();
        let err = r.cache.credentials("a").await.unwrap_err();
        assert_eq!(err, CacheError::Pending("a".into()));
        assert_eq!(Instant::now() - asked, StdDuration::from_millis(250));
        // A second read joins the same fetch and gives up as soon.
        let err = r.cache.credentials("a").await.unwrap_err();
        assert_eq!(err, CacheError::Pending("a".into()));
        assert_eq!(Instant::now() - asked, StdDuration::from_millis(500));
        // The fetch went on in the background; once STS answers, reads get its result.
        r.sts.release();
        let served = r.cache.credentials("a").await.unwrap();
        assert!(served.credentials.is_session());
        assert_eq!(r.sts.count(ROLE_A), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn sts_answering_expired_credentials_backs_off_instead_of_looping() {
        let r = rig();
        // Each call takes 100 ms, so a refresh loop would make thousands of calls here.
        r.sts.set_latency(StdDuration::from_millis(100));
        r.sts.set_expires_in(Some(Duration::minutes(-1)));
        r.serve(vec![role_chain("a")]);
        r.start_refresher();
        sleep(StdDuration::from_secs(600)).await;
        // Backoff 2, 4, 8, 16, 32 s then 60 s, jittered by 0.75: about 18 calls.
        let calls = r.sts.count(ROLE_A);
        assert!(
            (10..=25).contains(&calls),
            "{calls} STS calls in 10 minutes"
        );
        let err = r.cache.get("a").await.unwrap_err().to_string();
        assert!(err.contains("already expired at"), "{err}");
        assert!(err.contains("not served"), "{err}");
        let status = &r.cache.status()[0];
        assert!(!status.serving);
        assert_eq!(status.consecutive_failures as usize, calls);

        r.sts.set_expires_in(None);
        sleep(StdDuration::from_secs(61)).await;
        assert!(r.cache.get("a").await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn credentials_too_short_lived_to_renew_are_refused_and_the_last_good_serves() {
        let r = rig();
        r.serve(vec![role_chain("a")]);
        r.start_refresher();
        let good = r.cache.get("a").await.unwrap();
        // From the next renewal on, sessions of 30 s: renewal would be due every 7.5 s.
        r.sts.set_expires_in(Some(Duration::seconds(30)));
        let expiry = good.expiration().unwrap();
        while r.now() < expiry - Duration::seconds(10) {
            sleep(StdDuration::from_secs(10)).await;
            let served = r.cache.get("a").await.unwrap();
            assert!(Arc::ptr_eq(&served, &good));
        }
        sleep(StdDuration::from_secs(20)).await;
        let err = r.cache.get("a").await.unwrap_err().to_string();
        assert!(err.contains("too soon to renew"), "{err}");
        // Renewal began about 32 min before expiry; 60 s backoff (45 s jittered) since.
        let calls = r.sts.count(ROLE_A);
        assert!((30..=60).contains(&calls), "{calls} STS calls");
    }

    #[tokio::test(start_paused = true)]
    async fn a_profile_that_no_longer_resolves_serves_its_cached_credentials_until_expiry() {
        let r = rig();
        r.serve(vec![role_chain("a"), role_chain("b")]);
        r.start_refresher();
        let before = r.cache.prefetch_all().await;
        let good = before["a"].clone().unwrap();
        let gone = "profile `a`: source_profile `base` not found (/home/u/.aws/config:1)";
        let mut set = BTreeMap::new();
        set.insert("a".to_owned(), Err(gone.to_owned()));
        set.insert("b".to_owned(), Ok(role_chain("b")));
        let reload = r.cache.set_profiles(set.clone());
        assert_eq!(reload.unresolved, ["a"]);
        assert_eq!(reload.unchanged, ["b"]);
        assert!(reload.changed.is_empty());
        let served = r.cache.get("a").await.unwrap();
        assert!(Arc::ptr_eq(&served, &good));
        let status = &r.cache.status()[0];
        assert_eq!(status.resolve_error.as_deref(), Some(gone));
        assert_eq!(status.consecutive_failures, 1);
        assert!(status.serving);
        // Retried like the daemon does every 30 s, the profile stays as it is.
        sleep(StdDuration::from_secs(30)).await;
        assert_eq!(r.cache.set_profiles(set.clone()).unresolved, ["a"]);
        assert_eq!(r.cache.status()[0].consecutive_failures, 2);

        // Past its expiry: never renewed from the chain the files no longer give.
        let expiry = good.expiration().unwrap();
        sleep(StdDuration::try_from(expiry - r.now()).unwrap()).await;
        let err = r.cache.get("a").await.unwrap_err().to_string();
        assert!(err.contains("source_profile `base` not found"), "{err}");
        assert_eq!(r.sts.count(ROLE_A), 1);
        assert!(r.sts.count("AssumeRole:arn:aws:iam::111122223333:role/b") >= 2);

        // Expired, it is an ordinary unresolved profile; fixed files make it fetch again.
        assert_eq!(r.cache.set_profiles(set).changed, ["a"]);
        r.serve(vec![role_chain("a"), role_chain("b")]);
        let back = r.cache.get("a").await.unwrap();
        assert_ne!(key(&back), key(&good));
    }

    #[tokio::test(start_paused = true)]
    async fn a_profile_that_resolves_again_to_the_same_chain_keeps_its_credentials() {
        let r = rig();
        r.serve(vec![role_chain("a")]);
        r.start_refresher();
        let good = r.cache.get("a").await.unwrap();
        let mut set = BTreeMap::new();
        set.insert("a".to_owned(), Err("credentials file gone".to_owned()));
        r.cache.set_profiles(set);
        sleep(StdDuration::from_secs(60)).await;
        let reload = r
            .cache
            .set_profiles([("a".to_owned(), Ok(role_chain("a")))].into());
        assert_eq!(reload.unchanged, ["a"]);
        let status = &r.cache.status()[0];
        assert_eq!(status.resolve_error, None);
        assert_eq!(status.consecutive_failures, 0);
        assert!(Arc::ptr_eq(&r.cache.get("a").await.unwrap(), &good));
        assert_eq!(r.sts.count(ROLE_A), 1, "no STS call for the same chain");
        // Renewal goes on as scheduled.
        sleep(StdDuration::from_secs(1800)).await;
        assert_eq!(r.sts.count(ROLE_A), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_and_unresolvable_profiles_say_why_without_calling_sts() {
        let r = rig();
        let mut set = BTreeMap::new();
        set.insert(
            "broken".to_owned(),
            Err(
                "profile \"broken\": source_profile \"x\" does not exist (~/.aws/config:4)"
                    .to_owned(),
            ),
        );
        r.cache.set_profiles(set);
        r.start_refresher();
        sleep(StdDuration::from_secs(5)).await;
        let err = r.cache.get("broken").await.unwrap_err().to_string();
        assert!(err.contains("source_profile \"x\" does not exist"), "{err}");
        assert_eq!(
            r.cache.get("nope").await.unwrap_err(),
            CacheError::UnknownProfile("nope".into())
        );
        assert!(r.sts.calls().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn renewal_starts_at_the_margin_less_the_jitter_never_later() {
        for unit in [0.0, 0.7] {
            let r = rig_with(cache_settings(), Arc::new(FixedRandom(unit)));
            r.serve(vec![role_chain("a")]);
            r.start_refresher();
            let first = r.cache.get("a").await.unwrap();
            wait_until(
                StdDuration::from_secs(1),
                StdDuration::from_secs(3600),
                || r.sts.count(ROLE_A) == 2,
            )
            .await;
            let calls = r.sts.calls();
            let gap = calls[1].at - calls[0].at;
            // 30 min margin of a 1 h session, then up to 300 s jitter earlier.
            let expected = 1800.0 - 300.0 * unit;
            assert!(
                (gap.as_secs_f64() - expected).abs() <= 1.0,
                "unit {unit}: renewed after {gap:?}"
            );
            assert!(first.expiration().unwrap() - r.now() >= Duration::minutes(29));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn served_credentials_keep_more_than_twenty_minutes_over_two_days() {
        let r = rig_with(cache_settings(), Arc::new(SeqRandom(AtomicU64::new(7))));
        r.sts.set_latency(StdDuration::from_secs(5));
        r.serve(vec![role_chain("a"), chain("keys", vec![])]);
        r.start_refresher();
        r.cache.prefetch_all().await;
        let mut keys = std::collections::BTreeSet::new();
        for _ in 0..(48 * 360) {
            sleep(StdDuration::from_secs(10)).await;
            for profile in ["a", "keys"] {
                let served = r.cache.get(profile).await.unwrap();
                let left = remaining(&served, r.now());
                assert!(
                    left > crate::cache::policy::MIN_SERVED_REMAINING,
                    "{profile}: {left}"
                );
                keys.insert(key(&served).to_owned());
            }
        }
        // Renewed about every 25-30 minutes: no storm, no stall.
        let renewals = r.sts.count(ROLE_A);
        assert!((96..=120).contains(&renewals), "{renewals} renewals");
        assert!(keys.len() > 150, "{} distinct keys", keys.len());
    }

    #[tokio::test(start_paused = true)]
    async fn reads_during_a_slow_renewal_answer_at_once_with_the_old_credentials() {
        let r = rig();
        r.serve(vec![role_chain("a")]);
        r.start_refresher();
        let old = r.cache.get("a").await.unwrap();
        r.sts.set_latency(StdDuration::from_secs(5));
        wait_until(
            StdDuration::from_secs(1),
            StdDuration::from_secs(3600),
            || r.sts.count(ROLE_A) == 2,
        )
        .await;
        let asked = Instant::now();
        let during = r.cache.get("a").await.unwrap();
        assert_eq!(Instant::now(), asked, "the read waited");
        assert!(Arc::ptr_eq(&during, &old));
        assert!(r.cache.status()[0].refreshing);
        sleep(StdDuration::from_secs(6)).await;
        let after = r.cache.get("a").await.unwrap();
        assert_ne!(key(&after), key(&old));
    }

    #[tokio::test(start_paused = true)]
    async fn sts_down_for_two_hours_serves_the_last_good_until_expiry_then_recovers() {
        let r = rig();
        r.serve(vec![role_chain("a")]);
        r.start_refresher();
        let good = r.cache.get("a").await.unwrap();
        let expiry = good.expiration().unwrap();
        r.sts
            .set_failing(Some(sts_error(503, "ServiceUnavailable", "try later")));
        let down_until = r.now() + Duration::hours(2);
        let (mut served_ok, mut refused) = (0, 0);
        while r.now() < down_until {
            sleep(StdDuration::from_secs(10)).await;
            match r.cache.get("a").await {
                Ok(s) => {
                    assert!(Arc::ptr_eq(&s, &good));
                    assert!(r.now() < expiry);
                    served_ok += 1;
                }
                Err(e) => {
                    assert!(r.now() >= expiry, "refused before expiry: {e}");
                    let text = e.to_string();
                    assert!(
                        text.starts_with("no valid credentials for profile \"a\""),
                        "{text}"
                    );
                    assert!(text.contains("ServiceUnavailable"), "{text}");
                    refused += 1;
                }
            }
        }
        assert!(
            served_ok > 300 && refused > 300,
            "{served_ok} ok, {refused} refused"
        );
        let status = &r.cache.status()[0];
        assert!(!status.serving);
        assert!(status.consecutive_failures > 50);
        let last = status.last_error.as_ref().unwrap();
        assert_eq!(last.code.as_deref(), Some("ServiceUnavailable"));
        assert_eq!(last.request_id.as_deref(), Some("rid-ServiceUnavailable"));
        // Backoff is capped at 60 s (jittered into 30-60 s): retried, but not hammered.
        let attempts = r.sts.count(ROLE_A);
        assert!((100..=250).contains(&attempts), "{attempts} attempts");

        r.sts.set_failing(None);
        sleep(StdDuration::from_secs(61)).await;
        let back = r.cache.get("a").await.unwrap();
        assert_ne!(key(&back), key(&good));
        assert!(remaining(&back, r.now()) > Duration::minutes(55));
        assert_eq!(r.cache.status()[0].consecutive_failures, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_backs_off_exponentially_up_to_the_cap() {
        let r = rig_with(cache_settings(), Arc::new(FixedRandom(0.999_999)));
        r.sts
            .set_failing(Some(sts_error(400, "Throttling", "Rate exceeded")));
        r.serve(vec![role_chain("a")]);
        r.start_refresher();
        sleep(StdDuration::from_secs(600)).await;
        let calls = r.sts.calls();
        let gaps: Vec<u64> = calls
            .windows(2)
            .map(|w| (w[1].at - w[0].at).as_secs_f64().round() as u64)
            .collect();
        assert_eq!(gaps[..9], [2, 4, 8, 16, 32, 60, 60, 60, 60], "{gaps:?}");
        assert!(gaps.iter().all(|g| *g <= 60));
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_retried_slowly() {
        let r = rig();
        r.sts
            .set_failing(Some(sts_error(403, "InvalidClientTokenId", "bad key")));
        r.serve(vec![role_chain("a")]);
        r.start_refresher();
        sleep(StdDuration::from_secs(3 * 3600 + 60)).await;
        let calls = r.sts.calls();
        // 10 min, jittered to 7.5 min with a draw of 0.5.
        assert_eq!(calls.len(), 1 + 180 * 2 / 15, "{} calls", calls.len());
        for w in calls.windows(2) {
            assert!(w[1].at - w[0].at >= StdDuration::from_secs(5 * 60));
        }
        // A fix (here: STS accepting again) is picked up at the next slow retry.
        r.sts.set_failing(None);
        sleep(StdDuration::from_secs(10 * 60)).await;
        assert!(r.cache.get("a").await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn no_read_ever_returns_expired_credentials_under_random_failures() {
        let r = rig_with(cache_settings(), Arc::new(SeqRandom(AtomicU64::new(3))));
        r.serve(vec![role_chain("a")]);
        r.start_refresher();
        let dice = SeqRandom(AtomicU64::new(99));
        let errors = [
            sts_error(400, "Throttling", "slow down"),
            sts_error(500, "InternalFailure", "boom"),
            sts_error(403, "AccessDenied", "nope"),
        ];
        let (mut ok, mut refused) = (0, 0);
        let mut outage_left = 0u32;
        for _ in 0..(24 * 120) {
            // Outages of up to 90 min start at random; each picks an error kind.
            if outage_left == 0 && dice.unit() < 0.01 {
                outage_left = (dice.unit() * 180.0) as u32 + 1;
                let pick = (dice.unit() * 3.0) as usize;
                r.sts.set_failing(Some(errors[pick].clone()));
            }
            outage_left = outage_left.saturating_sub(1);
            if outage_left == 0 {
                r.sts.set_failing(None);
            }
            r.sts
                .set_latency(StdDuration::from_millis((dice.unit() * 20_000.0) as u64));
            sleep(StdDuration::from_secs(30)).await;
            match r.cache.get_within("a", StdDuration::from_secs(1)).await {
                Ok(s) => {
                    assert!(
                        s.expiration().unwrap() > r.now(),
                        "served expired credentials"
                    );
                    ok += 1;
                }
                Err(_) => refused += 1,
            }
        }
        assert!(ok > 100 && refused > 10, "{ok} ok, {refused} refused");
    }

    #[tokio::test(start_paused = true)]
    async fn a_two_hop_chain_keeps_the_first_hop_and_renews_hops_in_order() {
        let r = rig_with(cache_settings(), Arc::new(SeqRandom(AtomicU64::new(1))));
        let mut first = hop("a", "arn:aws:iam::1:role/a");
        first.duration_seconds = Some(4 * 3600);
        let mut second = hop("b", "arn:aws:iam::2:role/b");
        second.duration_seconds = Some(4 * 3600);
        r.serve(vec![chain("b", vec![first, second])]);
        r.start_refresher();
        r.cache.get("b").await.unwrap();
        sleep(StdDuration::from_secs(12 * 3600)).await;
        let calls = r.sts.calls();
        let first_calls: Vec<_> = calls.iter().filter(|c| c.op.ends_with("role/a")).collect();
        let second_calls: Vec<_> = calls.iter().filter(|c| c.op.ends_with("role/b")).collect();
        assert!(
            first_calls
                .iter()
                .all(|c| c.duration_seconds == Some(4 * 3600))
        );
        assert!(
            second_calls
                .iter()
                .all(|c| c.duration_seconds == Some(3600))
        );
        // The 4 h first hop renews about every 2 h, the 1 h second hop about every 30 min.
        assert!(
            (5..=8).contains(&first_calls.len()),
            "{}",
            first_calls.len()
        );
        assert!(
            second_calls.len() >= 3 * first_calls.len(),
            "{}",
            second_calls.len()
        );
        // In order: every first-hop call is signed with the base keys and followed by a
        // second-hop call; each second-hop call is signed with the latest first-hop credentials.
        let first_keys: Vec<String> = r
            .audit
            .events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                AuditEvent::Issued {
                    role_arn,
                    access_key_id,
                    ..
                } if role_arn.as_deref() == Some("arn:aws:iam::1:role/a") => {
                    Some(access_key_id.clone())
                }
                _ => None,
            })
            .collect();
        let mut first_seen = 0;
        for (i, call) in calls.iter().enumerate() {
            if call.op.ends_with("role/a") {
                assert_eq!(call.signed_with, "AKIAFAKEBASE0001");
                assert!(calls[i + 1].op.ends_with("role/b"));
                first_seen += 1;
            } else {
                assert_eq!(call.signed_with, first_keys[first_seen - 1]);
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn every_mint_is_audited_per_hop_without_secrets() {
        let r = rig();
        r.serve(vec![chain(
            "b",
            vec![
                hop("a", "arn:aws:iam::1:role/a"),
                hop("b", "arn:aws:iam::2:role/b"),
            ],
        )]);
        let served = r.cache.get("b").await.unwrap();
        let events = r.audit.events.lock().unwrap().clone();
        assert_eq!(events.len(), 2);
        match &events[1] {
            AuditEvent::Issued {
                profile,
                role_arn,
                session_name,
                access_key_id,
                expiration,
                request_id,
                source_identity,
            } => {
                assert_eq!(profile, "b");
                assert_eq!(source_identity, &None);
                assert_eq!(role_arn.as_deref(), Some("arn:aws:iam::2:role/b"));
                assert!(session_name.as_deref().unwrap().starts_with("credvend-"));
                assert_eq!(access_key_id, key(&served));
                assert_eq!(Some(*expiration), served.expiration());
                assert!(request_id.is_some());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(served.account_id.as_deref(), Some("2"));
        let shown = format!("{events:?}");
        assert!(
            !shown.contains(SECRET_MARK) && !shown.contains(TOKEN_MARK),
            "{shown}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn reload_keeps_unchanged_renews_changed_and_drops_removed_profiles() {
        let r = rig();
        r.serve(vec![role_chain("a"), role_chain("b"), role_chain("c")]);
        r.start_refresher();
        let before = r.cache.prefetch_all().await;
        assert_eq!(r.sts.calls().len(), 3);
        let mut changed_b = role_chain("b");
        changed_b.hops[0].role_arn = "arn:aws:iam::111122223333:role/b2".into();
        let mut set = BTreeMap::new();
        for c in [role_chain("a"), changed_b, role_chain("d")] {
            set.insert(c.profile.clone(), Ok(c));
        }
        let reload = r.cache.set_profiles(set);
        assert_eq!(reload.unchanged, ["a"]);
        assert_eq!(reload.changed, ["b"]);
        assert_eq!(reload.added, ["d"]);
        assert_eq!(reload.removed, ["c"]);
        sleep(StdDuration::from_secs(1)).await;
        assert_eq!(r.sts.count(ROLE_A), 1);
        assert_eq!(
            r.sts.count("AssumeRole:arn:aws:iam::111122223333:role/b2"),
            1
        );
        assert_eq!(
            r.sts.count("AssumeRole:arn:aws:iam::111122223333:role/d"),
            1
        );
        let a = r.cache.get("a").await.unwrap();
        assert!(Arc::ptr_eq(&a, before["a"].as_ref().unwrap()));
        let b = r.cache.get("b").await.unwrap();
        assert_eq!(
            b.role_arn.as_deref(),
            Some("arn:aws:iam::111122223333:role/b2")
        );
        assert_eq!(
            r.cache.get("c").await.unwrap_err(),
            CacheError::UnknownProfile("c".into())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn session_keys_without_expiry_are_refused_with_a_clear_message() {
        let r = rig();
        let mut c = chain("static", vec![]);
        if let crate::profile::BaseCredentials::Static { credentials, .. } = &mut c.base {
            credentials.session_token = Some(Secret::new(format!("{TOKEN_MARK}-static")));
        }
        r.serve(vec![c]);
        let err = r.cache.get("static").await.unwrap_err().to_string();
        assert!(err.contains("session keys with no known expiry"), "{err}");
        assert!(r.sts.calls().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_wall_clock_jump_past_expiry_is_never_served_and_triggers_renewal() {
        let r = rig();
        r.serve(vec![role_chain("a")]);
        r.start_refresher();
        let old = r.cache.get("a").await.unwrap();
        // Wall time jumps (a suspended laptop, a skew correction); tokio's clock does not.
        r.clock.jump(Duration::hours(2));
        match r.cache.get("a").await {
            Ok(s) => assert!(s.expiration().unwrap() > r.now()),
            Err(e) => assert!(e.to_string().contains("expired"), "{e}"),
        }
        sleep(StdDuration::from_secs(1)).await;
        let new = r.cache.get("a").await.unwrap();
        assert_ne!(key(&new), key(&old));
        assert!(remaining(&new, r.now()) > Duration::minutes(55));
    }

    #[tokio::test(start_paused = true)]
    async fn status_describes_each_profile_without_secrets() {
        let r = rig();
        r.serve(vec![role_chain("a")]);
        r.start_refresher();
        let served = r.cache.get("a").await.unwrap();
        r.sts
            .fail_next(sts_error(400, "Throttling", "Rate exceeded"));
        wait_until(
            StdDuration::from_secs(1),
            StdDuration::from_secs(3600),
            || r.cache.status()[0].consecutive_failures == 1,
        )
        .await;
        let status = r.cache.status().remove(0);
        assert_eq!(status.profile, "a");
        assert!(status.serving);
        assert_eq!(status.expiration, served.expiration());
        assert_eq!(status.last_refresh, Some(served.issued_at));
        assert!(status.next_refresh.unwrap() > r.now());
        assert_eq!(
            status.access_key_id.as_deref(),
            Some(crate::secret::mask_key_id(key(&served)).as_str())
        );
        assert_eq!(
            status.last_error.as_ref().unwrap().code.as_deref(),
            Some("Throttling")
        );
        let shown = format!("{status:?} {:?} {:?}", r.cache, served);
        assert!(
            !shown.contains(SECRET_MARK) && !shown.contains(TOKEN_MARK),
            "{shown}"
        );
        assert!(!shown.contains(key(&served)), "{shown}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_refresher_stops_on_shutdown() {
        let r = rig();
        r.serve(vec![role_chain("a")]);
        let task = tokio::spawn(Arc::clone(&r.cache).run_refresher(r.shutdown.subscribe()));
        sleep(StdDuration::from_secs(1)).await;
        assert_eq!(r.sts.count(ROLE_A), 1);
        r.shutdown.send_replace(true);
        task.await.unwrap();
        sleep(StdDuration::from_secs(3 * 3600)).await;
        assert_eq!(r.sts.count(ROLE_A), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn refresh_now_renews_at_once_and_concurrent_asks_share_one_sts_call() {
        let r = rig();
        r.serve(vec![role_chain("a")]);
        let first = r.cache.get("a").await.unwrap();
        assert_eq!(r.sts.count(ROLE_A), 1);
        r.sts.set_latency(StdDuration::from_secs(2));
        let mut askers = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let cache = Arc::clone(&r.cache);
            askers.spawn(async move { cache.refresh_now("a").await });
        }
        let renewed: Vec<_> = askers.join_all().await;
        assert_eq!(r.sts.count(ROLE_A), 2, "ten asks, one more STS call");
        let new = renewed[0].clone().unwrap();
        assert_ne!(key(&new), key(&first));
        assert!(
            renewed
                .iter()
                .all(|n| Arc::ptr_eq(n.as_ref().unwrap(), &new))
        );
        assert!(Arc::ptr_eq(&r.cache.get("a").await.unwrap(), &new));
    }

    #[tokio::test(start_paused = true)]
    async fn refresh_now_reports_the_sts_failure_and_keeps_serving_the_last_good() {
        let r = rig();
        r.serve(vec![role_chain("a")]);
        let good = r.cache.get("a").await.unwrap();
        r.sts
            .set_failing(Some(sts_error(403, "AccessDenied", "not authorized")));
        let Err(RefreshError::Failed { profile, error }) = r.cache.refresh_now("a").await else {
            panic!("the refresh should fail");
        };
        assert_eq!(profile, "a");
        assert_eq!(error.code.as_deref(), Some("AccessDenied"));
        assert_eq!(error.request_id.as_deref(), Some("rid-AccessDenied"));
        assert!(Arc::ptr_eq(&r.cache.get("a").await.unwrap(), &good));
        assert_eq!(
            r.cache.refresh_now("nope").await.unwrap_err(),
            RefreshError::UnknownProfile("nope".into())
        );
        let mut set = BTreeMap::new();
        set.insert("b".to_owned(), Err("no such profile (config:3)".to_owned()));
        r.cache.set_profiles(set);
        let err = r.cache.refresh_now("b").await.unwrap_err().to_string();
        assert!(
            err.contains("does not resolve: no such profile (config:3)"),
            "{err}"
        );
    }
}
