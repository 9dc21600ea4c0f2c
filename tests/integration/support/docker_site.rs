//! credvend on the link-local metadata addresses inside a [`HostNs`], with moto beside it.
//!
//! moto runs with `--host 0.0.0.0`: credvend calls it on the namespace's 127.0.0.1 (it takes
//! plain-http STS only on loopback), containers on their gateway address. Each `credvend
//! serve` has its config, state directory and log under the test's home, named after it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::time::Duration;

use super::daemon::strip_ansi;
use super::docker_ns::{HostNs, Proc, wait_until};
use super::home::{Home, text};
use super::moto::Seeded;
use super::{peer_script, scrubbed_env};

/// moto inside the namespace; alive while `_stdin` is open.
pub struct NsMoto {
    pub seeded: Seeded,
    _stdin: ChildStdin,
    _proc: Proc,
}

impl NsMoto {
    /// Starts moto in `ns` and reads its announcement within a minute.
    pub fn start(ns: &HostNs, python: &Path, home: &Home) -> Self {
        let log = std::fs::File::create(home.path("moto.log")).expect("moto log");
        let mut proc = Proc::spawn(
            "moto",
            ns.exec(python)
                .arg(peer_script("moto_sts.py"))
                .args(["--host", "0.0.0.0"])
                .env_clear()
                .envs(scrubbed_env(Some(&home.root)))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(log),
        );
        let stdin = proc.child().stdin.take().expect("moto stdin");
        let stdout = proc.child().stdout.take().expect("moto stdout");
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = send.send(line);
        });
        let line = receive
            .recv_timeout(Duration::from_secs(60))
            .expect("moto announced nothing within a minute");
        let seeded = serde_json::from_str(&line).unwrap_or_else(|e| {
            let log = std::fs::read_to_string(home.path("moto.log")).unwrap_or_default();
            panic!("moto did not start: {e}: {line:?}\n{log}")
        });
        Self {
            seeded,
            _stdin: stdin,
            _proc: proc,
        }
    }

    /// moto's port (the same on every address of the namespace).
    pub fn port(&self) -> &str {
        self.seeded
            .url
            .rsplit(':')
            .next()
            .expect("a port in moto's url")
    }
}

/// Writes the `~/.aws` files: profile `app` is role `app`, assumed by the seeded user with
/// session name `session`.
pub fn write_aws_files(home: &Home, moto: &Seeded, session: &str) {
    home.config(&format!(
        "[profile app]\nrole_arn = {}\nsource_profile = user\nrole_session_name = {session}\n",
        moto.role("app")
    ))
    .credentials(&format!(
        "[user]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        moto.access_key_id, moto.secret_access_key
    ));
}

/// A `credvend serve` inside the namespace.
pub struct NsCredvend {
    pub proc: Proc,
    pub config: PathBuf,
    /// Its state directory: ECS token, capability ids, audit log.
    pub state: PathBuf,
    log: PathBuf,
}

impl NsCredvend {
    /// Starts `credvend serve` in `ns` with `listeners` (TOML: `[[imds]]` and `[ecs]` tables,
    /// or `imds = []` first) and STS at moto, and waits (bounded) until it is ready.
    pub fn start(ns: &HostNs, home: &Home, name: &str, listeners: &str, moto: &Seeded) -> Self {
        let state = home.path(&format!("{name}-state"));
        let config = home.path(&format!("{name}.toml"));
        let log = home.path(&format!("{name}.log"));
        let shown = state.display().to_string();
        std::fs::write(
            &config,
            format!(
                "state_dir = {shown:?}\n{listeners}\n[aws]\nregion = \"us-east-1\"\n\n\
                 [audit]\npath = \"{shown}/audit.jsonl\"\n"
            ),
        )
        .expect("write credvend config");
        let mut proc = Proc::spawn(
            "credvend serve",
            ns.exec(Path::new(env!("CARGO_BIN_EXE_credvend")))
                .arg("serve")
                .arg("--config")
                .arg(&config)
                .env_clear()
                .envs(scrubbed_env(Some(&home.root)))
                .env("AWS_ENDPOINT_URL_STS", &moto.url)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("credvend log")),
        );
        let read_log = || strip_ansi(&std::fs::read_to_string(&log).unwrap_or_default());
        let ready = wait_until(Duration::from_secs(30), || {
            proc.running() && read_log().contains("credvend ready")
        });
        assert!(ready, "credvend serve did not get ready:\n{}", read_log());
        Self {
            proc,
            config,
            state,
            log,
        }
    }

    /// Its stderr so far, without colours.
    pub fn log(&self) -> String {
        strip_ansi(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// Its audit log so far.
    pub fn audit(&self) -> String {
        std::fs::read_to_string(self.state.join("audit.jsonl")).unwrap_or_default()
    }

    /// The ECS token it wrote.
    pub fn token(&self) -> String {
        std::fs::read_to_string(self.state.join("ecs-token")).expect("ecs token")
    }

    /// The capability id it keeps for `profile`.
    pub fn capability_id(&self, profile: &str) -> String {
        let path = self.state.join("ecs-capabilities.json");
        let raw = std::fs::read_to_string(path).expect("capability ids");
        let ids: std::collections::BTreeMap<String, String> =
            serde_json::from_str(&raw).expect("capability ids json");
        ids[profile].clone()
    }

    /// `credvend env --docker ARGS` for its config, run on this machine as a user would (it
    /// reads files only); its standard output.
    pub fn env_docker(&self, home: &Home, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_credvend"))
            .args(["env", "--docker", "--config"])
            .arg(&self.config)
            .args(args)
            .env_clear()
            .envs(scrubbed_env(Some(&home.root)))
            .output()
            .expect("credvend env --docker");
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
        stdout
    }
}
