//! [`ConfigError`]: why a configuration cannot be used, with the file, line and key.

use std::fmt;
use std::path::{Path, PathBuf};

/// A 1-based line and column in the configuration file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A configuration that cannot be used. Holds no secrets: the configuration has none.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read (for `--config FILE`, also when it does not exist).
    #[error("cannot read config file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{}{message}", origin(file.as_deref(), *position))]
    Syntax {
        /// The file; `None` for text parsed with [`Config::parse`](super::Config::parse)
        /// and no file name.
        file: Option<PathBuf>,
        /// Where the parser stopped, when known.
        position: Option<Position>,
        /// The parser's complaint.
        message: String,
    },
    /// A key is unknown, or its value (from the file, the environment or a default) is
    /// not acceptable.
    #[error("{}{key}: {message}", origin(file.as_deref(), *position))]
    Invalid {
        /// The file the key is in; `None` for environment variables and built-in defaults.
        file: Option<PathBuf>,
        /// Where in the file, when known.
        position: Option<Position>,
        /// The key as written in TOML (`imds[1].listen`), or `$NAME` for an environment
        /// variable.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ConfigError {
    /// An [`Invalid`](Self::Invalid) error not yet placed in a file.
    pub(super) fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            file: None,
            position: None,
            key: key.into(),
            message: message.into(),
        }
    }

    /// The key an [`Invalid`](Self::Invalid) error is about.
    #[must_use]
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// `file:line:column: `, `file: ` or nothing.
fn origin(file: Option<&Path>, position: Option<Position>) -> String {
    match (file, position) {
        (Some(file), Some(at)) => format!("{}:{at}: ", file.display()),
        (Some(file), None) => format!("{}: ", file.display()),
        (None, _) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_lead_with_file_line_and_key() {
        let err = ConfigError::Invalid {
            file: Some("/etc/credvend.toml".into()),
            position: Some(Position {
                line: 3,
                column: 10,
            }),
            key: "imds[1].listen".into(),
            message: "\"x\" is not an address like 127.0.0.1:8169".into(),
        };
        assert_eq!(
            err.to_string(),
            "/etc/credvend.toml:3:10: imds[1].listen: \"x\" is not an address like 127.0.0.1:8169"
        );
        assert_eq!(err.key(), Some("imds[1].listen"));
        let env = ConfigError::invalid("$AWS_REGION", "bad");
        assert_eq!(env.to_string(), "$AWS_REGION: bad");
        let syntax = ConfigError::Syntax {
            file: Some("c.toml".into()),
            position: None,
            message: "unclosed table".into(),
        };
        assert_eq!(syntax.to_string(), "c.toml: unclosed table");
        assert_eq!(syntax.key(), None);
    }
}
