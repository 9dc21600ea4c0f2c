//! The per-profile credential cache: what the servers read.
//!
//! Reads never wait on STS once a profile is warm; a background refresher renews ahead of
//! expiry; STS failures keep the last good credentials serving until they really expire.
//!
//! - [`mint`]: a chain of base credentials and role hops -> session credentials (also `check`).
//! - `entry`: one profile's slot (served credentials, kept hops, single flight, failures).
//! - `policy`: refresh margin, jitter and retry backoff.
//! - `refresher`: fetch tasks and the background loop.

mod entry;
pub mod mint;
pub mod policy;
mod refresher;
#[cfg(test)]
pub(crate) mod test_util;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{Notify, watch};

use entry::Entry;
pub use entry::{ErrorInfo, ProfileStatus};

use crate::audit::AuditSink;
use crate::clock::Clock;
use crate::config::{AwsSettings, CacheSettings};
use crate::env::Env;
use crate::profile::ProfileChain;
use crate::random::Random;
use crate::secret::Credentials;
use crate::sts::{BoxFuture, Sts};

/// Credentials as served to clients, with what the servers and the audit log need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    /// The profile these belong to.
    pub profile: String,
    /// Session credentials (with token and expiration).
    pub credentials: Credentials,
    /// When STS minted them (IMDS `LastUpdated`).
    pub issued_at: OffsetDateTime,
    /// The role of the last hop (`arn:aws:iam::…:role/…`), if the chain assumes one.
    pub role_arn: Option<String>,
    /// The account the credentials belong to, when known.
    pub account_id: Option<String>,
}

impl Served {
    /// When the credentials expire. Session credentials always have an expiration.
    #[must_use]
    pub fn expiration(&self) -> Option<OffsetDateTime> {
        self.credentials.expiration
    }
}

/// Why a read got no credentials.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// The profile is not one the cache serves.
    #[error("profile {0:?} is not served")]
    UnknownProfile(String),
    /// Nothing valid to serve: never fetched, or expired; carries the last error, redacted.
    #[error("no valid credentials for profile {profile:?}: {last_error}")]
    NoValidCredentials {
        /// The profile.
        profile: String,
        /// The last failure, as text with no secret in it.
        last_error: String,
    },
    /// The caller's wait bound ran out before the first fetch finished.
    #[error("credentials for profile {0:?} are still being fetched")]
    Pending(String),
}

/// What the servers need from the cache; the real cache implements it and tests fake it.
pub trait CredentialProvider: Send + Sync + std::fmt::Debug {
    /// The current credentials for `profile`, fetching them first if the profile is cold.
    fn credentials<'a>(
        &'a self,
        profile: &'a str,
    ) -> BoxFuture<'a, Result<Arc<Served>, CacheError>>;
}

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
}

/// The per-profile credential cache. Cheap to clone (one shared state).
#[derive(Clone)]
pub struct CredentialCache {
    inner: Arc<Inner>,
}

struct Inner {
    sts: Arc<dyn Sts>,
    aws: AwsSettings,
    settings: CacheSettings,
    env: Env,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    audit: Arc<dyn AuditSink>,
    entries: Mutex<BTreeMap<String, Arc<Entry>>>,
    /// Wakes the refresher when schedules change.
    wake: Notify,
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
                wake: Notify::new(),
            }),
        }
    }

    /// Replaces the set of served profiles. A profile whose chain (or resolution error) is
    /// unchanged keeps its credentials and schedule; a changed or new one starts cold and is
    /// fetched at once when a refresher runs; a removed one is dropped. An `Err` is kept so
    /// reads say why the profile has no credentials.
    pub fn set_profiles(&self, profiles: BTreeMap<String, Result<ProfileChain, String>>) -> Reload {
        let mut reload = Reload::default();
        {
            let mut entries = self.inner.lock_entries();
            let mut next = BTreeMap::new();
            for (name, chain) in profiles {
                let old = entries.remove(&name);
                let same = old
                    .as_ref()
                    .is_some_and(|e| e.chain.as_ref().map(|c| &**c) == chain.as_ref());
                let entry = match old {
                    Some(old) if same => {
                        reload.unchanged.push(name.clone());
                        old
                    }
                    Some(_) => {
                        reload.changed.push(name.clone());
                        Arc::new(Entry::new(name.clone(), chain))
                    }
                    None => {
                        reload.added.push(name.clone());
                        Arc::new(Entry::new(name.clone(), chain))
                    }
                };
                next.insert(name, entry);
            }
            reload.removed = entries.keys().cloned().collect();
            *entries = next;
        }
        tracing::info!(
            unchanged = reload.unchanged.len(),
            changed = ?reload.changed,
            added = ?reload.added,
            removed = ?reload.removed,
            "credential profiles set"
        );
        self.inner.wake.notify_one();
        reload
    }

    /// The served profile names.
    #[must_use]
    pub fn profiles(&self) -> Vec<String> {
        self.inner.lock_entries().keys().cloned().collect()
    }

    /// The current credentials of `profile`. Answers at once once the profile is warm; a cold
    /// read waits for the one shared fetch.
    pub async fn get(&self, profile: &str) -> Result<Arc<Served>, CacheError> {
        self.read(profile, None).await
    }

    /// Like [`get`](Self::get), but waits at most `limit` for a cold fetch
    /// ([`CacheError::Pending`] after that; the fetch goes on).
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

    fn entry(&self, profile: &str) -> Option<Arc<Entry>> {
        self.lock_entries().get(profile).cloned()
    }

    fn entries(&self) -> Vec<Arc<Entry>> {
        self.lock_entries().values().cloned().collect()
    }
}

impl CredentialProvider for CredentialCache {
    fn credentials<'a>(
        &'a self,
        profile: &'a str,
    ) -> BoxFuture<'a, Result<Arc<Served>, CacheError>> {
        Box::pin(self.get(profile))
    }
}

#[cfg(test)]
mod tests;
