//! The link-local test's set-up and its client runner: the namespaces with moto and
//! `credvend serve` in the host one ([`site`]), and one client run in a container namespace
//! with the scrubbed environment and nothing pointing it anywhere ([`Site::check`]).

use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

use credvend::random::OsRandom;

use super::rust_peer::RUST_PEER_MARK;
use super::{ALLOWED, OUTSIDE};
use crate::support::daemon::{Daemon, Spec};
use crate::support::home::{Home, text};
use crate::support::moto::Seeded;
use crate::support::netns::{Lab, METADATA};
use crate::support::{peers_dir, scrubbed_env};

/// Longest a client may run; the slowest (the CLI) takes about two seconds.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// moto in the host namespace; stopped on drop (its stdin closed, then killed by PID).
pub(super) struct HostMoto {
    pub(super) seeded: Seeded,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Drop for HostMoto {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything a test here runs against. Fields drop in order: the daemon and moto are
/// stopped before their namespaces go.
pub(super) struct Site {
    pub(super) daemon: Daemon,
    pub(super) moto: HostMoto,
    /// moto as the clients reach it, on the host's veth address.
    pub(super) sts_url: String,
    pub(super) lab: Lab,
}

/// The `[[imds]]` and `[ecs]` tables: the addresses of `config.linklocal.toml`, profile
/// `app`, and the allowed container's networks.
fn listeners() -> String {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config.linklocal.toml");
    let doc: toml::Table = std::fs::read_to_string(file)
        .expect("read config.linklocal.toml")
        .parse()
        .expect("config.linklocal.toml is TOML");
    let imds = &doc["imds"].as_array().expect("[[imds]]")[0]["listen"];
    let ecs = &doc["ecs"]["listen"];
    let nets = toml::Value::from(ALLOWED.cidrs());
    format!(
        "[[imds]]\nlisten = {imds}\nprofile = \"app\"\nallowed_networks = {nets}\n\n\
         [ecs]\nlisten = {ecs}\nprofiles = [\"app\"]\nallowed_networks = {nets}\n"
    )
}

pub(super) fn site() -> Option<Site> {
    if !crate::support::root("the link-local namespace test (network namespaces)") {
        return None;
    }
    let lab = Lab::new(&[ALLOWED, OUTSIDE]);
    let up = run(lab
        .exec(&lab.host, env!("CARGO_BIN_EXE_credvend"))
        .args(["network", "up"]));
    assert!(up.status.success(), "network up: {}", text(&up.stderr));
    assert!(
        text(&up.stdout).contains("added fd00:ec2::23/128"),
        "{}",
        text(&up.stdout)
    );
    lab.assert_contained();

    let log = std::fs::File::create(std::env::temp_dir().join(format!("{}-moto.log", lab.host)))
        .expect("moto log file");
    let prefix = ["ip", "netns", "exec", lab.host.as_str()];
    let args = ["--host", "0.0.0.0"].map(std::ffi::OsStr::new);
    let peer = crate::support::start_json_peer_under::<Seeded>(
        &prefix,
        "moto_sts.py",
        &args,
        None,
        log.into(),
    )?;
    let moto = HostMoto {
        stdin: Some(peer.stdin),
        child: peer.child,
        seeded: peer.announced,
    };
    let port = moto
        .seeded
        .url
        .rsplit(':')
        .next()
        .expect("moto's port")
        .to_owned();
    let sts_url = format!("http://{}:{port}", ALLOWED.gateway());

    let mut spec = Spec::app(&moto.seeded, &[]);
    spec.listeners = Some(listeners());
    spec.prefix = prefix.map(str::to_owned).to_vec();
    let daemon = Daemon::start(&moto.seeded, &spec);
    Some(Site {
        daemon,
        moto,
        sts_url,
        lab,
    })
}

/// Runs `command` to its end, killing it (by PID) after [`CLIENT_TIMEOUT`].
pub(super) fn run(command: &mut Command) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {command:?}: {e}"));
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    while child.try_wait().expect("poll child").is_none() {
        if Instant::now() > deadline {
            eprintln!("{command:?} ran longer than {CLIENT_TIMEOUT:?}: killed");
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect child")
}

/// One client run in the container, and what its JSON answer must hold.
pub(super) struct Case {
    pub(super) name: &'static str,
    pub(super) program: PathBuf,
    pub(super) args: Vec<String>,
    /// Variables on top of the container environment; `AWS_EC2_METADATA_DISABLED` is dropped
    /// when the case reads IMDS.
    pub(super) vars: Vec<(&'static str, String)>,
    pub(super) imds: bool,
    /// The field holding the ARN, and any other field with the value it must have.
    pub(super) arn: &'static str,
    pub(super) also: Option<(&'static str, serde_json::Value)>,
}

impl Site {
    /// The scrubbed environment (docs/testing.md §5) as a container client gets it: STS at
    /// moto across the veth, and the metadata addresses and moto exempt from the dead proxy
    /// (the namespaces, not the proxy, keep these requests on the machine).
    fn client_env(&self, home: &Home) -> Vec<(String, String)> {
        let mut env = scrubbed_env(Some(&home.root));
        let mut no_proxy = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        no_proxy.extend(METADATA.map(str::to_owned));
        // Python's urllib compares the bracketed host of an IPv6 URL.
        no_proxy.extend(
            METADATA
                .iter()
                .filter(|a| a.contains(':'))
                .map(|a| format!("[{a}]")),
        );
        no_proxy.push(ALLOWED.gateway());
        env.retain(|(k, _)| k != "NO_PROXY");
        let modules = peers_dir().join("js/node_modules").display().to_string();
        for (k, v) in [
            ("NO_PROXY", no_proxy.join(",")),
            ("AWS_ENDPOINT_URL_STS", self.sts_url.clone()),
            ("NODE_PATH", modules),
            (
                "AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE",
                "1".to_owned(),
            ),
            ("AWS_PAGER", String::new()),
            ("PYTHONDONTWRITEBYTECODE", "1".to_owned()),
            ("BOTO_CONFIG", home.path(".boto").display().to_string()),
        ] {
            env.push((k.to_owned(), v));
        }
        env
    }

    /// Runs `case` in namespace `ns`; its JSON answer, or why there is none (never its stdout,
    /// which may hold the served secret).
    fn answer(&self, ns: &str, case: &Case) -> Result<serde_json::Value, String> {
        self.lab.assert_contained();
        let home = Home::new();
        let mut env = self.client_env(&home);
        if case.imds {
            env.retain(|(k, _)| k != "AWS_EC2_METADATA_DISABLED");
        }
        env.extend(case.vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        let out = run(self
            .lab
            .exec(ns, &case.program)
            .args(&case.args)
            .env_clear()
            .envs(env)
            .current_dir(&home.root));
        if !out.status.success() {
            return Err(format!("{}: {}", out.status, text(&out.stderr).trim()));
        }
        let stdout = text(&out.stdout);
        // The CLI prints one pretty document; the scripts one line, the Rust peer one marked
        // line among the test harness's.
        let json = stdout
            .lines()
            .find_map(|l| l.strip_prefix(RUST_PEER_MARK))
            .map_or_else(|| stdout.trim().to_owned(), str::to_owned);
        serde_json::from_str(&json)
            .map_err(|e| format!("no JSON answer ({e}): {}", text(&out.stderr)))
    }

    /// [`answer`](Self::answer), checked: the ARN is `want` and `also` holds.
    pub(super) fn check(&self, ns: &str, case: &Case, want: &str) -> Result<(), String> {
        let answer = self.answer(ns, case)?;
        let arn = answer[case.arn].as_str().unwrap_or("(none)");
        if arn != want {
            return Err(format!("ARN {arn}, want {want}"));
        }
        match &case.also {
            Some((field, value)) if answer[*field] != *value => {
                Err(format!("{field} = {}, want {value}", answer[*field]))
            }
            _ => Ok(()),
        }
    }
}

impl Site {
    /// `/v2/credentials/<id>`: the capability of profile `app`, as the daemon stored it.
    pub(super) fn capability(&self) -> String {
        let path = self.daemon.home().path("state/ecs-capabilities.json");
        let ids = credvend::server::load_or_create_capabilities(&path, &["app".into()], &OsRandom)
            .expect("the daemon's capability ids");
        ids.relative_uri("app").expect("a capability for app")
    }

    /// The audit records of `event`, parsed.
    pub(super) fn audit(&self, event: &str) -> Vec<serde_json::Value> {
        let log = std::fs::read_to_string(self.daemon.audit_path()).unwrap_or_default();
        log.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|r| r["event"] == event)
            .collect()
    }
}
