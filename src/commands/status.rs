//! `credvend status` and `credvend refresh PROFILE`: the running daemon's view of each
//! profile and listener, and a renewal now, asked over the control socket. The daemon sends
//! nothing secret (key ids masked), so the text and `--json` can be pasted anywhere.

use std::fmt::Write as _;
use std::time::Duration;

use hyper::{Method, StatusCode};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::CommandError;
use crate::config::Config;
use hyper::body::Bytes;

use crate::control::{
    self, ControlClientError, ErrorBody, MfaCode, MfaStarted, ProfileView, Refreshed, StatusReport,
};

/// A status answer is immediate.
const STATUS_TIMEOUT: Duration = Duration::from_secs(10);
/// A refresh waits on STS, which the daemon bounds (timeouts times attempts per hop).
const REFRESH_TIMEOUT: Duration = Duration::from_secs(180);

/// Why the daemon did not do what was asked. Never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum ControlCommandError {
    /// The socket could not be used.
    #[error(transparent)]
    Socket(#[from] ControlClientError),
    /// The daemon answered, but with an error.
    #[error("{error}{}", sts_detail(.code.as_deref(), .request_id.as_deref()))]
    Refused {
        /// The daemon's message.
        error: String,
        /// STS's error code.
        code: Option<String>,
        /// STS's request id.
        request_id: Option<String>,
    },
    /// The answer was not what this version of credvend understands.
    #[error("unexpected answer from the daemon ({status}): {body}")]
    Unexpected {
        /// HTTP status.
        status: u16,
        /// The first part of the body.
        body: String,
    },
}

fn sts_detail(code: Option<&str>, request_id: Option<&str>) -> String {
    match (code, request_id) {
        (Some(c), Some(r)) => format!(" (STS {c}, request id {r})"),
        (Some(c), None) => format!(" (STS {c})"),
        (None, Some(r)) => format!(" (request id {r})"),
        (None, None) => String::new(),
    }
}

/// `credvend status`: the report as text, or the daemon's JSON with `json`.
pub async fn status(config: &Config, json: bool) -> Result<String, CommandError> {
    let body = call(config, Method::GET, "/status", STATUS_TIMEOUT).await?;
    if json {
        return Ok(format!("{body}\n"));
    }
    let report: StatusReport = parse(StatusCode::OK, &body)?;
    Ok(render(&report))
}

/// `credvend refresh PROFILE`: renews now; the new expiry and masked key id.
pub async fn refresh(config: &Config, profile: &str) -> Result<String, CommandError> {
    let path = format!("/refresh/{}", percent(profile));
    let body = call(config, Method::POST, &path, REFRESH_TIMEOUT).await?;
    let done: Refreshed = parse(StatusCode::OK, &body)?;
    let expires = done.expiration.as_deref().unwrap_or("-");
    Ok(format!(
        "{}: renewed; key {} expires {expires}\n",
        done.profile, done.access_key_id
    ))
}

/// `credvend mfa PROFILE CODE`: the device's new session, and each profile renewed from it.
pub async fn mfa(config: &Config, profile: &str, code: String) -> Result<String, CommandError> {
    let path = format!("/mfa/{}", percent(profile));
    let body = serde_json::to_vec(&MfaCode { code }).unwrap_or_default();
    let body = call_with(config, Method::POST, &path, body.into(), REFRESH_TIMEOUT).await?;
    let started: MfaStarted = parse(StatusCode::OK, &body)?;
    let ends = started.expiration.as_deref().unwrap_or("-");
    let mut out = format!("MFA session for {} until {ends}\n", started.serial);
    for p in &started.profiles {
        match (&p.error, &p.access_key_id) {
            (Some(e), _) => {
                let _ = writeln!(out, "  {}: not renewed: {e}", p.profile);
            }
            (None, key) => {
                let expires = p.expiration.as_deref().unwrap_or("-");
                let key = key.as_deref().unwrap_or("-");
                let _ = writeln!(out, "  {}: renewed; key {key} expires {expires}", p.profile);
            }
        }
    }
    Ok(out)
}

/// Asks the daemon; its body when it says 2xx, its error otherwise.
async fn call(
    config: &Config,
    method: Method,
    uri: &str,
    limit: Duration,
) -> Result<String, ControlCommandError> {
    call_with(config, method, uri, Bytes::new(), limit).await
}

