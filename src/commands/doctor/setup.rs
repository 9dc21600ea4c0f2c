//! The checks of the set-up around the daemon: file permissions, what would shadow credvend
//! in this shell, link-local addresses, and the clock against STS.

use std::net::{IpAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;

use super::Report;
use crate::clock::{AwsClock, Clock, SystemClock};
use crate::config::Config;
use crate::env::Env;
use crate::mint;
use crate::profile::shadow::{self, SHADOWING_VARIABLES};
use crate::profile::{Location, ProfileSet};
use crate::random::OsRandom;
use crate::sts::client::StsClient;

const IMPORT: &str = "keep credvend's keys in a file of its own: `credvend import-keys --move`";

/// The files credvend reads are private, and the files clients read first do not hold the
/// keys credvend guards; where they do, the place of those keys.
pub(super) fn files(report: &mut Report, config: &Config, env: &Env) -> Option<Location> {
    private(report, &config.aws.credentials_file, "credentials file");
    if let Some(ecs) = &config.ecs {
        private(report, &ecs.token_file, "ECS token file");
    }
    match shadow::exposed_keys(&config.aws.profile_paths(), env) {
        Some((profile, at)) => {
            report.warn(
                "files",
                format!("{at}: profile {profile} holds the long-term keys credvend reads, and SDKs here read them before they ask credvend"),
                IMPORT,
            );
            Some(at)
        }
        None => {
            report.ok(
                "files",
                "SDKs here do not find credvend's long-term keys before credvend",
            );
            None
        }
    }
}

fn private(report: &mut Report, path: &Path, what: &str) {
    let shown = path.display();
    match std::fs::metadata(path) {
        Ok(meta) => match crate::files::exposed_mode(&meta) {
            Some(mode) => report.warn(
                "files",
                format!("{what} {shown} is readable by others (mode {mode:o})"),
                format!("chmod 600 {shown}"),
            ),
            None if meta.is_file() => report.ok("files", format!("{what} {shown} is private")),
            // `credvend env` points the shell's SDKs at /dev/null: nothing there to guard.
            None => report.ok("files", format!("{what} {shown} is not a regular file")),
        },
        Err(e) => report.warn(
            "files",
            format!("cannot read {what} {shown}: {e}"),
            "check `[aws] credentials_file` / `[ecs] token_file` in credvend's config",
        ),
    }
}

/// Nothing in this shell comes before credvend in an SDK's chain, and IMDS is not off.
/// `reported` is a shadowing key `files` already named.
pub(super) fn shell(report: &mut Report, env: &Env, reported: Option<&Location>) {
    let set: Vec<&str> = SHADOWING_VARIABLES
        .iter()
        .copied()
        .filter(|v| env.get(v).is_some())
        .collect();
    if set.is_empty() {
        report.ok("shell", "no AWS keys or profile variables set");
    } else {
        report.warn(
            "shell",
            format!(
                "{} set: SDKs in this shell use them before credvend",
                set.join(", ")
            ),
            "eval \"$(credvend env)\" (it unsets them)",
        );
    }
    if let Some(paths) = shadow::client_paths(env) {
        let profile = shadow::client_profile(env);
        match ProfileSet::load(&paths) {
            Ok(profiles) => {
                let keys = shadow::shadowing_keys(&profiles, profile);
                let keys: Vec<_> = keys.iter().filter(|(_, at)| Some(at) != reported).collect();
                match keys.first() {
                    Some((key, at)) => report.warn(
                        "shell",
                        format!("{at}: profile {profile} sets {key}, which SDKs in this shell use before credvend"),
                        format!("eval \"$(credvend env)\" (it hides the shared files), or {IMPORT}"),
                    ),
                    // Keys that `files` named are not announced again, nor denied.
                    None if reported.is_some() => {}
                    None => report.ok(
                        "shell",
                        format!("profile {profile} in the shared files has no credentials of its own"),
                    ),
                }
            }
            Err(e) => report.warn(
                "shell",
                format!(
                    "the shared files cannot be read: {}",
                    crate::causes::Causes(&e)
                ),
                "fix the file named",
            ),
        }
    }
    if env
        .get("AWS_EC2_METADATA_DISABLED")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        report.warn(
            "shell",
            "AWS_EC2_METADATA_DISABLED=true: clients here never ask IMDS",
            "unset AWS_EC2_METADATA_DISABLED, or use the container endpoint (`credvend env`)",
        );
    }
}

/// Whether any listener is on an address other than loopback or a wildcard.
pub(super) fn has_link_local(config: &Config) -> bool {
    listen_ips(config).any(|ip| !ip.is_loopback() && !ip.is_unspecified())
}

fn listen_ips(config: &Config) -> impl Iterator<Item = IpAddr> + '_ {
    config.imds.iter().map(|l| l.listen.ip()).chain(
        config
            .ecs
            .iter()
            .flat_map(|e| e.addresses().map(|a| a.ip())),
    )
}

/// Every non-loopback listener address is on an interface of this host. Checked by binding a
/// UDP socket to it: nothing is sent.
pub(super) fn link_local(report: &mut Report, config: &Config) {
    for ip in listen_ips(config).filter(|ip| !ip.is_loopback() && !ip.is_unspecified()) {
        match UdpSocket::bind((ip, 0)) {
            Ok(_) => report.ok(
                "link-local",
                format!("{ip} is on an interface of this host"),
            ),
            Err(e) => report.fail(
                "link-local",
                format!("{ip} is not on any interface of this host ({e})"),
                format!(
                    "as root: ip addr add {ip}/{} dev lo",
                    if ip.is_ipv4() { 32 } else { 128 }
                ),
            ),
        }
    }
}

/// The local clock agrees with STS's `Date` (credvend corrects its own signatures, but other
/// programs on the host do not).
pub(super) async fn clock(report: &mut Report, config: &Config, env: &Env) {
    let endpoint = ProfileSet::load(&config.aws.profile_paths())
        .ok()
        .and_then(|set| set.resolve(&config.aws.default_profile, env).ok())
        .and_then(|chain| mint::endpoint(&chain, &config.aws).ok());
    let Some(endpoint) = endpoint else {
        return report.warn(
            "clock",
            format!(
                "not compared with STS: profile {} does not resolve",
                config.aws.default_profile
            ),
            format!("credvend check --profile {}", config.aws.default_profile),
        );
    };
    let clock = Arc::new(AwsClock::new(Arc::new(SystemClock)));
    let sts = match StsClient::new(&config.aws, clock, Arc::new(OsRandom)) {
        Ok(sts) => sts,
        Err(e) => {
            return report.fail(
                "clock",
                format!("cannot set up the STS client: {e}"),
                "check `[aws] ca_file`",
            );
        }
    };
    match sts.server_time(&endpoint).await {
        Ok(aws) => {
            let skew = SystemClock.now() - aws;
            let seconds = skew.whole_seconds();
            if seconds.abs() < 300 {
                report.ok(
                    "clock",
                    format!("within {}s of STS at {}", seconds.abs(), endpoint.url),
                );
            } else {
                report.warn(
                    "clock",
                    format!("the local clock is {seconds}s off STS's at {}", endpoint.url),
                    "credvend corrects its signatures, but other programs do not: timedatectl set-ntp true",
                );
            }
        }
        Err(e) => report.warn(
            "clock",
            format!("not compared: {e}"),
            "check the network path to STS (`credvend check`)",
        ),
    }
}
