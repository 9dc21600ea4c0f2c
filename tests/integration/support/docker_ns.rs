//! A network namespace of the test's own that plays a Docker host: the link-local metadata
//! addresses on its loopback, no route off the machine, and the processes the test starts in
//! it, each stopped by its PID.
//!
//! Nothing here sends a packet: addresses are checked with `ip route get` (a route lookup), and
//! every process that talks to the metadata addresses runs inside the namespace.

use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::home::text;

/// The metadata addresses the namespace's loopback carries: IMDS, ECS for RELATIVE_URI, ECS
/// for FULL_URI.
pub const LINK_LOCAL: [&str; 3] = ["169.254.169.254", "169.254.170.2", "169.254.170.23"];

/// How long a process may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A network namespace, deleted on drop.
pub struct HostNs {
    pub name: String,
}

impl HostNs {
    /// Creates `name` with its loopback up and [`LINK_LOCAL`] on it.
    pub fn create(name: &str) -> Self {
        // A namespace left by an earlier, killed run of this same pid would make `add` fail.
        let _ = Command::new("ip").args(["netns", "del", name]).output();
        ok(
            Command::new("ip").args(["netns", "add", name]),
            "ip netns add",
        );
        let ns = Self {
            name: name.to_owned(),
        };
        ok(&mut ns.ip(&["link", "set", "lo", "up"]), "lo up");
        for addr in LINK_LOCAL {
            let cidr = format!("{addr}/32");
            ok(&mut ns.ip(&["addr", "add", &cidr, "dev", "lo"]), "addr add");
        }
        ns
    }

    /// `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.arg("-n").arg(&self.name).args(args);
        c
    }

    /// `program` inside the namespace. `ip netns exec` execs it, so the child's PID is the
    /// program's.
    pub fn exec(&self, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// `program` inside the namespace and in a private mount namespace of its own, whose
    /// mounts go when its last process does. Unlike `ip netns exec`, which mounts a fresh
    /// `/sys` without the cgroup hierarchies dockerd needs. `nsenter` and `unshare` exec, so
    /// the child's PID is the program's.
    pub fn exec_private_mounts(&self, program: &Path) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.name))
            .args(["unshare", "--mount", "--propagation", "private"])
            .arg(program);
        c
    }

    /// Why a client in the namespace (or on a bridge in it) could reach anything off this
    /// machine, if it could: a default route, a route over a link other than `lo` and `bridge`,
    /// forwarding on, or a metadata address that is not local.
    pub fn leaks_off_the_machine(&self, bridge: &str) -> Option<String> {
        for family in ["-4", "-6"] {
            let routes = text(&ok(&mut self.ip(&[family, "route", "show"]), "ip route").stdout);
            for line in routes.lines() {
                let on_own_link = [" dev lo ", &format!(" dev {bridge} ")]
                    .iter()
                    .any(|d| format!("{line} ").contains(d));
                if line.starts_with("default") || !on_own_link {
                    return Some(format!("route {line:?} (ip {family} route: {routes})"));
                }
            }
        }
        for addr in LINK_LOCAL {
            let route = text(&ok(&mut self.ip(&["route", "get", addr]), "ip route get").stdout);
            if !route.starts_with("local ") {
                return Some(format!("{addr} is not local: {route}"));
            }
        }
        let forwarding = ok(
            self.exec(Path::new("cat"))
                .arg("/proc/sys/net/ipv4/ip_forward"),
            "read ip_forward",
        );
        if text(&forwarding.stdout).trim() != "0" {
            return Some("IPv4 forwarding is on".to_owned());
        }
        None
    }
}

impl Drop for HostNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A process the test started, stopped by its PID on drop.
pub struct Proc {
    pub name: &'static str,
    child: Option<Child>,
}

impl Proc {
    /// Spawns `command`.
    pub fn spawn(name: &'static str, command: &mut Command) -> Self {
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Self {
            name,
            child: Some(child),
        }
    }

    /// Its PID.
    pub fn pid(&self) -> i32 {
        let child = self.child.as_ref().expect("process not stopped yet");
        i32::try_from(child.id()).expect("pid fits i32")
    }

    /// The child, for its pipes.
    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("process not stopped yet")
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGTERM, then SIGKILL if it has not exited within [`STOP_TIMEOUT`]. Whether SIGTERM was
    /// enough (false also when it had already exited or was stopped before).
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        if !matches!(child.try_wait(), Ok(None)) {
            return false;
        }
        let pid = i32::try_from(child.id()).expect("pid fits i32");
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        let exited = wait_until(STOP_TIMEOUT, || !matches!(child.try_wait(), Ok(None)));
        if !exited {
            let _ = child.kill();
        }
        let _ = child.wait();
        exited
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `condition` every 50 ms until it holds (true) or `timeout` passes (false).
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `command`, panicking with its stderr unless it succeeds.
pub fn ok(command: &mut Command, what: &str) -> Output {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        text(&out.stderr)
    );
    out
}
