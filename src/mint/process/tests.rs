//! Real child processes: small shell scripts written by each test.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::test_util::logs::CapturedLogs;
use crate::test_util::{SECRET_MARK, TOKEN_MARK, leaks, temp_dir};

const LONG: Duration = Duration::from_secs(30);

/// An executable `/bin/sh` script with `body`, in a fresh directory.
fn script(name: &str, body: &str) -> PathBuf {
    let dir = temp_dir(&format!("process-{name}"));
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn env() -> Env {
    Env::from_pairs([("PATH", "/usr/bin:/bin"), ("FROM_ENV", "AKIAFROMENV")])
}

fn document(key: &str, extra: &str) -> String {
    format!(
        "{{\"Version\": 1, \"AccessKeyId\": \"{key}\", \"SecretAccessKey\": \"{SECRET_MARK}\"{extra}}}"
    )
}

#[tokio::test]
async fn the_program_runs_without_a_shell_with_the_daemons_environment_and_no_stdin() {
    let doc = document("%s", "");
    let path = script(
        "print-env",
        &format!(
            "read line && exit 9\nprintf '{doc}' \"$FROM_ENV\"\necho \"arg one=[$1] two=[$2]\" >&2"
        ),
    );
    // `$HOME` is not expanded and the quoted words stay whole: no shell is involved.
    let command = format!("'{}' '$HOME' \"two words\"", path.display());
    let (logs, _guard) = CapturedLogs::install(tracing::Level::INFO);
    let credentials = run("p", &command, &env(), LONG).await.unwrap();
    assert_eq!(credentials.access_key_id, "AKIAFROMENV");
    assert_eq!(credentials.secret_access_key.expose(), SECRET_MARK);
    assert!(credentials.expiration.is_none() && !credentials.is_session());
    let logged = logs.text();
    assert!(
        logged.contains("credential_process stderr: arg one=[$HOME] two=[two words]"),
        "{logged}"
    );
    assert!(!leaks(&logged), "{logged}");
}

#[tokio::test]
async fn a_slow_program_is_killed_at_the_timeout() {
    let marker = temp_dir("process-slow").join("still-running");
    let path = script(
        "slow",
        &format!("echo starting >&2\nsleep 1\ntouch '{}'", marker.display()),
    );
    let started = tokio::time::Instant::now();
    let err = run(
        "p",
        &path.display().to_string(),
        &env(),
        Duration::from_millis(300),
    )
    .await
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(900), "{err}");
    assert!(
        matches!(err, ProcessError::Timeout { seconds: 0, .. }),
        "{err}"
    );
    assert!(err.is_retryable());
    assert!(err.to_string().contains("did not finish within"), "{err}");
    // Past the moment the program would have touched the file, had it not been killed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!marker.exists(), "the program was not killed");
}

