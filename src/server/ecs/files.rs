//! The ECS endpoint's state files: the `Authorization` token and the capability ids, both
//! random, kept across restarts (containers keep their environment), written 0600 atomically.
//!
//! Policy for an existing token file:
//! - group/other permission bits set: refused (the token may have leaked; `chmod 600` or delete
//!   the file to get a new one);
//! - a trailing newline (an editor, `echo`): trimmed and the file rewritten without it, because
//!   botocore refuses a token file that ends in a newline before sending anything;
//! - anything else that is not 32..=1024 visible ASCII characters: refused, never overwritten.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::hex;
use crate::random::Random;
use crate::secret::{Secret, ct_eq};
use crate::server::audit_path::CAPABILITY_PREFIX;

/// Random bytes in a new token and in each capability id (256 bits, 64 hex characters).
const RANDOM_BYTES: usize = 32;
const TOKEN_LEN: std::ops::RangeInclusive<usize> = 32..=1024;

/// A state file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EcsFileError {
    /// Reading or writing failed.
    #[error("cannot {action} {path}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Readable or writable by group or others.
    #[error(
        "{path} has mode {mode:03o}, open to other users: chmod 600 it, or delete it to get a new one"
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Contents that are not what credvend writes (never echoed: they may be a secret).
    #[error("{path} is not usable: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, in a few words.
        reason: &'static str,
    },
}

/// The per-profile capability ids: `/v2/credentials/<id>` serves the profile without a token.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CapabilityIds(pub(crate) BTreeMap<String, String>);

impl fmt::Debug for CapabilityIds {
    // The ids are credentials: show which profiles have one, not the ids.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl CapabilityIds {
    /// The id of `profile`.
    #[must_use]
    pub fn id(&self, profile: &str) -> Option<&str> {
        self.0.get(profile).map(String::as_str)
    }

    /// `/v2/credentials/<id>`: what `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` should be for
    /// `profile` (with the listener as host, or FULL_URI with it appended).
    #[must_use]
    pub fn relative_uri(&self, profile: &str) -> Option<String> {
        self.id(profile)
            .map(|id| format!("{CAPABILITY_PREFIX}{id}"))
    }

    /// The profile whose id is `id`; compares every id in constant time.
    pub(crate) fn profile_of(&self, id: &str) -> Option<&str> {
        let mut found = None;
        for (profile, known) in &self.0 {
            if ct_eq(known.as_bytes(), id.as_bytes()) {
                found = Some(profile.as_str());
            }
        }
        found
    }
}

/// The ECS token at `path`: reused when valid, else created (random, 0600, no newline).
pub fn load_or_create_token(path: &Path, random: &dyn Random) -> Result<Secret, EcsFileError> {
    let Some(raw) = read_private(path)? else {
        let token = new_id(random);
        write_private(path, token.as_bytes())?;
        return Ok(Secret::new(token));
    };
    let trimmed = raw.trim_end_matches(['\n', '\r']);
    let valid = TOKEN_LEN.contains(&trimmed.len()) && trimmed.bytes().all(|b| b.is_ascii_graphic());
    if !valid {
        return Err(EcsFileError::Invalid {
            path: path.to_owned(),
            reason: "the token must be 32 to 1024 visible ascii characters",
        });
    }
    if trimmed.len() != raw.len() {
        tracing::warn!(path = %path.display(), "ecs token file ended in a newline; rewriting it without");
        write_private(path, trimmed.as_bytes())?;
    }
    Ok(Secret::new(trimmed))
}

/// The capability ids of `profiles` at `path`: existing ids are kept, profiles without one get
/// a new one, and ids of profiles no longer served are dropped (revoked).
pub fn load_or_create_capabilities(
    path: &Path,
    profiles: &[String],
    random: &dyn Random,
) -> Result<CapabilityIds, EcsFileError> {
    let stored: BTreeMap<String, String> = match read_private(path)? {
        None => BTreeMap::new(),
        Some(raw) => serde_json::from_str(&raw).map_err(|_| EcsFileError::Invalid {
            path: path.to_owned(),
            reason: "expected a json object of profile to id",
        })?,
    };
    let mut ids = BTreeMap::new();
    for profile in profiles {
        let id = match stored.get(profile) {
            Some(id) if id.len() >= 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) => id.clone(),
            _ => new_id(random),
        };
        ids.insert(profile.clone(), id);
    }
    if ids != stored {
        let json = serde_json::to_string_pretty(&ids).unwrap_or_default();
        write_private(path, json.as_bytes())?;
    }
    Ok(CapabilityIds(ids))
}

