//! moto as a real STS with signature checking on, shared by every test of this binary.
//!
//! Started once (about two seconds) by `tests/peers/moto_sts.py`, which seeds a user, its
//! access key and the roles the tests assume, then enforces auth. It exits when this test
//! process closes its standard input, i.e. when the process ends.

use std::process::{Child, ChildStdin};
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

/// A second moto, seeded the same way, with signature checking off: for the one case where
/// moto's own answers cannot sign later calls (its GetSessionToken returns fixed keys).
pub fn moto_unchecked() -> Option<&'static Seeded> {
    static MOTO: OnceLock<Option<Moto>> = OnceLock::new();
    MOTO.get_or_init(|| start_with(&[std::ffi::OsStr::new("--no-auth")], "unchecked"))
        .as_ref()
        .map(|m| &m.seeded)
}

fn start() -> Option<Moto> {
    start_with(&[], "checked")
}

fn start_with(args: &[&std::ffi::OsStr], name: &str) -> Option<Moto> {
    let log = std::fs::File::create(
        std::env::temp_dir().join(format!("credvend-moto-{name}-{}.log", std::process::id())),
    )
    .expect("moto log file");
    let peer = super::start_json_peer::<Seeded>("moto_sts.py", args, None, log.into())?;
    Some(Moto {
        seeded: peer.announced,
        _child: Mutex::new(peer.child),
        _stdin: peer.stdin,
    })
}
