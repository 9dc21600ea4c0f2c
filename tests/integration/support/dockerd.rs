//! A Docker engine of the test's own inside a [`HostNs`]: Debian's dockerd with its data, exec
//! root, pid file and socket in a temporary directory, a private mount namespace, no iptables
//! and no forwarding (containers reach the namespace itself and nothing else), and the `vfs`
//! storage driver (plain directories, no overlay mounts to leave behind).
//!
//! No registry is reachable, so the image is `docker import` of a few empty directories and the
//! usual symlinks into `/usr`; containers bind-mount what they run from this machine,
//! read-only. Stopping removes the containers, then stops dockerd and everything it started
//! (containerd, shims), each by PID.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::docker_ns::{HostNs, Proc, ok, wait_until};
use super::home::text;

/// Debian's `docker.io` dockerd.
pub const DOCKERD: &str = "/usr/sbin/dockerd";
/// The bridge dockerd makes in its namespace.
pub const BRIDGE: &str = "docker0";
/// How long one docker CLI call may take (`timeout` kills it then).
const CLI_TIMEOUT_SECONDS: &str = "120";
/// How long dockerd may take to answer after its start.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The docker CLI: Debian's when installed, else the one in /usr/local/bin.
pub fn docker_cli() -> Option<PathBuf> {
    ["/usr/bin/docker", "/usr/local/bin/docker"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A running dockerd.
pub struct Dockerd {
    proc: Proc,
    dir: PathBuf,
    cli: PathBuf,
    /// The bridge's own address: the containers' gateway, an address of the namespace.
    pub gateway: Ipv4Addr,
    /// The imported image.
    pub image: String,
}

impl Dockerd {
    /// Starts dockerd in `ns` with its files under `dir` and the default bridge on
    /// `gateway`/24, waits (bounded) until it answers, and imports the image.
    pub fn start(ns: &HostNs, dir: &Path, cli: PathBuf, gateway: Ipv4Addr) -> Self {
        std::fs::create_dir_all(dir).expect("dockerd dir");
        // An empty config file: nothing from /etc/docker applies.
        std::fs::write(dir.join("daemon.json"), "{}").expect("daemon.json");
        let log = std::fs::File::create(dir.join("dockerd.log")).expect("dockerd log");
        let path = |name: &str| dir.join(name).display().to_string();
        let mut command = ns.exec_private_mounts(Path::new(DOCKERD));
        command
            .arg(format!("--config-file={}", path("daemon.json")))
            .arg(format!("--host=unix://{}", path("docker.sock")))
            .arg(format!("--data-root={}", path("data")))
            .arg(format!("--exec-root={}", path("exec")))
            .arg(format!("--pidfile={}", path("docker.pid")))
            .arg(format!("--bip={gateway}/24"))
            .args([
                "--storage-driver=vfs",
                "--iptables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--userland-proxy=false",
            ])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let mut dockerd = Self {
            proc: Proc::spawn("dockerd", &mut command),
            dir: dir.to_owned(),
            cli,
            gateway,
            image: format!("credvend-docker-test:{}", std::process::id()),
        };
        let answers = wait_until(START_TIMEOUT, || {
            dockerd.proc.running()
                && dockerd
                    .docker(&["version"])
                    .output()
                    .is_ok_and(|o| o.status.success())
        });
        assert!(answers, "dockerd did not come up: {}", dockerd.log());
        dockerd.import_image();
        dockerd
    }

    /// The docker CLI against this engine, bounded by `timeout`, with nothing of ours in its
    /// environment (bare `-e NAME` flags would copy it into containers).
    pub fn docker(&self, args: &[&str]) -> Command {
        let mut c = Command::new("timeout");
        c.arg(CLI_TIMEOUT_SECONDS)
            .arg(&self.cli)
            .arg(format!(
                "--host=unix://{}",
                self.dir.join("docker.sock").display()
            ))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .env("DOCKER_CONFIG", self.dir.join("cli"));
        c
    }

    /// `docker run --rm` of `command` on the default bridge, with `mounts` bound read-only at
    /// the same paths and `flags` before the image. DNS points at the container's own
    /// loopback, so not even a lookup goes to the machine's resolver.
    pub fn run(&self, mounts: &[PathBuf], flags: &[String], command: &[String]) -> Output {
        let mut args = vec![
            "run".to_owned(),
            "--rm".to_owned(),
            "--network=bridge".to_owned(),
            "--dns=127.0.0.1".to_owned(),
        ];
        for m in mounts {
            args.push(format!("--volume={0}:{0}:ro", m.display()));
        }
        args.extend(flags.iter().cloned());
        args.push(self.image.clone());
        args.extend(command.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.docker(&args).output().expect("docker run")
    }

    /// dockerd's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }

    fn import_image(&self) {
        let root = self.dir.join("rootfs");
        for d in ["usr", "tmp", "etc", "proc", "sys", "dev", "root", "run"] {
            std::fs::create_dir_all(root.join(d)).expect("image dir");
        }
        // This Debian keeps everything under /usr: the loader is found through /lib64.
        for (link, target) in [
            ("lib", "usr/lib"),
            ("lib64", "usr/lib64"),
            ("bin", "usr/bin"),
            ("sbin", "usr/sbin"),
        ] {
            std::os::unix::fs::symlink(target, root.join(link)).expect("image symlink");
        }
        let tar = self.dir.join("rootfs.tar");
        ok(
            Command::new("tar")
                .arg("-C")
                .arg(&root)
                .arg("-cf")
                .arg(&tar)
                .arg("."),
            "tar the image",
        );
        let tar = tar.display().to_string();
        ok(
            &mut self.docker(&["import", &tar, &self.image]),
            "docker import",
        );
    }

    /// Removes every container, then stops dockerd and whatever it started, by PID. Whether
    /// all of it is gone.
    pub fn stop(&mut self) -> bool {
        if !self.proc.running() {
            return true;
        }
        if let Ok(out) = self.docker(&["ps", "--all", "--quiet"]).output() {
            for id in text(&out.stdout).split_whitespace() {
                let _ = self.docker(&["rm", "--force", id]).output();
            }
        }
        // containerd and the shims are dockerd's descendants; shims outlive a killed dockerd.
        let started = descendants(self.proc.pid());
        self.proc.stop();
        for (pid, comm) in &started {
            if still(*pid, comm) {
                let _ = kill(Pid::from_raw(*pid), Signal::SIGTERM);
            }
        }
        let gone = wait_until(Duration::from_secs(15), || {
            started.iter().all(|(pid, comm)| !still(*pid, comm))
        });
        for (pid, comm) in &started {
            if still(*pid, comm) {
                let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
            }
        }
        gone
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Every process below `root`, with its command name (to tell a reused PID).
fn descendants(root: i32) -> Vec<(i32, String)> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces, so split after the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map_or("", |(_, c)| c).to_owned();
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<i32>().ok());
        if let Some(ppid) = ppid {
            parents.push((pid, ppid, comm));
        }
    }
    let mut found: Vec<(i32, String)> = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (pid, ppid, comm) in &parents {
            if *ppid == parent && !found.iter().any(|(p, _)| p == pid) {
                found.push((*pid, comm.clone()));
                frontier.push(*pid);
            }
        }
    }
    found
}

/// Whether `pid` still runs as `comm` (a zombie or a reused PID does not count).
fn still(pid: i32, comm: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some((head, rest)) = stat.rsplit_once(')') else {
        return false;
    };
    let same = head.split_once('(').is_some_and(|(_, c)| c == comm);
    same && rest.split_whitespace().next() != Some("Z")
}
