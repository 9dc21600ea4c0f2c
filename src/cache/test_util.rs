//! Test doubles for the cache: a scripted fake STS, a wall clock that follows tokio's paused
//! time, a fixed jitter source, a recording audit sink, and chain builders.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration as StdDuration;

use time::{Duration, OffsetDateTime};
use tokio::time::Instant;

use crate::audit::{AuditEvent, AuditSink};
use crate::clock::Clock;
use crate::config::{AwsSettings, CacheSettings};
use crate::profile::{BaseCredentials, Location, ProfileChain, RoleHop};
use crate::random::Random;
use crate::secret::{Credentials, Secret};
use crate::sts::{
    AssumeRoleParams, AssumedRole, BoxFuture, CallerIdentity, Endpoint, GetSessionTokenParams,
    SessionToken, Sts, StsError, StsErrorKind,
};

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

/// Keeps every audit event.
#[derive(Debug, Default)]
pub(crate) struct RecordingAudit(pub(crate) Mutex<Vec<AuditEvent>>);

impl AuditSink for RecordingAudit {
    fn record(&self, event: AuditEvent) {
        self.0.lock().unwrap().push(event);
    }
}

/// One call the fake saw.
#[derive(Clone, Debug)]
pub(crate) struct Call {
    /// `AssumeRole:<role arn>` or `GetSessionToken`.
    pub(crate) op: String,
    /// The key id the call was signed with.
    pub(crate) signed_with: String,
    pub(crate) duration_seconds: Option<u32>,
    pub(crate) session_name: Option<String>,
    pub(crate) external_id: Option<String>,
    /// Tokio time when the call arrived.
    pub(crate) at: Instant,
}

/// What the fake answers: scripted errors first, then the standing failure, else success.
#[derive(Debug, Default)]
struct Script {
    /// `None`: succeed.
    queued: VecDeque<Option<StsError>>,
    failing: Option<StsError>,
    latency: StdDuration,
}

/// A fake STS: counts calls, answers after a scripted latency, fails as scripted. Issued
/// credentials expire `DurationSeconds` after the clock's now.
#[derive(Debug)]
pub(crate) struct FakeSts {
    clock: std::sync::Arc<dyn Clock>,
    script: Mutex<Script>,
    calls: Mutex<Vec<Call>>,
    serial: AtomicU64,
}

/// Secret material the fake hands out starts with this, so leak checks can look for it.
pub(crate) const SECRET_MARK: &str = "FAKESECRET";
/// Session tokens the fake hands out start with this.
pub(crate) const TOKEN_MARK: &str = "FAKETOKEN";

impl FakeSts {
    pub(crate) fn new(clock: std::sync::Arc<dyn Clock>) -> Self {
        Self {
            clock,
            script: Mutex::new(Script::default()),
            calls: Mutex::new(Vec::new()),
            serial: AtomicU64::new(0),
        }
    }

    pub(crate) fn set_latency(&self, latency: StdDuration) {
        self.script.lock().unwrap().latency = latency;
    }

    /// Every call fails with `error` until `set_failing(None)`.
    pub(crate) fn set_failing(&self, error: Option<StsError>) {
        self.script.lock().unwrap().failing = error;
    }

    /// The next call fails with `error` (queued in order).
    pub(crate) fn fail_next(&self, error: StsError) {
        self.script.lock().unwrap().queued.push_back(Some(error));
    }

    /// The next call succeeds (even while `set_failing` is on).
    pub(crate) fn succeed_next(&self) {
        self.script.lock().unwrap().queued.push_back(None);
    }

    pub(crate) fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub(crate) fn count(&self, op: &str) -> usize {
        self.calls().iter().filter(|c| c.op == op).count()
    }

