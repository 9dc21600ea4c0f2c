//! The Prometheus text exposition format (version 0.0.4), written by hand: a `# HELP` and a
//! `# TYPE` line before each family's samples, label values escaped (`\\`, `\"`, `\n`), help
//! text escaped (`\\`, `\n`), and numbers the way Prometheus parses them (`+Inf`, `NaN`).
//!
//! <https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format>

use std::fmt::Write as _;

/// The `Content-Type` of the format.
pub(super) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// A value that only goes up (names end in `_total`).
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Buckets, `_sum` and `_count`.
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// A page of metrics being written.
#[derive(Debug, Default)]
pub(super) struct Page {
    text: String,
}

impl Page {
    /// Starts the family `name`: its HELP and TYPE lines. Its samples follow.
    pub(super) fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {}", kind.name());
    }

    /// One sample: `name{label="value",...} value`.
    pub(super) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape_label(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", number(value));
    }

    /// The text.
    #[must_use]
    pub(super) fn finish(self) -> String {
        self.text
    }
}

/// A label value: backslash, double quote and line feed escaped.
#[must_use]
pub(super) fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Help text: backslash and line feed escaped (quotes are fine there).
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value as Prometheus reads it: integers without a fraction, `+Inf`, `-Inf`, `NaN`.
#[must_use]
pub(super) fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        // Rust prints whole floats without `.0` in `{}`, and never in exponent form.
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_has_help_and_type_before_its_samples() {
        let mut page = Page::default();
        page.family("x_total", Kind::Counter, "Things \\ counted\nhere.");
        page.sample("x_total", &[("a", "1"), ("b", "q\"\\\nz")], 3.0);
        page.sample("x_total", &[], 0.5);
        assert_eq!(
            page.finish(),
            "# HELP x_total Things \\\\ counted\\nhere.\n# TYPE x_total counter\n\
             x_total{a=\"1\",b=\"q\\\"\\\\\\nz\"} 3\nx_total 0.5\n"
        );
    }

    #[test]
    fn special_numbers_are_spelt_as_prometheus_reads_them() {
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(-12.0), "-12");
        assert_eq!(number(1e21), "1000000000000000000000");
        assert_eq!(number(0.000_25), "0.00025");
    }
}
