//! What a caller's process is: its executable, and the systemd unit or container its cgroup
//! names.
//!
//! `/proc/PID/cgroup` under cgroup v2 is one line, `0::/PATH`; under v1 there is a line per
//! controller and the `name=systemd` one (or any) carries the same path. The path's last
//! `.service` or `.scope` component is the unit (`session-3.scope` for a login shell,
//! `app.service` for a user service); a 64-hex-digit component is a container id, as Docker
//! names cgroups with either driver (`docker-ID.scope` with systemd's, `/docker/ID` with its
//! own).

use std::fs;
use std::path::Path;

use crate::identity::local::Place;

/// Where process `pid` is, from `proc_root`.
pub(super) fn place(proc_root: &Path, pid: u32) -> Place {
    let exe = fs::read_link(proc_root.join(format!("{pid}/exe"))).ok();
    let cgroup = fs::read_to_string(proc_root.join(format!("{pid}/cgroup"))).unwrap_or_default();
    let path = cgroup_path(&cgroup).unwrap_or("");
    Place {
        exe,
        unit: unit(path),
        container: container(path),
    }
}

/// The cgroup path: v2's unified line, else the first v1 line with a path.
fn cgroup_path(text: &str) -> Option<&str> {
    let paths = text.lines().filter_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        Some((controllers, path))
    });
    let mut first = None;
    for (controllers, path) in paths {
        if controllers.is_empty() || controllers == "name=systemd" {
            return Some(path);
        }
        first = first.or(Some(path));
    }
    first
}

fn unit(path: &str) -> Option<String> {
    path.rsplit('/')
        .find(|c| (c.ends_with(".service") || c.ends_with(".scope")) && container_id(c).is_none())
        .map(str::to_owned)
}

fn container(path: &str) -> Option<String> {
    path.split('/').find_map(container_id).map(str::to_owned)
}

/// The id in `docker-ID.scope` or a bare `ID` component.
fn container_id(component: &str) -> Option<&str> {
    let id = component
        .strip_prefix("docker-")
        .and_then(|c| c.strip_suffix(".scope"))
        .unwrap_or(component);
    (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn units_and_containers_are_read_from_the_cgroup_path() {
        let cases = [
            (
                "0::/user.slice/user-1000.slice/session-3.scope\n".to_owned(),
                Some("session-3.scope"),
                None,
            ),
            (
                "0::/user.slice/user-1000.slice/user@1000.service/app.slice/app.service\n"
                    .to_owned(),
                Some("app.service"),
                None,
            ),
            (
                format!("0::/system.slice/docker-{ID}.scope\n"),
                None,
                Some(ID),
            ),
            (
                format!("12:cpu,cpuacct:/docker/{ID}\n1:name=systemd:/docker/{ID}\n"),
                None,
                Some(ID),
            ),
            ("0::/\n".to_owned(), None, None),
            (String::new(), None, None),
        ];
        for (text, want_unit, want_container) in cases {
            let path = cgroup_path(&text).unwrap_or("");
            assert_eq!(unit(path).as_deref(), want_unit, "{text}");
            assert_eq!(container(path).as_deref(), want_container, "{text}");
        }
    }

    #[test]
    fn this_process_has_its_executable() {
        let here = place(Path::new("/proc"), std::process::id());
        assert_eq!(here.exe, Some(std::env::current_exe().unwrap()));
    }
}
