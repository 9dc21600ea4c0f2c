//! The log's lines: what each record holds and its one-line JSON form (docs/audit.md has the
//! format for readers of the log).
//!
//! Every line is one JSON object with `time` (when the record was made, RFC 3339 UTC) and
//! `event` (`issued`, `served`, `denied` or `lost`). A `served` or `denied` line counts
//! `count` requests between `first` and `last`; a single request is a line with `count` 1.

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::caller::CallerLine;
use crate::clock::format_timestamp;
use crate::identity::Caller;

/// What `served` and `denied` requests are counted by: one line per key and interval.
///
/// The client is its IP address without the port: every new connection has a new port, so
/// keying on it would let a client that reconnects for each request write a line each time.
/// The caller (uid, pid, ...) is part of the key: each process gets lines of its own.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Key {
    /// Credentials handed out.
    Served {
        client: IpAddr,
        caller: Arc<Caller>,
        listener: String,
        profile: String,
        access_key_id: String,
    },
    /// A refused request.
    Denied {
        client: IpAddr,
        caller: Arc<Caller>,
        listener: String,
        reason: String,
    },
}

/// `count` requests of one [`Key`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Requests {
    pub(super) key: Key,
    /// The client port, while every request counted came from the same one.
    pub(super) port: Option<u16>,
    /// The path of the first request counted.
    pub(super) path: String,
    pub(super) count: u64,
    pub(super) first: OffsetDateTime,
    pub(super) last: OffsetDateTime,
}

/// Events that reached no file: because writes failed, or the writer's queue was full.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Lost {
    /// Events lost in all (a lost `served` line of count 5 is 5 events).
    pub(super) events: u64,
    /// Lines that could not be written.
    pub(super) records: u64,
    /// Events refused because the queue to the writer was full.
    pub(super) dropped: u64,
    pub(super) first: OffsetDateTime,
    pub(super) last: OffsetDateTime,
}

/// One line of the log, before it is rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Record {
    /// A mint, never coalesced.
    Issued {
        time: OffsetDateTime,
        profile: String,
        role_arn: Option<String>,
        session_name: Option<String>,
        access_key_id: String,
        expiration: OffsetDateTime,
        request_id: Option<String>,
        source_identity: Option<String>,
    },
    /// Served or denied requests.
    Requests {
        time: OffsetDateTime,
        requests: Requests,
    },
    /// What was lost before this line could be written.
    Lost { time: OffsetDateTime, lost: Lost },
}

impl Record {
    /// How many events this record stands for (what is lost if it cannot be written).
    pub(super) fn events(&self) -> u64 {
        match self {
            Self::Issued { .. } => 1,
            Self::Requests { requests, .. } => requests.count,
            // A `lost` line that fails is not counted again: its numbers stay pending.
            Self::Lost { .. } => 0,
        }
    }

    /// The record as one JSON line, `\n` included.
    pub(super) fn line(&self) -> String {
        let mut line = match self {
            Self::Issued {
                time,
                profile,
                role_arn,
                session_name,
                access_key_id,
                expiration,
                request_id,
                source_identity,
            } => serde_json::to_string(&IssuedLine {
                time: rfc3339(*time),
                event: "issued",
                profile,
                role_arn: role_arn.as_deref(),
                session_name: session_name.as_deref(),
                access_key_id,
                expiration: format_timestamp(*expiration),
                request_id: request_id.as_deref(),
                source_identity: source_identity.as_deref(),
            }),
            Self::Requests { time, requests: r } => {
                let (event, client, caller, listener, profile, access_key_id, reason) = match &r.key
                {
                    Key::Served {
                        client,
                        caller,
                        listener,
                        profile,
                        access_key_id,
                    } => (
                        "served",
                        client,
                        caller,
                        listener,
                        Some(profile),
                        Some(access_key_id),
                        None,
                    ),
                    Key::Denied {
                        client,
                        caller,
                        listener,
                        reason,
                    } => ("denied", client, caller, listener, None, None, Some(reason)),
                };
                serde_json::to_string(&RequestsLine {
                    time: rfc3339(*time),
                    event,
                    client: client.to_string(),
                    port: r.port,
                    caller: CallerLine::new(caller),
                    listener,
                    path: &r.path,
                    profile: profile.map(String::as_str),
                    access_key_id: access_key_id.map(String::as_str),
                    reason: reason.map(String::as_str),
                    count: r.count,
                    first: rfc3339(r.first),
                    last: rfc3339(r.last),
                })
            }
            Self::Lost { time, lost } => serde_json::to_string(&LostLine {
                time: rfc3339(*time),
                event: "lost",
                count: lost.events,
                records: lost.records,
                dropped: lost.dropped,
                first: rfc3339(lost.first),
                last: rfc3339(lost.last),
            }),
        }
        // Serializing these plain structs cannot fail; an empty object still makes a line.
        .unwrap_or_else(|_| "{}".to_owned());
        line.push('\n');
        line
    }
}

