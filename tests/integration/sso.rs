//! IAM Identity Center (SSO) as a source, end to end: the real daemon and `credvend check`
//! against the fake portal and OIDC endpoint of `tests/peers/sso_portal.py` (no SSO service
//! runs here; the fake follows the documented request and response shapes and refuses a
//! bearer token it did not issue), with the token cache written and read by botocore's own
//! code, as `aws sso login` and the SDKs do.
//!
//! The portal hands out the session moto seeded for its user (`app/seed-session`), so a
//! `role_arn` on top of the SSO profile, role `from-session`, which trusts that session, ends
//! with moto's assumed-role ARN, with signature checking on.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::daemon::{Daemon, Spec};
use crate::support::home::text;
use crate::support::http::http;
use crate::support::moto::{Seeded, moto};
use crate::support::{JsonPeer, peer_script, python, scrubbed_env, start_json_peer};

const START_URL: &str = "https://corp.example.awsapps.com/start";
const ACCESS_TOKEN: &str = "sso-access-token-from-login-Zm9vYmFy";
const CLIENT_SECRET: &str = "sso-client-secret-c2VjcmV0c2VjcmV0";
const REFRESH_TOKEN: &str = "sso-refresh-token-cmVmcmVzaHJlZnJlc2g";

/// The running fake portal.
struct Portal {
    url: String,
    _peer: JsonPeer<serde_json::Value>,
}

