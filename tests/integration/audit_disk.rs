//! The audit log on a filesystem that fills up under load, for real.
//!
//! `credvend serve` runs in a private mount namespace (`unshare --mount`) with its state
//! directory on a 256 KiB tmpfs that only it sees; the test reaches the files through
//! `/proc/PID/root`. The tmpfs is filled, clients keep asking (with a wrong ECS token, from
//! many loopback addresses, so there are many distinct records to write), then space is freed.
//! Every request must be answered throughout, every line of the log must be a whole record,
//! the outage must be logged a bounded number of times, and every request must be accounted
//! for: in a `denied` record's count, or in a `lost` record's.
//!
//! Needs root (to mount). Without it, or where mounting is refused, it skips with a message;
//! under `CI=true` it fails instead. When the daemon exits the namespace goes and with it the
//! tmpfs: nothing is left mounted, whatever happens to the test.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::daemon::free_port;
use crate::support::home::Home;
use crate::support::{in_ci, scrubbed_env};

/// Mounts the tmpfs over the state dir (`$1`), runs the daemon (`$3...`) and records its pid
/// in `$2/credvend.pid`; afterwards copies the audit files to `$2`, where the test can read
/// them once the namespace is gone.
const RUNNER: &str = r#"state="$1"; out="$2"; shift 2
mount -t tmpfs -o size=256k,mode=0700 credvend-audit-test "$state" || exit 97
"$@" &
echo $! > "$out/credvend.pid"
wait $!
status=$?
cp "$state"/audit.jsonl* "$out/" 2>/dev/null
exit $status
"#;

/// Why this test cannot run here, if it cannot.
fn unsupported(state: &Path) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root: mounting a tmpfs needs root".into());
    }
    let probe = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "mount",
            "-t",
            "tmpfs",
        ])
        .args(["-o", "size=4k", "credvend-probe"])
        .arg(state)
        .output();
    match probe {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "unshare/mount refused: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Some(format!("cannot run unshare: {e}")),
    }
}

struct Namespaced {
    runner: Child,
    daemon: Pid,
    stderr: Arc<Mutex<String>>,
}

impl Namespaced {
    /// A path inside the daemon's mount namespace.
    fn inside(&self, path: &Path) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.daemon)).join(path.strip_prefix("/").unwrap())
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGTERM, then the runner's exit status (the daemon's).
    fn stop(&mut self) -> Option<i32> {
        let _ = kill(self.daemon, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.runner.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Namespaced {
    fn drop(&mut self) {
        let _ = kill(self.daemon, Signal::SIGKILL);
        let _ = self.runner.kill();
        let _ = self.runner.wait();
    }
}

/// One GET with a wrong ECS token from `source`: the status.
async fn wrong_token(ecs: SocketAddr, source: Ipv4Addr) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(IpAddr::V4(source), 0))
        .expect("bind a loopback source");
    let mut stream = socket.connect(ecs).await.expect("connect to the daemon");
    let request = format!(
        "GET /role/app HTTP/1.1\r\nHost: {ecs}\r\nAuthorization: wrong\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Sends wrong-token requests for `time`, cycling through `sources` loopback addresses:
/// how many were sent, and whether all were answered 403.
fn flood(ecs: SocketAddr, sources: u8, time: Duration) -> (u64, bool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let start = Instant::now();
        let (mut sent, mut all_403) = (0u64, true);
        while start.elapsed() < time {
            let source = Ipv4Addr::new(
                127,
                0,
                1,
                1 + u8::try_from(sent % u64::from(sources)).unwrap(),
            );
            all_403 &= wrong_token(ecs, source).await == 403;
            sent += 1;
        }
        (sent, all_403)
    })
}

/// Fills the filesystem of `dir` with one file until a write fails: its path.
fn fill(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    let mut f = std::fs::File::create(&filler).expect("create the filler");
    while f.write_all(&[0u8; 4096]).is_ok() {}
    // The last page may have room for a few bytes more.
    while f.write_all(&[0u8]).is_ok() {}
    filler
}