/// `2026-11-22T10:00:00.5Z`: record times keep their fraction so that lines order.
fn rfc3339(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

// Field order is the order on the line: `time` and `event` first, for people reading it.

#[derive(Serialize)]
struct IssuedLine<'a> {
    time: String,
    event: &'static str,
    profile: &'a str,
    role_arn: Option<&'a str>,
    session_name: Option<&'a str>,
    access_key_id: &'a str,
    expiration: String,
    request_id: Option<&'a str>,
    source_identity: Option<&'a str>,
}

#[derive(Serialize)]
struct RequestsLine<'a> {
    time: String,
    event: &'static str,
    client: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    caller: CallerLine<'a>,
    listener: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    count: u64,
    first: String,
    last: String,
}

#[derive(Serialize)]
struct LostLine {
    time: String,
    event: &'static str,
    count: u64,
    records: u64,
    dropped: u64,
    first: String,
    last: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T: OffsetDateTime = datetime!(2026-11-22 10:00:00.5 UTC);

    fn json(record: &Record) -> serde_json::Value {
        let line = record.line();
        assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
        serde_json::from_str(&line).unwrap()
    }

    #[test]
    fn issued_lines_name_the_session_and_its_expiry_in_whole_seconds() {
        let r = Record::Issued {
            time: T,
            profile: "dev".into(),
            role_arn: Some("arn:aws:iam::123456789012:role/dev".into()),
            session_name: Some("credvend-dev".into()),
            access_key_id: "ASIAEXAMPLE".into(),
            expiration: datetime!(2026-11-22 11:00:00.9 UTC),
            request_id: None,
            source_identity: Some("alice".into()),
        };
        let line = r.line();
        assert!(line.starts_with(r#"{"time":"2026-11-22T10:00:00.5Z","event":"issued""#));
        let v = json(&r);
        assert_eq!(v["expiration"], "2026-11-22T11:00:00Z");
        assert_eq!(v["role_arn"], "arn:aws:iam::123456789012:role/dev");
        assert!(v["request_id"].is_null());
        assert_eq!(v["source_identity"], "alice");
        assert_eq!(r.events(), 1);
    }

    #[test]
    fn request_lines_carry_count_first_last_and_the_port_only_when_there_is_one() {
        let served = Requests {
            key: Key::Served {
                client: "127.0.0.1".parse().unwrap(),
                caller: Arc::new(Caller::unknown("test")),
                listener: "imds@127.0.0.1:8169".into(),
                profile: "dev".into(),
                access_key_id: "ASIAEXAMPLE".into(),
            },
            port: Some(5000),
            path: "/latest/meta-data/iam/security-credentials/dev".into(),
            count: 1,
            first: T,
            last: T,
        };
        let v = json(&Record::Requests {
            time: T,
            requests: served.clone(),
        });
        assert_eq!(v["event"], "served");
        assert_eq!(v["client"], "127.0.0.1");
        assert_eq!(v["port"], 5000);
        assert_eq!(v["caller"]["reason"], "test");
        assert_eq!(v["profile"], "dev");
        assert_eq!(v["access_key_id"], "ASIAEXAMPLE");
        assert_eq!((v["count"].as_u64(), &v["first"]), (Some(1), &v["last"]));
        assert!(v.get("reason").is_none());

        let denied = Requests {
            key: Key::Denied {
                client: "::1".parse().unwrap(),
                caller: Arc::new(Caller::Remote(None)),
                listener: "ecs@127.0.0.1:8170".into(),
                reason: "InvalidAuthorization".into(),
            },
            port: None,
            count: 41,
            last: datetime!(2026-11-22 10:01:00 UTC),
            ..served
        };
        let r = Record::Requests {
            time: T,
            requests: denied,
        };
        let v = json(&r);
        assert_eq!(v["event"], "denied");
        assert_eq!(v["client"], "::1");
        assert!(v.get("port").is_none() && v.get("profile").is_none());
        assert_eq!(v["reason"], "InvalidAuthorization");
        assert_eq!(v["count"], 41);
        assert_eq!(v["first"], "2026-11-22T10:00:00.5Z");
        assert_eq!(v["last"], "2026-11-22T10:01:00Z");
        assert_eq!(r.events(), 41);
    }

    #[test]
    fn lost_lines_count_events_records_and_queue_drops() {
        let r = Record::Lost {
            time: T,
            lost: Lost {
                events: 120,
                records: 3,
                dropped: 7,
                first: T,
                last: T,
            },
        };
        let v = json(&r);
        assert_eq!(v["event"], "lost");
        assert_eq!(
            (v["count"].as_u64(), v["records"].as_u64()),
            (Some(120), Some(3))
        );
        assert_eq!(v["dropped"], 7);
        assert_eq!(r.events(), 0);
    }
}
