//! Conformance: the real `credvend serve` with every real AWS client we can run here (boto3,
//! the AWS CLI v1 and v2, boto 2, the AWS SDKs for JavaScript v3 and v2, for Go v2 and for
//! Rust).
//!
//! Each test starts its own daemon (about as cheap as one client process) and proves the
//! identity a client ends up with: the assumed-role ARN moto reports for the served
//! credentials, asked for with the client's own STS call. Clients run in the scrubbed
//! environment of docs/testing.md with a fresh HOME each (the CLI caches AssumeRole results there).

mod boto2;
mod boto3;
mod cli;
mod cli_v2;
mod go;
mod javascript;
mod rust_sdk;
mod secrets;
mod shutdown;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::daemon::{Daemon, SESSION, Spec};
use crate::support::home::{Home, text};
use crate::support::moto::{Seeded, moto};

/// Longest a client process may run; the slowest (the CLI through a role chain) takes ~2 s.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// moto and a daemon serving profile `app` on IMDS listeners with these `imdsv1` settings and
/// on ECS; `None` when the Python peers are missing (a skip locally, a failure under CI).
fn daemon(imdsv1: &[bool]) -> Option<(&'static Seeded, Daemon)> {
    let moto = moto()?;
    Some((moto, Daemon::start(moto, &Spec::app(moto, imdsv1))))
}

/// The ARN STS reports for the credentials credvend serves for profile `app`.
fn served_arn(moto: &Seeded) -> String {
    moto.assumed("app", SESSION)
}

/// One client process: a fresh HOME, the scrubbed environment, STS at moto.
struct Peer {
    home: Home,
    env: Vec<(String, String)>,
}

impl Peer {
    fn new(moto: &Seeded) -> Self {
        let home = Home::new();
        let mut env = crate::support::scrubbed_env(Some(&home.root));
        env.push(("AWS_ENDPOINT_URL_STS".to_owned(), moto.url.clone()));
        Self { home, env }
    }

    /// Sets (or replaces) a variable.
    fn set(mut self, name: &str, value: impl AsRef<str>) -> Self {
        self.env.retain(|(n, _)| n != name);
        self.env.push((name.to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Removes a variable.
    fn unset(mut self, name: &str) -> Self {
        self.env.retain(|(n, _)| n != name);
        self
    }

    /// Points the client's IMDS at `url` (and enables IMDS, which the scrubbed env disables).
    fn imds(self, url: &str) -> Self {
        self.unset("AWS_EC2_METADATA_DISABLED")
            .set("AWS_EC2_METADATA_SERVICE_ENDPOINT", url)
    }

    /// Points the client's container provider at `url`, with the token given inline.
    fn ecs_token(self, url: &str, token: &str) -> Self {
        self.set("AWS_CONTAINER_CREDENTIALS_FULL_URI", url)
            .set("AWS_CONTAINER_AUTHORIZATION_TOKEN", token)
    }

    /// Points the client's container provider at `url`, with the token read from `file`.
    fn ecs_token_file(self, url: &str, file: &Path) -> Self {
        self.set("AWS_CONTAINER_CREDENTIALS_FULL_URI", url).set(
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            file.display().to_string(),
        )
    }

    /// Writes the client's `~/.aws/config`.
    fn aws_config(self, text: &str) -> Self {
        self.home.config(text);
        self
    }

    /// The environment as `(name, value)` pairs.
    fn vars(&self) -> &[(String, String)] {
        &self.env
    }

    /// Runs `program ARGS` in this environment; its output once it exits (bounded).
    fn run(&self, program: &Path, args: &[&str]) -> Output {
        let mut child = Command::new(program)
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&self.home.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        let deadline = Instant::now() + CLIENT_TIMEOUT;
        while child.try_wait().expect("poll client").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().expect("collect client");
                panic!(
                    "{} {args:?} ran longer than {CLIENT_TIMEOUT:?}; stderr:\n{}",
                    program.display(),
                    text(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().expect("collect client")
    }

    /// Runs the program where it is expected to fail (a client's documented gap); its stderr.
    /// Panics with what it printed when it succeeds instead.
    fn failure(&self, program: &Path, args: &[&str]) -> String {
        let out = self.run(program, args);
        assert!(
            !out.status.success(),
            "{} {args:?} was expected to fail but succeeded:\n{}",
            program.display(),
            text(&out.stdout)
        );
        text(&out.stderr)
    }

    /// Runs the program and parses the one JSON line it prints; panics with its stderr (and
    /// the daemon's) when it fails.
    fn json(&self, daemon: &Daemon, program: &Path, args: &[&str]) -> serde_json::Value {
        let out = self.run(program, args);
        assert!(
            out.status.success(),
            "{} {args:?} failed ({}):\n{}\n-- credvend stderr:\n{}",
            program.display(),
            out.status,
            text(&out.stderr),
            daemon.stderr()
        );
        let stdout = text(&out.stdout);
        // The CLI pretty-prints one document; our scripts print one line after any noise.
        let line = stdout.lines().rev().find(|l| l.starts_with('{'));
        let parsed = serde_json::from_str(stdout.trim())
            .or_else(|_| serde_json::from_str(line.unwrap_or_default()));
        parsed.unwrap_or_else(|e| {
            panic!(
                "{} {args:?} printed no JSON ({e}); stderr:\n{}",
                program.display(),
                text(&out.stderr)
            )
        })
    }
}

/// A file under `tests/peers`.
fn peer_file(rel: &str) -> PathBuf {
    crate::support::peer_script(rel)
}

/// A string field of a client's JSON answer.
fn field<'a>(answer: &'a serde_json::Value, name: &str) -> &'a str {
    answer[name]
        .as_str()
        .unwrap_or_else(|| panic!("no string {name:?} in {answer}"))
}
