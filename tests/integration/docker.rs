//! Containers on a Docker bridge get credvend's credentials with nothing configured, from the
//! real Docker engine (root only).
//!
//! A network namespace of the test's own plays the host: 169.254.169.254 and 169.254.170.2 on
//! its loopback, moto in it (credvend calls it on 127.0.0.1, containers through their
//! gateway), `credvend serve` listening on the link-local addresses for the bridge's subnet,
//! and a dockerd of the test's own, so no container traffic can leave the namespace (checked
//! before the first container runs). boto3 in a container on the default bridge then finds
//! credvend by itself on IMDS, and with the flags of `credvend env --docker` through ECS's
//! RELATIVE_URI; both end with moto's assumed-role ARN, and the audit log shows each
//! container's bridge address.

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::time::Duration;

use serde::Deserialize;

use crate::support::daemon::strip_ansi;
use crate::support::dockerd::{BRIDGE, DOCKERD, Dockerd, docker_cli};
use crate::support::home::{Home, text};
use crate::support::moto::Seeded;
use crate::support::netns::{HostNs, Proc, ok, wait_until};
use crate::support::{in_ci, peer_script, python, scrubbed_env};

/// The session name of the profile credvend serves.
const SESSION: &str = "docker";

/// What boto3 in a container printed about the credentials it got.
#[derive(Deserialize)]
struct Identity {
    method: String,
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    arn: String,
}

impl std::fmt::Debug for Identity {
    // For assertion messages: the secret and the token stay out of test output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("method", &self.method)
            .field("access_key_id", &self.access_key_id)
            .field("arn", &self.arn)
            .finish_non_exhaustive()
    }
}

/// moto inside the namespace, on every address of it; alive while `_stdin` is open.
struct NsMoto {
    seeded: Seeded,
    _stdin: ChildStdin,
    _proc: Proc,
}

