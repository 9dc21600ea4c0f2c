//! The real `credvend serve` as a child process: its config and `~/.aws` in a temporary home,
//! the scrubbed environment with STS at moto, every line of its stderr kept (for secret scans),
//! the systemd notifications it sends (readiness carries the bound addresses as data), and
//! SIGTERM by PID when dropped.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::home::Home;
use super::moto::Seeded;

/// How long the daemon may take from spawn to readiness.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long it may take to drain and exit after SIGTERM.
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);

/// The session name credvend's profiles use, so trust policies can name the session ARN.
pub const SESSION: &str = "conformance";

/// One `[[imds]]` listener to configure.
#[derive(Clone, Debug)]
pub struct ImdsSpec {
    pub profile: String,
    pub imdsv1: bool,
    /// The address to listen on (port 0 or a picked free port is added).
    pub ip: String,
    /// More lines for its `[[imds]]` table (e.g. `allowed_networks = [...]`).
    pub extra: String,
}

/// What a daemon serves: its own `~/.aws` files and listeners.
#[derive(Clone, Debug)]
pub struct Spec {
    pub aws_config: String,
    pub aws_credentials: String,
    pub imds: Vec<ImdsSpec>,
    /// Profiles on the ECS listener; none means `[ecs] enabled = false`.
    pub ecs_profiles: Vec<String>,
    /// `RUST_LOG` for the daemon, if any.
    pub rust_log: Option<String>,
    /// More environment variables for the daemon.
    pub extra_env: Vec<(String, String)>,
    /// Listen on free ports picked now instead of port 0, so the config file names the real
    /// addresses (as `credvend env` and `credential-process` read them).
    pub fixed_ports: bool,
    /// TOML appended to the generated config (e.g. a `[server]` table).
    pub extra_toml: String,
    /// More lines for the generated `[aws]` table (which holds `region`).
    pub aws_toml: String,
    /// The daemon's open-file limit (soft and hard), set with `prlimit`.
    pub fd_limit: Option<u64>,
    /// Give the daemon its stderr as systemd does for the journal: `JOURNAL_STREAM` naming it.
    pub journal_stream: bool,
    /// `run_as` at the top of the config (the test must be root and prepare the home).
    pub run_as: Option<String>,
    /// Start it through `systemd-socket-activate`, which binds every configured listener and
    /// passes the sockets (needs `fixed_ports`).
    pub socket_activation: bool,
    /// Write the config where credvend finds it by itself (`$XDG_CONFIG_HOME/credvend/
    /// config.toml`) and start `credvend serve` without `--config`, as a user would.
    pub default_config_location: bool,
    /// The `[[imds]]` and `[ecs]` tables as written, instead of those made from `imds` and
    /// `ecs_profiles` (for lists of addresses); [`Daemon::listening`] has what was bound.
    pub listeners: Option<String>,
    /// A command to run the daemon under, which must exec it so the PID stays the daemon's
    /// (`ip netns exec NS`).
    pub prefix: Vec<String>,
}

impl Spec {
    /// The usual daemon: profile `app` (role `app` assumed by the seeded user, session
    /// [`SESSION`]) on one IMDS listener per entry of `imdsv1` and on the ECS listener.
    pub fn app(moto: &Seeded, imdsv1: &[bool]) -> Self {
        Self {
            aws_config: format!(
                "[profile app]\nrole_arn = {}\nsource_profile = user\nrole_session_name = {SESSION}\n",
                moto.role("app")
            ),
            aws_credentials: format!(
                "[user]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
                moto.access_key_id, moto.secret_access_key
            ),
            imds: imdsv1
                .iter()
                .map(|&imdsv1| ImdsSpec {
                    profile: "app".to_owned(),
                    imdsv1,
                    ip: "127.0.0.1".to_owned(),
                    extra: String::new(),
                })
                .collect(),
            ecs_profiles: vec!["app".to_owned()],
            rust_log: None,
            extra_env: Vec::new(),
            fixed_ports: false,
            default_config_location: false,
            extra_toml: String::new(),
            aws_toml: String::new(),
            fd_limit: None,
            journal_stream: false,
            socket_activation: false,
            run_as: None,
            listeners: None,
            prefix: Vec::new(),
        }
    }

