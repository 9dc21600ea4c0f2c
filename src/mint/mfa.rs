//! MFA sessions: what a code buys. A chain with `mfa_serial` is built on an MFA session
//! (GetSessionToken with `SerialNumber` and `TokenCode`, signed with the base keys) instead of
//! on the keys themselves; its roles are renewed from that session without further codes
//! until it nears its end.
//!
//! Codes come only from `credvend mfa` (or `credvend check` on a terminal): the daemon never
//! waits for one on a request. Profiles sharing an `mfa_serial` share its session. When a
//! session is missing, or within `renew_before` of its end, the device is "asked for": the
//! first time, the ask is logged (and a desktop notification raised where one can be), once
//! per session, never in a loop.

use std::collections::HashMap;
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

use crate::env::Env;
use crate::secret::{Credentials, Secret};
use crate::sts::{Endpoint, GetSessionTokenParams, Sts, StsError};

/// The MFA sessions of one daemon, by device.
#[derive(Debug, Default)]
pub struct MfaSessions {
    devices: Mutex<HashMap<String, Device>>,
}

#[derive(Debug, Default)]
struct Device {
    session: Option<Credentials>,
    /// The ask for a code has been made for the current (or missing) session.
    asked: bool,
}

/// What a chain finds for its device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A session to build on; `ask` when a code should be asked for now (it nears its end).
    Session {
        /// The MFA session.
        credentials: Credentials,
        /// The ask is due (the first lookup inside `renew_before`).
        ask: bool,
    },
    /// No usable session; `ask` on the first such lookup.
    NeedsCode {
        /// The ask is due.
        ask: bool,
    },
}

impl MfaSessions {
    /// The session of `serial` at `now`; one with less than `renew_before` left is still used
    /// (the ask for the next code goes out), an expired one is not.
    pub fn lookup(&self, serial: &str, now: OffsetDateTime, renew_before: Duration) -> Lookup {
        let mut devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        let device = devices.entry(serial.to_owned()).or_default();
        let expiration = device.session.as_ref().and_then(|s| s.expiration);
        let ask = |device: &mut Device| !std::mem::replace(&mut device.asked, true);
        match (device.session.clone(), expiration) {
            (Some(credentials), Some(end)) if end > now => {
                let ask = end - now < renew_before && ask(device);
                Lookup::Session { credentials, ask }
            }
            _ => {
                device.session = None;
                Lookup::NeedsCode { ask: ask(device) }
            }
        }
    }

    /// Keeps `session` for `serial` (a code was just used); the next ask is for its successor.
    pub fn put(&self, serial: &str, session: Credentials) {
        let mut devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        let device = devices.entry(serial.to_owned()).or_default();
        device.session = Some(session);
        device.asked = false;
    }

    /// When the session of `serial` ends, if there is one.
    #[must_use]
    pub fn expiration(&self, serial: &str) -> Option<OffsetDateTime> {
        let devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        devices.get(serial)?.session.as_ref()?.expiration
    }
}

/// Says that `profile` needs a code for `serial` (`soon`: its session nears its end; else it
/// has none): one log line, and a desktop notification where `notify-send` (Linux) or
/// `osascript` (macOS) is on `env`'s PATH. Called once per ask, never in a loop.
pub(super) fn ask_for_code(profile: &str, serial: &str, soon: bool, env: &Env) {
    let when = if soon { "soon" } else { "now" };
    let message =
        format!("profile {profile} needs an MFA code {when}: run `credvend mfa {profile}`");
    tracing::warn!(profile, mfa_serial = serial, "{message}");
    super::notify::desktop(env, &message);
}

/// Trades `code` for an MFA session of `serial`, signed with `keys`, lasting `seconds`.
pub async fn session_for_code(
    sts: &dyn Sts,
    endpoint: &Endpoint,
    keys: &Credentials,
    serial: &str,
    code: Secret,
    seconds: u32,
) -> Result<(Credentials, Option<String>), StsError> {
    let params = GetSessionTokenParams {
        duration_seconds: Some(seconds),
        serial_number: Some(serial.to_owned()),
        token_code: Some(code),
    };
    let token = sts.get_session_token(endpoint, keys, &params).await?;
    Ok((token.credentials, token.request_id))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-03-01 08:00 UTC);
    const RENEW: Duration = Duration::minutes(15);

    fn session(ends: OffsetDateTime) -> Credentials {
        Credentials {
            access_key_id: "ASIAMFA".into(),
            secret_access_key: Secret::new("secret"),
            session_token: Some(Secret::new("token")),
            expiration: Some(ends),
        }
    }

    #[test]
    fn a_missing_session_asks_once() {
        let s = MfaSessions::default();
        assert_eq!(s.lookup("dev", NOW, RENEW), Lookup::NeedsCode { ask: true });
        assert_eq!(
            s.lookup("dev", NOW, RENEW),
            Lookup::NeedsCode { ask: false }
        );
        assert_eq!(s.expiration("dev"), None);
    }

    #[test]
    fn a_session_serves_until_its_end_and_asks_once_before_it() {
        let s = MfaSessions::default();
        let end = NOW + Duration::hours(12);
        s.put("dev", session(end));
        let at = |t| s.lookup("dev", t, RENEW);
        assert!(matches!(at(NOW), Lookup::Session { ask: false, .. }));
        let near = end - Duration::minutes(10);
        assert!(matches!(at(near), Lookup::Session { ask: true, .. }));
        assert!(matches!(at(near), Lookup::Session { ask: false, .. }));
        // Ended: no session, and the ask was made already.
        assert_eq!(at(end), Lookup::NeedsCode { ask: false });
        // A new code: a new session and a new ask before its end.
        s.put("dev", session(end + Duration::hours(12)));
        assert!(matches!(at(end), Lookup::Session { ask: false, .. }));
        assert_eq!(s.expiration("dev"), Some(end + Duration::hours(12)));
        // Devices are apart.
        assert_eq!(
            s.lookup("other", NOW, RENEW),
            Lookup::NeedsCode { ask: true }
        );
    }
}
