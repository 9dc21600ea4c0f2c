//! credvend on the real link-local metadata addresses, found by real clients that are told
//! nothing, as in a container on a Docker bridge (docs/testing.md §6).
//!
//! As root, in namespaces of the test's own ([`Lab`](crate::support::netns::Lab)): the host
//! namespace gets the five metadata addresses from `credvend network up`, moto (on 127.0.0.1
//! for credvend, and on the veth for the clients' own STS calls) and `credvend serve` with the
//! listeners of `config.linklocal.toml`; a container namespace reaches them through a veth
//! pair and its default route. Before the first request, and again before each client, the
//! namespaces are checked to have no way off the machine. Then boto3, the AWS CLI v1 and v2,
//! the SDK for JavaScript v3, boto 2 and the SDK for Rust read credentials with no endpoint
//! variable: IMDS over IPv4 and IPv6, the container endpoint by RELATIVE_URI and by FULL_URI;
//! each shows moto's assumed-role ARN. A second container, outside `allowed_networks`, gets 403 and a
//! `denied` audit record. Without root the tests skip (and fail under CI).

mod clients;
mod rust_peer;
mod site;

use crate::support::daemon::SESSION;
use crate::support::home::text;
use crate::support::netns::{METADATA, Net};
use crate::support::python;
use clients::cases;
use site::{run, site};

/// The container whose network `allowed_networks` admits, with IPv4 and IPv6.
pub(super) const ALLOWED: Net = Net {
    v4: "192.0.2",
    v6: Some("fd00:c0de:2:"),
};
/// A container on a network credvend does not serve.
pub(super) const OUTSIDE: Net = Net {
    v4: "198.51.100",
    v6: None,
};
/// The listener labels audit records name, one per address of the link-local config.
const LISTENERS: [&str; 5] = [
    "imds@169.254.169.254:80",
    "imds@[fd00:ec2::254]:80",
    "ecs@169.254.170.2:80",
    "ecs@169.254.170.23:80",
    "ecs@[fd00:ec2::23]:80",
];

#[test]
fn clients_in_a_container_find_the_role_on_the_link_local_addresses_unconfigured() {
    let Some(site) = site() else { return };
    let Some(cases) = cases(&site) else { return };
    let listening = &site.daemon.listening;
    let imds = listening.imds.iter().map(|a| format!("imds@{a}"));
    let bound: Vec<String> = imds
        .chain(listening.ecs.iter().map(|a| format!("ecs@{a}")))
        .collect();
    assert_eq!(
        bound, LISTENERS,
        "readiness names one socket per configured address"
    );

    let want = site.moto.seeded.assumed("app", SESSION);
    let ctr = &site.lab.containers[0].ns;
    let failed: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            Some(format!(
                "{}: {}",
                case.name,
                site.check(ctr, case, &want).err()?
            ))
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} clients failed:\n{}\n-- credvend stderr:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n"),
        site.daemon.stderr()
    );
    // Each address served the container from its own listener.
    site.daemon
        .wait_for("a served record from every listener", || {
            let served = site.audit("served");
            LISTENERS
                .iter()
                .all(|l| served.iter().any(|r| r["listener"] == *l))
        });
}

#[test]
fn a_container_outside_allowed_networks_is_refused_and_audited() {
    let Some(site) = site() else { return };
    let Some(python) = python() else { return };
    // http.client: a bare request with no proxy and no retries.
    let get = "import http.client, sys\n\
               c = http.client.HTTPConnection(sys.argv[1], 80, timeout=10)\n\
               c.request('GET', sys.argv[2])\n\
               print(c.getresponse().status)";
    let capability = site.capability();
    let imds_path = "/latest/meta-data/iam/security-credentials/";
    let status = |ns: &str, host: &str, path: &str| {
        site.lab.assert_contained();
        let out = run(site
            .lab
            .exec(ns, &python)
            .args(["-c", get, host, path])
            .env_clear());
        assert!(
            out.status.success(),
            "{host}{path} from {ns}: {}",
            text(&out.stderr)
        );
        text(&out.stdout).trim().to_owned()
    };
    let [inside, outside] = [0, 1].map(|i| site.lab.containers[i].ns.clone());
    for (host, path) in [(METADATA[0], imds_path), (METADATA[2], capability.as_str())] {
        // The same request from the allowed network is served: the refusal is the network's.
        assert_eq!(
            status(&inside, host, path),
            "200",
            "{host}{path} from the allowed container"
        );
        assert_eq!(
            status(&outside, host, path),
            "403",
            "{host}{path} from outside"
        );
    }
    let client = format!("{}.2", OUTSIDE.v4);
    site.daemon
        .wait_for("denied records for the outside client", || {
            let denied = site.audit("denied");
            ["imds@169.254.169.254:80", "ecs@169.254.170.2:80"]
                .iter()
                .all(|l| {
                    denied.iter().any(|r| {
                        r["listener"] == *l
                            && r["client"] == client.as_str()
                            && r["reason"] == "PeerNotAllowed"
                    })
                })
        });
    // Nothing was served to it.
    assert!(
        site.audit("served")
            .iter()
            .all(|r| r["client"] != client.as_str()),
        "served the outside client"
    );
}