    fn toml(&self, home: &Home) -> String {
        let state = home.path("state");
        let mut toml = format!("state_dir = {:?}\n", state.display().to_string());
        if let Some(user) = &self.run_as {
            toml.push_str(&format!("run_as = {user:?}\n"));
        }
        if self.imds.is_empty() && self.listeners.is_none() {
            toml.push_str("imds = []\n");
        }
        toml.push_str("\n[aws]\nregion = \"us-east-1\"\n");
        toml.push_str(&self.aws_toml);
        toml.push('\n');
        let port = || if self.fixed_ports { free_port() } else { 0 };
        if let Some(listeners) = &self.listeners {
            toml.push_str(listeners);
            toml.push('\n');
        }
        for imds in self.imds.iter().filter(|_| self.listeners.is_none()) {
            toml.push_str(&format!(
                "[[imds]]\nlisten = \"{}:{}\"\nprofile = {:?}\nimdsv1 = {}\n{}\n",
                imds.ip,
                port(),
                imds.profile,
                imds.imdsv1,
                imds.extra
            ));
        }
        if self.listeners.is_none() && self.ecs_profiles.is_empty() {
            toml.push_str("[ecs]\nenabled = false\n\n");
        } else if self.listeners.is_none() {
            toml.push_str(&format!(
                "[ecs]\nlisten = \"127.0.0.1:{}\"\ntoken_file = {:?}\nprofiles = {:?}\n\n",
                port(),
                home.path("state/ecs-token").display().to_string(),
                self.ecs_profiles
            ));
        }
        toml.push_str(&format!(
            "[audit]\npath = {:?}\n",
            home.path("state/audit.jsonl").display().to_string()
        ));
        toml.push_str(&self.extra_toml);
        toml
    }
}

/// One IMDS listener of a running daemon.
#[derive(Clone, Debug)]
pub struct ImdsEndpoint {
    /// `http://127.0.0.1:PORT`, the value of `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
    pub url: String,
    pub imdsv1: bool,
}

/// A running `credvend serve`.
pub struct Daemon {
    child: Option<Child>,
    home: Home,
    /// The IMDS listeners, in the order of [`Spec::imds`].
    pub imds: Vec<ImdsEndpoint>,
    /// `http://127.0.0.1:PORT` of the (first) ECS listener, if enabled.
    pub ecs: Option<String>,
    /// Every address readiness reported, in config order.
    pub listening: Listening,
    stderr: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
    /// Where the daemon sends its `sd_notify` datagrams.
    notify: UnixDatagram,
}

impl Daemon {
    /// Starts a daemon for `spec` with STS at moto and waits until it reports ready.
    pub fn start(moto: &Seeded, spec: &Spec) -> Self {
        Self::start_prepared(moto, spec, |_| {})
    }

