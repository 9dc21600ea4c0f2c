//! [`Metrics`]: what the daemon counts for the metrics page, and the page itself.
//!
//! The counters live where they are cheapest to keep (a [`StatusCounts`] per listener on the
//! request path, [`StsMetrics`] in the STS decorator, the audit writer's own counts); the
//! gauges are read from the cache when the page is asked for.

use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

use super::prom::{Kind, Page, number};
use super::requests::StatusCounts;
use super::sts_metrics::{ACTIONS, BUCKETS, OUTCOMES, StsMetrics};
use crate::cache::ProfileStatus;

/// The audit log's counts, when there is a log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuditCounts {
    /// Records written to the file.
    pub written: u64,
    /// Events that could not be written (full disk, full queue).
    pub lost: u64,
}

/// Every counter the metrics page shows.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Per listener label (`imds@127.0.0.1:8169`), registered as the listeners start.
    requests: Mutex<Vec<(String, Arc<StatusCounts>)>>,
    /// STS calls.
    pub sts: Arc<StsMetrics>,
}

impl Metrics {
    /// The counts of the listener `label`, registered now (each listener once, at start).
    pub fn listener(&self, label: &str) -> Arc<StatusCounts> {
        let counts = Arc::new(StatusCounts::default());
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((label.to_owned(), counts.clone()));
        counts
    }

    /// The page: every family with HELP and TYPE, in Prometheus text format 0.0.4.
    #[must_use]
    pub fn render(
        &self,
        profiles: &[ProfileStatus],
        audit: Option<AuditCounts>,
        now: OffsetDateTime,
    ) -> String {
        let mut page = Page::default();
        self.render_requests(&mut page);
        self.render_sts(&mut page);
        render_profiles(&mut page, profiles, now);
        if let Some(audit) = audit {
            let written = "credvend_audit_records_written_total";
            page.family(
                written,
                Kind::Counter,
                "Audit records written to the log file.",
            );
            page.sample(written, &[], audit.written as f64);
            let lost = "credvend_audit_records_lost_total";
            page.family(
                lost,
                Kind::Counter,
                "Audit events that could not be written (full disk, full queue).",
            );
            page.sample(lost, &[], audit.lost as f64);
        }
        page.finish()
    }

    fn render_requests(&self, page: &mut Page) {
        let name = "credvend_requests_total";
        page.family(
            name,
            Kind::Counter,
            "HTTP responses of the IMDS and ECS listeners, by listener and status code.",
        );
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        for (listener, counts) in requests.iter() {
            for (status, n) in counts.snapshot() {
                let status = status.to_string();
                page.sample(
                    name,
                    &[("listener", listener), ("status", &status)],
                    n as f64,
                );
            }
        }
    }

    fn render_sts(&self, page: &mut Page) {
        let calls = "credvend_sts_calls_total";
        page.family(calls, Kind::Counter, "STS calls, by action and outcome.");
        for (a, action) in ACTIONS.iter().enumerate() {
            for (o, outcome) in OUTCOMES.iter().enumerate() {
                let n = self.sts.calls(a, o);
                page.sample(calls, &[("action", action), ("outcome", outcome)], n as f64);
            }
        }
        let name = "credvend_sts_call_duration_seconds";
        page.family(name, Kind::Histogram, "How long STS calls took, by action.");
        let bucket = format!("{name}_bucket");
        for (a, action) in ACTIONS.iter().enumerate() {
            let h = self.sts.latency(a);
            let bounds = BUCKETS.iter().copied().chain([f64::INFINITY]);
            for (bound, n) in bounds.zip(&h.cumulative) {
                let le = number(bound);
                page.sample(&bucket, &[("action", action), ("le", &le)], *n as f64);
            }
            page.sample(&format!("{name}_sum"), &[("action", action)], h.sum_seconds);
            page.sample(
                &format!("{name}_count"),
                &[("action", action)],
                h.count as f64,
            );
        }
    }
}

