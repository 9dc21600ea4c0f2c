//! moto as a real STS with signature checking on, shared by every test of this binary.
//!
//! Started once (about two seconds) by `tests/peers/moto_sts.py`, which seeds a user, its
//! access key and the roles the tests assume, then enforces auth. It exits when this test
//! process closes its standard input, i.e. when the process ends.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use serde::Deserialize;

/// What the seed script made.
#[derive(Debug, Deserialize)]
pub struct Seeded {
    pub url: String,
    pub account: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session: SessionKeys,
    pub external_id: String,
    pub roles: std::collections::BTreeMap<String, String>,
}

/// Session credentials minted while seeding (an `ASIA…` key with a token).
#[derive(Debug, Deserialize)]
pub struct SessionKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

/// A running moto; kept alive by holding its stdin.
pub struct Moto {
    pub seeded: Seeded,
    _child: Mutex<Child>,
    _stdin: ChildStdin,
}

impl Seeded {
    /// The ARN of a seeded role.
    pub fn role(&self, name: &str) -> &str {
        &self.roles[name]
    }

    /// The assumed-role ARN STS reports for `role` and `session`.
    pub fn assumed(&self, role: &str, session: &str) -> String {
        format!(
            "arn:aws:sts::{}:assumed-role/{role}/{session}",
            self.account
        )
    }
}

/// The shared moto, or `None` when the Python peers are missing (a failure under CI).
pub fn moto() -> Option<&'static Seeded> {
    static MOTO: OnceLock<Option<Moto>> = OnceLock::new();
    MOTO.get_or_init(start).as_ref().map(|m| &m.seeded)
}

fn start() -> Option<Moto> {
    let python = super::python()?;
    let script = super::peer_script("moto_sts.py");
    let log = std::fs::File::create(
        std::env::temp_dir().join(format!("credvend-moto-{}.log", std::process::id())),
    )
    .expect("moto log file");
    let mut child = Command::new(python)
        .arg(script)
        .envs(super::scrubbed_env(None))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("start moto");
    let stdin = child.stdin.take().expect("moto stdin");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("moto stdout"))
        .read_line(&mut line)
        .expect("read moto's seed line");
    let seeded: Seeded =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("moto did not start: {e}: {line:?}"));
    Some(Moto {
        seeded,
        _child: Mutex::new(child),
        _stdin: stdin,
    })
}