    /// [`start`](Self::start), with `prepare` run on the home once its files are written.
    pub fn start_prepared(moto: &Seeded, spec: &Spec, prepare: impl FnOnce(&Home)) -> Self {
        let home = Home::new();
        home.config(&spec.aws_config)
            .credentials(&spec.aws_credentials);
        std::fs::create_dir_all(home.path("state")).expect("state dir");
        prepare(&home);
        let config = if spec.default_config_location {
            home.path(".config/credvend/config.toml")
        } else {
            home.path("credvend.toml")
        };
        std::fs::create_dir_all(config.parent().expect("config dir")).expect("config dir");
        std::fs::write(&config, spec.toml(&home)).expect("write credvend config");

        let notify_path = home.path("notify.sock");
        let notify = UnixDatagram::bind(&notify_path).expect("bind the notify socket");
        // A daemon that drops to another user must still be able to send to it.
        std::fs::set_permissions(
            &notify_path,
            std::os::unix::fs::PermissionsExt::from_mode(0o666),
        )
        .expect("notify socket mode");
        notify
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("notify socket timeout");

        let listen = listen_addresses(&std::fs::read_to_string(&config).expect("read config"));
        let mut command = match spec.fd_limit {
            _ if spec.socket_activation => {
                let mut c = Command::new("systemd-socket-activate");
                for addr in &listen {
                    c.arg("-l").arg(addr.to_string());
                }
                // It passes on only the variables it is told to (from its own environment).
                let names = super::scrubbed_env(None).into_iter().map(|(k, _)| k);
                let extra = spec.extra_env.iter().map(|(k, _)| k.clone());
                for name in names
                    .chain(extra)
                    .chain(["AWS_ENDPOINT_URL_STS", "NOTIFY_SOCKET", "RUST_LOG"].map(str::to_owned))
                {
                    c.arg("-E").arg(name);
                }
                c.arg(env!("CARGO_BIN_EXE_credvend"));
                c
            }
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}"))
                    .arg("--")
                    .arg(env!("CARGO_BIN_EXE_credvend"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_credvend")),
        };
        if let [program, args @ ..] = &spec.prefix[..] {
            let inner = command;
            command = Command::new(program);
            command
                .args(args)
                .arg(inner.get_program())
                .args(inner.get_args());
        }
        command.arg("serve");
        if !spec.default_config_location {
            command.arg("--config").arg(&config);
        }
        command
            .env_clear()
            .envs(super::scrubbed_env(Some(&home.root)))
            .env("AWS_ENDPOINT_URL_STS", &moto.url)
            .env("NOTIFY_SOCKET", &notify_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(level) = &spec.rust_log {
            command.env("RUST_LOG", level);
        }
        command.envs(spec.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let journal = spec.journal_stream.then(|| {
            let (read, write) = nix::unistd::pipe().expect("pipe");
            let st = nix::sys::stat::fstat(&write).expect("fstat the pipe");
            command
                .env("JOURNAL_STREAM", format!("{}:{}", st.st_dev, st.st_ino))
                .stderr(Stdio::from(write));
            std::fs::File::from(read)
        });
        let mut child = command.spawn().expect("spawn credvend serve");
        if spec.socket_activation {
            // systemd-socket-activate starts the program at the first connection.
            poke(&listen);
        }
        // The parent's copy of the write end went with the Command; the read end is ours.
        let (stderr, reader) = match journal {
            Some(read) => capture(read),
            None => capture(child.stderr.take().expect("daemon stderr")),
        };
        let mut daemon = Self {
            child: Some(child),
            home,
            imds: Vec::new(),
            ecs: None,
            listening: Listening::default(),
            stderr,
            reader: Some(reader),
            notify,
        };
        let ready = daemon.wait_ready();
        if spec.listeners.is_none() && ready.imds.len() != spec.imds.len() {
            daemon.fail(&format!(
                "reported {} IMDS listeners, configured {}",
                ready.imds.len(),
                spec.imds.len()
            ));
        }
        daemon.ecs = ready.ecs.first().map(|a| format!("http://{a}"));
        // Reported in config order, which is the order of the spec.
        daemon.imds = spec
            .imds
            .iter()
            .zip(&ready.imds)
            .map(|(want, addr)| ImdsEndpoint {
                url: format!("http://{addr}"),
                imdsv1: want.imdsv1,
            })
            .collect();
        daemon.listening = ready;
        daemon
    }

    /// The daemon's home (its `~/.aws` files can be rewritten before a reload).
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon running").id()
    }

    /// The daemon's resident memory in KiB (`VmRSS` of `/proc/PID/status`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// Sends `signal` to the daemon.
    pub fn signal(&self, signal: Signal) {
        let child = self.child.as_ref().expect("daemon running");
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits i32"));
        kill(pid, signal).expect("signal the daemon");
    }

    /// Waits (bounded) until `condition` holds; panics with the daemon's stderr otherwise.
    pub fn wait_for(&self, what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + READY_TIMEOUT;
        while !condition() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything the daemon wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    /// The ECS token file the daemon wrote.
    pub fn token_file(&self) -> PathBuf {
        self.home.path("state/ecs-token")
    }

    /// The ECS token (the file's contents).
    pub fn token(&self) -> String {
        std::fs::read_to_string(self.token_file()).expect("read the ECS token file")
    }

    /// The audit log.
    pub fn audit_path(&self) -> PathBuf {
        self.home.path("state/audit.jsonl")
    }

    /// The ECS URL of `profile` (`/role/<profile>`).
    pub fn ecs_role_url(&self, profile: &str) -> String {
        format!("{}/role/{profile}", self.ecs.as_ref().expect("ecs enabled"))
    }

    /// The first IMDS listener with this `imdsv1` setting.
    pub fn imds_url(&self, imdsv1: bool) -> String {
        self.imds
            .iter()
            .find(|i| i.imdsv1 == imdsv1)
            .unwrap_or_else(|| panic!("no IMDS listener with imdsv1 = {imdsv1}"))
            .url
            .clone()
    }

    /// Sends SIGTERM and waits for the exit; the status it exited with. Its stderr and files
    /// stay readable until the `Daemon` is dropped.
    pub fn stop(&mut self) -> ExitStatus {
        self.terminate()
            .expect("credvend serve still running after SIGTERM, or already stopped")
    }

    fn terminate(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits i32"));
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + EXIT_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        status
    }

    /// The next `sd_notify` datagram (`READY=1`, `STOPPING=1`, ...), waiting at most
    /// [`READY_TIMEOUT`]; panics if none comes or the daemon exits first.
    pub fn next_notification(&mut self) -> String {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut buf = [0u8; 4096];
        loop {
            match self.notify.recv(&mut buf) {
                Ok(n) => return String::from_utf8_lossy(&buf[..n]).into_owned(),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => self.fail(&format!("notify socket failed: {e}")),
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.fail(&format!(
                    "exited ({status}) while a notification was awaited"
                ));
            }
            if Instant::now() > deadline {
                self.fail("sent no notification in time");
            }
        }
    }

    /// Waits for `READY=1` and reads the addresses from its `STATUS=imds=ADDR ecs=ADDR`.
    fn wait_ready(&mut self) -> Listening {
        loop {
            let message = self.next_notification();
            if !message.lines().any(|l| l == "READY=1") {
                continue;
            }
            let mut ready = Listening::default();
            let status = message.lines().find_map(|l| l.strip_prefix("STATUS="));
            for word in status.unwrap_or_default().split_whitespace() {
                match word.split_once('=') {
                    Some(("imds", addr)) => ready.imds.push(parse_addr(addr)),
                    Some(("ecs", addr)) => ready.ecs.push(parse_addr(addr)),
                    _ => {}
                }
            }
            return ready;
        }
    }

    fn fail(&mut self, why: &str) -> ! {
        let _ = self.terminate();
        panic!(
            "credvend serve {why}; its stderr:\n{}",
            self.stderr.lock().expect("stderr lock")
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.terminate();
    }
}

/// The addresses a daemon's readiness (`STATUS=imds=ADDR ... ecs=ADDR ...`) names.
#[derive(Clone, Debug, Default)]
pub struct Listening {
    pub imds: Vec<SocketAddr>,
    pub ecs: Vec<SocketAddr>,
}

/// The `listen` addresses of a config (`"ADDR"` or `["ADDR", ...]`), `[[imds]]` tables
/// first, in order.
pub fn listen_addresses(toml: &str) -> Vec<SocketAddr> {
    let doc: toml::Table = toml.parse().expect("the config is TOML");
    let imds = doc.get("imds").and_then(toml::Value::as_array);
    let tables = imds.into_iter().flatten().chain(doc.get("ecs"));
    let listen = tables.filter_map(|t| t.get("listen"));
    listen
        .flat_map(|v| match v {
            toml::Value::Array(items) => items.clone(),
            one => vec![one.clone()],
        })
        .map(|v| {
            let text = v.as_str().expect("listen holds strings");
            text.parse()
                .unwrap_or_else(|e| panic!("listen = {text:?}: {e}"))
        })
        .collect()
}

/// Connects once to the first of `addrs` that accepts, within a few seconds.
pub fn poke(addrs: &[SocketAddr]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if addrs
            .iter()
            .any(|a| std::net::TcpStream::connect(a).is_ok())
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on {addrs:?}");
}

/// A port on 127.0.0.1 that was free a moment ago (the OS does not hand it out again at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn parse_addr(text: &str) -> SocketAddr {
    text.parse()
        .unwrap_or_else(|e| panic!("readiness names {text:?}, not an address: {e}"))
}

/// Reads `stderr` on a thread, keeping every line.
fn capture(stderr: impl Read + Send + 'static) -> (Arc<Mutex<String>>, JoinHandle<()>) {
    let all = Arc::new(Mutex::new(String::new()));
    let kept = all.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            {
                let mut kept = kept.lock().expect("stderr lock");
                kept.push_str(&line);
                kept.push('\n');
            }
        }
    });
    (all, reader)
}

/// Removes terminal colour sequences (`ESC [ … letter`).
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_sequences_are_removed() {
        assert_eq!(
            strip_ansi("\u{1b}[2mimds\u{1b}[0m listening on \u{1b}[3m1.2.3.4:5\u{1b}[0m"),
            "imds listening on 1.2.3.4:5"
        );
    }
}
