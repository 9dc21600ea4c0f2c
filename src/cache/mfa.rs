//! `credvend mfa PROFILE CODE`: a code becomes the MFA session of the profile's device, and
//! every served profile built on that device is renewed from it at once.
//!
//! The code is tried exactly once: a wrong one is STS's error, returned to whoever gave it,
//! and nothing retries it (STS would lock the device out after a few).

use std::sync::Arc;

use time::OffsetDateTime;

use super::Served;
use super::status::{ErrorInfo, RefreshError};
use super::store::CredentialCache;
use crate::audit::AuditEvent;
use crate::causes::Causes;
use crate::mint::{self, session_for_code};
use crate::profile::BaseCredentials;
use crate::secret::Secret;

/// What a code did.
#[derive(Debug)]
pub struct MfaOutcome {
    /// The device.
    pub serial: String,
    /// When its new session ends (the next code is asked for ahead of it).
    pub expiration: Option<OffsetDateTime>,
    /// Every served profile on the device, renewed from the new session.
    pub renewed: Vec<(String, Result<Arc<Served>, RefreshError>)>,
}

/// Why a code did not become a session.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// No served profile has that name.
    #[error("credvend serves no profile {0:?}")]
    UnknownProfile(String),
    /// The profile does not resolve, or has no `mfa_serial`.
    #[error("profile {profile:?} {why}")]
    NoDevice {
        /// The profile.
        profile: String,
        /// Why.
        why: String,
    },
    /// STS refused the code (or failed): its code, message and request id.
    #[error("GetSessionToken for profile {profile:?} with the MFA code failed")]
    Refused {
        /// The profile.
        profile: String,
        /// STS's answer.
        error: ErrorInfo,
    },
}

