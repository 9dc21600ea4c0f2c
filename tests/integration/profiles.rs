//! Profile fixture cases: `tests/data/profiles/<case>/{config,credentials,expected.txt}`.
//!
//! Each `expected.txt` starts with a `doc:` line saying what the case shows, then optional
//! `env: KEY=VALUE` and `secret: VALUE` lines, then blocks:
//! - `== resolve NAME`: the chain, rendered by [`render`] below, line for line;
//! - `== error NAME`: lines that must each appear in the resolution error;
//! - `== load-error`: lines that must each appear in the load error;
//! - `== report`: the `credvend profiles` listing, line for line;
//! - `== warnings`: the load warnings, line for line.
//!
//! Paths in the output are shown relative to the case folder (`config:3`). For every case,
//! no secret of the case's files (nor any `secret:` value) may appear in an error, a warning or
//! the report.

use std::path::{Path, PathBuf};

use credvend::env::Env;
use credvend::profile::{BaseCredentials, ProfileChain, ProfilePaths, ProfileSet};

use crate::support;

struct Case {
    dir: PathBuf,
    env: Env,
    secrets: Vec<String>,
    blocks: Vec<(String, Vec<String>)>,
}

fn read_case(dir: &Path) -> Case {
    let text = std::fs::read_to_string(dir.join("expected.txt")).expect("expected.txt");
    let mut lines = text.lines();
    let doc = lines.next().unwrap_or_default();
    assert!(
        doc.starts_with("doc: "),
        "{}: first line must be `doc: …`",
        dir.display()
    );
    let (mut env, mut secrets, mut blocks) =
        (Vec::new(), Vec::new(), Vec::<(String, Vec<String>)>::new());
    for line in lines {
        if let Some(header) = line.strip_prefix("== ") {
            blocks.push((header.to_string(), Vec::new()));
        } else if let Some((_, lines)) = blocks.last_mut() {
            lines.push(line.to_string());
        } else if let Some(pair) = line.strip_prefix("env: ") {
            let (k, v) = pair.split_once('=').expect("env: KEY=VALUE");
            env.push((k.to_string(), v.to_string()));
        } else if let Some(s) = line.strip_prefix("secret: ") {
            secrets.push(s.to_string());
        } else {
            assert!(line.is_empty(), "{}: stray line {line:?}", dir.display());
        }
    }
    for (_, lines) in &mut blocks {
        while lines.last().is_some_and(String::is_empty) {
            lines.pop();
        }
    }
    for file in ["config", "credentials"] {
        secrets.extend(secret_values(&dir.join(file)));
    }
    Case {
        dir: dir.to_path_buf(),
        env: Env::from_pairs(env),
        secrets,
        blocks,
    }
}

/// Values of the secret keys in a fixture file, read naively (enough for the fixtures).
fn secret_values(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            let k = k.trim().to_ascii_lowercase();
            let secret = [
                "aws_secret_access_key",
                "aws_session_token",
                "aws_security_token",
            ]
            .contains(&k.as_str());
            let v = v.split(" #").next().unwrap_or_default().trim();
            (secret && v.len() >= 8).then(|| v.to_string())
        })
        .collect()
}

fn render(chain: &ProfileChain, rel: &dyn Fn(String) -> String) -> Vec<String> {
    let or_dash = |v: Option<&str>| v.unwrap_or("-").to_string();
    let mut out = Vec::new();
    match &chain.base {
        BaseCredentials::Static {
            profile,
            credentials,
            location,
        } => out.push(format!(
            "base static {profile} key={} secret={} token={} at={}",
            credentials.access_key_id,
            credentials.secret_access_key.expose(),
            or_dash(credentials.session_token.as_ref().map(|t| t.expose())),
            rel(location.to_string()),
        )),
        BaseCredentials::Environment { profile, location } => out.push(format!(
            "base source {profile} Environment at={}",
            rel(location.to_string())
        )),
        BaseCredentials::Metadata {
            profile,
            location,
            source,
        } => out.push(format!(
            "base source {profile} {source} at={}",
            rel(location.to_string())
        )),
        BaseCredentials::Process {
            profile,
            command,
            location,
        } => out.push(format!(
            "base process {profile} command={} at={}",
            command.expose(),
            rel(location.to_string())
        )),
        BaseCredentials::Sso {
            profile,
            source,
            location,
        } => out.push(format!(
            "base sso {profile} session={} account={} role={} at={}",
            or_dash(source.session.as_deref()),
            source.account_id,
            source.role_name,
            rel(location.to_string())
        )),
    }
    for hop in &chain.hops {
        out.push(format!(
            "hop {} {} session={} external={} duration={} at={}",
            hop.profile,
            hop.role_arn,
            or_dash(hop.role_session_name.as_deref()),
            or_dash(hop.external_id.as_deref()),
            or_dash(hop.duration_seconds.map(|d| d.to_string()).as_deref()),
            rel(hop.location.to_string()),
        ));
    }
    out.push(format!("region {}", or_dash(chain.region.as_deref())));
    out.push(format!(
        "sts_regional_endpoints {}",
        or_dash(
            chain
                .sts_regional_endpoints
                .map(|m| format!("{m:?}"))
                .as_deref()
        )
    ));
    out.push(format!(
        "endpoint_url {}",
        or_dash(chain.endpoint_url.as_deref())
    ));
    if let Some(mfa) = &chain.mfa {
        out.push(format!(
            "mfa {} from {} at={}",
            mfa.serial,
            mfa.profile,
            rel(mfa.location.to_string())
        ));
    }
    out
}

