//! HTTPS to STS: `credvend check` through a real TLS peer (Python's OpenSSL in front of moto)
//! trusting it only through `[aws] ca_file`, and refusing it without.

use std::ffi::OsStr;
use std::process::Stdio;

use serde::Deserialize;

use crate::support::JsonPeer;
use crate::support::home::{Home, text};
use crate::support::moto::{Seeded, moto};

#[derive(Deserialize)]
struct Front {
    url: String,
    ca_file: String,
}

/// Starts the TLS front; it lives until its stdin is dropped.
fn tls_front(m: &Seeded, home: &Home) -> Option<JsonPeer<Front>> {
    let args = [OsStr::new(&m.url), home.root.as_os_str()];
    crate::support::start_json_peer("tls_proxy.py", &args, Some(&home.root), Stdio::inherit())
}

fn setup(home: &Home, m: &Seeded) {
    home.credentials(&format!(
        "[base]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        m.access_key_id, m.secret_access_key
    ))
    .config(&format!(
        "[profile app]\nrole_arn = {}\nsource_profile = base\nrole_session_name = over-tls\n",
        m.role("app")
    ));
}

/// Writes `toml` as a credvend config named `name` and runs `check --profile app` with it.
fn check_with(home: &Home, m: &Seeded, name: &str, toml: &str) -> std::process::Output {
    let config = home.path(name);
    std::fs::write(&config, toml).unwrap();
    let config = config.to_str().unwrap();
    home.credvend(&m.url, &["check", "--profile", "app", "--config", config])
}

#[test]
fn check_over_https_trusts_the_configured_ca_file_and_nothing_else() {
    let Some(m) = moto() else { return };
    let home = Home::new();
    setup(&home, m);
    let Some(JsonPeer {
        announced: front,
        stdin,
        mut child,
    }) = tls_front(m, &home)
    else {
        return;
    };

    let out = check_with(
        &home,
        m,
        "trusting.toml",
        &format!(
            "[aws]\nsts_endpoint = \"{}\"\nca_file = \"{}\"\n",
            front.url, front.ca_file
        ),
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("endpoint: {}", front.url)),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("identity: {}", m.assumed("app", "over-tls"))),
        "{stdout}"
    );

    // Without the CA file the test CA is unknown: a clear TLS error naming the endpoint, no hang.
    let out = check_with(
        &home,
        m,
        "plain.toml",
        &format!("[aws]\nsts_endpoint = \"{}\"\n", front.url),
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(stderr.contains(&front.url), "{stderr}");
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");

    drop(stdin);
    let _ = child.wait();
}

#[test]
fn an_unreadable_ca_file_is_a_clear_error() {
    let Some(m) = moto() else { return };
    let home = Home::new();
    setup(&home, m);
    let missing = home.path("no-such-ca.pem");
    let toml = format!("[aws]\nca_file = \"{}\"\n", missing.display());
    let out = check_with(&home, m, "bad-ca.toml", &toml);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no-such-ca.pem"), "{stderr}");
}