    fn answer(
        &self,
        op: String,
        credentials: &Credentials,
        duration: Option<u32>,
        session_name: Option<String>,
        external_id: Option<String>,
    ) -> (StdDuration, Result<Credentials, StsError>) {
        self.calls.lock().unwrap().push(Call {
            op,
            signed_with: credentials.access_key_id.clone(),
            duration_seconds: duration,
            session_name,
            external_id,
            at: Instant::now(),
        });
        let mut script = self.script.lock().unwrap();
        let latency = script.latency;
        let scripted = script.queued.pop_front();
        if let Some(e) = scripted.unwrap_or_else(|| script.failing.clone()) {
            return (latency, Err(e));
        }
        let n = self.serial.fetch_add(1, Ordering::Relaxed) + 1;
        // The expiry counts from when the answer is sent, as with real STS.
        let lifetime = Duration::seconds(i64::from(duration.unwrap_or(3600)));
        let expiration = self.clock.now() + lifetime + Duration::try_from(latency).unwrap();
        (
            latency,
            Ok(Credentials {
                access_key_id: format!("ASIAFAKE{n:012}"),
                secret_access_key: Secret::new(format!("{SECRET_MARK}{n}")),
                session_token: Some(Secret::new(format!("{TOKEN_MARK}{n}"))),
                expiration: Some(expiration),
            }),
        )
    }
}

impl Sts for FakeSts {
    fn assume_role<'a>(
        &'a self,
        _endpoint: &'a Endpoint,
        credentials: &'a Credentials,
        params: &'a AssumeRoleParams,
    ) -> BoxFuture<'a, Result<AssumedRole, StsError>> {
        let (latency, result) = self.answer(
            format!("AssumeRole:{}", params.role_arn),
            credentials,
            params.duration_seconds,
            Some(params.role_session_name.clone()),
            params.external_id.clone(),
        );
        let role = params
            .role_arn
            .rsplit('/')
            .next()
            .unwrap_or("role")
            .to_owned();
        let account = crate::sts::account_of_arn(&params.role_arn)
            .unwrap_or("000000000000")
            .to_owned();
        let session = params.role_session_name.clone();
        Box::pin(async move {
            tokio::time::sleep(latency).await;
            let credentials = result?;
            Ok(AssumedRole {
                assumed_role_arn: format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
                assumed_role_id: format!("AROAFAKE:{session}"),
                request_id: Some(format!("req-{}", credentials.access_key_id)),
                credentials,
            })
        })
    }

    fn get_session_token<'a>(
        &'a self,
        _endpoint: &'a Endpoint,
        credentials: &'a Credentials,
        params: &'a GetSessionTokenParams,
    ) -> BoxFuture<'a, Result<SessionToken, StsError>> {
        let (latency, result) = self.answer(
            "GetSessionToken".into(),
            credentials,
            params.duration_seconds,
            None,
            None,
        );
        Box::pin(async move {
            tokio::time::sleep(latency).await;
            let credentials = result?;
            Ok(SessionToken {
                request_id: Some(format!("req-{}", credentials.access_key_id)),
                credentials,
            })
        })
    }

    fn get_caller_identity<'a>(
        &'a self,
        _endpoint: &'a Endpoint,
        _credentials: &'a Credentials,
    ) -> BoxFuture<'a, Result<CallerIdentity, StsError>> {
        Box::pin(async { Err(sts_error(400, "NotFaked", "not used by the cache")) })
    }
}

/// An STS service error with a request id.
pub(crate) fn sts_error(status: u16, code: &str, message: &str) -> StsError {
    StsError::new(StsErrorKind::Service {
        status,
        code: code.into(),
        message: message.into(),
        request_id: Some(format!("rid-{code}")),
    })
}

pub(crate) fn aws_settings() -> AwsSettings {
    AwsSettings {
        config_file: "/nonexistent/config".into(),
        credentials_file: "/nonexistent/credentials".into(),
        region: "eu-west-1".into(),
        sts_endpoint: None,
        env_sts_endpoint: None,
        ca_file: None,
        connect_timeout: StdDuration::from_secs(3),
        timeout: StdDuration::from_secs(10),
        max_attempts: 3,
        duration_seconds: 3600,
        role_session_name: "credvend".into(),
        default_profile: "default".into(),
    }
}

pub(crate) fn cache_settings() -> CacheSettings {
    CacheSettings {
        refresh_margin: StdDuration::from_secs(1800),
        refresh_jitter: StdDuration::from_secs(300),
        max_backoff: StdDuration::from_secs(60),
    }
}

fn location() -> Location {
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
        mfa_serial: None,
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
