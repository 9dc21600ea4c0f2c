//! The health decision: healthy while every served profile has valid credentials, otherwise
//! one line per profile that does not, saying why (with the STS code and request id).

use crate::cache::ProfileStatus;
use crate::clock::format_timestamp;

/// What `GET /healthz` answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Every profile serves.
    Ok,
    /// One reason per profile that does not.
    Failing(Vec<String>),
}

impl Health {
    /// The decision for `profiles` (a daemon serving none is healthy: nothing fails).
    #[must_use]
    pub fn of(profiles: &[ProfileStatus]) -> Self {
        let reasons: Vec<String> = profiles.iter().filter(|p| !p.serving).map(reason).collect();
        if reasons.is_empty() {
            Self::Ok
        } else {
            Self::Failing(reasons)
        }
    }

    /// The HTTP status and body: `200 ok`, or `503` with one reason a line.
    #[must_use]
    pub fn answer(&self) -> (u16, String) {
        match self {
            Self::Ok => (200, "ok\n".into()),
            Self::Failing(reasons) => {
                let body = reasons.iter().map(|r| format!("{r}\n")).collect();
                (503, body)
            }
        }
    }
}

/// Why `p` serves nothing, in one line.
fn reason(p: &ProfileStatus) -> String {
    let name = &p.profile;
    if let Some(e) = &p.last_error {
        let detail = match (&e.code, &e.request_id) {
            (Some(code), Some(id)) => format!("{code} (request id {id})"),
            (Some(code), None) => code.clone(),
            (None, _) => e.message.clone(),
        };
        return format!("{name}: no credentials: {detail}");
    }
    if let Some(e) = &p.resolve_error {
        return format!("{name}: no credentials: does not resolve: {e}");
    }
    match p.expiration {
        Some(at) => format!(
            "{name}: credentials expired at {}, renewal pending",
            format_timestamp(at)
        ),
        None if p.refreshing => format!("{name}: no credentials yet: the first fetch is running"),
        None => format!("{name}: no credentials yet"),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::cache::ErrorInfo;

    fn profile(name: &str, serving: bool) -> ProfileStatus {
        ProfileStatus {
            profile: name.into(),
            resolve_error: None,
            source: None,
            role_arn: None,
            access_key_id: None,
            expiration: None,
            serving,
            last_refresh: None,
            next_refresh: None,
            refreshing: false,
            consecutive_failures: 0,
            last_error: None,
        }
    }

    #[test]
    fn healthy_only_while_every_profile_serves() {
        assert_eq!(Health::of(&[]), Health::Ok);
        assert_eq!(
            Health::of(&[profile("a", true)]).answer(),
            (200, "ok\n".into())
        );
        let mut denied = profile("app", false);
        denied.consecutive_failures = 3;
        denied.last_error = Some(ErrorInfo {
            code: Some("AccessDenied".into()),
            message: "profile app: AssumeRole failed".into(),
            request_id: Some("r-1".into()),
            at: datetime!(2026-12-02 10:00 UTC),
        });
        let mut expired = profile("old", false);
        expired.expiration = Some(datetime!(2026-12-02 09:00 UTC));
        let mut cold = profile("cold", false);
        cold.refreshing = true;
        let mut broken = profile("gone", false);
        broken.resolve_error = Some("no such profile (config:3)".into());
        let health = Health::of(&[profile("ok", true), denied, expired, cold, broken]);
        assert_eq!(
            health.answer(),
            (
                503,
                "app: no credentials: AccessDenied (request id r-1)\n\
                 old: credentials expired at 2026-12-02T09:00:00Z, renewal pending\n\
                 cold: no credentials yet: the first fetch is running\n\
                 gone: no credentials: does not resolve: no such profile (config:3)\n"
                    .into()
            )
        );
    }

    #[test]
    fn a_failure_without_an_sts_code_gives_its_message() {
        let mut p = profile("app", false);
        p.last_error = Some(ErrorInfo {
            code: None,
            message: "profile \"app\": STS did not finish within 75s".into(),
            request_id: None,
            at: datetime!(2026-12-02 10:00 UTC),
        });
        let Health::Failing(reasons) = Health::of(&[p]) else {
            panic!("not healthy");
        };
        assert_eq!(
            reasons,
            ["app: no credentials: profile \"app\": STS did not finish within 75s"]
        );
    }
}