#[tokio::test]
async fn a_failing_program_gives_its_exit_code_and_last_stderr_line_redacted() {
    let path = script(
        "fail",
        &format!("echo 'first line' >&2\necho 'denied for key {SECRET_MARK}xx' >&2\nexit 3"),
    );
    let (logs, _guard) = CapturedLogs::install(tracing::Level::INFO);
    let err = run("p", &path.display().to_string(), &env(), LONG)
        .await
        .unwrap_err();
    let ProcessError::Exit {
        code, last_stderr, ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(*code, 3);
    assert_eq!(last_stderr.as_deref(), Some("denied for key <redacted>"));
    let shown = err.to_string();
    assert!(
        shown.ends_with("exited with status 3; its last stderr line: denied for key <redacted>"),
        "{shown}"
    );
    let logged = logs.text();
    assert!(
        logged.contains("credential_process stderr: first line"),
        "{logged}"
    );
    assert!(!leaks(&logged) && !leaks(&shown), "{logged}");
}

#[tokio::test]
async fn the_secret_and_token_it_printed_never_reach_the_log() {
    let doc = document(
        "ASIAPROC",
        &format!(", \"SessionToken\": \"{TOKEN_MARK}\", \"Expiration\": \"2030-01-01T00:00:00Z\""),
    );
    let path = script(
        "echo-secret",
        &format!("echo '{doc}'\necho 'got {TOKEN_MARK} and short {SECRET_MARK}' >&2"),
    );
    let (logs, _guard) = CapturedLogs::install(tracing::Level::TRACE);
    let credentials = run("p", &path.display().to_string(), &env(), LONG)
        .await
        .unwrap();
    assert_eq!(credentials.session_token.unwrap().expose(), TOKEN_MARK);
    let logged = logs.text();
    assert!(
        logged.contains("credential_process stderr: got <redacted>"),
        "{logged}"
    );
    assert!(!leaks(&logged), "{logged}");
}

#[tokio::test]
async fn a_malformed_document_names_the_field_and_never_the_secret() {
    let path = script(
        "no-version",
        &format!("echo '{{\"AccessKeyId\": \"A\", \"SecretAccessKey\": \"{SECRET_MARK}\"}}'"),
    );
    let err = run("p", &path.display().to_string(), &env(), LONG)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("printed no usable credentials: field Version must be 1, found nothing"),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert!(!leaks(&format!("{err} {err:?}")));
}

#[tokio::test]
async fn a_flood_on_stdout_stops_at_the_cap_without_waiting_for_the_timeout() {
    let path = script("flood", "exec yes 0123456789");
    let started = tokio::time::Instant::now();
    let err = run("p", &path.display().to_string(), &env(), LONG)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProcessError::TooMuchOutput { limit, .. } if limit == STDOUT_LIMIT),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_missing_program_and_a_bad_command_line_are_permanent_errors() {
    let err = run("p", "/nonexistent/helper --x", &env(), LONG)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot run /nonexistent/helper: "),
        "{err}"
    );
    assert!(!err.is_retryable());
    let err = run("p", "helper 'unclosed", &env(), LONG)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the command line cannot be split: no closing quotation"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_signal_is_named() {
    let path = script("killed", "echo bye >&2\nkill -TERM $$");
    let err = run("p", &path.display().to_string(), &env(), LONG)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("was killed by signal 15; its last stderr line: bye"),
        "{err}"
    );
}

#[test]
fn descriptions_show_the_program_but_never_its_arguments() {
    use super::split::describe;
    assert_eq!(
        describe("/usr/bin/helper --token abc").as_deref(),
        Some("/usr/bin/helper ...")
    );
    assert_eq!(describe("'/a b/helper'").as_deref(), Some("/a b/helper"));
    assert_eq!(describe("'unclosed"), None);
}

#[test]
fn redaction_takes_known_secrets_and_anything_shaped_like_a_key() {
    assert_eq!(
        redact("short pw=hunter2 ok", &["hunter2"]),
        "short pw=<redacted> ok"
    );
    assert_eq!(
        redact("key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY.", &[]),
        "key <redacted>."
    );
    assert_eq!(
        redact("path /usr/lib/x.so took 31ms", &[]),
        "path /usr/lib/x.so took 31ms"
    );
}

/// A chain whose base runs `command`, with `hops`.
fn process_chain(
    command: &str,
    hops: Vec<crate::profile::RoleHop>,
) -> crate::profile::ProfileChain {
    crate::profile::ProfileChain {
        base: BaseCredentials::Process {
            profile: "proc".into(),
            command: crate::secret::Secret::new(command),
            location: crate::profile::Location {
                file: "/home/u/.aws/config".into(),
                line: 2,
            },
        },
        ..crate::test_util::chain("app", hops)
    }
}

fn printing(name: &str, key: &str, extra: &str) -> String {
    script(name, &format!("echo '{}'", document(key, extra)))
        .display()
        .to_string()
}

