//! What `credvend doctor` prints: one line per finding, `ok`, `warn` or `fail`, each problem
//! followed by its fix.

use std::fmt;

/// How a finding stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Works as it should.
    Ok,
    /// Works, but something will surprise the user or a client.
    Warn,
    /// Does not work.
    Fail,
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// How it stands.
    pub level: Level,
    /// The area: `daemon`, `files`, `shell`, `endpoints`, `link-local`, `clock`.
    pub area: &'static str,
    /// What was found.
    pub what: String,
    /// What to do about it, for warnings and failures.
    pub fix: Option<String>,
}

/// Every finding, in the order checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The findings.
    pub findings: Vec<Finding>,
}

impl Report {
    pub(super) fn ok(&mut self, area: &'static str, what: impl Into<String>) {
        self.push(Level::Ok, area, what.into(), None);
    }

    pub(super) fn warn(
        &mut self,
        area: &'static str,
        what: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.push(Level::Warn, area, what.into(), Some(fix.into()));
    }

    pub(super) fn fail(
        &mut self,
        area: &'static str,
        what: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.push(Level::Fail, area, what.into(), Some(fix.into()));
    }

    fn push(&mut self, level: Level, area: &'static str, what: String, fix: Option<String>) {
        self.findings.push(Finding {
            level,
            area,
            what,
            fix,
        });
    }

    /// How many findings failed.
    #[must_use]
    pub fn failures(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.level == Level::Fail)
            .count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            let level = match finding.level {
                Level::Ok => "ok",
                Level::Warn => "warn",
                Level::Fail => "fail",
            };
            writeln!(f, "{level:<5} {}: {}", finding.area, finding.what)?;
            if let Some(fix) = &finding.fix {
                writeln!(f, "      fix: {fix}")?;
            }
        }
        let (warn, fail) = self
            .findings
            .iter()
            .fold((0, 0), |(w, x), f| match f.level {
                Level::Warn => (w + 1, x),
                Level::Fail => (w, x + 1),
                Level::Ok => (w, x),
            });
        writeln!(
            f,
            "{} checks: {fail} failed, {warn} warnings",
            self.findings.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_finding_is_a_line_and_each_problem_has_its_fix() {
        let mut report = Report::default();
        report.ok("daemon", "imds 127.0.0.1:8169 answers");
        report.warn("shell", "AWS_PROFILE is set", "unset AWS_PROFILE");
        report.fail(
            "daemon",
            "nothing answers on 127.0.0.1:8170",
            "run credvend serve",
        );
        assert_eq!(report.failures(), 1);
        assert_eq!(
            report.to_string(),
            "ok    daemon: imds 127.0.0.1:8169 answers\n\
             warn  shell: AWS_PROFILE is set\n      fix: unset AWS_PROFILE\n\
             fail  daemon: nothing answers on 127.0.0.1:8170\n      fix: run credvend serve\n\
             3 checks: 1 failed, 1 warnings\n"
        );
    }
}
