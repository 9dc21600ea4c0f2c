//! Containers on a Docker bridge get credvend's credentials with nothing configured, from the
//! real Docker engine (root only).
//!
//! A network namespace of the test's own plays the host: the link-local addresses on its
//! loopback, moto in it, `credvend serve` listening on those addresses for the bridge's subnet,
//! and a dockerd of the test's own, so no container traffic can leave the namespace (checked
//! before the first container runs). boto3 in a container on the default bridge then finds
//! credvend by itself on IMDS, and with the flags of `credvend env --docker` through ECS: the
//! RELATIVE_URI on 169.254.170.2, and with `--full-uri` the FULL_URI on 169.254.170.23 and the
//! mounted token file (one ECS listener on both addresses).
//! Each run ends with moto's assumed-role ARN, and the audit log shows the container's bridge
//! address and, asked of the engine, its name, id and image. A container labelled
//! `credvend.profile=web` gets the `web` profile from the same IMDS listener; a label naming a
//! profile the listener does not offer is refused.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Deserialize;

use crate::support::docker_ns::{HostNs, ok, wait_until};
use crate::support::docker_site::{NsCredvend, NsMoto, write_aws_files};
use crate::support::dockerd::{BRIDGE, DOCKERD, Dockerd, docker_cli};
use crate::support::home::{Home, text};
use crate::support::{in_ci, peer_script, python};

/// The session name of the profile credvend serves.
const SESSION: &str = "docker";
/// The session name of the profile a label picks.
const WEB_SESSION: &str = "web-label";

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

