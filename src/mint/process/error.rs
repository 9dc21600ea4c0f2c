//! Why a `credential_process` gave no credentials. Names the program (its first word, never
//! the arguments, which may carry a secret) and what went wrong; never what it printed on
//! stdout, and stderr only as a redacted last line.

use super::document::DocumentError;
use super::split::SplitError;

/// Why running a `credential_process` gave no credentials.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProcessError {
    /// The command line cannot be split into words.
    #[error("the command line cannot be split: {0}")]
    Split(#[source] SplitError),
    /// The program could not be started.
    #[error("cannot run {program}: {reason}")]
    Spawn {
        /// The program.
        program: String,
        /// The operating system's reason.
        reason: String,
        /// Whether trying again may help (not for a missing or non-executable program).
        retryable: bool,
    },
    /// It ran longer than `[aws] credential_process_timeout_seconds` and was killed.
    #[error(
        "{program} did not finish within {seconds}s and was killed ([aws] credential_process_timeout_seconds)"
    )]
    Timeout {
        /// The program.
        program: String,
        /// The timeout.
        seconds: u64,
    },
    /// It exited with a non-zero status.
    #[error("{program} exited with status {code}{}", last_line(last_stderr.as_deref()))]
    Exit {
        /// The program.
        program: String,
        /// Its exit status.
        code: i32,
        /// Its last non-empty stderr line, redacted.
        last_stderr: Option<String>,
    },
    /// A signal ended it.
    #[error("{program} was killed by signal {signal}{}", last_line(last_stderr.as_deref()))]
    Signal {
        /// The program.
        program: String,
        /// The signal number.
        signal: i32,
        /// Its last non-empty stderr line, redacted.
        last_stderr: Option<String>,
    },
    /// It printed more than credvend reads.
    #[error("{program} printed more than {limit} bytes on stdout")]
    TooMuchOutput {
        /// The program.
        program: String,
        /// The cap.
        limit: usize,
    },
    /// It exited 0 but did not print a valid document.
    #[error("{program} printed no usable credentials: {error}")]
    Document {
        /// The program.
        program: String,
        /// What is wrong with the document.
        error: DocumentError,
    },
    /// It printed session credentials with no `Expiration` for a profile that serves them as
    /// they are: credvend serves only credentials that expire, and STS refuses
    /// GetSessionToken signed with a session.
    #[error(
        "{program} printed a SessionToken without an Expiration; credvend serves such credentials only through a role_arn profile on top"
    )]
    SessionWithoutExpiration {
        /// The program.
        program: String,
    },
}

fn last_line(line: Option<&str>) -> String {
    line.map(|l| format!("; its last stderr line: {l}"))
        .unwrap_or_default()
}

impl ProcessError {
    /// Whether a quick retry may help: a crash, a timeout, a failed start; not a missing
    /// program or a document that will be just as wrong next time.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Spawn { retryable, .. } => *retryable,
            Self::Timeout { .. } | Self::Exit { .. } | Self::Signal { .. } => true,
            Self::Split(_)
            | Self::TooMuchOutput { .. }
            | Self::Document { .. }
            | Self::SessionWithoutExpiration { .. } => false,
        }
    }
}