#[tokio::test]
async fn the_printed_keys_sign_the_first_hop_and_long_term_keys_alone_get_a_session_token() {
    use crate::test_util::{FakeSts, aws_settings, hop};
    let clock = std::sync::Arc::new(crate::clock::ManualClock::new(
        time::macros::datetime!(2026-03-01 08:00 UTC),
    ));
    let sts = FakeSts::new(clock.clone());
    let command = printing("keys", "AKIAPROCESSKEYS", "");
    let with_role = process_chain(&command, vec![hop("app", "arn:aws:iam::1:role/app")]);
    let mut aws = aws_settings();
    aws.credential_process_timeout = LONG;
    let minted = crate::mint::mint(
        &sts,
        &with_role,
        &aws,
        &env(),
        &*clock,
        &crate::mint::MfaSessions::default(),
    )
    .await
    .unwrap();
    let calls = sts.calls();
    assert_eq!(calls[0].op, "AssumeRole:arn:aws:iam::1:role/app");
    assert_eq!(calls[0].signed_with, "AKIAPROCESSKEYS");
    assert_eq!(minted.steps.len(), 1);

    let alone = process_chain(&command, vec![]);
    let minted = crate::mint::mint(
        &sts,
        &alone,
        &aws,
        &env(),
        &*clock,
        &crate::mint::MfaSessions::default(),
    )
    .await
    .unwrap();
    let calls = sts.calls();
    assert_eq!(calls.last().unwrap().op, "GetSessionToken");
    assert_eq!(calls.last().unwrap().signed_with, "AKIAPROCESSKEYS");
    assert_eq!(minted.steps[0].kind, crate::mint::StepKind::GetSessionToken);
}

#[tokio::test]
async fn printed_session_credentials_are_served_as_given_only_with_an_expiration() {
    use crate::test_util::{FakeSts, aws_settings};
    let clock = std::sync::Arc::new(crate::clock::ManualClock::new(
        time::macros::datetime!(2026-03-01 08:00 UTC),
    ));
    let sts = FakeSts::new(clock.clone());
    let token = format!(", \"SessionToken\": \"{TOKEN_MARK}\"");
    let expiring = printing(
        "session",
        "ASIAPROCESS",
        &format!("{token}, \"Expiration\": \"2026-03-01T08:10:00Z\""),
    );
    let minted = crate::mint::mint(
        &sts,
        &process_chain(&expiring, vec![]),
        &aws_settings(),
        &env(),
        &*clock,
        &crate::mint::MfaSessions::default(),
    )
    .await
    .unwrap();
    assert!(sts.calls().is_empty());
    assert_eq!(minted.steps[0].kind, crate::mint::StepKind::AsGiven);
    assert_eq!(
        minted.credentials.expiration,
        Some(time::macros::datetime!(2026-03-01 08:10 UTC))
    );

    let forever = printing("forever", "ASIAPROCESS", &token);
    let err = crate::mint::mint(
        &sts,
        &process_chain(&forever, vec![]),
        &aws_settings(),
        &env(),
        &*clock,
        &crate::mint::MfaSessions::default(),
    )
    .await
    .unwrap_err();
    assert!(
        crate::causes::Causes(&err)
            .to_string()
            .starts_with("profile \"proc\": credential_process failed: "),
        "{err}"
    );
    assert!(matches!(
        err,
        MintError::Process {
            error: ProcessError::SessionWithoutExpiration { .. },
            ..
        }
    ));
    assert!(sts.calls().is_empty());
}

#[tokio::test]
async fn a_failing_process_is_a_mint_error_naming_the_profile_and_retryable() {
    use crate::test_util::{FakeSts, aws_settings, hop};
    let clock = std::sync::Arc::new(crate::clock::ManualClock::new(
        time::macros::datetime!(2026-03-01 08:00 UTC),
    ));
    let sts = FakeSts::new(clock.clone());
    let failing = script("exit3", "echo 'no network' >&2\nexit 3");
    let chain = process_chain(
        &failing.display().to_string(),
        vec![hop("app", "arn:aws:iam::1:role/app")],
    );
    let err = crate::mint::mint(
        &sts,
        &chain,
        &aws_settings(),
        &env(),
        &*clock,
        &crate::mint::MfaSessions::default(),
    )
    .await
    .unwrap_err();
    let shown = crate::causes::Causes(&err).to_string();
    assert!(
        shown.starts_with("profile \"proc\": credential_process failed: ")
            && shown.ends_with("exited with status 3; its last stderr line: no network"),
        "{shown}"
    );
    assert!(err.is_retryable());
    assert!(sts.calls().is_empty());
    assert_eq!(
        time_bound(&chain.base, &aws_settings()),
        aws_settings().credential_process_timeout
    );
}

