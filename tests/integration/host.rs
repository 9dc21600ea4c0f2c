//! The workstation story as a user lives it: `~/.aws/credentials` holds the `[default]` keys
//! credvend itself uses, credvend runs from its config in the default place, and the clients
//! are the real CLIs and SDKs in a shell with a normal HOME (no AWS_CONFIG_FILE, no
//! AWS_SHARED_CREDENTIALS_FILE).
//!
//! Without `credvend env` every SDK finds the `[default]` keys first and is the IAM user;
//! after `eval "$(credvend env)"`, or through `credential_process = credvend
//! credential-process`, each is the role credvend serves. The clients keep the suite's safety
//! settings: proxies that fail for anything off loopback, and IMDS switched off, so a client
//! that missed an endpoint variable fails instead of looking for 169.254.169.254.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use nix::sys::signal::Signal;

use crate::support::daemon::{Daemon, SESSION, Spec};
use crate::support::home::{Home, text};
use crate::support::moto::{Seeded, moto};
use crate::support::{peer_script, peers_dir, python, require, scrubbed_env};

/// The real clients, each printing its identity as JSON.
#[derive(Clone, Copy, Debug)]
enum Client {
    CliV1,
    CliV2,
    Boto3,
    JsV3,
    GoV2,
}

impl Client {
    /// The program and its arguments; `None` when the peer is missing (a failure under CI).
    fn command(self, moto: &Seeded) -> Option<(PathBuf, Vec<String>)> {
        let identity = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        Some(match self {
            Self::CliV1 => (
                require("AWS CLI v1", peers_dir().join("venv/bin/aws"))?,
                identity(&["sts", "get-caller-identity", "--output", "json"]),
            ),
            // The CLI v2 2.9 reads no STS endpoint setting; its own call takes --endpoint-url.
            Self::CliV2 => (
                require(
                    "AWS CLI v2 (Debian's awscli)",
                    PathBuf::from("/usr/bin/aws"),
                )?,
                identity(&[
                    "sts",
                    "get-caller-identity",
                    "--output",
                    "json",
                    "--endpoint-url",
                    &moto.url,
                ]),
            ),
            Self::Boto3 => (
                python()?,
                vec![
                    peer_script("clients/boto3_identity.py")
                        .display()
                        .to_string(),
                ],
            ),
            Self::JsV3 => {
                require("JavaScript SDKs", peers_dir().join("js/node_modules"))?;
                (
                    PathBuf::from("node"),
                    vec![
                        peer_script("js/identity.cjs").display().to_string(),
                        "v3-chain".into(),
                    ],
                )
            }
            Self::GoV2 => (
                require("AWS SDK for Go v2", peers_dir().join("go/identity"))?,
                vec!["chain".into()],
            ),
        })
    }
}

/// The user's environment: the suite's scrubbed one with the SDKs' file variables removed
/// (so `~/.aws` is found the normal way), credvend on PATH, STS at moto for each client.
fn user_env(home: &Home, moto: &Seeded) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = scrubbed_env(Some(&home.root))
        .into_iter()
        .filter(|(k, _)| k != "AWS_CONFIG_FILE" && k != "AWS_SHARED_CREDENTIALS_FILE")
        .collect();
    let bin = Path::new(env!("CARGO_BIN_EXE_credvend"))
        .parent()
        .expect("bin dir");
    for (k, v) in &mut env {
        if k == "PATH" {
            *v = format!("{}:{v}", bin.display());
        }
    }
    let modules = peers_dir().join("js/node_modules").display().to_string();
    for (k, v) in [
        ("AWS_ENDPOINT_URL_STS", moto.url.as_str()),
        ("CREDVEND_TEST_STS_URL", moto.url.as_str()),
        ("NODE_PATH", modules.as_str()),
        ("AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE", "1"),
        ("AWS_PAGER", ""),
        ("PYTHONDONTWRITEBYTECODE", "1"),
    ] {
        env.push((k.to_owned(), v.to_owned()));
    }
    env
}

/// moto and a daemon set up as a user would: keys in `[default]` of the shared credentials
/// file, profile `app` assuming the role with them, config in the default place, real ports.
fn user() -> Option<(&'static Seeded, Daemon)> {
    let moto = moto()?;
    let mut spec = Spec::app(moto, &[false]);
    spec.aws_config = format!(
        "[default]\nregion = us-east-1\n\n[profile app]\nrole_arn = {}\nsource_profile = default\nrole_session_name = {SESSION}\n",
        moto.role("app")
    );
    spec.aws_credentials = format!(
        "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        moto.access_key_id, moto.secret_access_key
    );
    spec.fixed_ports = true;
    spec.default_config_location = true;
    Some((moto, Daemon::start(moto, &spec)))
}

/// Runs `client` in a fresh `bash` of the user's, after `prelude` (shell text).
fn run_in_shell(
    home: &Home,
    moto: &Seeded,
    prelude: &str,
    client: Client,
    extra: &[(&str, &str)],
) -> Option<Output> {
    let (program, args) = client.command(moto)?;
    let script = format!("{prelude}\nexec \"$@\"");
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg("bash")
        .arg(program)
        .args(args)
        .env_clear()
        .envs(user_env(home, moto))
        .envs(extra.iter().copied())
        .current_dir(&home.root)
        .stdin(Stdio::null())
        .output()
        .expect("run bash");
    Some(out)
}

