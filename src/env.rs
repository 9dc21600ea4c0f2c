//! A snapshot of the process environment, taken once in `main`.
//!
//! Library code reads variables only through [`Env`], so tests can hand it any environment
//! without touching the real one (clippy's `disallowed-methods` keeps `std::env::var` out).

use std::collections::HashMap;

/// Environment variables, as seen at start-up or as a test sets them.
#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: HashMap<String, String>,
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

    /// The user's home directory, from `HOME`.
    #[must_use]
    pub fn home(&self) -> Option<&str> {
        self.get("HOME")
    }
}
