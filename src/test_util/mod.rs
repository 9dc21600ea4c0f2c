//! Test doubles and builders shared by the unit tests of every module: the secret markers
//! that leak checks search for, a recording audit sink, clocks and jitter for the cache, one
//! set of `[aws]` settings, profile chains, a fake STS ([`fake_sts`]) and a fake cache for the
//! servers ([`fake_cache`]).

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration as StdDuration;

use time::{Duration, OffsetDateTime};
use tokio::time::Instant;

use crate::audit::{AuditEvent, AuditSink};
use crate::clock::Clock;
use crate::config::{AwsSettings, CacheSettings, Config, DefaultPaths};
use crate::env::Env;
use crate::profile::{BaseCredentials, Location, ProfileChain, RoleHop};
use crate::random::Random;
use crate::secret::{Credentials, Secret};

pub(crate) mod fake_cache;
pub(crate) mod fake_sts;
pub(crate) mod http;
pub(crate) mod logs;

pub(crate) use fake_cache::*;
pub(crate) use fake_sts::*;

/// Every fake secret access key contains this; a leak check searches for it.
pub(crate) const SECRET_MARK: &str = "SECRETMARKERwJalrXUtnFEMIK7MDENG";
/// Every fake session token contains this.
pub(crate) const TOKEN_MARK: &str = "SESSIONTOKENMARKERIQoJb3JpZ2lu";

/// A new empty directory under the system temp dir, unique to this process and call.
pub(crate) fn temp_dir(name: &str) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("credvend-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}

/// Whether `text` shows a fake secret or token.
pub(crate) fn leaks(text: &str) -> bool {
    text.contains(SECRET_MARK) || text.contains(TOKEN_MARK)
}

/// Keeps every event.
#[derive(Debug, Default)]
pub(crate) struct RecordingAudit {
    pub(crate) events: Mutex<Vec<AuditEvent>>,
}

impl RecordingAudit {
    pub(crate) fn take(&self) -> Vec<AuditEvent> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
}

impl AuditSink for RecordingAudit {
    fn record(&self, event: AuditEvent) {
        self.events.lock().unwrap().push(event);
    }
}

/// Wall time that moves with tokio's (paused) clock, so both stay in step even when tokio
/// auto-advances; `jump` moves wall time alone (a skew correction, a suspended laptop).
#[derive(Debug)]
pub(crate) struct TokioClock {
    start: OffsetDateTime,
    origin: Instant,
    jumped_ms: AtomicI64,
}

impl TokioClock {
    pub(crate) fn new() -> Self {
        Self {
            start: time::macros::datetime!(2026-03-01 08:00 UTC),
            origin: Instant::now(),
            jumped_ms: AtomicI64::new(0),
        }
    }

    pub(crate) fn jump(&self, by: Duration) {
        let ms = i64::try_from(by.whole_milliseconds()).expect("small jump");
        self.jumped_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

impl Clock for TokioClock {
    fn now(&self) -> OffsetDateTime {
        let elapsed = Duration::try_from(self.origin.elapsed()).expect("elapsed fits");
        self.start + elapsed + Duration::milliseconds(self.jumped_ms.load(Ordering::Relaxed))
    }
}

/// Jitter draws from a fixed value.
#[derive(Debug)]
pub(crate) struct FixedRandom(pub(crate) f64);

impl Random for FixedRandom {
    fn fill(&self, buf: &mut [u8]) {
        buf.fill(0x5a);
    }

    fn unit(&self) -> f64 {
        self.0
    }
}

/// The built-in configuration, reading profile files that do not exist.
pub(crate) fn default_config() -> Config {
    let env = Env::from_pairs([("HOME", "/nonexistent")]);
    let paths = DefaultPaths {
        config_file: None,
        state_dir: Some("/nonexistent/state".into()),
    };
    Config::defaults(&paths, &env).expect("the built-in defaults are valid")
}

/// The built-in `[aws]` defaults, in eu-west-1.
pub(crate) fn aws_settings() -> AwsSettings {
    let mut aws = default_config().aws;
    aws.region = "eu-west-1".into();
    aws
}

/// The built-in `[server]` limits.
pub(crate) fn server_limits() -> crate::server::Limits {
    crate::server::Limits::from_settings(&default_config().server)
}

pub(crate) fn cache_settings() -> CacheSettings {
    CacheSettings {
        refresh_margin: StdDuration::from_secs(1800),
        refresh_jitter: StdDuration::from_secs(300),
        max_backoff: StdDuration::from_secs(60),
        max_read_wait: StdDuration::from_millis(1000),
    }
}

pub(crate) fn location() -> Location {
    Location {
        file: "/home/u/.aws/config".into(),
        line: 1,
    }
}

/// Long-term keys of the `base` profile; the secret starts with [`SECRET_MARK`].
pub(crate) fn long_term_keys() -> Credentials {
    Credentials {
        access_key_id: "AKIAFAKEBASE0001".into(),
        secret_access_key: Secret::new(format!("{SECRET_MARK}-long-term")),
        session_token: None,
        expiration: None,
    }
}

pub(crate) fn hop(profile: &str, role_arn: &str) -> RoleHop {
    RoleHop {
        profile: profile.into(),
        role_arn: role_arn.into(),
        role_session_name: None,
        external_id: None,
        duration_seconds: None,
        location: location(),
    }
}

/// `profile` with long-term keys in profile `base`, then `hops`.
pub(crate) fn chain(profile: &str, hops: Vec<RoleHop>) -> ProfileChain {
    ProfileChain {
        profile: profile.into(),
        base: BaseCredentials::Static {
            profile: "base".into(),
            credentials: long_term_keys(),
            location: location(),
        },
        hops,
        region: None,
        sts_regional_endpoints: None,
        endpoint_url: None,
        mfa: None,
    }
}

/// A one-hop chain assuming `arn:aws:iam::111122223333:role/<profile>`.
pub(crate) fn role_chain(profile: &str) -> ProfileChain {
    chain(
        profile,
        vec![hop(
            profile,
            &format!("arn:aws:iam::111122223333:role/{profile}"),
        )],
    )
}