#[test]
fn containers_on_a_bridge_get_credentials_from_imds_and_ecs_with_no_endpoint_set() {
    if !nix::unistd::geteuid().is_root() {
        assert!(!in_ci(), "the Docker test needs root, and CI runs as root");
        eprintln!("SKIP: the Docker test needs root (network namespaces, dockerd)");
        return;
    }
    let cli = docker_cli();
    let Some(cli) = cli.filter(|_| Path::new(DOCKERD).exists()) else {
        let msg = "the Docker test needs dockerd and the docker CLI: apt-get install docker.io";
        assert!(!in_ci(), "{msg}");
        eprintln!("SKIP: {msg}");
        return;
    };
    let Some(python) = python() else { return };

    let pid = std::process::id();
    // A /24 of its own per test process: another engineer's tests make namespaces too.
    let gateway = Ipv4Addr::new(172, 29, u8::try_from(10 + pid % 240).expect("fits"), 1);
    let subnet = format!("{}/24", Ipv4Addr::from(u32::from(gateway) & !0xff));
    let home = Home::new();
    let ns = HostNs::create(&format!("credvend-docker-{pid}"));
    if let Some(leak) = ns.leaks_off_the_machine(BRIDGE) {
        panic!("the new namespace could reach beyond this machine: {leak}");
    }
    let moto = start_moto(&ns, &python, &home);
    let config = write_config(&home, &moto.seeded, &subnet);
    let mut credvend = start_credvend(&ns, &home, &config, &moto.seeded);
    let mut dockerd = Dockerd::start(&ns, &home.path("docker"), cli, gateway);
    // Again with the bridge up, before the first container runs.
    if let Some(leak) = ns.leaks_off_the_machine(BRIDGE) {
        panic!("the namespace could reach beyond this machine: {leak}");
    }

    let mounts = mounts(&python);
    let client = client_command();
    let sts = format!("http://{gateway}:{}", port_of(&moto.seeded.url));
    let base = [
        "HOME=/tmp".to_owned(),
        "AWS_DEFAULT_REGION=us-east-1".to_owned(),
        format!("AWS_ENDPOINT_URL_STS={sts}"),
    ];
    let base: Vec<String> = base
        .iter()
        .flat_map(|v| ["-e".to_owned(), v.clone()])
        .collect();
    let assumed = moto.seeded.assumed("app", SESSION);

    // 1. No endpoint at all: boto3 finds IMDS at 169.254.169.254 by itself.
    let (imds_ip, imds_id) = run_client(&dockerd, &mounts, &base, &client);
    assert_eq!(imds_id.method, "iam-role", "{imds_id:?}");
    assert_eq!(imds_id.arn, assumed);
    assert!(imds_id.access_key_id.starts_with("ASIA"), "{imds_id:?}");

    // 2. `credvend env --docker` for a link-local config: RELATIVE_URI only, no host network.
    let state = home.path("state");
    let capability = capability_id(&state);
    let token = std::fs::read_to_string(state.join("ecs-token")).expect("ecs token");
    let out = Command::new(env!("CARGO_BIN_EXE_credvend"))
        .args(["env", "--docker", "--config"])
        .arg(&config)
        .env_clear()
        .envs(scrubbed_env(Some(&home.root)))
        .output()
        .expect("credvend env --docker");
    let flags = text(&out.stdout);
    assert!(out.status.success(), "{flags}{}", text(&out.stderr));
    assert_eq!(
        flags,
        format!("-e AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/{capability}\n")
    );
    assert!(!flags.contains(&token));
    // Used as the README says, `docker run $(credvend env --docker) ...`: split on blanks.
    let mut ecs_flags: Vec<String> = flags.split_whitespace().map(str::to_owned).collect();
    ecs_flags.extend(base.iter().cloned());
    ecs_flags.extend(["-e".to_owned(), "AWS_EC2_METADATA_DISABLED=true".to_owned()]);
    let (ecs_ip, ecs_id) = run_client(&dockerd, &mounts, &ecs_flags, &client);
    assert_eq!(ecs_id.method, "container-role", "{ecs_id:?}");
    assert_eq!(ecs_id.arn, assumed);

    // 3. The audit log names each container by its bridge address, and no secret.
    let audit_path = state.join("audit.jsonl");
    let capability_path = format!(
        "/v2/credentials/****{}",
        &capability[capability.len() - 4..]
    );
    let wanted = [
        (
            imds_ip.as_str(),
            "imds@169.254.169.254:80",
            "/latest/meta-data/iam/security-credentials/app",
        ),
        (
            ecs_ip.as_str(),
            "ecs@169.254.170.2:80",
            capability_path.as_str(),
        ),
    ];
    let logged = wait_until(Duration::from_secs(10), || {
        let audit = std::fs::read_to_string(&audit_path).unwrap_or_default();
        wanted.iter().all(|w| served(&audit, *w))
    });
    let audit = std::fs::read_to_string(&audit_path).expect("audit log");
    assert!(logged, "no served record for {wanted:?} in:\n{audit}");
    let log = strip_ansi(&std::fs::read_to_string(home.path("credvend.log")).unwrap_or_default());
    for secret in [
        imds_id.secret_access_key.as_str(),
        imds_id.session_token.as_str(),
        ecs_id.secret_access_key.as_str(),
        ecs_id.session_token.as_str(),
        token.as_str(),
        capability.as_str(),
    ] {
        assert!(!audit.contains(secret), "the audit log shows a secret");
        assert!(!log.contains(secret), "credvend's log shows a secret");
    }

    // 4. Everything stops by PID and leaves nothing behind.
    assert!(dockerd.stop(), "dockerd's processes outlived it");
    drop(dockerd);
    assert!(credvend.stop(), "credvend serve did not exit on SIGTERM");
    drop((credvend, moto));
    let name = ns.name.clone();
    drop(ns);
    let namespaces = text(&ok(Command::new("ip").args(["netns", "list"]), "ip netns").stdout);
    assert!(
        !namespaces
            .lines()
            .any(|l| l.split_whitespace().next() == Some(&name)),
        "{namespaces}"
    );
    let root = home.root.display().to_string();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mountinfo.contains(&root), "mounts left under {root}");
    drop(home);
    assert!(!Path::new(&root).exists(), "{root} left behind");
}

/// moto with `--all-addresses` inside `ns`, its announcement read within a minute.
fn start_moto(ns: &HostNs, python: &Path, home: &Home) -> NsMoto {
    let log = std::fs::File::create(home.path("moto.log")).expect("moto log");
    let mut proc = Proc::spawn(
        "moto",
        ns.exec(python)
            .arg(peer_script("moto_sts.py"))
            .arg("--all-addresses")
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
    NsMoto {
        seeded,
        _stdin: stdin,
        _proc: proc,
    }
}

/// The `~/.aws` files (role `app` assumed by the seeded user) and credvend's config: IMDS and
/// ECS on the link-local addresses, for clients of `subnet`.
fn write_config(home: &Home, moto: &Seeded, subnet: &str) -> PathBuf {
    home.config(&format!(
        "[profile app]\nrole_arn = {}\nsource_profile = user\nrole_session_name = {SESSION}\n",
        moto.role("app")
    ))
    .credentials(&format!(
        "[user]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        moto.access_key_id, moto.secret_access_key
    ));
    let state = home.path("state").display().to_string();
    let config = home.path("credvend.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = {state:?}\n\n[aws]\nregion = \"us-east-1\"\n\n\
             [[imds]]\nlisten = \"169.254.169.254:80\"\nprofile = \"app\"\n\
             allowed_networks = [{subnet:?}]\n\n\
             [ecs]\nlisten = \"169.254.170.2:80\"\nprofiles = [\"app\"]\n\
             token_file = \"{state}/ecs-token\"\nallowed_networks = [{subnet:?}]\n\n\
             [audit]\npath = \"{state}/audit.jsonl\"\n"
        ),
    )
    .expect("write credvend config");
    config
}