#[test]
fn containers_on_a_bridge_get_credentials_from_imds_and_ecs_with_no_endpoint_set() {
    if !crate::support::root("the Docker test (network namespaces, dockerd)") {
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
    let subnet = format!("[\"{}/24\"]", Ipv4Addr::from(u32::from(gateway) & !0xff));
    let home = Home::new();
    let ns = HostNs::create(&format!("credvend-docker-{pid}"));
    if let Some(leak) = ns.leaks_off_the_machine(BRIDGE) {
        panic!("the new namespace could reach beyond this machine: {leak}");
    }
    let moto = NsMoto::start(&ns, &python, &home);
    write_aws_files(&home, &moto.seeded, SESSION);
    // A second profile for labelled containers: the same role under another session name.
    let app = std::fs::read_to_string(home.path(".aws/config")).expect("aws config");
    home.config(&format!(
        "{app}
[profile web]
role_arn = {}
source_profile = user
role_session_name = {WEB_SESSION}
",
        moto.seeded.role("app")
    ));
    let engine = home.path("docker/docker.sock");
    let mut daemon = NsCredvend::start(
        &ns,
        &home,
        "relative",
        &format!(
            "[[imds]]\nlisten = \"169.254.169.254:80\"\nprofile = \"app\"\n\
             allowed_networks = {subnet}\nlabel_profiles = [\"web\"]\n\n\
             [ecs]\nlisten = [\"169.254.170.2:80\", \"169.254.170.23:80\"]\n\
             profiles = [\"app\"]\nallowed_networks = {subnet}\n\n\
             [docker]\nsocket = {:?}\n",
            engine.display().to_string()
        ),
        &moto.seeded,
    );
    let mut dockerd = Dockerd::start(&ns, &home.path("docker"), cli, gateway);
    // Again with the bridge up, before the first container runs.
    if let Some(leak) = ns.leaks_off_the_machine(BRIDGE) {
        panic!("the namespace could reach beyond this machine: {leak}");
    }

    let mounts = mounts(&python);
    let client = client_command();
    let base: Vec<String> = [
        "HOME=/tmp".to_owned(),
        "AWS_DEFAULT_REGION=us-east-1".to_owned(),
        format!("AWS_ENDPOINT_URL_STS=http://{gateway}:{}", moto.port()),
    ]
    .iter()
    .flat_map(|v| ["-e".to_owned(), v.clone()])
    .collect();
    let assumed = moto.seeded.assumed("app", SESSION);

    // 1. No endpoint at all: boto3 finds IMDS at 169.254.169.254 by itself.
    let named = |name: &str, more: &[&str]| -> Vec<String> {
        let mut flags = base.clone();
        flags.push(format!("--name={name}-{pid}"));
        flags.extend(more.iter().map(|&f| f.to_owned()));
        flags
    };
    let (imds_ip, imds_id) = run_client(&dockerd, &mounts, &named("plain", &[]), &client);
    assert_eq!(imds_id.method, "iam-role", "{imds_id:?}");
    assert_eq!(imds_id.arn, assumed);
    assert!(imds_id.access_key_id.starts_with("ASIA"), "{imds_id:?}");
    let plain = record(&daemon, "served", &format!("plain-{pid}"));
    assert_eq!(plain["client"], imds_ip.as_str(), "{plain}");
    assert_eq!(plain["profile"], "app");
    assert_eq!(
        plain["caller"]["container"]["image"],
        dockerd.image.as_str()
    );
    let id = plain["caller"]["container"]["id"]
        .as_str()
        .unwrap_or_default();
    assert!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{plain}"
    );

    // 1b. Its label picks the profile IMDS serves it; a label the listener does not offer is
    // refused, not answered with the listener's own profile.
    let labelled = named("labelled", &["--label=credvend.profile=web"]);
    let (_, web_id) = run_client(&dockerd, &mounts, &labelled, &client);
    assert_eq!(web_id.arn, moto.seeded.assumed("app", WEB_SESSION));
    let web = record(&daemon, "served", &format!("labelled-{pid}"));
    assert_eq!(web["profile"], "web", "{web}");
    let wrong = named("wrong", &["--label=credvend.profile=admin"]);
    let out = dockerd.run(&mounts, &wrong, &client);
    assert!(!out.status.success(), "a wrong label got credentials");
    let refused = record(&daemon, "denied", &format!("wrong-{pid}"));
    assert_eq!(refused["reason"], "LabelNotAllowed", "{refused}");

    // 2. `credvend env --docker` on 169.254.170.2: the RELATIVE_URI only, no host network.
    let capability = daemon.capability_id("app");
    let flags = daemon.env_docker(&home, &[]);
    assert_eq!(
        flags,
        format!("-e AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/{capability}\n")
    );
    let ecs_id = |flags: &str| {
        // Used as the README says, `docker run $(credvend env --docker) ...`: split on blanks.
        let mut all: Vec<String> = flags.split_whitespace().map(str::to_owned).collect();
        all.extend(base.iter().cloned());
        all.extend(["-e".to_owned(), "AWS_EC2_METADATA_DISABLED=true".to_owned()]);
        let (ip, id) = run_client(&dockerd, &mounts, &all, &client);
        assert_eq!(id.method, "container-role", "{id:?}");
        assert_eq!(id.arn, assumed);
        (ip, id)
    };
    let (relative_ip, relative_id) = ecs_id(&flags);

    // 3. `--full-uri` on 169.254.170.23: the token file mounted read-only, never the token.
    let token_file = daemon.state.join("ecs-token");
    let full_flags = daemon.env_docker(&home, &["--full-uri"]);
    assert_eq!(
        full_flags,
        format!(
            "-v {}:/run/credvend/ecs-token:ro \
             -e AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23/role/app \
             -e AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/run/credvend/ecs-token\n",
            token_file.display()
        )
    );
    let (full_ip, full_id) = ecs_id(&full_flags);

    // 4. The audit logs name each container by its bridge address, and no secret.
    let capability_path = format!(
        "/v2/credentials/****{}",
        &capability[capability.len() - 4..]
    );
    let imds_path = "/latest/meta-data/iam/security-credentials/app";
    let wanted = [
        (
            &daemon,
            imds_ip.as_str(),
            "imds@169.254.169.254:80",
            imds_path,
        ),
        (
            &daemon,
            &relative_ip,
            "ecs@169.254.170.2:80",
            &capability_path,
        ),
        (&daemon, &full_ip, "ecs@169.254.170.23:80", "/role/app"),
    ];
    let logged = wait_until(Duration::from_secs(10), || {
        wanted
            .iter()
            .all(|(d, ip, l, p)| served(&d.audit(), ip, l, p))
    });
    assert!(
        logged,
        "no served record for each of {:?} in:\n{}",
        wanted.map(|w| (w.1, w.2, w.3)),
        daemon.audit()
    );
    let secrets = [
        &imds_id.secret_access_key,
        &imds_id.session_token,
        &relative_id.secret_access_key,
        &relative_id.session_token,
        &full_id.secret_access_key,
        &full_id.session_token,
        &daemon.token(),
        &capability,
    ];
    let (audit, log) = (daemon.audit(), daemon.log());
    for secret in secrets {
        assert!(
            !audit.contains(secret.as_str()),
            "the audit log shows a secret"
        );
        assert!(
            !log.contains(secret.as_str()),
            "credvend's log shows a secret"
        );
    }
    assert!(!full_flags.contains(&daemon.token()) && !flags.contains(&daemon.token()));

    // 5. Everything stops by PID and leaves nothing behind.
    assert!(dockerd.stop(), "dockerd's processes outlived it");
    drop(dockerd);
    assert!(daemon.proc.stop(), "credvend serve did not exit on SIGTERM");
    drop((daemon, moto));
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

/// The first `event` record naming container `name`, waited for (bounded).
fn record(daemon: &NsCredvend, event: &str, name: &str) -> serde_json::Value {
    let mut found = None;
    let seen = wait_until(Duration::from_secs(10), || {
        found = daemon
            .audit()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|r| r["event"] == event && r["caller"]["container"]["name"] == name);
        found.is_some()
    });
    assert!(
        seen,
        "no {event} record for {name} in:
{}",
        daemon.audit()
    );
    found.expect("waited for it")
}

/// Whether `audit` has a `served` record for client `ip` on `listener` at `path`.
fn served(audit: &str, ip: &str, listener: &str, path: &str) -> bool {
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
