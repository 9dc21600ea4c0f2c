//! `credvend audit show [--since T] [--profile P] [--client C] [FILE...]`: one line per record
//! for people, oldest first, e.g.
//! `2026-11-22 10:00:01Z served app ****ABCD to uid 1000 (alice) pid 4242 /usr/bin/python3 via imds@127.0.0.1:8169 x5 (10:00:01-10:01:00)`.
//!
//! Records are read as plain JSON values, not as the writer's types, so that fields a newer
//! or older credvend writes (the caller of a request, say) show when present and are not an
//! error when absent.

use std::fmt::Write;
use std::path::PathBuf;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::{AuditCommandError, files, read};
use crate::clock::Clock;
use crate::config::Config;
use crate::secret::mask_key_id;

/// What to show.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShowOptions {
    /// The files, oldest first (none: the configured log and its rotated files).
    pub files: Vec<PathBuf>,
    /// Only records made at or after this: RFC 3339, or a duration back from now (`30m`).
    pub since: Option<String>,
    /// Only records of this profile.
    pub profile: Option<String>,
    /// Only requests by this client: a uid, pid, user name, container name or id prefix, or
    /// client IP address.
    pub client: Option<String>,
}

/// The records the options select, one human line each.
pub fn show(
    config: &Config,
    clock: &dyn Clock,
    options: &ShowOptions,
) -> Result<String, AuditCommandError> {
    let since = options
        .since
        .as_deref()
        .map(|s| parse_since(s, clock.now()))
        .transpose()?;
    let filtered = since.is_some() || options.profile.is_some() || options.client.is_some();
    let mut out = String::new();
    for (name, bytes) in read(&files(config, &options.files)?)? {
        for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let record = match serde_json::from_slice::<Value>(line) {
                Ok(v) if v.is_object() => v,
                _ => {
                    if !filtered {
                        let _ = writeln!(
                            out,
                            "{name}:{}: not a record (torn or damaged; `credvend audit verify` says which)",
                            n + 1
                        );
                    }
                    continue;
                }
            };
            if selected(&record, since, options) {
                out.push_str(&human(&record));
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// RFC 3339, or `N` followed by `s`, `m`, `h` or `d`, back from `now`.
fn parse_since(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, AuditCommandError> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    let bad = || AuditCommandError::Since(text.to_owned());
    let unit = text.chars().last().ok_or_else(bad)?;
    let n: i64 = text[..text.len() - unit.len_utf8()]
        .parse()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(bad)?;
    let back = match unit {
        's' => Duration::seconds(n),
        'm' => Duration::minutes(n),
        'h' => Duration::hours(n),
        'd' => Duration::days(n),
        _ => return Err(bad()),
    };
    now.checked_sub(back).ok_or_else(bad)
}

fn time_of(v: &Value, key: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(v.get(key)?.as_str()?, &Rfc3339).ok()
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn selected(v: &Value, since: Option<OffsetDateTime>, o: &ShowOptions) -> bool {
    if since.is_some_and(|since| time_of(v, "time").is_none_or(|t| t < since)) {
        return false;
    }
    if o.profile
        .as_deref()
        .is_some_and(|p| text(v, "profile") != Some(p))
    {
        return false;
    }
    o.client.as_deref().is_none_or(|c| client_matches(v, c))
}

/// Whether `wanted` names the record's client: its uid, pid or user, its container's name or
/// an id prefix, or its IP address.
fn client_matches(v: &Value, wanted: &str) -> bool {
    let caller = v.get("caller");
    let field = |key: &str| caller.and_then(|c| c.get(key));
    let number = |key: &str| field(key).and_then(Value::as_u64).map(|n| n.to_string());
    let container = caller.and_then(|c| c.get("container"));
    let in_container = |key: &str| container.and_then(|c| text(c, key));
    number("uid").as_deref() == Some(wanted)
        || number("pid").as_deref() == Some(wanted)
        || field("user").and_then(Value::as_str) == Some(wanted)
        || in_container("name") == Some(wanted)
        || in_container("id").is_some_and(|id| !wanted.is_empty() && id.starts_with(wanted))
        || text(v, "client") == Some(wanted)
}

/// `2026-11-22 10:00:01Z`, or the text as written if it is no time.
fn when(v: &Value, key: &str) -> String {
    match time_of(v, key) {
        Some(t) => {
            let t = t.to_offset(time::UtcOffset::UTC);
            format!(
                "{} {:02}:{:02}:{:02}Z",
                t.date(),
                t.hour(),
                t.minute(),
                t.second()
            )
        }
        None => text(v, key).unwrap_or("?").to_owned(),
    }
}

/// `(10:00:01-10:01:00)`, dates included when the two differ from the record's day.
fn span(v: &Value) -> String {
    let short = |key: &str| {
        let full = when(v, key);
        match (time_of(v, key), time_of(v, "time")) {
            (Some(a), Some(b)) if a.date() == b.date() => {
                full[11..].trim_end_matches('Z').to_owned()
            }
            _ => full,
        }
    };
    format!("({}-{})", short("first"), short("last"))
}

/// Who made a request: the caller the daemon identified, else the client address.
fn caller(v: &Value) -> String {
    let client = match (text(v, "client"), v.get("port").and_then(Value::as_u64)) {
        (Some(ip), Some(port)) if ip.contains(':') => format!("[{ip}]:{port}"),
        (Some(ip), Some(port)) => format!("{ip}:{port}"),
        (Some(ip), None) => ip.to_owned(),
        (None, _) => "?".to_owned(),
    };
    let Some(c) = v.get("caller").filter(|c| c.is_object()) else {
        return client;
    };
    if let Some(ct) = c.get("container") {
        let id = text(ct, "id").map(|id| id.get(..12).unwrap_or(id));
        let mut out = format!("container {}", text(ct, "name").or(id).unwrap_or("?"));
        if let Some(image) = text(ct, "image") {
            let _ = write!(out, " ({image})");
        }
        let _ = write!(out, " at {client}");
        return out;
    }
    match c.get("uid").and_then(Value::as_u64) {
        Some(uid) => {
            let mut out = format!("uid {uid}");
            if let Some(user) = text(c, "user") {
                let _ = write!(out, " ({user})");
            }
            if let Some(pid) = c.get("pid").and_then(Value::as_u64) {
                let _ = write!(out, " pid {pid}");
            }
            for key in ["exe", "unit"] {
                if let Some(x) = text(c, key) {
                    let _ = write!(out, " {x}");
                }
            }
            out
        }
        None => format!(
            "unknown caller ({}) at {client}",
            text(c, "reason").unwrap_or("not identified")
        ),
    }
}

fn count(v: &Value) -> String {
    match v.get("count").and_then(Value::as_u64) {
        Some(1) | None => String::new(),
        Some(n) => format!(" x{n} {}", span(v)),
    }
}

/// One record as a line.
fn human(v: &Value) -> String {
    let t = when(v, "time");
    let key = || text(v, "access_key_id").map_or("-".to_owned(), mask_key_id);
    let or = |key: &str| text(v, key).unwrap_or("-").to_owned();
    match text(v, "event").unwrap_or("?") {
        "issued" => {
            let mut out = match text(v, "role_arn") {
                Some(role) => format!(
                    "{t} issued {} {} for {role} session {}",
                    or("profile"),
                    key(),
                    or("session_name")
                ),
                None => format!("{t} issued {} {} by GetSessionToken", or("profile"), key()),
            };
            let _ = write!(
                out,
                " until {} request {}",
                when(v, "expiration"),
                or("request_id")
            );
            if let Some(si) = text(v, "source_identity") {
                let _ = write!(out, " source-identity {si}");
            }
            out
        }
        "served" => format!(
            "{t} served {} {} to {} via {} {}{}",
            or("profile"),
            key(),
            caller(v),
            or("listener"),
            or("path"),
            count(v)
        ),
        "denied" => format!(
            "{t} denied {} to {} via {} {}{}",
            or("reason"),
            caller(v),
            or("listener"),
            or("path"),
            count(v)
        ),
        "lost" => format!(
            "{t} lost {} events ({} lines unwritten, {} dropped by a full queue) {}",
            v.get("count").and_then(Value::as_u64).unwrap_or(0),
            v.get("records").and_then(Value::as_u64).unwrap_or(0),
            v.get("dropped").and_then(Value::as_u64).unwrap_or(0),
            span(v)
        ),
        other => format!("{t} {other} {v}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::test_util::temp_dir;
    use time::macros::datetime;

    const SERVED: &str = r#"{"seq":2,"prev":"00","time":"2026-11-22T10:01:00.5Z","event":"served","client":"127.0.0.1","listener":"imds@127.0.0.1:8169","path":"/latest/meta-data/iam/security-credentials/app","profile":"app","access_key_id":"ASIAEXAMPLEABCD","caller":{"uid":1000,"user":"alice","pid":4242,"exe":"/usr/bin/python3.11","unit":"app.service"},"count":5,"first":"2026-11-22T10:00:01.2Z","last":"2026-11-22T10:01:00Z"}"#;

    fn line(json: &str) -> String {
        human(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn records_read_as_one_line_each() {
        assert_eq!(
            line(SERVED),
            "2026-11-22 10:01:00Z served app ****ABCD to uid 1000 (alice) pid 4242 /usr/bin/python3.11 app.service via imds@127.0.0.1:8169 /latest/meta-data/iam/security-credentials/app x5 (10:00:01-10:01:00)"
        );
        assert_eq!(
            line(
                r#"{"time":"2026-11-22T10:00:00.512Z","event":"issued","profile":"app","role_arn":"arn:aws:iam::123456789012:role/app","session_name":"credvend-app","access_key_id":"ASIAEXAMPLE","expiration":"2026-11-22T11:00:00Z","request_id":"r-1","source_identity":"alice"}"#
            ),
            "2026-11-22 10:00:00Z issued app ****MPLE for arn:aws:iam::123456789012:role/app session credvend-app until 2026-11-22 11:00:00Z request r-1 source-identity alice"
        );
        assert_eq!(
            line(
                r#"{"time":"2026-11-22T10:00:02.4Z","event":"denied","client":"::1","port":40110,"listener":"ecs@[::1]:8170","path":"/role/app","reason":"InvalidAuthorization","count":1,"first":"2026-11-22T10:00:02.4Z","last":"2026-11-22T10:00:02.4Z"}"#
            ),
            "2026-11-22 10:00:02Z denied InvalidAuthorization to [::1]:40110 via ecs@[::1]:8170 /role/app"
        );
        assert_eq!(
            line(
                r#"{"time":"2026-11-22T10:00:02Z","event":"denied","client":"172.17.0.2","caller":{"container":{"id":"0123456789abcdef","name":"web","image":"python:3"}},"listener":"ecs@169.254.170.2:80","path":"/","reason":"MissingToken","count":2,"first":"2026-11-21T23:59:59Z","last":"2026-11-22T10:00:01Z"}"#
            ),
            "2026-11-22 10:00:02Z denied MissingToken to container web (python:3) at 172.17.0.2 via ecs@169.254.170.2:80 / x2 (2026-11-21 23:59:59Z-10:00:01)"
        );
        assert!(line(r#"{"time":"t","event":"served","client":"127.0.0.1","caller":{"uid":null,"reason":"no socket found"}}"#)
            .contains("to unknown caller (no socket found) at 127.0.0.1"));
        assert_eq!(
            line(
                r#"{"time":"2026-11-22T10:05:13.37Z","event":"lost","count":2868,"records":736,"dropped":0,"first":"2026-11-22T10:05:10.38Z","last":"2026-11-22T10:05:13.18Z"}"#
            ),
            "2026-11-22 10:05:13Z lost 2868 events (736 lines unwritten, 0 dropped by a full queue) (10:05:10-10:05:13)"
        );
    }

    #[test]
    fn since_takes_a_time_or_a_duration_back_from_now() {
        let now = datetime!(2026-11-22 12:00 UTC);
        assert_eq!(
            parse_since("1h", now).unwrap(),
            datetime!(2026-11-22 11:00 UTC)
        );
        assert_eq!(
            parse_since("30m", now).unwrap(),
            datetime!(2026-11-22 11:30 UTC)
        );
        assert_eq!(
            parse_since("2d", now).unwrap(),
            datetime!(2026-11-20 12:00 UTC)
        );
        assert_eq!(
            parse_since("2026-11-22T10:00:00+01:00", now).unwrap(),
            datetime!(2026-11-22 09:00 UTC)
        );
        for bad in ["", "h", "1w", "-1h", "yesterday"] {
            assert!(
                parse_since(bad, now)
                    .unwrap_err()
                    .to_string()
                    .contains("--since"),
                "{bad}"
            );
        }
    }

    #[test]
    fn clients_match_by_uid_pid_user_container_or_address() {
        let v: Value = serde_json::from_str(SERVED).unwrap();
        for yes in ["1000", "4242", "alice", "127.0.0.1"] {
            assert!(client_matches(&v, yes), "{yes}");
        }
        for no in ["1001", "bob", "10.0.0.1", ""] {
            assert!(!client_matches(&v, no), "{no}");
        }
        let ct: Value = serde_json::from_str(r#"{"client":"172.17.0.2","caller":{"container":{"id":"0123456789abcdef","name":"web"}}}"#).unwrap();
        assert!(
            client_matches(&ct, "web")
                && client_matches(&ct, "0123")
                && !client_matches(&ct, "4567")
        );
    }

    #[test]
    fn show_filters_by_time_profile_and_client_and_flags_damaged_lines() {
        let dir = temp_dir("audit-show");
        let path = dir.join("audit.jsonl");
        let issued = r#"{"time":"2026-11-22T09:00:00Z","event":"issued","profile":"other","access_key_id":"ASIAOTHER","expiration":"2026-11-22T10:00:00Z"}"#;
        std::fs::write(&path, format!("{issued}\n{SERVED}\n{{\"seq\":3,\"pr")).unwrap();
        let mut config = crate::test_util::default_config();
        config.audit.path = Some(path.clone());
        let clock = ManualClock::new(datetime!(2026-11-22 10:30 UTC));
        let run = |o: ShowOptions| show(&config, &clock, &o).unwrap();
        let all = run(ShowOptions::default());
        assert_eq!(all.lines().count(), 3, "{all}");
        assert!(
            all.lines()
                .nth(2)
                .unwrap()
                .contains("audit.jsonl:3: not a record"),
            "{all}"
        );
        let recent = run(ShowOptions {
            since: Some("1h".into()),
            ..ShowOptions::default()
        });
        assert_eq!(recent.lines().count(), 1, "{recent}");
        assert!(recent.contains(" served app "));
        let other = run(ShowOptions {
            profile: Some("other".into()),
            ..ShowOptions::default()
        });
        assert!(
            other.starts_with("2026-11-22 09:00:00Z issued other ****THER by GetSessionToken"),
            "{other}"
        );
        assert_eq!(other.lines().count(), 1);
        let alice = run(ShowOptions {
            client: Some("alice".into()),
            ..ShowOptions::default()
        });
        assert_eq!(alice.lines().count(), 1, "{alice}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
