//! `credvend network up|down|status` for real, inside a network namespace of the test's own
//! (`unshare -n`: only a loopback, no route off the machine), as root: the IPv4 and the IPv6
//! metadata addresses, on a namespace that creates links with IPv6 off.

use std::process::Command;

use crate::support::home::text;
use crate::support::python;

#[test]
fn network_up_is_idempotent_status_sees_a_listener_and_down_removes_it_all() {
    if !crate::support::root("the network test") {
        return;
    }
    let Some(python) = python() else { return };
    let script = format!(
        r#"set -e
ip link set lo up
# As on a host that creates links without IPv6: `up` must switch it on for its own link.
sysctl -qw net.ipv6.conf.default.disable_ipv6=1
B={bin}
$B network up
echo ---
$B network up
echo ---
# Nothing can leave this namespace: its only route is loopback.
test "$(ip route show | wc -l)" -eq 0
ip route get 169.254.169.254 | grep -q '^local '
ip -6 route get fd00:ec2::254 | grep -q '^local '
ip -6 route get fd00:ec2::23 | grep -q '^local '
{python} -c 'import socket,time; s=socket.socket(); s.bind(("169.254.169.254",80)); s.listen(); time.sleep(30)' &
LISTENER=$!
for i in $(seq 100); do ss -ltn | grep -q '169.254.169.254:80' && break; sleep 0.05; done
$B network status
kill $LISTENER
echo ---
$B network down
echo ---
$B network status
"#,
        bin = env!("CARGO_BIN_EXE_credvend"),
        python = python.display()
    );
    let out = Command::new("unshare")
        .args(["-n", "bash", "-c", &script])
        .env_clear()
        .envs(crate::support::scrubbed_env(None))
        .output()
        .expect("unshare");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let parts: Vec<&str> = stdout.split("---\n").collect();
    assert_eq!(parts.len(), 5, "{stdout}");
    assert!(
        parts[0].contains("added 169.254.169.254/32 (IMDS) to credvend0"),
        "{}",
        parts[0]
    );
    assert!(parts[0].contains("added fd00:ec2::23/128"), "{}", parts[0]);
    assert!(
        parts[0].contains("enabled IPv6 on credvend0 (it was disabled)"),
        "{}",
        parts[0]
    );
    assert!(
        !parts[1].contains("added"),
        "a second up changes nothing: {}",
        parts[1]
    );
    assert!(
        parts[2].contains(
            "present   169.254.169.254/32 (IMDS) on credvend0; something listens on port 80"
        ),
        "{}",
        parts[2]
    );
    assert!(
        parts[2].contains(
            "present   169.254.170.2/32 (ECS (RELATIVE_URI)) on credvend0; nothing listens"
        ),
        "{}",
        parts[2]
    );
    assert!(
        parts[2].contains("present   fd00:ec2::254/128 (IMDS over IPv6) on credvend0"),
        "{}",
        parts[2]
    );
    assert!(parts[3].contains("removed link credvend0"), "{}", parts[3]);
    assert_eq!(
        parts[4]
            .lines()
            .filter(|l| l.starts_with("absent "))
            .count(),
        5,
        "{}",
        parts[4]
    );
}

#[test]
fn network_up_without_root_is_refused_clearly() {
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_credvend"),
            "network",
            "up",
        ])
        .env_clear()
        .envs(crate::support::scrubbed_env(None))
        .output();
    let Ok(out) = out else { return };
    if !nix::unistd::geteuid().is_root() {
        return; // setpriv itself needs root to change users
    }
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr),
        "credvend: credvend network up changes the host's interfaces and needs root\n"
    );
}

#[test]
fn serving_on_a_missing_link_local_address_names_the_command_that_adds_it() {
    if !crate::support::root("the missing-address test") {
        return;
    }
    let home = crate::support::home::Home::new();
    let config = home.path("linklocal.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = {:?}\n[[imds]]\nlisten = \"169.254.169.254:80\"\nallowed_networks = [\"172.17.0.0/16\"]\n[ecs]\nenabled = false\n",
            home.path("state").display().to_string()
        ),
    )
    .unwrap();
    // In a namespace of its own the address is on no interface (and nothing can leave it).
    let script = format!(
        "ip link set lo up; exec {} serve --config {}",
        env!("CARGO_BIN_EXE_credvend"),
        config.display()
    );
    let out = Command::new("unshare")
        .args(["-n", "bash", "-c", &script])
        .env_clear()
        .envs(crate::support::scrubbed_env(Some(&home.root)))
        .output()
        .expect("unshare");
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cannot listen on 169.254.169.254:80 (imds): the address is on no interface of this host; add it with `sudo credvend network up`"),
        "{stderr}"
    );
}
