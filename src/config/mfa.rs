//! `[mfa]`: how long an MFA session lasts, and how long before its end credvend asks for the
//! next code.

use std::time::Duration;

use super::error::ConfigError;
use super::raw::RawMfa;

/// GetSessionToken's default (12 hours).
pub(super) const DEFAULT_MFA_SESSION_SECONDS: u32 = 43_200;
/// What STS allows an IAM user's session: 15 minutes to 36 hours.
const MFA_SESSION_RANGE: std::ops::RangeInclusive<u32> = 900..=129_600;
/// Asked a quarter of an hour ahead: time to find the device.
pub(super) const DEFAULT_MFA_RENEW_BEFORE: Duration = Duration::from_secs(900);

/// `[mfa]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MfaSettings {
    /// `session_seconds`: DurationSeconds of GetSessionToken with a code.
    pub session_seconds: u32,
    /// `renew_before_seconds`: ask for the next code this long before the session ends.
    pub renew_before: Duration,
}

impl Default for MfaSettings {
    fn default() -> Self {
        Self {
            session_seconds: DEFAULT_MFA_SESSION_SECONDS,
            renew_before: DEFAULT_MFA_RENEW_BEFORE,
        }
    }
}

pub(super) fn mfa(raw: &RawMfa) -> Result<MfaSettings, ConfigError> {
    let session_seconds = raw.session_seconds.unwrap_or(DEFAULT_MFA_SESSION_SECONDS);
    if !MFA_SESSION_RANGE.contains(&session_seconds) {
        return Err(ConfigError::invalid(
            "mfa.session_seconds",
            format!(
                "must be between {} and {} (got {session_seconds})",
                MFA_SESSION_RANGE.start(),
                MFA_SESSION_RANGE.end()
            ),
        ));
    }
    let renew_before = raw
        .renew_before_seconds
        .map_or(DEFAULT_MFA_RENEW_BEFORE, Duration::from_secs);
    if renew_before.as_secs() >= u64::from(session_seconds) {
        return Err(ConfigError::invalid(
            "mfa.renew_before_seconds",
            "must be shorter than mfa.session_seconds",
        ));
    }
    Ok(MfaSettings {
        session_seconds,
        renew_before,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_limits() {
        assert_eq!(mfa(&RawMfa::default()).unwrap(), MfaSettings::default());
        let long = RawMfa {
            session_seconds: Some(129_601),
            renew_before_seconds: None,
        };
        assert_eq!(mfa(&long).unwrap_err().key(), Some("mfa.session_seconds"));
        let late = RawMfa {
            session_seconds: Some(900),
            renew_before_seconds: Some(900),
        };
        assert_eq!(
            mfa(&late).unwrap_err().key(),
            Some("mfa.renew_before_seconds")
        );
    }
}
