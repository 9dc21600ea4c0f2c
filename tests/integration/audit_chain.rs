//! The chained audit log with the real daemon and the real binary: `kill -9` under load
//! leaves a log that verifies (at most a torn last line), a restarted daemon chains on, the
//! checkpoint the daemon logs at shutdown matches, each kind of tampering is named with its
//! line, a rewritten chain is caught by the checkpoint, and the SourceIdentity sent is in the
//! `issued` record.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use nix::sys::signal::Signal;
use sha2::{Digest, Sha256};

use crate::support::daemon::{Daemon, Spec, strip_ansi};
use crate::support::home::{Home, text};
use crate::support::moto::{Seeded, moto};

/// Small windows and checkpoints so that a few seconds of load write many records.
const AUDIT_TOML: &str =
    "coalesce_seconds = 1\ncheckpoint_seconds = 1\n\n[server]\nrate_limit_per_second = 0\n";

fn spec(m: &Seeded) -> Spec {
    let mut spec = Spec::app(m, &[false]);
    spec.extra_toml = AUDIT_TOML.to_owned();
    spec
}

/// One GET of the ECS role from `source`, with `token`; the status (0 if the exchange failed).
async fn ecs_get(ecs: SocketAddr, source: Ipv4Addr, token: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(socket) = tokio::net::TcpSocket::new_v4() else {
        return 0;
    };
    if socket.bind(SocketAddr::new(source.into(), 0)).is_err() {
        return 0;
    }
    let Ok(mut stream) = socket.connect(ecs).await else {
        return 0;
    };
    let request = format!(
        "GET /role/app HTTP/1.1\r\nHost: {ecs}\r\nAuthorization: {token}\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return 0;
    }
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
    String::from_utf8_lossy(&answer)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Threads sending requests (served and denied) from many loopback addresses, so that the
/// writer has many distinct records to write, until `stop`.
fn load(
    daemon: &Daemon,
    stop: &Arc<AtomicBool>,
    sent: &Arc<AtomicU64>,
) -> Vec<std::thread::JoinHandle<()>> {
    let ecs: SocketAddr = daemon.ecs.as_ref().expect("ecs")["http://".len()..]
        .parse()
        .expect("ecs address");
    let token = daemon.token();
    (0..4u8)
        .map(|t| {
            let (stop, sent, token) = (stop.clone(), sent.clone(), token.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    let mut i = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        let source = Ipv4Addr::new(127, 0, 10 + t, 1 + (i % 200) as u8);
                        let token = if i.is_multiple_of(3) {
                            "wrong"
                        } else {
                            token.as_str()
                        };
                        ecs_get(ecs, source, token).await;
                        sent.fetch_add(1, Ordering::Relaxed);
                        i += 1;
                    }
                });
            })
        })
        .collect()
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `credvend audit verify ARGS`: exit success and stdout.
fn verify(home: &Home, m: &Seeded, args: &[&str]) -> (bool, String) {
    let mut all = vec!["audit", "verify"];
    all.extend_from_slice(args);
    let out = home.credvend(&m.url, &all);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success() || !stdout.is_empty(),
        "verify failed without a report: {}",
        text(&out.stderr)
    );
    (out.status.success(), stdout)
}

