//! A snapshot of the process environment, taken once in `main`.
//!
//! Library code reads variables only through [`Env`], so tests can hand it any environment
//! without touching the real one (clippy's `disallowed-methods` keeps `std::env::var` out).

use std::collections::HashMap;
use std::fmt;

/// Environment variables, as seen at start-up or as a test sets them.
///
/// `Debug` lists names only: values may be secrets (`AWS_SECRET_ACCESS_KEY`, tokens).
#[derive(Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.vars.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Env").field("names", &names).finish()
    }
}

impl Env {
    /// The real process environment.
    #[must_use]
    #[allow(clippy::disallowed_methods)] // the one place that reads the process environment
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    /// An environment made of the given pairs (tests).
    #[must_use]
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The value of `name` when it is set and not empty.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// This environment with `name` set to `value` (after a privilege drop: the new user's
    /// `HOME`, `USER` and `LOGNAME`).
    #[must_use]
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.vars.insert(name.to_owned(), value.into());
        self
    }

    /// Every variable, for a child process that gets the daemon's environment
    /// (`credential_process`).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The user's home directory, from `HOME`.
    #[must_use]
    pub fn home(&self) -> Option<&str> {
        self.get("HOME")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_names_but_never_values() {
        let env = Env::from_pairs([
            ("AWS_SECRET_ACCESS_KEY", "very-secret"),
            ("HOME", "/home/u"),
        ]);
        let shown = format!("{env:?}");
        assert!(
            shown.contains("AWS_SECRET_ACCESS_KEY") && shown.contains("HOME"),
            "{shown}"
        );
        assert!(
            !shown.contains("very-secret") && !shown.contains("/home/u"),
            "{shown}"
        );
    }

    #[test]
    fn empty_values_count_as_unset() {
        let env = Env::from_pairs([("A", ""), ("B", "b")]);
        assert_eq!(env.get("A"), None);
        assert_eq!(env.get("B"), Some("b"));
    }
}