/// [`call`] with a JSON body.
async fn call_with(
    config: &Config,
    method: Method,
    uri: &str,
    body: Bytes,
    limit: Duration,
) -> Result<String, ControlCommandError> {
    let path = config
        .control
        .path
        .as_deref()
        .ok_or(ControlClientError::Disabled)?;
    let answer = control::request_with(path, method, uri, body, limit).await?;
    if answer.status.is_success() {
        return Ok(answer.body);
    }
    match serde_json::from_str::<ErrorBody>(&answer.body) {
        Ok(e) => Err(ControlCommandError::Refused {
            error: e.error,
            code: e.code,
            request_id: e.request_id,
        }),
        Err(_) => Err(unexpected(answer.status, &answer.body)),
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    status: StatusCode,
    body: &str,
) -> Result<T, ControlCommandError> {
    serde_json::from_str(body).map_err(|_| unexpected(status, body))
}

fn unexpected(status: StatusCode, body: &str) -> ControlCommandError {
    ControlCommandError::Unexpected {
        status: status.as_u16(),
        body: body.trim().chars().take(200).collect(),
    }
}

/// A profile name as one path segment.
fn percent(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The report for people: one block per profile, then the listeners.
fn render(report: &StatusReport) -> String {
    let now = when(&report.now);
    let mut out = format!("credvend {} (pid {})\n", report.version, report.pid);
    if report.profiles.is_empty() {
        out.push_str("\nno profiles served\n");
    }
    for p in &report.profiles {
        out.push('\n');
        profile(&mut out, p, now);
    }
    out.push_str("\nlisteners\n");
    for l in &report.listeners {
        let what = match l.profiles.as_slice() {
            [] => String::new(),
            [one] => format!("  profile {one}"),
            many => format!("  profiles {}", many.join(", ")),
        };
        let note = l
            .note
            .as_ref()
            .map_or_else(String::new, |n| format!(" ({n})"));
        let _ = writeln!(out, "  {:<7} {}{what}{note}", l.kind, l.addresses.join(" "));
    }
    out
}

fn profile(out: &mut String, p: &ProfileView, now: Option<OffsetDateTime>) {
    let state = if p.serving { "serving" } else { "NOT serving" };
    let refreshing = if p.refreshing { ", renewing now" } else { "" };
    let _ = writeln!(out, "profile {}: {state}{refreshing}", p.profile);
    let line = |out: &mut String, label: &str, value: &str| {
        let _ = writeln!(out, "  {label:<13}{value}");
    };
    if let Some(e) = &p.resolve_error {
        line(out, "resolve error", e);
    }
    line(out, "source", p.source.as_deref().unwrap_or("-"));
    line(
        out,
        "role",
        p.role_arn
            .as_deref()
            .unwrap_or("- (no role: GetSessionToken)"),
    );
    line(out, "access key", p.access_key_id.as_deref().unwrap_or("-"));
    line(out, "expires", &moment(p.expiration.as_deref(), now));
    line(out, "last refresh", &moment(p.last_refresh.as_deref(), now));
    line(out, "next refresh", &moment(p.next_refresh.as_deref(), now));
    let error = match &p.last_error {
        None => "none".to_owned(),
        Some(e) => {
            let sts = sts_detail(e.code.as_deref(), e.request_id.as_deref());
            let recovered = if p.consecutive_failures == 0 {
                ", since recovered"
            } else {
                ""
            };
            format!("{}{sts} at {}{recovered}", e.message, e.at)
        }
    };
    line(out, "last error", &error);
    if p.consecutive_failures > 0 {
        line(out, "failures", &p.consecutive_failures.to_string());
    }
    let plus = if p.distinct_callers_capped { "+" } else { "" };
    let reads = format!(
        "{} served to {}{plus} distinct callers",
        p.reads_served, p.distinct_callers
    );
    line(out, "reads", &reads);
}

fn when(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// `TIME (in 59m 3s)` / `TIME (12s ago)`, or `-`.
fn moment(at: Option<&str>, now: Option<OffsetDateTime>) -> String {
    let Some(text) = at else {
        return "-".into();
    };
    let Some((at, now)) = when(text).zip(now) else {
        return text.to_owned();
    };
    let secs = (at - now).whole_seconds();
    let span = span(secs.unsigned_abs());
    if secs == 0 {
        format!("{text} (now)")
    } else if secs > 0 {
        format!("{text} (in {span})")
    } else {
        format!("{text} ({span} ago)")
    }
}

fn span(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{ErrorView, ListenerView};

    #[test]
    fn the_report_reads_as_text_with_times_left() {
        let report = StatusReport {
            version: "0.1.0".into(),
            pid: 42,
            now: "2026-12-02T10:00:00Z".into(),
            profiles: vec![ProfileView {
                profile: "app".into(),
                source: Some("role arn:aws:iam::1:role/app via profile user".into()),
                role_arn: Some("arn:aws:iam::1:role/app".into()),
                access_key_id: Some("****WXYZ".into()),
                expiration: Some("2026-12-02T10:59:30Z".into()),
                serving: true,
                last_refresh: Some("2026-12-02T09:59:30Z".into()),
                next_refresh: Some("2026-12-02T10:29:00Z".into()),
                consecutive_failures: 0,
                last_error: Some(ErrorView {
                    code: Some("Throttling".into()),
                    request_id: Some("r-9".into()),
                    message: "profile app: AssumeRole failed".into(),
                    at: "2026-12-02T09:59:00Z".into(),
                }),
                reads_served: 12,
                distinct_callers: 10_000,
                distinct_callers_capped: true,
                ..ProfileView::default()
            }],
            listeners: vec![ListenerView {
                kind: "imds".into(),
                addresses: vec!["127.0.0.1:8169".into()],
                profiles: vec!["app".into()],
                note: Some("IMDSv2 only".into()),
            }],
        };
        let text = render(&report);
        for want in [
            "profile app: serving\n",
            "  access key   ****WXYZ\n",
            "  expires      2026-12-02T10:59:30Z (in 59m 30s)\n",
            "  last refresh 2026-12-02T09:59:30Z (30s ago)\n",
            "  last error   profile app: AssumeRole failed (STS Throttling, request id r-9) at \
             2026-12-02T09:59:00Z, since recovered\n",
            "  reads        12 served to 10000+ distinct callers\n",
            "  imds    127.0.0.1:8169  profile app (IMDSv2 only)\n",
        ] {
            assert!(text.contains(want), "{want:?} missing from\n{text}");
        }
    }

    #[test]
    fn profile_names_are_one_path_segment() {
        assert_eq!(percent("app"), "app");
        assert_eq!(percent("a/b c"), "a%2Fb%20c");
        assert_eq!(span(7200 + 61), "2h 1m");
    }
}