#[test]
fn a_full_filesystem_loses_no_request_silently_and_leaves_only_whole_records() {
    let home = Home::new();
    let state = home.path("state");
    let out = home.path("out");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    if let Some(why) = unsupported(&state) {
        assert!(
            !in_ci(),
            "the full-filesystem audit test cannot run under CI: {why}"
        );
        eprintln!("SKIP: full-filesystem audit test: {why}");
        return;
    }
    home.config("[profile app]\nrole_arn = arn:aws:iam::123456789012:role/app\nsource_profile = user\n")
        .credentials("[user]\naws_access_key_id = AKIAEXAMPLEUSER0001\naws_secret_access_key = not-a-real-secret\n");
    let port = free_port();
    let ecs: SocketAddr = ([127, 0, 0, 1], port).into();
    let config = home.path("credvend.toml");
    let audit = state.join("audit.jsonl");
    std::fs::write(
        &config,
        format!(
            "state_dir = {state:?}\nimds = []\n[aws]\nregion = \"us-east-1\"\n\
             [server]\nrate_limit_per_second = 0\n\
             [ecs]\nlisten = \"{ecs}\"\nprofiles = [\"app\"]\n\
             [audit]\npath = {audit:?}\nmax_file_bytes = 65536\nkeep_files = 1\ncoalesce_seconds = 1\n",
        ),
    )
    .unwrap();

    let mut runner = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            RUNNER,
            "runner",
        ])
        .arg(&state)
        .arg(&out)
        .arg(env!("CARGO_BIN_EXE_credvend"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .env_clear()
        .envs(scrubbed_env(Some(&home.root)))
        // STS is unreachable: this test only needs refusals.
        .env("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn unshare");
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut pipe = runner.stderr.take().unwrap();
    let kept = stderr.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            kept.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let pid_file = out.join("credvend.pid");
    let deadline = Instant::now() + Duration::from_secs(30);
    let daemon = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            break Pid::from_raw(pid);
        }
        assert!(
            Instant::now() < deadline,
            "no daemon pid: {}",
            stderr.lock().unwrap()
        );
        assert!(
            runner.try_wait().unwrap().is_none(),
            "runner exited: {}",
            stderr.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut d = Namespaced {
        runner,
        daemon,
        stderr,
    };
    while std::net::TcpStream::connect(ecs).is_err() {
        assert!(Instant::now() < deadline, "not listening: {}", d.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    let state_inside = d.inside(&state);

    // Healthy: the first refusal is in the log at once.
    let (mut sent, ok) = flood(ecs, 1, Duration::from_millis(100));
    assert!(ok);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        std::fs::read_to_string(state_inside.join("audit.jsonl"))
            .unwrap()
            .contains("\"denied\"")
    );

    // Full: 250 new clients and a flood; every one is still answered.
    let filler = fill(&state_inside);
    let (n, ok) = flood(ecs, 250, Duration::from_secs(3));
    sent += n;
    assert!(ok, "every request answered while the disk is full");
    assert!(n > 250, "only {n} requests in 3 s");

    // Space again: the writer notices by itself within a second, and new records follow.
    std::fs::remove_file(&filler).unwrap();
    let (n, ok) = flood(ecs, 1, Duration::from_millis(2500));
    sent += n;
    assert!(ok);
    assert_eq!(d.stop(), Some(0), "clean exit: {}", d.stderr());

    let mut records = Vec::new();
    for name in ["audit.jsonl.1", "audit.jsonl"] {
        let Ok(text) = std::fs::read_to_string(out.join(name)) else {
            continue;
        };
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "{name} ends mid-record"
        );
        for line in text.lines() {
            let record: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{name}: not one whole record ({e}): {line:?}"));
            assert_eq!(line.matches("\"time\"").count(), 1, "glued records: {line}");
            records.push(record);
        }
    }
    let sum = |event: &str| -> u64 {
        records
            .iter()
            .filter(|r| r["event"] == event)
            .map(|r| r["count"].as_u64().unwrap())
            .sum()
    };
    let lost: Vec<_> = records.iter().filter(|r| r["event"] == "lost").collect();
    assert!(
        !lost.is_empty(),
        "a `lost` record after recovery: {records:#?}"
    );
    assert!(sum("lost") > 0);
    assert_eq!(
        sum("denied") + sum("lost"),
        sent,
        "every request is in a count, written or lost"
    );
    let stderr = d.stderr();
    let reports = stderr.matches("audit events are being lost").count();
    // Once when it starts, then at most once a second (the interval) for 3 s, and the
    // closing line if any.
    assert!((1..=6).contains(&reports), "{reports} reports:\n{stderr}");
    assert!(stderr.contains("audit log writable again"), "{stderr}");
}
