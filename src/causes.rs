//! How an error is shown with its causes: `outer: cause: root cause`.
//!
//! credvend's errors say only their own part in `Display` and hand their cause out through
//! `source()`, so a cause is printed once however many layers wrap it. Whoever shows an error
//! to a person (main, the log, the status view) shows it through [`Causes`].

use std::error::Error;
use std::fmt;

/// Displays `self.0` followed by each of its causes, separated by `": "`.
#[derive(Clone, Copy, Debug)]
pub struct Causes<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Causes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read {0}")]
    struct Outer(&'static str, #[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("check failed")]
    struct Top(#[from] Outer);

    #[test]
    fn each_cause_is_shown_once_in_order() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = Top(Outer("config", io));
        assert_eq!(
            Causes(&err).to_string(),
            "check failed: cannot read config: no such file"
        );
    }
}
