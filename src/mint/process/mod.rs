//! `credential_process` as the source of a chain: credvend runs the command itself and reads
//! the credentials it prints (<https://docs.aws.amazon.com/sdkref/latest/guide/feature-process-credentials.html>).
//!
//! The command is split as botocore splits it ([`split`]) and run without a shell, with the
//! daemon's environment (the injected [`Env`]), stdin from `/dev/null`, within
//! `[aws] credential_process_timeout_seconds` (killed after it, with the processes it started
//! that are still its descendants: `tree`). Stdout is read up to 1 MiB and
//! never logged; it is checked as botocore checks it (`document`). Stderr lines are logged
//! once the program has ended, each with the secret and token it printed, and anything that
//! looks like a key or token, replaced by `<redacted>`. Only the cache's fetch task (and
//! `credvend check`) gets here: a read never waits for a program.

mod document;
mod error;
pub mod split;
mod tree;

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

pub use document::DocumentError;
pub use error::ProcessError;

use super::error::MintError;
use crate::config::AwsSettings;
use crate::env::Env;
use crate::profile::BaseCredentials;
use crate::secret::{Credentials, mask_key_id};

/// The most of stdout credvend reads: a credential document is well under a kilobyte.
pub const STDOUT_LIMIT: usize = 1024 * 1024;
/// Stderr lines kept (the last ones) for the log.
const STDERR_LINES: usize = 50;
/// Bytes of one stderr line kept; the rest of a longer line is dropped.
const STDERR_LINE_BYTES: usize = 1000;
/// Runs of this many key or token characters in stderr are redacted: a secret access key has
/// 40, a session token hundreds.
const SECRET_LIKE_RUN: usize = 32;
/// What a redacted part of a stderr line becomes.
const REDACTED: &str = "<redacted>";

/// With no role on top, what the program printed is served as it is, so session
/// credentials must say when they expire (STS refuses GetSessionToken signed with a session,
/// so there is no way to renew them into something that does).
pub fn check_served_as_given(
    base: &BaseCredentials,
    credentials: &Credentials,
) -> Result<(), MintError> {
    let BaseCredentials::Process {
        profile, command, ..
    } = base
    else {
        return Ok(());
    };
    if !credentials.is_session() || credentials.expiration.is_some() {
        return Ok(());
    }
    let program = split::split(command.expose())
        .ok()
        .and_then(|w| w.into_iter().next())
        .unwrap_or_default();
    Err(MintError::Process {
        profile: profile.clone(),
        error: ProcessError::SessionWithoutExpiration { program },
    })
}

/// How long the base of `base` may take before STS is asked: the process timeout for a
/// `credential_process`, nothing for the other sources (the cache adds it to its fetch bound).
#[must_use]
pub fn time_bound(base: &BaseCredentials, aws: &AwsSettings) -> Duration {
    match base {
        BaseCredentials::Process { .. } => aws.credential_process_timeout,
        _ => Duration::ZERO,
    }
}

/// Runs `command` for `profile` and returns the credentials it printed.
pub async fn run(
    profile: &str,
    command: &str,
    env: &Env,
    timeout: Duration,
) -> Result<Credentials, ProcessError> {
    let words = split::split(command).map_err(ProcessError::Split)?;
    let program = words[0].clone();
    let spawn_error = |e: std::io::Error, program: &str| ProcessError::Spawn {
        program: program.to_owned(),
        reason: e.to_string(),
        retryable: !matches!(
            e.kind(),
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
        ),
    };
    let mut child = tokio::process::Command::new(&program)
        .args(&words[1..])
        .env_clear()
        .envs(env.iter())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A fetch given up by the cache drops this future: the program must not outlive it.
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| spawn_error(e, &program))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(spawn_error(std::io::Error::other("no pipes"), &program));
    };
    let mut lines = StderrLines::default();
    let collected = tokio::time::timeout(timeout, collect(stdout, stderr, &mut lines)).await;
    let result = match collected {
        Err(_) => Err(ProcessError::Timeout {
            program: program.clone(),
            seconds: timeout.as_secs(),
        }),
        Ok(Err(e)) => Err(e.into_error(&program)),
        Ok(Ok(stdout)) => match child.wait().await {
            Ok(status) => interpret(&program, status, &stdout, &lines),
            Err(e) => Err(spawn_error(e, &program)),
        },
    };
    if result.is_err() {
        // Killed at once on a timeout or a flood, with what it started while it ran (`tree`);
        // a no-op for a program that has exited.
        if let (Ok(None), Some(pid)) = (child.try_wait(), child.id()) {
            let _ = tokio::task::spawn_blocking(move || tree::kill_descendants(pid)).await;
        }
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    let secrets: Vec<&str> = result.as_ref().map_or_else(
        |_| Vec::new(),
        |c| {
            std::iter::once(c.secret_access_key.expose())
                .chain(c.session_token.as_ref().map(|t| t.expose()))
                .collect()
        },
    );
    lines.log(profile, &program, &secrets);
    if let Ok(credentials) = &result {
        let expiration = credentials.expiration.map_or_else(
            || "none (long-term keys)".into(),
            crate::clock::format_timestamp,
        );
        tracing::info!(profile, program, access_key_id = %mask_key_id(&credentials.access_key_id),
            %expiration, "credential_process gave credentials");
    }
    result
}