fn render_profiles(page: &mut Page, profiles: &[ProfileStatus], now: OffsetDateTime) {
    let expiry = "credvend_credentials_expiry_seconds";
    page.family(
        expiry,
        Kind::Gauge,
        "Seconds until the served credentials of a profile expire (negative: expired).",
    );
    for p in profiles {
        if let Some(at) = p.expiration {
            let left = (at - now).whole_seconds() as f64;
            page.sample(expiry, &[("profile", &p.profile)], left);
        }
    }
    let serving = "credvend_credentials_serving";
    page.family(
        serving,
        Kind::Gauge,
        "1 while a profile has valid credentials to serve, else 0.",
    );
    for p in profiles {
        let up = if p.serving { 1.0 } else { 0.0 };
        page.sample(serving, &[("profile", &p.profile)], up);
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-12-02 10:00 UTC);

    fn profile(name: &str, left: Option<i64>) -> ProfileStatus {
        ProfileStatus {
            profile: name.into(),
            resolve_error: None,
            source: None,
            role_arn: None,
            access_key_id: None,
            expiration: left.map(|s| NOW + Duration::seconds(s)),
            serving: left.is_some_and(|s| s > 0),
            last_refresh: None,
            next_refresh: None,
            refreshing: false,
            consecutive_failures: 0,
            last_error: None,
        }
    }

    /// Checks the text format's rules line by line; the samples as (name{labels}, value).
    pub(crate) fn parse(text: &str) -> Vec<(String, f64)> {
        let mut typed = std::collections::HashSet::new();
        let mut samples = Vec::new();
        assert!(text.ends_with('\n'), "the page ends with a line feed");
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
                assert!(typed.insert(name.to_owned()), "TYPE given twice: {line}");
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
            let name = series.split('{').next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
                .unwrap_or(name);
            assert!(typed.contains(family), "sample before its TYPE: {line}");
            let value = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
            };
            samples.push((series.to_owned(), value));
        }
        samples
    }

    #[test]
    fn the_page_has_every_family_and_follows_the_text_format() {
        let m = Metrics::default();
        let imds = m.listener("imds@127.0.0.1:8169");
        imds.count(200);
        imds.count(200);
        imds.count(401);
        let audit = AuditCounts {
            written: 7,
            lost: 1,
        };
        let profiles = [profile("app", Some(1800)), profile("cold", None)];
        let text = m.render(&profiles, Some(audit), NOW);
        let samples = parse(&text);
        let value = |series: &str| {
            samples
                .iter()
                .find(|(s, _)| s == series)
                .unwrap_or_else(|| panic!("no {series} in\n{text}"))
                .1
        };
        assert_eq!(
            value("credvend_requests_total{listener=\"imds@127.0.0.1:8169\",status=\"200\"}"),
            2.0
        );
        assert_eq!(
            value("credvend_sts_calls_total{action=\"AssumeRole\",outcome=\"success\"}"),
            0.0
        );
        assert_eq!(
            value("credvend_sts_call_duration_seconds_bucket{action=\"AssumeRole\",le=\"+Inf\"}"),
            0.0
        );
        assert_eq!(
            value("credvend_credentials_expiry_seconds{profile=\"app\"}"),
            1800.0
        );
        assert_eq!(value("credvend_credentials_serving{profile=\"cold\"}"), 0.0);
        assert_eq!(value("credvend_audit_records_written_total"), 7.0);
        assert_eq!(value("credvend_audit_records_lost_total"), 1.0);
        assert!(!text.contains("expiry_seconds{profile=\"cold\"}"), "{text}");
        assert!(
            !m.render(&[], None, NOW).contains("audit"),
            "no log, no audit metrics"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::default();
        let text = m.render(&[profile("we\"ird\\na\nme", Some(5))], None, NOW);
        assert!(
            text.contains("credvend_credentials_serving{profile=\"we\\\"ird\\\\na\\nme\"} 1\n"),
            "{text}"
        );
        parse(&text);
    }
}