impl Portal {
    fn start(m: &Seeded) -> Option<Self> {
        let dir = std::env::temp_dir().join(format!("credvend-sso-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("settings dir");
        let settings = dir.join(format!("portal-{}.json", rand_suffix()));
        let json = serde_json::json!({
            "account_id": m.account, "role_name": "Developer",
            "credentials": {
                "access_key_id": m.session.access_key_id,
                "secret_access_key": m.session.secret_access_key,
                "session_token": m.session.session_token,
            },
            "access_tokens": [ACCESS_TOKEN],
            "client_id": "client-1", "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN,
        });
        std::fs::write(&settings, json.to_string()).expect("write portal settings");
        let peer = start_json_peer::<serde_json::Value>(
            "sso_portal.py",
            &["serve".as_ref(), settings.as_os_str()],
            None,
            Stdio::inherit(),
        )?;
        let url = peer.announced["url"]
            .as_str()
            .expect("portal url")
            .to_owned();
        Some(Self { url, _peer: peer })
    }

    /// The calls the portal got, `op` first.
    fn calls(&self) -> Vec<serde_json::Value> {
        let answer = http("GET", &format!("{}/_calls", self.url), &[]);
        serde_json::from_str(&answer.body).expect("calls JSON")
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

/// `sso_portal.py save|load ...` with the venv's botocore.
fn botocore(args: &[&str]) -> Output {
    let out = Command::new(python().expect("venv python"))
        .arg(peer_script("sso_portal.py"))
        .args(args)
        .env_clear()
        .envs(scrubbed_env(None))
        .output()
        .expect("run sso_portal.py");
    assert!(
        out.status.success(),
        "sso_portal.py {args:?}: {}",
        text(&out.stderr)
    );
    out
}

/// `aws sso login` as botocore caches it: the token for `session` (or the legacy start URL),
/// expiring `expires_in` seconds from now (negative: already expired).
fn login(home: &Path, session: Option<&str>, expires_in: i64) {
    let at = |secs: i64| {
        let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(secs);
        let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        t.format(&f).expect("format")
    };
    let token = serde_json::json!({
        "startUrl": START_URL, "region": "us-east-1", "accessToken": ACCESS_TOKEN,
        "expiresAt": at(expires_in), "clientId": "client-1", "clientSecret": CLIENT_SECRET,
        "registrationExpiresAt": at(90 * 86400), "refreshToken": REFRESH_TOKEN,
    });
    let file = home.join("token-input.json");
    std::fs::write(&file, token.to_string()).expect("token input");
    let cache = home.join(".aws/sso/cache");
    botocore(&[
        "save",
        cache.to_str().expect("utf-8"),
        START_URL,
        session.unwrap_or("-"),
        file.to_str().expect("utf-8"),
    ]);
}

/// botocore's view of the cached token, and the bytes botocore would write for it.
fn cached(home: &Path, session: Option<&str>) -> serde_json::Value {
    let cache = home.join(".aws/sso/cache");
    let out = botocore(&[
        "load",
        cache.to_str().expect("utf-8"),
        START_URL,
        session.unwrap_or("-"),
    ]);
    serde_json::from_slice(&out.stdout).expect("load JSON")
}

/// The config: session `corp`, SSO profile `base`, role `app` on top, both pointing the
/// portal and OIDC at the fake through `[services]` (the SDKs take the requested profile's).
fn config(m: &Seeded, portal: &str) -> String {
    format!(
        "[sso-session corp]\nsso_start_url = {START_URL}\nsso_region = us-east-1\nsso_registration_scopes = sso:account:access\n\
         [services fake]\nsso =\n  endpoint_url = {portal}\nsso_oidc =\n  endpoint_url = {portal}\n\
         [profile base]\nsso_session = corp\nsso_account_id = {}\nsso_role_name = Developer\nservices = fake\n\
         [profile app]\nrole_arn = {}\nsource_profile = base\nrole_session_name = via-sso\nservices = fake\n\
         [profile old]\nsso_start_url = {START_URL}\nsso_region = us-east-1\nsso_account_id = {}\nsso_role_name = Developer\nservices = fake\n\
         [profile old-app]\nrole_arn = {}\nsource_profile = old\nrole_session_name = via-legacy\nservices = fake\n",
        m.account,
        m.role("from-session"),
        m.account,
        m.role("from-session"),
    )
}

fn spec(m: &Seeded, portal: &str, profiles: &[&str]) -> Spec {
    let mut spec = Spec::app(m, &[]);
    spec.aws_config = config(m, portal);
    spec.aws_credentials = String::new();
    spec.ecs_profiles = profiles.iter().map(|p| (*p).to_owned()).collect();
    spec
}

/// boto3 through the ECS listener for `profile`: the ARN STS reports for what it got.
fn boto3_arn(m: &Seeded, daemon: &Daemon, profile: &str) -> String {
    let client = crate::support::home::Home::new();
    let out = Command::new(python().expect("venv python"))
        .arg(peer_script("clients/boto3_identity.py"))
        .env_clear()
        .envs(scrubbed_env(Some(&client.root)))
        .env("AWS_ENDPOINT_URL_STS", &m.url)
        .env(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            daemon.ecs_role_url(profile),
        )
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", daemon.token())
        .output()
        .expect("run boto3");
    assert!(
        out.status.success(),
        "boto3 failed: {}\n-- credvend:\n{}",
        text(&out.stderr),
        daemon.stderr()
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("boto3 JSON");
    assert_eq!(answer["method"], "container-role");
    answer["arn"].as_str().expect("arn").to_owned()
}

/// No token, refresh token or client secret anywhere in `output`.
fn assert_no_sso_secret(output: &str, m: &Seeded) {
    for secret in [
        ACCESS_TOKEN,
        CLIENT_SECRET,
        REFRESH_TOKEN,
        "fake-access-token-",
        "fake-refresh-token-",
        &m.session.secret_access_key,
        &m.session.session_token,
    ] {
        assert!(!output.contains(secret), "a secret in:\n{output}");
    }
}

fn ecs_status(daemon: &Daemon, profile: &str) -> u16 {
    let token = daemon.token();
    http(
        "GET",
        &daemon.ecs_role_url(profile),
        &[("Authorization", &token)],
    )
    .status
}

#[test]
fn an_sso_session_profile_with_a_role_on_top_is_served_to_boto3() {
    let Some(m) = moto() else { return };
    let Some(portal) = Portal::start(m) else {
        return;
    };
    let daemon = Daemon::start_prepared(m, &spec(m, &portal.url, &["app", "base"]), |home| {
        login(&home.root, Some("corp"), 8 * 3600);
    });
    assert_eq!(
        boto3_arn(m, &daemon, "app"),
        m.assumed("from-session", "via-sso")
    );
    // Without a role the portal's session is served as it is: moto's seeded session.
    assert_eq!(
        boto3_arn(m, &daemon, "base"),
        m.assumed("app", "seed-session")
    );
    let calls = portal.calls();
    assert!(!calls.is_empty());
    for call in &calls {
        assert_eq!(
            call["op"], "GetRoleCredentials",
            "a fresh token is not refreshed"
        );
        assert_eq!(call["token_accepted"], true);
        assert_eq!(call["account_id"], m.account.as_str());
        assert_eq!(call["role_name"], "Developer");
    }
    assert_no_sso_secret(&daemon.stderr(), m);
}

#[test]
fn an_expired_token_is_refreshed_through_oidc_and_botocore_reads_the_rewritten_cache() {
    let Some(m) = moto() else { return };
    let Some(portal) = Portal::start(m) else {
        return;
    };
    // Endpoints from the environment this time, as the SDKs also take them.
    let mut spec = spec(m, "https://unused.invalid", &["base"]);
    spec.extra_env = vec![
        ("AWS_ENDPOINT_URL_SSO".into(), portal.url.clone()),
        ("AWS_ENDPOINT_URL_SSO_OIDC".into(), portal.url.clone()),
    ];
    let daemon = Daemon::start_prepared(m, &spec, |home| login(&home.root, Some("corp"), -60));
    assert_eq!(
        boto3_arn(m, &daemon, "base"),
        m.assumed("app", "seed-session")
    );
    let ops: Vec<_> = portal.calls().iter().map(|c| c["op"].clone()).collect();
    assert_eq!(ops[..2], ["CreateToken", "GetRoleCredentials"], "{ops:?}");
    assert_eq!(portal.calls()[1]["token_accepted"], true);

    let home = &daemon.home().root;
    let seen = cached(home, Some("corp"));
    let token = &seen["token"];
    assert_eq!(token["accessToken"], "fake-access-token-1");
    assert_eq!(token["refreshToken"], "fake-refresh-token-1");
    assert_eq!(token["clientSecret"], CLIENT_SECRET);
    assert_eq!(token["startUrl"], START_URL);
    let expires = time::OffsetDateTime::parse(
        token["expiresAt"].as_str().expect("expiresAt"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("an RFC 3339 expiresAt");
    let left = expires - time::OffsetDateTime::now_utc();
    assert!(left > time::Duration::hours(7), "expires in {left}");
    // botocore's file name: the SHA-1 of the session name.
    let file = home.join(".aws/sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json");
    assert_eq!(only_cache_file(home), file);
    let written = std::fs::read_to_string(&file).expect("cache file");
    assert_eq!(
        written, seen["as_botocore_writes_it"],
        "byte for byte what botocore writes"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&file).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // And boto3's own SSO provider takes the rewritten cache as the CLI's: it sends the
    // refreshed token to the portal and gets the same session.
    let out = Command::new(python().expect("venv python"))
        .arg(peer_script("clients/boto3_identity.py"))
        .env_clear()
        .envs(scrubbed_env(Some(home)))
        .env("AWS_PROFILE", "base")
        .env("AWS_ENDPOINT_URL_STS", &m.url)
        .env("AWS_ENDPOINT_URL_SSO", &portal.url)
        .output()
        .expect("run boto3");
    assert!(out.status.success(), "boto3: {}", text(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("boto3 JSON");
    assert_eq!(answer["method"], "sso");
    assert_eq!(answer["arn"], m.assumed("app", "seed-session").as_str());
    let last = portal.calls().last().cloned().expect("a call");
    assert_eq!(last["op"], "GetRoleCredentials");
    assert_eq!(
        last["token_accepted"], true,
        "boto3 sent the token credvend wrote"
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("cache file"),
        written,
        "boto3 had no reason to refresh it again"
    );
    assert!(
        daemon
            .stderr()
            .contains("IAM Identity Center token refreshed"),
        "{}",
        daemon.stderr()
    );
    assert_no_sso_secret(&daemon.stderr(), m);
}

/// The one token file in the cache (its name is botocore's SHA-1 of the session name).
fn only_cache_file(home: &Path) -> std::path::PathBuf {
    let files: Vec<_> = std::fs::read_dir(home.join(".aws/sso/cache"))
        .expect("cache dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[test]
fn without_a_token_every_surface_says_to_run_aws_sso_login_and_a_login_is_picked_up() {
    let Some(m) = moto() else { return };
    let Some(portal) = Portal::start(m) else {
        return;
    };
    let daemon = Daemon::start(m, &spec(m, &portal.url, &["app"]));
    let hint = "run `aws sso login --sso-session corp`";
    daemon.wait_for("the mint error in the log", || {
        daemon.stderr().contains(hint)
    });
    assert_eq!(ecs_status(&daemon, "app"), 503);
    let home = daemon.home();
    let check = home.credvend(&m.url, &["check", "--profile", "app"]);
    assert!(!check.status.success());
    assert!(
        text(&check.stderr).contains(hint),
        "{}",
        text(&check.stderr)
    );
    let profiles = text(&home.credvend(&m.url, &["profiles"]).stdout);
    assert!(profiles.contains(hint), "{profiles}");

    let config = home.path("credvend.toml");
    let config_arg = config.to_str().expect("utf-8");
    let status = text(
        &home
            .credvend(&m.url, &["status", "--config", config_arg])
            .stdout,
    );
    assert!(status.contains(hint), "{status}");

    login(&home.root, Some("corp"), 8 * 3600);
    let refresh = home.credvend(
        &m.url,
        &[
            "refresh",
            "app",
            "--config",
            config.to_str().expect("utf-8"),
        ],
    );
    assert!(refresh.status.success(), "{}", text(&refresh.stderr));
    assert_eq!(ecs_status(&daemon, "app"), 200);
    assert_eq!(
        boto3_arn(m, &daemon, "app"),
        m.assumed("from-session", "via-sso")
    );
    let all = format!(
        "{}{profiles}{status}{}",
        daemon.stderr(),
        text(&check.stdout)
    );
    assert_no_sso_secret(&all, m);
}

#[test]
fn the_legacy_form_works_and_its_expired_token_says_which_profile_to_log_in() {
    let Some(m) = moto() else { return };
    let Some(portal) = Portal::start(m) else {
        return;
    };
    let home = crate::support::home::Home::new();
    home.config(&config(m, &portal.url));
    login(&home.root, None, 3600);
    let out = home.credvend(&m.url, &["check", "--profile", "old-app"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let arn = m.assumed("from-session", "via-legacy");
    assert!(stdout.contains(&format!("identity: {arn}\n")), "{stdout}");

    login(&home.root, None, -60);
    let out = home.credvend(&m.url, &["check", "--profile", "old-app"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("run `aws sso login --profile old`"),
        "{stderr}"
    );
    let ops: Vec<_> = portal.calls().iter().map(|c| c["op"].clone()).collect();
    assert_eq!(
        ops,
        ["GetRoleCredentials"],
        "legacy tokens are neither refreshed nor sent expired"
    );
    assert_no_sso_secret(&format!("{stdout}{stderr}"), m);
}