#[tokio::test]
async fn a_failing_rerun_keeps_the_last_good_credentials_backs_off_and_is_logged_once() {
    use std::sync::Arc;

    use crate::cache::CredentialCache;
    use crate::clock::Clock;
    use crate::test_util::{FakeSts, FixedRandom, RecordingAudit, aws_settings, cache_settings};
    let clock = Arc::new(crate::clock::ManualClock::new(
        time::macros::datetime!(2026-03-01 08:00 UTC),
    ));
    let fail = temp_dir("process-flaky").join("fail");
    let good = document(
        "ASIAFLAKY",
        &format!(", \"SessionToken\": \"{TOKEN_MARK}\", \"Expiration\": \"2026-03-01T09:00:00Z\""),
    );
    let path = script(
        "flaky",
        &format!(
            "if [ -e '{}' ]; then echo 'vault down' >&2; exit 4; fi\necho '{good}'",
            fail.display()
        ),
    );
    let cache = CredentialCache::new(
        Arc::new(FakeSts::new(clock.clone())),
        aws_settings(),
        cache_settings(),
        env(),
        clock.clone(),
        Arc::new(FixedRandom(0.5)),
        Arc::new(RecordingAudit::default()),
    );
    let chain = crate::profile::ProfileChain {
        profile: "app".into(),
        ..process_chain(&path.display().to_string(), vec![])
    };
    cache.set_profiles([("app".to_owned(), Ok(chain))].into_iter().collect());
    let (logs, _guard) = CapturedLogs::install(tracing::Level::INFO);
    let first = cache.get("app").await.unwrap();
    assert_eq!(first.credentials.access_key_id, "ASIAFLAKY");

    std::fs::write(&fail, "").unwrap();
    for _ in 0..2 {
        let err = cache.refresh_now("app").await.unwrap_err().to_string();
        assert!(
            err.ends_with("exited with status 4; its last stderr line: vault down"),
            "{err}"
        );
    }
    let still = cache.get("app").await.unwrap();
    assert!(
        Arc::ptr_eq(&first, &still),
        "the last good credentials serve"
    );
    let status = &cache.status()[0];
    assert_eq!(status.consecutive_failures, 2);
    assert!(status.serving);
    assert!(
        status.next_refresh.is_some_and(|t| t > clock.now()),
        "backs off"
    );
    let logged = logs.text();
    assert_eq!(
        logged.matches("credential renewal failed:").count(),
        1,
        "logged once per change:\n{logged}"
    );
    assert!(!leaks(&logged), "{logged}");
}

/// Whether `pid` has ended: gone, or a zombie nobody has reaped yet.
fn ended(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

#[cfg(all(target_os = "linux", not(credvend_portable)))]
#[tokio::test]
async fn a_program_killed_at_the_timeout_takes_what_it_started_with_it() {
    let dir = temp_dir("process-tree");
    let pids = dir.join("pids");
    // A helper in the background and one in the foreground, as a wrapper script runs them;
    // the pids are written before the script blocks.
    let path = script(
        "tree",
        &format!(
            "sleep 300 &\necho $! > '{p}.tmp'\nsh -c 'echo $$ >> \"{p}.tmp\"; exec sleep 300' &\nwait_for=$!\n\
             while [ $(wc -l < '{p}.tmp') -lt 2 ]; do :; done\nmv '{p}.tmp' '{p}'\nwait $wait_for",
            p = pids.display()
        ),
    );
    let err = run(
        "p",
        &path.display().to_string(),
        &env(),
        Duration::from_secs(2),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ProcessError::Timeout { .. }), "{err}");
    let started: Vec<u32> = std::fs::read_to_string(&pids)
        .expect("the script wrote its helpers' pids before the timeout")
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(started.len(), 2, "{started:?}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !started.iter().all(|&pid| ended(pid)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "helpers still running after the program was killed: {started:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
