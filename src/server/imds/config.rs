//! What one IMDS listener serves, read from its `[[imds]]` table at start: the instance role,
//! region, account and public key it presents.

use std::io;
use std::net::SocketAddr;
use std::path::Path;

use super::labels::Labels;
use crate::config::{AllowedUsers, ImdsListener, IpNet};

/// An OpenSSH public key served at `public-keys/0/openssh-key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    /// Listed as `0=<name>`: the key's comment, else the file's stem.
    pub name: String,
    /// The key line, as read.
    pub openssh: String,
}

impl PublicKey {
    /// Reads a `*.pub` file.
    pub fn read(path: &Path) -> io::Result<Self> {
        let openssh = std::fs::read_to_string(path)?.trim().to_owned();
        let name = openssh
            .split_whitespace()
            .nth(2)
            .map(str::to_owned)
            .or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "credvend".to_owned());
        Ok(Self { name, openssh })
    }
}

/// What one IMDS listener serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImdsConfig {
    /// The bound address (also a legal `Host`, and part of the token MAC).
    pub listen: SocketAddr,
    /// The profile served as the instance role.
    pub profile: String,
    /// The role name in `iam/security-credentials/`; must stay stable across refreshes.
    pub role_name: String,
    /// `placement/region`; the zone is `<region>a`.
    pub region: String,
    /// Whether token-less GETs are answered.
    pub imdsv1: bool,
    /// `public-keys/` contents, read at start.
    pub public_key: Option<PublicKey>,
    /// Client networks admitted on a non-loopback `listen`.
    pub allowed_networks: Vec<IpNet>,
    /// Local users served besides the daemon's own and root.
    pub allowed_users: AllowedUsers,
    /// The account, when known without asking the cache (from the role ARN); else the cache's.
    pub account_id: Option<String>,
    /// What containers' labels may choose instead of `profile`.
    pub labels: Labels,
}

impl ImdsConfig {
    /// The config of `listener`, bound at `bound` (port 0 in the config picks one; tokens and
    /// the `Host` check use the real address), reading its public key file now.
    pub fn from_listener(
        listener: &ImdsListener,
        bound: SocketAddr,
        role_name: String,
        region: String,
        account_id: Option<String>,
        labels: Labels,
    ) -> io::Result<Self> {
        let public_key = match &listener.public_key_file {
            Some(path) => Some(PublicKey::read(path)?),
            None => None,
        };
        Ok(Self {
            listen: bound,
            profile: listener.profile.clone(),
            role_name,
            region,
            imdsv1: listener.imdsv1,
            public_key,
            allowed_networks: listener.allowed_networks.clone(),
            allowed_users: listener.allowed_users.clone(),
            account_id,
            labels,
        })
    }
}