fn new_id(random: &dyn Random) -> String {
    let mut bytes = [0u8; RANDOM_BYTES];
    random.fill(&mut bytes);
    hex::encode(&bytes)
}

/// The contents of `path`, `None` when absent; refuses a file open to other users.
fn read_private(path: &Path) -> Result<Option<String>, EcsFileError> {
    let io_err = |source| EcsFileError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    };
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(e)),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(EcsFileError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    fs::read_to_string(path).map(Some).map_err(io_err)
}

/// Writes `contents` to `path` with mode 0600: a temporary file beside it, then a rename, so a
/// crash leaves the old file or the new one, never half of one.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> Result<(), EcsFileError> {
    let io_err = |source| EcsFileError::Io {
        action: "write",
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_err)?;
    }
    let name = path
        .file_name()
        .map_or_else(|| "state".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "credvend-ecs-files-{name}-{}-{}",
            std::process::id(),
            hex::encode(&{
                let mut b = [0u8; 4];
                OsRandom.fill(&mut b);
                b
            })
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_token_is_private_without_newline_and_reused_after_restart() {
        let dir = temp_dir("token");
        let path = dir.join("sub/ecs-token");
        let first = load_or_create_token(&path, &OsRandom).unwrap();
        assert_eq!(mode(&path), 0o600);
        let raw = fs::read_to_string(&path).unwrap();
        assert_eq!(raw, first.expose());
        assert!(!raw.ends_with('\n'));
        assert!(raw.len() >= 32, "at least 128 bits of hex");
        let again = load_or_create_token(&path, &OsRandom).unwrap();
        assert_eq!(again, first);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_token_file_with_a_newline_is_trimmed_and_rewritten() {
        let dir = temp_dir("newline");
        let path = dir.join("ecs-token");
        let token = "a".repeat(40);
        write_private(&path, format!("{token}\n").as_bytes()).unwrap();
        let loaded = load_or_create_token(&path, &OsRandom).unwrap();
        assert_eq!(loaded.expose(), token);
        assert_eq!(fs::read_to_string(&path).unwrap(), token);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_open_or_malformed_token_file_is_refused_and_the_error_hides_it() {
        let dir = temp_dir("refused");
        let path = dir.join("ecs-token");
        let token = "TOKENMARKER".repeat(4);
        fs::write(&path, &token).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create_token(&path, &OsRandom).unwrap_err();
        assert!(matches!(err, EcsFileError::Permissions { mode: 0o644, .. }));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&path, "short MARKER").unwrap();
        let err = load_or_create_token(&path, &OsRandom).unwrap_err();
        assert!(matches!(err, EcsFileError::Invalid { .. }));
        assert!(!format!("{err} {err:?}").contains("MARKER"));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn capability_ids_persist_and_follow_the_profile_list() {
        let dir = temp_dir("caps");
        let path = dir.join("ecs-capabilities.json");
        let profiles = vec!["dev".to_owned(), "prod".to_owned()];
        let first = load_or_create_capabilities(&path, &profiles, &OsRandom).unwrap();
        assert_eq!(mode(&path), 0o600);
        let dev = first.id("dev").unwrap().to_owned();
        assert!(dev.len() >= 32 && dev.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(first.id("dev"), first.id("prod"));
        let again = load_or_create_capabilities(&path, &profiles, &OsRandom).unwrap();
        assert_eq!(again, first);
        let fewer = load_or_create_capabilities(&path, &profiles[..1], &OsRandom).unwrap();
        assert_eq!(fewer.id("dev"), Some(dev.as_str()));
        assert_eq!(fewer.id("prod"), None);
        assert_eq!(fewer.profile_of(&dev), Some("dev"));
        assert_eq!(fewer.profile_of("0123"), None);
        assert_eq!(
            fewer.relative_uri("dev"),
            Some(format!("/v2/credentials/{dev}"))
        );
        assert!(!format!("{fewer:?}").contains(&dev));
        fs::remove_dir_all(dir).unwrap();
    }
}
