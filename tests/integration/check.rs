//! `credvend check` against moto with signature checking on: every case of the foundation
//! issue, success and failure, and no secret in anything printed.

use crate::support::home::{Home, text};
use crate::support::moto::{Seeded, moto};

/// `[base]` with the seeded user's long-term keys, plus `extra` credentials sections.
fn credentials(m: &Seeded, extra: &str) -> String {
    format!(
        "[base]\naws_access_key_id = {}\naws_secret_access_key = {}\n{extra}",
        m.access_key_id, m.secret_access_key
    )
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn check(m: &Seeded, config: &str, creds: &str, profile: &str, extra_env: &[(&str, &str)]) -> Run {
    let mut home = Home::new();
    home.config(config).credentials(creds);
    home.extra_env = extra_env
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    let out = home.credvend(&m.url, &["check", "--profile", profile]);
    let run = Run {
        ok: out.status.success(),
        stdout: text(&out.stdout),
        stderr: text(&out.stderr),
    };
    for secret in [
        &m.secret_access_key,
        &m.session.secret_access_key,
        &m.session.session_token,
    ] {
        assert!(
            !run.stdout.contains(secret.as_str()),
            "secret in stdout: {}",
            run.stdout
        );
        assert!(
            !run.stderr.contains(secret.as_str()),
            "secret in stderr: {}",
            run.stderr
        );
    }
    run
}

fn assert_identity(run: &Run, arn: &str) {
    assert!(run.ok, "check failed:\n{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!("identity: {arn}\n")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("account:  123456789012"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("expires:  "), "{}", run.stdout);
}

fn assert_fails_with(run: &Run, needles: &[&str]) {
    assert!(!run.ok, "check should fail:\n{}", run.stdout);
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "missing {needle:?} in:\n{}",
            run.stderr
        );
    }
}

#[test]
fn static_keys_to_a_role() {
    let Some(m) = moto() else { return };
    let config = format!(
        "[profile app]\nrole_arn = {}\nsource_profile = base\nrole_session_name = check-app\n",
        m.role("app")
    );
    let run = check(m, &config, &credentials(m, ""), "app", &[]);
    assert_identity(&run, &m.assumed("app", "check-app"));
}

#[test]
fn a_two_hop_source_profile_chain() {
    let Some(m) = moto() else { return };
    let config = format!(
        "[profile hop1]\nrole_arn = {}\nsource_profile = base\nrole_session_name = hop1\n\n\
         [profile chained]\nrole_arn = {}\nsource_profile = hop1\nrole_session_name = hop2\n",
        m.role("app"),
        m.role("chained")
    );
    let run = check(m, &config, &credentials(m, ""), "chained", &[]);
    assert_identity(&run, &m.assumed("chained", "hop2"));
    assert!(
        run.stdout.contains(&format!("hop 1:    {}", m.role("app"))),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("hop 2:    {}", m.role("chained"))),
        "{}",
        run.stdout
    );
}

#[test]
fn an_external_id_with_special_characters() {
    let Some(m) = moto() else { return };
    let config = format!(
        "[profile ext]\nrole_arn = {}\nsource_profile = base\nexternal_id = {}\nrole_session_name = ext\n",
        m.role("external"),
        m.external_id
    );
    let run = check(m, &config, &credentials(m, ""), "ext", &[]);
    assert_identity(&run, &m.assumed("external", "ext"));
}

#[test]
fn session_credentials_as_the_source() {
    let Some(m) = moto() else { return };
    let creds = format!(
        "[sess]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n",
        m.session.access_key_id, m.session.secret_access_key, m.session.session_token
    );
    let config = format!(
        "[profile from-session]\nrole_arn = {}\nsource_profile = sess\nrole_session_name = via-session\n",
        m.role("from-session")
    );
    let run = check(m, &config, &creds, "from-session", &[]);
    assert_identity(&run, &m.assumed("from-session", "via-session"));
}

#[test]
fn a_session_name_with_at_and_equals() {
    let Some(m) = moto() else { return };
    let config = format!(
        "[profile app]\nrole_arn = {}\nsource_profile = base\nrole_session_name = me@example.com=dev\n",
        m.role("app")
    );
    // Also proves that trace logging prints no secret (check() asserts it on every run).
    let run = check(
        m,
        &config,
        &credentials(m, ""),
        "app",
        &[("RUST_LOG", "trace")],
    );
    assert_identity(&run, &m.assumed("app", "me@example.com=dev"));
}

#[test]
fn a_wrong_secret_fails_with_signature_does_not_match() {
    let Some(m) = moto() else { return };
    let creds = format!(
        "[base]\naws_access_key_id = {}\naws_secret_access_key = wrong+secret/with=chars\n",
        m.access_key_id
    );
    let config = format!(
        "[profile app]\nrole_arn = {}\nsource_profile = base\n",
        m.role("app")
    );
    let run = check(m, &config, &creds, "app", &[]);
    assert_fails_with(&run, &["SignatureDoesNotMatch", "app", m.role("app")]);
    assert!(!run.stderr.contains("wrong+secret"), "{}", run.stderr);
    // One line, each layer saying its part once: what failed, then why.
    let want = format!(
        "credvend: profile \"app\": AssumeRole {} failed: STS error SignatureDoesNotMatch: ",
        m.role("app")
    );
    assert!(run.stderr.starts_with(&want), "{}", run.stderr);
    assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
}

#[test]
fn an_unknown_access_key_fails_with_invalid_client_token_id() {
    let Some(m) = moto() else { return };
    let creds = "[base]\naws_access_key_id = AKIAUNKNOWN000000000\naws_secret_access_key = nope\n";
    let config = format!(
        "[profile app]\nrole_arn = {}\nsource_profile = base\n",
        m.role("app")
    );
    let run = check(m, &config, creds, "app", &[]);
    assert_fails_with(&run, &["InvalidClientTokenId"]);
}

#[test]
fn a_wrong_external_id_fails_with_access_denied() {
    let Some(m) = moto() else { return };
    let config = format!(
        "[profile ext]\nrole_arn = {}\nsource_profile = base\nexternal_id = not-the-right-one\n",
        m.role("external")
    );
    let run = check(m, &config, &credentials(m, ""), "ext", &[]);
    assert_fails_with(&run, &["AccessDenied", "ext"]);
}

#[test]
fn a_source_profile_loop_is_reported() {
    let Some(m) = moto() else { return };
    let config = format!(
        "[profile a]\nrole_arn = {r}\nsource_profile = b\n\n[profile b]\nrole_arn = {r}\nsource_profile = a\n",
        r = m.role("app")
    );
    let run = check(m, &config, &credentials(m, ""), "a", &[]);
    assert_fails_with(&run, &["loop", "a", "b"]);
}

#[test]
fn an_unknown_profile_is_reported() {
    let Some(m) = moto() else { return };
    let run = check(m, "", &credentials(m, ""), "nosuch", &[]);
    assert_fails_with(&run, &["nosuch"]);
}

#[test]
fn a_malformed_credentials_file_names_file_and_line() {
    let Some(m) = moto() else { return };
    let creds = format!("{}\nthis line is garbage\n", credentials(m, ""));
    let config = format!(
        "[profile app]\nrole_arn = {}\nsource_profile = base\n",
        m.role("app")
    );
    let run = check(m, &config, &creds, "app", &[]);
    assert_fails_with(&run, &[".aws/credentials:5"]);
}
