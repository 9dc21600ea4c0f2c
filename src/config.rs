//! credvend's own configuration: the TOML file, environment overrides and built-in defaults,
//! validated into a [`Config`].
//!
//! Every key has a default (shown in `config.example.toml`); an unknown key or a bad value is
//! an error that names the key. Env names, ports and other constants of the surface live here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::env::Env;

/// Default IMDS listener, after 169.254.169.254.
pub const DEFAULT_IMDS_LISTEN: &str = "127.0.0.1:8169";
/// Default ECS listener, after 169.254.170.2.
pub const DEFAULT_ECS_LISTEN: &str = "127.0.0.1:8170";

/// The validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The file it was read from, if any.
    pub file: Option<PathBuf>,
    /// Where credvend keeps its ECS token, capability ids and audit log by default.
    pub state_dir: PathBuf,
    /// `[aws]`.
    pub aws: AwsSettings,
    /// `[cache]`.
    pub cache: CacheSettings,
    /// `[[imds]]`: one entry per IMDS listener.
    pub imds: Vec<ImdsListener>,
    /// `[ecs]`; `None` when disabled.
    pub ecs: Option<EcsListener>,
    /// `[audit]`.
    pub audit: AuditSettings,
}

/// `[aws]`: where the profiles are and how STS is reached.
#[derive(Clone, Debug, PartialEq)]
pub struct AwsSettings {
    /// `config_file`.
    pub config_file: PathBuf,
    /// `credentials_file`.
    pub credentials_file: PathBuf,
    /// `region`: used when a profile names none.
    pub region: String,
    /// `sts_endpoint`: overrides every other endpoint source.
    pub sts_endpoint: Option<String>,
    /// Environment endpoint overrides (`AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`), below
    /// the profile's own `endpoint_url` settings.
    pub env_sts_endpoint: Option<String>,
    /// `ca_file`: extra trust anchors (PEM) for HTTPS to STS.
    pub ca_file: Option<PathBuf>,
    /// `connect_timeout_seconds`.
    pub connect_timeout: Duration,
    /// `timeout_seconds`: one STS attempt, connect to last byte.
    pub timeout: Duration,
    /// `max_attempts`: STS attempts per call, for retryable errors.
    pub max_attempts: u32,
    /// `duration_seconds`: DurationSeconds when the profile sets none.
    pub duration_seconds: u32,
    /// `role_session_name`: prefix of session names when the profile sets none.
    pub role_session_name: String,
    /// The profile chosen by `$AWS_PROFILE`, else `default`.
    pub default_profile: String,
}

/// `[cache]`: refresh policy.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheSettings {
    /// `refresh_margin_seconds`: renew when less than this remains of a one-hour session;
    /// scaled in proportion for other session lengths.
    pub refresh_margin: Duration,
    /// `refresh_jitter_seconds`: renewals start up to this much earlier, at random.
    pub refresh_jitter: Duration,
    /// `max_backoff_seconds`: cap of the retry backoff after STS failures.
    pub max_backoff: Duration,
}

/// One `[[imds]]` listener.
#[derive(Clone, Debug, PartialEq)]
pub struct ImdsListener {
    /// `listen`.
    pub listen: SocketAddr,
    /// `profile`: served as the instance role.
    pub profile: String,
    /// `imdsv1`: whether token-less GETs are answered.
    pub imdsv1: bool,
    /// `public_key_file`: served at `public-keys/0/openssh-key`.
    pub public_key_file: Option<PathBuf>,
    /// `allowed_networks`: client networks for a non-loopback `listen`.
    pub allowed_networks: Vec<IpNet>,
}

/// `[ecs]`.
#[derive(Clone, Debug, PartialEq)]
pub struct EcsListener {
    /// `listen`.
    pub listen: SocketAddr,
    /// `token_file`.
    pub token_file: PathBuf,
    /// `profiles`: served at `/role/<profile>`; the first also at `/`.
    pub profiles: Vec<String>,
    /// `allowed_networks`: client networks for a non-loopback `listen`.
    pub allowed_networks: Vec<IpNet>,
}

/// `[audit]`.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditSettings {
    /// `path`; `None` when `enabled = false`.
    pub path: Option<PathBuf>,
}

/// An IP network in CIDR form (`10.0.0.0/8`, `fd00::/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    /// The network address.
    pub addr: std::net::IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Placeholder until the loader lands.
    #[error("configuration loading is not built yet")]
    NotBuilt,
}

impl Config {
    /// Reads `file` (or the default path when it exists), applies the environment, validates.
    pub fn load(file: Option<&Path>, env: &Env) -> Result<Self, ConfigError> {
        let _ = (file, env);
        Err(ConfigError::NotBuilt)
    }
}