/// What reading the pipes can fail with.
enum CollectError {
    TooMuch,
    Io(std::io::Error),
}

impl CollectError {
    fn into_error(self, program: &str) -> ProcessError {
        match self {
            Self::TooMuch => ProcessError::TooMuchOutput {
                program: program.to_owned(),
                limit: STDOUT_LIMIT,
            },
            Self::Io(e) => ProcessError::Spawn {
                program: program.to_owned(),
                reason: format!("reading its output: {e}"),
                retryable: true,
            },
        }
    }
}

/// Reads stdout (capped) and stderr (as lines) to their ends, together, so neither pipe
/// fills up and stalls the program; stops at once when stdout passes the cap.
async fn collect(
    stdout: impl AsyncRead + Unpin,
    stderr: impl AsyncRead + Unpin,
    lines: &mut StderrLines,
) -> Result<Vec<u8>, CollectError> {
    let limit = u64::try_from(STDOUT_LIMIT).unwrap_or(u64::MAX) + 1;
    let out = async move {
        let mut buf = Vec::new();
        stdout.take(limit).read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    let err = lines.read(stderr);
    tokio::pin!(out, err);
    let (mut stdout, mut stderr_done) = (None, false);
    while stdout.is_none() || !stderr_done {
        tokio::select! {
            read = &mut out, if stdout.is_none() => {
                let buf = read.map_err(CollectError::Io)?;
                if buf.len() > STDOUT_LIMIT {
                    return Err(CollectError::TooMuch);
                }
                stdout = Some(buf);
            }
            () = &mut err, if !stderr_done => stderr_done = true,
        }
    }
    Ok(stdout.unwrap_or_default())
}

/// The exit status and stdout of a program that has ended, as credentials or an error.
fn interpret(
    program: &str,
    status: ExitStatus,
    stdout: &[u8],
    lines: &StderrLines,
) -> Result<Credentials, ProcessError> {
    let last_stderr = || lines.last().map(|l| redact(l, &[]));
    if let Some(code) = status.code().filter(|c| *c != 0) {
        return Err(ProcessError::Exit {
            program: program.to_owned(),
            code,
            last_stderr: last_stderr(),
        });
    }
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        return Err(ProcessError::Signal {
            program: program.to_owned(),
            signal,
            last_stderr: last_stderr(),
        });
    }
    document::parse(stdout).map_err(|error| ProcessError::Document {
        program: program.to_owned(),
        error,
    })
}

/// The last [`STDERR_LINES`] lines of stderr, and how many before them were dropped.
#[derive(Debug, Default)]
struct StderrLines {
    kept: VecDeque<String>,
    dropped: usize,
}

impl StderrLines {
    async fn read(&mut self, mut stderr: impl AsyncRead + Unpin) {
        let mut chunk = [0u8; 4096];
        let mut line = Vec::new();
        loop {
            let n = match stderr.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for &byte in &chunk[..n] {
                if byte == b'\n' {
                    self.push(&mut line);
                } else if line.len() < STDERR_LINE_BYTES {
                    line.push(byte);
                }
            }
        }
        if !line.is_empty() {
            self.push(&mut line);
        }
    }

    fn push(&mut self, line: &mut Vec<u8>) {
        let text = String::from_utf8_lossy(line).trim_end().to_owned();
        line.clear();
        if text.is_empty() {
            return;
        }
        if self.kept.len() == STDERR_LINES {
            self.kept.pop_front();
            self.dropped += 1;
        }
        self.kept.push_back(text);
    }

    fn last(&self) -> Option<&str> {
        self.kept.back().map(String::as_str)
    }

    fn log(&self, profile: &str, program: &str, secrets: &[&str]) {
        if self.dropped > 0 {
            tracing::info!(
                profile,
                program,
                "credential_process stderr: {} earlier lines not shown",
                self.dropped
            );
        }
        for line in &self.kept {
            tracing::info!(
                profile,
                program,
                "credential_process stderr: {}",
                redact(line, secrets)
            );
        }
    }
}

/// `line` with each of `secrets` and every long run of key or token characters (letters,
/// digits, `+/=`) replaced by `<redacted>`.
fn redact(line: &str, secrets: &[&str]) -> String {
    let mut text = line.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, REDACTED);
    }
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().count() >= SECRET_LIKE_RUN {
            out.push_str(REDACTED);
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=') {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests;
