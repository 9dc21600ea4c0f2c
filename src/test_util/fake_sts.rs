//! A scripted STS behind the [`Sts`] seam: it counts and records calls, answers after an
//! optional latency, and fails on request.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration as StdDuration;

use time::Duration;
use tokio::time::Instant;

use super::{SECRET_MARK, TOKEN_MARK};
use crate::clock::Clock;
use crate::secret::{Credentials, Secret};
use crate::sts::{
    AssumeRoleParams, AssumedRole, BoxFuture, CallerIdentity, Endpoint, GetSessionTokenParams,
    SessionToken, Sts, StsError, StsErrorKind,
};

/// One call the fake saw.
#[derive(Clone, Debug)]
pub(crate) struct Call {
    /// `AssumeRole:<role arn>`, `GetSessionToken`, or `GetSessionToken:<serial>:<code>` for
    /// one with an MFA code.
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
    /// When set, issued credentials expire this long after the answer (negative: expired).
    expires_in: Option<Duration>,
}

/// A fake STS: counts calls, answers after a scripted latency, fails as scripted. Issued
/// credentials expire `DurationSeconds` after the clock's now.
#[derive(Debug)]
pub(crate) struct FakeSts {
    clock: std::sync::Arc<dyn Clock>,
    script: Mutex<Script>,
    calls: Mutex<Vec<Call>>,
    serial: AtomicU64,
    /// While false, answers wait (a stalled STS the test releases).
    open: tokio::sync::watch::Sender<bool>,
}

impl FakeSts {
    pub(crate) fn new(clock: std::sync::Arc<dyn Clock>) -> Self {
        Self {
            clock,
            script: Mutex::new(Script::default()),
            calls: Mutex::new(Vec::new()),
            serial: AtomicU64::new(0),
            open: tokio::sync::watch::Sender::new(true),
        }
    }

    /// Calls from now on wait for [`release`](Self::release) before they answer.
    pub(crate) fn hold(&self) {
        self.open.send_replace(false);
    }

    /// Lets held and later calls answer.
    pub(crate) fn release(&self) {
        self.open.send_replace(true);
    }

    /// Waits until the gate is open (at once when it is).
    fn gate(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut open = self.open.subscribe();
        async move {
            let _ = open.wait_for(|open| *open).await;
        }
    }

    pub(crate) fn set_latency(&self, latency: StdDuration) {
        self.script.lock().unwrap().latency = latency;
    }

    /// Issued credentials expire `after` the answer instead of after `DurationSeconds`
    /// (negative: already expired), until `set_expires_in(None)`: a broken STS or clock.
    pub(crate) fn set_expires_in(&self, after: Option<Duration>) {
        self.script.lock().unwrap().expires_in = after;
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
        let lifetime = script
            .expires_in
            .unwrap_or_else(|| Duration::seconds(i64::from(duration.unwrap_or(3600))));
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
        let gate = self.gate();
        Box::pin(async move {
            gate.await;
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
        let op = match (&params.serial_number, &params.token_code) {
            (Some(serial), Some(code)) => format!("GetSessionToken:{serial}:{}", code.expose()),
            _ => "GetSessionToken".into(),
        };
        let (latency, result) = self.answer(op, credentials, params.duration_seconds, None, None);
        let gate = self.gate();
        Box::pin(async move {
            gate.await;
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