/// `credvend serve` inside `ns` with STS at moto on the namespace's loopback, once ready.
fn start_credvend(ns: &HostNs, home: &Home, config: &Path, moto: &Seeded) -> Proc {
    let log_path = home.path("credvend.log");
    let log = std::fs::File::create(&log_path).expect("credvend log");
    let mut proc = Proc::spawn(
        "credvend serve",
        ns.exec(Path::new(env!("CARGO_BIN_EXE_credvend")))
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env_clear()
            .envs(scrubbed_env(Some(&home.root)))
            .env("AWS_ENDPOINT_URL_STS", &moto.url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log),
    );
    let read_log = || strip_ansi(&std::fs::read_to_string(&log_path).unwrap_or_default());
    let ready = wait_until(Duration::from_secs(30), || {
        proc.running() && read_log().contains("credvend ready")
    });
    assert!(ready, "credvend serve did not get ready:\n{}", read_log());
    proc
}

/// What a container needs from this machine, read-only: `/usr`, the Python the venv was made
/// from, the venv, and the peer scripts.
fn mounts(python: &Path) -> Vec<PathBuf> {
    let out = ok(
        Command::new(python).args(["-c", "import sys; print(sys.base_prefix)"]),
        "python base prefix",
    );
    let base = PathBuf::from(text(&out.stdout).trim());
    let venv = python
        .parent()
        .and_then(Path::parent)
        .expect("venv of bin/python");
    let mut mounts = vec![PathBuf::from("/usr")];
    for path in [base, venv.to_owned(), peer_script("")] {
        let path = path.canonicalize().expect("canonical mount path");
        if !mounts.iter().any(|m| path.starts_with(m)) {
            mounts.push(path);
        }
    }
    mounts
}

/// Prints the container's own address (from the `/etc/hosts` docker writes), then runs the
/// boto3 identity peer.
fn client_command() -> Vec<String> {
    let python = python().expect("venv checked");
    let script = peer_script("clients/boto3_identity.py");
    let code = format!(
        "import runpy, socket, sys\n\
         print(socket.gethostbyname(socket.gethostname()), flush=True)\n\
         sys.argv = [{script:?}]\n\
         runpy.run_path({script:?}, run_name='__main__')\n",
        script = script.display().to_string()
    );
    vec![python.display().to_string(), "-c".to_owned(), code]
}

/// Runs the client in a container; its bridge address and what boto3 got.
fn run_client(
    dockerd: &Dockerd,
    mounts: &[PathBuf],
    flags: &[String],
    client: &[String],
) -> (String, Identity) {
    let out = dockerd.run(mounts, flags, client);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "the container failed ({}): {}\n{stdout}",
        out.status,
        text(&out.stderr)
    );
    let mut lines = stdout.lines();
    let ip = lines.next().unwrap_or_default().to_owned();
    let identity = serde_json::from_str(lines.next().unwrap_or_default())
        .unwrap_or_else(|e| panic!("not boto3's identity ({e}): {stdout}"));
    let gateway_subnet = dockerd.gateway.octets()[..3].to_vec();
    let own: Option<Ipv4Addr> = ip.parse().ok();
    assert!(
        own.is_some_and(|a| a.octets()[..3] == gateway_subnet[..]),
        "the container is not on the bridge: {ip:?}"
    );
    (ip, identity)
}

/// The capability id the daemon keeps for `app`.
fn capability_id(state: &Path) -> String {
    let raw = std::fs::read_to_string(state.join("ecs-capabilities.json")).expect("ids");
    let ids: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&raw).expect("ids json");
    ids["app"].clone()
}

/// Whether `audit` has a `served` record for client `ip` on `listener` at `path`.
fn served(audit: &str, (ip, listener, path): (&str, &str, &str)) -> bool {
    audit
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .any(|r| {
            r["event"] == "served"
                && r["client"] == ip
                && r["listener"] == listener
                && r["path"] == path
                && r["profile"] == "app"
        })
}

fn port_of(url: &str) -> &str {
    url.rsplit(':').next().expect("a port in moto's url")
}
