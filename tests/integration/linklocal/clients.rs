//! The clients the link-local test runs in its container, each with no endpoint variable:
//! IMDS over IPv4 and IPv6 (`AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`), and the container
//! endpoint by `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (169.254.170.2) and by `..._FULL_URI`
//! on 169.254.170.23 and `[fd00:ec2::23]` with the token file.

use super::rust_peer::{RUST_PEER_STS, RUST_PEER_TEST};
use super::site::{Case, Site};
use crate::support::{peer_script, peers_dir, python, require};

/// The clients, each with no endpoint variable; `None` when a peer is missing (a skip, or a
/// failure under CI).
pub(super) fn cases(site: &Site) -> Option<Vec<Case>> {
    let python = python()?;
    let cli = require("AWS CLI v1", peers_dir().join("venv/bin/aws"))?;
    require("JavaScript SDKs", peers_dir().join("js/node_modules"))?;
    let script = |s: &str| vec![peer_script(s).display().to_string()];
    let boto3 = |name, imds, vars, method: &str| Case {
        name,
        program: python.clone(),
        args: script("clients/boto3_identity.py"),
        vars,
        imds,
        arn: "arn",
        also: Some(("method", method.into())),
    };
    let aws = |name, imds, vars| Case {
        name,
        program: cli.clone(),
        args: ["sts", "get-caller-identity", "--output", "json"]
            .map(str::to_owned)
            .to_vec(),
        vars,
        imds,
        arn: "Arn",
        also: None,
    };
    // The CLI v2 2.9 reads no STS endpoint setting; its own call takes --endpoint-url.
    let cli_v2 = Case {
        name: "AWS CLI v2, IMDS over IPv4",
        program: require("AWS CLI v2 (Debian's awscli)", "/usr/bin/aws".into())?,
        args: [
            "sts",
            "get-caller-identity",
            "--output",
            "json",
            "--endpoint-url",
        ]
        .map(str::to_owned)
        .into_iter()
        .chain([site.sts_url.clone()])
        .collect(),
        vars: vec![],
        imds: true,
        arn: "Arn",
        also: None,
    };
    let js = |name, imds, vars| Case {
        name,
        program: "node".into(),
        args: [script("js/identity.cjs"), vec!["v3-chain".into()]].concat(),
        vars,
        imds,
        arn: "arn",
        also: None,
    };
    let rust = |name, mut vars: Vec<_>| {
        vars.push((RUST_PEER_STS, site.sts_url.clone()));
        Case {
            name,
            program: std::env::current_exe().expect("this test binary"),
            args: ["--exact", RUST_PEER_TEST, "--ignored", "--nocapture", "-q"]
                .map(str::to_owned)
                .to_vec(),
            vars,
            imds: true,
            arn: "arn",
            also: None,
        }
    };
    let v6 = || vec![("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6".to_owned())];
    let capability = site.capability();
    let relative = || vec![("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", capability.clone())];
    let token_file = site.daemon.token_file().display().to_string();
    let full = |host: &str| {
        vec![
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                format!("http://{host}/role/app"),
            ),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file.clone()),
        ]
    };
    let boto2 = Case {
        name: "boto 2, IMDSv1 at its built-in 169.254.169.254",
        program: python.clone(),
        args: script("clients/boto2_identity.py"),
        vars: vec![],
        imds: true,
        arn: "arn",
        also: Some(("from_metadata", true.into())),
    };
    Some(vec![
        boto3("boto3, IMDS over IPv4", true, vec![], "iam-role"),
        aws("AWS CLI v1, IMDS over IPv4", true, vec![]),
        js("JS v3 default chain, IMDS over IPv4", true, vec![]),
        cli_v2,
        boto2,
        rust("Rust SDK default chain, IMDS over IPv4", vec![]),
        boto3("boto3, IMDS over IPv6", true, v6(), "iam-role"),
        aws("AWS CLI v1, IMDS over IPv6", true, v6()),
        js("JS v3 default chain, IMDS over IPv6", true, v6()),
        rust("Rust SDK default chain, IMDS over IPv6", v6()),
        boto3("boto3, RELATIVE_URI", false, relative(), "container-role"),
        aws("AWS CLI v1, RELATIVE_URI", false, relative()),
        js("JS v3 default chain, RELATIVE_URI", false, relative()),
        boto3(
            "boto3, FULL_URI 169.254.170.23",
            false,
            full("169.254.170.23"),
            "container-role",
        ),
        aws(
            "AWS CLI v1, FULL_URI 169.254.170.23",
            false,
            full("169.254.170.23"),
        ),
        js(
            "JS v3 default chain, FULL_URI 169.254.170.23",
            false,
            full("169.254.170.23"),
        ),
        boto3(
            "boto3, FULL_URI [fd00:ec2::23]",
            false,
            full("[fd00:ec2::23]"),
            "container-role",
        ),
        js(
            "JS v3 default chain, FULL_URI [fd00:ec2::23]",
            false,
            full("[fd00:ec2::23]"),
        ),
    ])
}