impl CredentialCache {
    /// Trades `code` for the MFA session of `profile`'s device, then renews every served
    /// profile that device serves.
    pub async fn submit_mfa(&self, profile: &str, code: Secret) -> Result<MfaOutcome, MfaError> {
        let inner = &self.inner;
        let entry = inner
            .entry(profile)
            .ok_or_else(|| MfaError::UnknownProfile(profile.to_owned()))?;
        let no_device = |why: &str| MfaError::NoDevice {
            profile: profile.to_owned(),
            why: why.to_owned(),
        };
        let chain = entry.chain.as_ref().map_err(|e| no_device(e))?;
        let device = chain
            .mfa
            .as_ref()
            .ok_or_else(|| no_device("has no mfa_serial"))?;
        let BaseCredentials::Static { credentials, .. } = &chain.base else {
            return Err(no_device("does not start from long-term keys"));
        };
        let refused = |error: &crate::sts::StsError| MfaError::Refused {
            profile: profile.to_owned(),
            error: ErrorInfo {
                code: error.code().map(str::to_owned),
                message: Causes(error).to_string(),
                request_id: error.request_id().map(str::to_owned),
                at: inner.clock.now(),
            },
        };
        let endpoint = mint::endpoint(chain, &inner.aws).map_err(|e| refused(&e))?;
        let seconds = inner.aws.mfa.session_seconds;
        let (session, request_id) = session_for_code(
            &*inner.sts,
            &endpoint,
            credentials,
            &device.serial,
            code,
            seconds,
        )
        .await
        .map_err(|e| refused(&e))?;
        let expiration = session.expiration;
        tracing::info!(
            profile,
            mfa_serial = %device.serial,
            expiration = %expiration.map(crate::clock::format_timestamp).unwrap_or_default(),
            "MFA session started (credvend mfa)"
        );
        if let Some(expiration) = expiration {
            inner.audit.record(AuditEvent::Issued {
                profile: profile.to_owned(),
                role_arn: None,
                session_name: None,
                access_key_id: session.access_key_id.clone(),
                expiration,
                request_id,
                source_identity: None,
            });
        }
        inner.mfa.put(&device.serial, session);
        let sharing: Vec<String> = inner
            .entries()
            .iter()
            .filter(|e| {
                e.chain
                    .as_ref()
                    .is_ok_and(|c| c.mfa.as_ref().is_some_and(|m| m.serial == device.serial))
            })
            .map(|e| e.name.clone())
            .collect();
        let mut renewed = Vec::new();
        for name in sharing {
            let result = self.refresh_now(&name).await;
            renewed.push((name, result));
        }
        Ok(MfaOutcome {
            serial: device.serial.clone(),
            expiration,
            renewed,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration as StdDuration;

    use tokio::sync::watch;
    use tokio::time::{Instant, sleep};

    use super::*;
    use crate::clock::Clock;
    use crate::env::Env;
    use crate::profile::{MfaDevice, ProfileChain};
    use crate::test_util::logs::CapturedLogs;
    use crate::test_util::{
        FakeSts, FixedRandom, RecordingAudit, TokioClock, aws_settings, cache_settings, chain, hop,
        location, sts_error,
    };

    const SERIAL: &str = "arn:aws:iam::111122223333:mfa/me";
    const BASE_KEY: &str = "AKIAFAKEBASE0001";

    fn on_device(profile: &str) -> ProfileChain {
        let mut c = chain(
            profile,
            vec![hop(profile, &format!("arn:aws:iam::1:role/{profile}"))],
        );
        c.mfa = Some(MfaDevice {
            serial: SERIAL.into(),
            profile: profile.into(),
            location: location(),
        });
        c
    }

    fn rig() -> (Arc<CredentialCache>, Arc<FakeSts>, Arc<TokioClock>) {
        let clock = Arc::new(TokioClock::new());
        let sts = Arc::new(FakeSts::new(clock.clone()));
        let cache = Arc::new(CredentialCache::new(
            sts.clone(),
            aws_settings(),
            cache_settings(),
            Env::default(),
            clock.clone(),
            Arc::new(FixedRandom(0.5)),
            Arc::new(RecordingAudit::default()),
        ));
        let set = ["dev", "ops"]
            .map(|p| (p.to_owned(), Ok(on_device(p))))
            .into_iter()
            .chain([("plain".to_owned(), Ok(chain("plain", vec![])))])
            .collect();
        cache.set_profiles(set);
        (cache, sts, clock)
    }

    /// Bounded (paused time: instant) wait for `done`.
    async fn wait_until(limit: StdDuration, mut done: impl FnMut() -> bool) {
        let until = Instant::now() + limit;
        while !done() {
            assert!(Instant::now() < until, "not reached in {limit:?}");
            sleep(StdDuration::from_millis(100)).await;
        }
    }

    fn mfa_calls(sts: &FakeSts) -> usize {
        sts.calls()
            .iter()
            .filter(|c| c.op.starts_with("GetSessionToken:"))
            .count()
    }

    #[tokio::test(start_paused = true)]
    async fn reads_wait_for_a_code_then_every_profile_on_the_device_is_built_on_its_session() {
        let (logs, _guard) = CapturedLogs::install(tracing::Level::WARN);
        let (cache, sts, _) = rig();
        let (_stop, stopped) = watch::channel(false);
        tokio::spawn(Arc::clone(&cache).run_refresher(stopped));
        let e = cache.get("dev").await.unwrap_err().to_string();
        assert!(e.contains("run `credvend mfa dev`"), "{e}");
        // No code, no STS call for the device's profiles; the plain one is served as usual.
        assert!(cache.get("plain").await.is_ok());
        assert!(sts.calls().iter().all(|c| !c.op.starts_with("AssumeRole")));
        assert!(
            logs.text().contains("profile dev needs an MFA code now"),
            "{}",
            logs.text()
        );

        let outcome = cache
            .submit_mfa("dev", Secret::new("123456"))
            .await
            .unwrap();
        assert_eq!(outcome.serial, SERIAL);
        let calls = sts.calls();
        let code = calls
            .iter()
            .find(|c| c.op.starts_with("GetSessionToken:"))
            .unwrap();
        assert_eq!(code.op, format!("GetSessionToken:{SERIAL}:123456"));
        assert_eq!(code.signed_with, BASE_KEY);
        assert_eq!(code.duration_seconds, Some(43_200));
        // Both profiles on the device were renewed, each signed with the MFA session.
        let mut renewed: Vec<_> = outcome
            .renewed
            .iter()
            .map(|(p, r)| (p.as_str(), r.is_ok()))
            .collect();
        renewed.sort_unstable();
        assert_eq!(renewed, [("dev", true), ("ops", true)]);
        for role in ["dev", "ops"] {
            let op = format!("AssumeRole:arn:aws:iam::1:role/{role}");
            let hop = calls
                .iter()
                .find(|c| c.op == op)
                .expect("a hop per profile");
            assert!(hop.signed_with.starts_with("ASIAFAKE"), "{hop:?}");
        }
        assert!(cache.get("dev").await.is_ok() && cache.get("ops").await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_wrong_code_is_reported_with_stss_message_and_nothing_retries_it() {
        let (cache, sts, _) = rig();
        let (_stop, stopped) = watch::channel(false);
        tokio::spawn(Arc::clone(&cache).run_refresher(stopped));
        sts.fail_next(sts_error(
            403,
            "AccessDenied",
            "MultiFactorAuthentication failed with invalid MFA one time pass code.",
        ));
        let e = cache
            .submit_mfa("ops", Secret::new("000000"))
            .await
            .unwrap_err();
        let MfaError::Refused { error, .. } = &e else {
            panic!("{e}");
        };
        assert_eq!(error.code.as_deref(), Some("AccessDenied"));
        assert!(
            error.message.contains("invalid MFA one time pass code"),
            "{}",
            error.message
        );
        // An hour later the code has been tried exactly once and the profile still waits.
        sleep(StdDuration::from_secs(3600)).await;
        assert_eq!(mfa_calls(&sts), 1);
        assert!(cache.get("ops").await.is_err());
        let unknown = cache
            .submit_mfa("nope", Secret::new("1"))
            .await
            .unwrap_err();
        assert!(matches!(unknown, MfaError::UnknownProfile(_)), "{unknown}");
        let plain = cache
            .submit_mfa("plain", Secret::new("1"))
            .await
            .unwrap_err();
        assert!(plain.to_string().contains("has no mfa_serial"), "{plain}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_next_code_is_asked_for_before_the_session_ends_and_roles_renew_without_one() {
        let (logs, _guard) = CapturedLogs::install(tracing::Level::WARN);
        let (cache, sts, clock) = rig();
        let (_stop, stopped) = watch::channel(false);
        tokio::spawn(Arc::clone(&cache).run_refresher(stopped));
        let started = clock.now();
        let outcome = cache
            .submit_mfa("dev", Secret::new("123456"))
            .await
            .unwrap();
        let end = outcome.expiration.unwrap();
        assert_eq!(end - started, time::Duration::hours(12));
        let hops = |sts: &FakeSts| sts.count("AssumeRole:arn:aws:iam::1:role/dev");
        let first = hops(&sts);
        // Hourly role sessions renew from the MFA session, with no code, for hours.
        sleep(StdDuration::from_secs(6 * 3600)).await;
        assert!(hops(&sts) >= first + 5, "{} renewals", hops(&sts) - first);
        assert_eq!(mfa_calls(&sts), 1);
        assert!(!logs.text().contains("needs an MFA code soon"));
        // Inside the last quarter of an hour: asked once, and the session still serves.
        wait_until(StdDuration::from_secs(7 * 3600), || {
            logs.text().contains("profile dev needs an MFA code soon")
        })
        .await;
        assert!(clock.now() > end - time::Duration::minutes(15));
        assert_eq!(
            logs.text()
                .matches("profile dev needs an MFA code soon")
                .count(),
            1
        );
        assert!(cache.get("dev").await.is_ok());
        assert_eq!(mfa_calls(&sts), 1, "codes come only from credvend mfa");
    }
}