/// Runs one case; returns a description of each mismatch.
fn run_case(case: &Case) -> Vec<String> {
    let prefix = format!("{}/", case.dir.display());
    let rel = |s: String| s.replace(&prefix, "");
    let paths = ProfilePaths {
        config_file: case.dir.join("config"),
        credentials_file: case.dir.join("credentials"),
    };
    let mut failures = Vec::new();
    let mut shown = Vec::new();
    let loaded = ProfileSet::load(&paths);
    for (header, want) in &case.blocks {
        let (verb, name) = header.split_once(' ').unwrap_or((header, ""));
        let got: Vec<String> = match (verb, &loaded) {
            ("load-error", Err(e)) => {
                shown.push(format!("{e} {e:?}"));
                vec![rel(e.to_string())]
            }
            (_, Err(e)) => vec![format!("load failed: {}", rel(e.to_string()))],
            ("load-error", Ok(_)) => vec!["loaded fine".into()],
            ("resolve", Ok(set)) => match set.resolve(name, &case.env) {
                Ok(chain) => render(&chain, &rel),
                Err(e) => vec![format!("error: {}", rel(e.to_string()))],
            },
            ("error", Ok(set)) => match set.resolve(name, &case.env) {
                Ok(_) => vec!["resolved fine".into()],
                Err(e) => {
                    shown.push(format!("{e} {e:?}"));
                    vec![rel(e.to_string())]
                }
            },
            ("report", Ok(set)) => set
                .report(&case.env)
                .iter()
                .map(|r| rel(r.to_string()))
                .collect(),
            ("warnings", Ok(set)) => set.warnings.iter().cloned().map(rel).collect(),
            _ => panic!("{}: unknown block `== {header}`", case.dir.display()),
        };
        let matches = if matches!(verb, "error" | "load-error") {
            got.len() == 1 && want.iter().all(|w| got[0].contains(w.as_str()))
        } else {
            &got == want
        };
        if !matches {
            failures.push(format!(
                "{} `== {header}`:\n  want: {want:#?}\n  got:  {got:#?}",
                case.dir.display()
            ));
        }
    }
    if let Ok(set) = &loaded {
        shown.extend(set.warnings.iter().cloned());
        shown.extend(set.report(&case.env).iter().map(ToString::to_string));
        for name in set.profiles.keys() {
            if let Err(e) = set.resolve(name, &case.env) {
                shown.push(format!("{e} {e:?}"));
            }
        }
    }
    for secret in &case.secrets {
        if let Some(leak) = shown.iter().find(|s| s.contains(secret.as_str())) {
            failures.push(format!(
                "{}: a secret leaked into: {leak}",
                case.dir.display()
            ));
        }
    }
    failures
}

#[test]
fn profile_fixture_cases_resolve_as_expected() {
    let root = support::data("profiles");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/data/profiles")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 20, "only {} cases found", dirs.len());
    let failures: Vec<String> = dirs.iter().flat_map(|d| run_case(&read_case(d))).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_secret_check_of_the_fixture_runner_can_fail() {
    // A case whose expected secret is shown in its own report: the runner must notice.
    let case = Case {
        dir: support::data("profiles/static-keys"),
        env: Env::from_pairs::<&str, &str>([]),
        secrets: vec!["****MPLE".into()],
        blocks: Vec::new(),
    };
    let failures = run_case(&case);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("leaked"), "{failures:?}");
}