/// The `audit checkpoint seq=N hash=H` lines the daemon logged, as `N:H`.
fn checkpoints(daemon: &Daemon) -> Vec<String> {
    daemon
        .stderr()
        .lines()
        .map(strip_ansi)
        .filter_map(|l| {
            let rest = l.split("audit checkpoint seq=").nth(1)?.to_owned();
            let (seq, hash) = rest.split_once(" hash=")?;
            Some(format!("{seq}:{}", hash.trim()))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn kill_9_under_load_leaves_a_log_that_verifies_and_a_restart_chains_on() {
    let Some(m) = moto() else { return };
    let mut first = Daemon::start(m, &spec(m));
    let path = first.audit_path();
    first.wait_for("the issued record", || {
        lines(&path)
            .iter()
            .any(|l| l.contains("\"event\":\"issued\""))
    });
    let (stop, sent) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let threads = load(&first, &stop, &sent);
    first.wait_for("400 records under load", || lines(&path).len() >= 400);
    first.signal(Signal::SIGKILL);
    let _ = first.stop();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("load thread");
    }
    assert!(sent.load(Ordering::Relaxed) > 400);

    let killed = std::fs::read(&path).expect("the audit log");
    let path_text = path.display().to_string();
    let (ok, report) = verify(first.home(), m, &[&path_text]);
    eprintln!("after kill -9: {report}");
    assert!(ok, "{report}");
    let warnings: Vec<_> = report
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert!(warnings.len() <= 1, "{report}");
    assert!(
        warnings.iter().all(|w| w.contains("torn last line")),
        "only the record being written may be torn: {report}"
    );
    let whole = killed.iter().filter(|b| **b == b'\n').count();
    assert!(
        report.contains(&format!("ok: {whole} records, seq 1..{whole}, last hash ")),
        "every whole line is a record of the chain: {report}"
    );

    // A write cut short by the kill is rare (a line is one write); make sure there is one,
    // as the kill would have left it: the start of the next record.
    let mut killed = killed;
    if warnings.is_empty() {
        let text = String::from_utf8(killed.clone()).expect("UTF-8");
        let last = text.lines().last().expect("a record");
        let hash = hex(&Sha256::digest(last.as_bytes()));
        let next = format!("{{\"seq\":{},\"prev\":\"{hash}\",\"time\":\"20", whole + 1);
        killed.extend_from_slice(next.as_bytes());
        std::fs::write(&path, &killed).expect("cut a record short");
        let (ok, report) = verify(first.home(), m, &[&path_text]);
        assert!(ok, "{report}");
        let want = format!("warning: {path_text}:{}: torn last line", whole + 1);
        assert!(report.starts_with(&want), "{report}");
    }

    // The same files under a new daemon: it links to the last whole record and goes on.
    let mut second = Daemon::start_prepared(m, &spec(m), |home| {
        std::fs::write(home.path("state/audit.jsonl"), &killed).expect("copy the log");
    });
    let path = second.audit_path();
    second.wait_for("the new issued record", || {
        lines(&path)
            .iter()
            .skip(whole)
            .any(|l| l.contains("\"event\":\"issued\""))
    });
    assert_eq!(second.stop().code(), Some(0));
    let torn = 1;
    let now = lines(&path).len();
    let records = now - torn;
    let cps = checkpoints(&second);
    let last = cps
        .last()
        .unwrap_or_else(|| panic!("no checkpoint at shutdown:\n{}", second.stderr()));
    assert!(
        last.starts_with(&format!("{records}:")),
        "the shutdown checkpoint names the last record: {last}, {records} records"
    );
    let path_text = path.display().to_string();
    let (ok, report) = verify(second.home(), m, &[&path_text, "--checkpoint", last]);
    assert!(ok, "{report}");
    assert!(
        report.contains(&format!(
            "ok: {records} records, seq 1..{records}, last hash "
        )),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "ok: checkpoint seq {records} matches {path_text}:{now}"
        )),
        "{report}"
    );
    let want = format!("warning: {path_text}:{}: torn line: ", whole + 1);
    assert!(
        report.starts_with(&want),
        "the torn line is now inside the log, the chain past it: {report}"
    );
}

/// `lines` with the chain recomputed from line `from` (1-based) on, as someone who can write
/// the file would do to hide an edit.
fn rechain(lines: &mut [String], from: usize) {
    for i in from - 1..lines.len() {
        let prev = hex(&Sha256::digest(lines[i - 1].as_bytes()));
        let at = lines[i].find("\"prev\":\"").expect("a prev") + "\"prev\":\"".len();
        lines[i].replace_range(at..at + 64, &prev);
    }
}