/// The ARN a client printed (`Arn` from the CLIs, `arn` from the SDK scripts).
fn arn_of(client: Client, out: &Output, daemon: &Daemon) -> String {
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "{client:?} failed ({}):\n{}\n{stdout}\n-- credvend stderr:\n{}",
        out.status,
        text(&out.stderr),
        daemon.stderr()
    );
    let json: serde_json::Value = serde_json::from_str(stdout.trim())
        .or_else(|_| {
            serde_json::from_str(
                stdout
                    .lines()
                    .rev()
                    .find(|l| l.starts_with('{'))
                    .unwrap_or_default(),
            )
        })
        .unwrap_or_else(|e| panic!("{client:?} printed no JSON ({e}): {stdout}"));
    json.get("Arn")
        .or_else(|| json.get("arn"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or_else(|| panic!("{client:?}: no ARN in {json}"))
        .to_owned()
}

fn iam_user(moto: &Seeded) -> String {
    format!("arn:aws:iam::{}:user/credvend-user", moto.account)
}

const EVAL_ENV: &str = "eval \"$(credvend env --profile app)\" || exit 97";

/// After `credvend env`, `client` reports the role credvend serves.
fn after_credvend_env(client: Client) {
    let Some((moto, daemon)) = user() else { return };
    let Some(out) = run_in_shell(daemon.home(), moto, EVAL_ENV, client, &[]) else {
        return;
    };
    assert_eq!(
        arn_of(client, &out, &daemon),
        moto.assumed("app", SESSION),
        "{client:?}"
    );
}

/// Through `credential_process = credvend credential-process --profile app`, with no endpoint
/// variables at all, `client` reports the role credvend serves.
fn through_credential_process(client: Client) {
    let Some((moto, daemon)) = user() else { return };
    let config = daemon.home().path(".aws/config");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[profile via-credvend]\ncredential_process = credvend credential-process --profile app\n");
    std::fs::write(&config, text).unwrap();
    let Some(out) = run_in_shell(
        daemon.home(),
        moto,
        "",
        client,
        &[("AWS_PROFILE", "via-credvend")],
    ) else {
        return;
    };
    assert_eq!(
        arn_of(client, &out, &daemon),
        moto.assumed("app", SESSION),
        "{client:?}"
    );
}

#[test]
fn in_a_plain_shell_the_default_keys_shadow_credvend() {
    let Some((moto, daemon)) = user() else { return };
    let Some(out) = run_in_shell(daemon.home(), moto, "", Client::CliV1, &[]) else {
        return;
    };
    // The trap this module is about: the SDK uses the keys credvend guards.
    assert_eq!(arn_of(Client::CliV1, &out, &daemon), iam_user(moto));
    assert!(
        daemon
            .stderr()
            .contains("holds long-term keys that SDKs on this host read before they ask credvend"),
        "the daemon warns at start:\n{}",
        daemon.stderr()
    );
}

#[test]
fn after_credvend_env_the_cli_v1_is_the_role() {
    after_credvend_env(Client::CliV1);
}

#[test]
fn after_credvend_env_the_cli_v2_is_the_role() {
    after_credvend_env(Client::CliV2);
}

#[test]
fn after_credvend_env_boto3_is_the_role() {
    after_credvend_env(Client::Boto3);
}

#[test]
fn after_credvend_env_js_v3_is_the_role() {
    after_credvend_env(Client::JsV3);
}

#[test]
fn after_credvend_env_go_v2_is_the_role() {
    after_credvend_env(Client::GoV2);
}

#[test]
fn through_credential_process_the_cli_v1_is_the_role() {
    through_credential_process(Client::CliV1);
}

#[test]
fn through_credential_process_the_cli_v2_is_the_role() {
    through_credential_process(Client::CliV2);
}

#[test]
fn through_credential_process_boto3_is_the_role() {
    through_credential_process(Client::Boto3);
}

#[test]
fn through_credential_process_js_v3_is_the_role() {
    through_credential_process(Client::JsV3);
}

#[test]
fn through_credential_process_go_v2_is_the_role() {
    through_credential_process(Client::GoV2);
}

/// `credvend ARGS` in the user's environment.
fn credvend(home: &Home, moto: &Seeded, args: &[&str], extra: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_credvend"))
        .args(args)
        .env_clear()
        .envs(user_env(home, moto))
        .envs(extra.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run credvend")
}

#[test]
fn credential_process_prints_version_1_json_and_fails_in_one_line_without_a_daemon() {
    let Some((moto, mut daemon)) = user() else {
        return;
    };
    let out = credvend(
        daemon.home(),
        moto,
        &["credential-process", "--profile", "app"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["Version"], 1);
    for field in [
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
    ] {
        assert!(
            json[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field} in {json}"
        );
    }
    let (_, served) = crate::support::http::imds_credentials(&daemon.imds_url(false));
    assert_eq!(
        json["AccessKeyId"], served["AccessKeyId"],
        "the daemon's session, not a new one"
    );

    let out = credvend(
        daemon.home(),
        moto,
        &["credential-process", "--profile", "nosuch"],
        &[],
    );
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr),
        "credvend: no IMDS or ECS listener serves profile \"nosuch\"; add it to the config\n"
    );

    assert!(daemon.stop().success());
    let out = credvend(
        daemon.home(),
        moto,
        &["credential-process", "--profile", "app"],
        &[],
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("credvend: cannot reach the credvend daemon; is `credvend serve` running?: nothing answers on 127.0.0.1:"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn doctor_explains_the_shadowing_keys_and_confirms_the_fix() {
    let Some((moto, mut daemon)) = user() else {
        return;
    };
    let plain = credvend(daemon.home(), moto, &["doctor"], &[]);
    let report = text(&plain.stdout);
    assert!(plain.status.success(), "warnings only:\n{report}");
    for line in [
        "ok    daemon: imds listener 127.0.0.1:",
        "ok    daemon: ecs listener 127.0.0.1:",
        "warn  files: ",
        "warn  endpoints: no AWS_EC2_METADATA_SERVICE_ENDPOINT",
        "ok    clock: within ",
        "      fix: keep credvend's keys in a file of its own: `credvend import-keys --move`",
    ] {
        assert!(report.contains(line), "missing {line:?} in:\n{report}");
    }
    assert!(
        report.contains(
            ".aws/credentials:2: profile default holds the long-term keys credvend reads"
        ),
        "{report}"
    );
    assert!(
        report.contains("warn  files: ") && report.contains("is readable by others (mode 644)"),
        "a world-readable credentials file is named:\n{report}"
    );

    let script = format!("{EVAL_ENV}\nexec credvend doctor");
    let out = Command::new("bash")
        .args(["-c", &script])
        .env_clear()
        .envs(user_env(daemon.home(), moto))
        .output()
        .expect("run bash");
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}{}", text(&out.stderr));
    for line in [
        "ok    shell: no AWS keys or profile variables set",
        "ok    endpoints: AWS_EC2_METADATA_SERVICE_ENDPOINT reaches 127.0.0.1:",
        "ok    endpoints: AWS_CONTAINER_CREDENTIALS_FULL_URI gets credentials from 127.0.0.1:",
    ] {
        assert!(report.contains(line), "missing {line:?} in:\n{report}");
    }
    assert!(
        !report.contains("chmod 600 /dev/null"),
        "the null device `credvend env` sets is no exposed key file:\n{report}"
    );

    assert!(daemon.stop().success());
    let down = credvend(daemon.home(), moto, &["doctor"], &[]);
    let report = text(&down.stdout);
    assert!(
        !down.status.success(),
        "a daemon that is down fails:\n{report}"
    );
    assert!(
        report.contains("fail  daemon: imds listener 127.0.0.1:"),
        "{report}"
    );
    assert!(
        report.contains("fix: start it: `credvend serve`"),
        "{report}"
    );
}

#[test]
fn keys_moved_to_credvends_own_file_no_longer_shadow_it() {
    let Some((moto, daemon)) = user() else { return };
    let home = daemon.home();
    let out = credvend(home, moto, &["import-keys", "--move"], &[]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}{}", text(&out.stderr));
    assert!(!report.contains(&moto.secret_access_key), "{report}");
    let own = home.path(".config/credvend/credentials");
    assert!(
        report.contains("copied profile default (key ****"),
        "{report}"
    );
    // The config exists, so credvend says what to add rather than editing it; do as it says.
    assert!(
        report.contains(&format!("credentials_file = \"{}\"", own.display())),
        "{report}"
    );
    let config = home.path(".config/credvend/config.toml");
    let toml = std::fs::read_to_string(&config).unwrap().replacen(
        "[aws]\n",
        &format!(
            "[aws]\ncredentials_file = {:?}\n",
            own.display().to_string()
        ),
        1,
    );
    std::fs::write(&config, toml).unwrap();
    daemon.signal(Signal::SIGHUP);
    daemon.wait_for("the reload with the new file", || {
        daemon.stderr().contains("reloaded profiles")
    });
    assert!(
        !daemon.stderr().contains("reload failed"),
        "{}",
        daemon.stderr()
    );

    // A plain shell now finds no keys of credvend's: with IMDS off it finds none at all...
    let Some(plain) = run_in_shell(home, moto, "", Client::CliV1, &[]) else {
        return;
    };
    assert!(!plain.status.success(), "{}", text(&plain.stdout));
    assert!(
        text(&plain.stderr).contains("Unable to locate credentials"),
        "{}",
        text(&plain.stderr)
    );
    // ...and credvend, reading its own file, still serves the role.
    let Some(out) = run_in_shell(home, moto, EVAL_ENV, Client::CliV1, &[]) else {
        return;
    };
    assert_eq!(
        arn_of(Client::CliV1, &out, &daemon),
        moto.assumed("app", SESSION)
    );
}