#[test]
fn tampering_is_named_by_line_and_kind_and_a_rewritten_chain_by_the_checkpoint() {
    let Some(m) = moto() else { return };
    let mut spec = spec(m);
    spec.extra_toml
        .push_str("\n[sts]\nsource_identity = \"credvend-test\"\n");
    let mut daemon = Daemon::start(m, &spec);
    let path = daemon.audit_path();
    let ecs: SocketAddr = daemon.ecs.as_ref().expect("ecs")["http://".len()..]
        .parse()
        .expect("ecs address");
    let token = daemon.token();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for n in 1..=8 {
        let status = rt.block_on(ecs_get(ecs, Ipv4Addr::new(127, 0, 30, n), &token));
        assert_eq!(status, 200);
    }
    daemon.wait_for("nine records", || lines(&path).len() >= 9);
    assert_eq!(daemon.stop().code(), Some(0));
    let original = lines(&path);
    let checkpoint = checkpoints(&daemon)
        .pop()
        .expect("a checkpoint at shutdown");

    // The issued record names the SourceIdentity sent, and `show` prints it.
    let issued: serde_json::Value = original
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["event"] == "issued")
        .expect("an issued record");
    assert_eq!(issued["source_identity"], "credvend-test");
    let home = daemon.home();
    let file = home.path("tampered.jsonl");
    let name = file.display().to_string();
    let shown = home.credvend(&m.url, &["audit", "show", &path.display().to_string()]);
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let shown = text(&shown.stdout);
    assert_eq!(shown.lines().count(), original.len(), "{shown}");
    assert!(
        shown.contains(" issued app ****") && shown.contains("source-identity credvend-test"),
        "{shown}"
    );
    // The clients are this test process: named by uid and pid, not by address.
    let me = format!(
        " to uid {} ({}) pid {} ",
        nix::unistd::geteuid(),
        nix::unistd::User::from_uid(nix::unistd::geteuid())
            .unwrap()
            .map(|u| u.name)
            .unwrap_or_default(),
        std::process::id()
    );
    assert!(
        shown.contains(" served app ****") && shown.contains(&me),
        "{me} in {shown}"
    );

    let check = |lines: &[String], extra: &[&str]| {
        std::fs::write(
            &file,
            lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .expect("write the copy");
        let mut args = vec![name.as_str()];
        args.extend_from_slice(extra);
        verify(home, m, &args)
    };
    let (ok, report) = check(&original, &["--checkpoint", &checkpoint]);
    assert!(ok, "{report}");

    let mut edited = original.clone();
    edited[2] = edited[2].replacen("\"count\":1", "\"count\":7", 1);
    let mut removed = original.clone();
    removed.remove(2);
    let mut swapped = original.clone();
    swapped.swap(2, 3);
    let mut inserted = original.clone();
    inserted.insert(3, original[2].replacen("127.0.30.", "127.0.31.", 1));
    for (lines, want) in [
        (&edited, format!("FAILED: {name}:3: edited: ")),
        (&removed, format!("FAILED: {name}:3: removed: ")),
        (&swapped, format!("FAILED: {name}:3: reordered: ")),
        (&inserted, format!("FAILED: {name}:4: inserted: ")),
    ] {
        let (ok, report) = check(lines, &[]);
        assert!(!ok && report.starts_with(&want), "want {want:?}:\n{report}");
    }

    // Cut mid-line at the end: what a crash leaves, so a warning, not a failure...
    let mut text_cut: String = original.iter().map(|l| format!("{l}\n")).collect();
    text_cut.truncate(text_cut.len() - 40);
    std::fs::write(&file, &text_cut).expect("write the copy");
    let (ok, report) = verify(home, m, &[&name]);
    let n = original.len();
    assert!(ok, "{report}");
    assert!(
        report.starts_with(&format!("warning: {name}:{n}: torn last line")),
        "{report}"
    );
    // ... but the checkpoint still names the record that is gone.
    let (ok, report) = verify(home, m, &[&name, "--checkpoint", &checkpoint]);
    assert!(
        !ok && report.contains(&format!("FAILED: checkpoint seq {n}: no such record")),
        "{report}"
    );

    // An edit with the chain recomputed after it passes a plain verify; the checkpoint fails.
    let mut rewritten = edited.clone();
    rechain(&mut rewritten, 4);
    let (ok, report) = check(&rewritten, &[]);
    assert!(ok, "{report}");
    let (ok, report) = check(&rewritten, &["--checkpoint", &checkpoint]);
    assert!(
        !ok && report.contains(&format!(
            "FAILED: checkpoint seq {n}: {name}:{n} hashes to "
        )),
        "{report}"
    );
}
