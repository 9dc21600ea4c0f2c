//! The validated configuration's types, and the constants of credvend's surface: default
//! addresses, environment variable names, file names and limits.

use super::mfa::MfaSettings;
use super::users::AllowedUsers;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use super::ipnet::IpNet;
use crate::profile::ProfilePaths;

/// Default IMDS listener, after 169.254.169.254.
pub const DEFAULT_IMDS_LISTEN: &str = "127.0.0.1:8169";
/// Default ECS listener, after 169.254.170.2.
pub const DEFAULT_ECS_LISTEN: &str = "127.0.0.1:8170";

/// Overrides `aws.config_file`.
pub const ENV_CONFIG_FILE: &str = "AWS_CONFIG_FILE";
/// Overrides `aws.credentials_file`.
pub const ENV_SHARED_CREDENTIALS_FILE: &str = "AWS_SHARED_CREDENTIALS_FILE";
/// Overrides `aws.region`.
pub const ENV_REGION: &str = "AWS_REGION";
/// Overrides `aws.region` when `AWS_REGION` is unset.
pub const ENV_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
/// Gives `aws.env_sts_endpoint`.
pub const ENV_ENDPOINT_URL_STS: &str = "AWS_ENDPOINT_URL_STS";
/// Gives `aws.env_sts_endpoint` when `AWS_ENDPOINT_URL_STS` is unset.
pub const ENV_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
/// Gives `aws.default_profile`, the default of `[[imds]] profile` and `[ecs] profiles`.
pub const ENV_PROFILE: &str = "AWS_PROFILE";
/// The state directory systemd made for the service (`StateDirectory=`).
pub const ENV_STATE_DIRECTORY: &str = "STATE_DIRECTORY";
/// The runtime directory systemd made for the service (`RuntimeDirectory=`).
pub const ENV_RUNTIME_DIRECTORY: &str = "RUNTIME_DIRECTORY";
/// The user's runtime directory (`/run/user/UID`), as the `directories` crate reads it.
pub const ENV_XDG_RUNTIME_DIR: &str = "XDG_RUNTIME_DIR";

/// Default `aws.config_file`.
pub const DEFAULT_AWS_CONFIG_FILE: &str = "~/.aws/config";
/// Default `aws.credentials_file`.
pub const DEFAULT_AWS_CREDENTIALS_FILE: &str = "~/.aws/credentials";
/// Default `aws.region`.
pub const DEFAULT_REGION: &str = "us-east-1";
/// The profile used when `$AWS_PROFILE` is unset.
pub const DEFAULT_PROFILE: &str = "default";
/// Default `aws.connect_timeout_seconds`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default `aws.timeout_seconds`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `aws.credential_process_timeout_seconds`: the Go SDK's bound (botocore has none).
/// Long enough for a helper that unlocks a password manager or talks to a server; it runs in
/// the background refresher, so a generous bound delays only the retry, never a read.
pub const DEFAULT_CREDENTIAL_PROCESS_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `aws.max_attempts`.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Default `aws.duration_seconds`.
pub const DEFAULT_DURATION_SECONDS: u32 = 3600;
/// What STS accepts as DurationSeconds (the role's own maximum may be lower).
pub const DURATION_SECONDS_RANGE: RangeInclusive<u32> = 900..=43200;
/// Default `aws.role_session_name`.
pub const DEFAULT_ROLE_SESSION_NAME: &str = "credvend";
/// The session length `cache.refresh_margin_seconds` is written for; other lengths scale it.
pub const REFERENCE_SESSION: Duration = Duration::from_secs(3600);
/// Default `cache.refresh_margin_seconds`.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(1800);
/// The smallest `cache.refresh_margin_seconds`: clients get more than 20 minutes.
pub const MIN_REFRESH_MARGIN: Duration = Duration::from_secs(1200);
/// Default `cache.refresh_jitter_seconds`.
pub const DEFAULT_REFRESH_JITTER: Duration = Duration::from_secs(300);
/// Default `cache.max_backoff_seconds`.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long a read with no valid credentials waits for the fetch in flight before its 503.
/// Go's IMDS client gives up after 500 ms of silence per attempt, botocore after 1 s.
pub const DEFAULT_MAX_READ_WAIT: Duration = Duration::from_millis(1000);
/// A request's whole header must arrive within this, counted from when the connection opens
/// or its previous response went out (so it also closes idle keep-alive connections).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Header bytes buffered before a request is refused (431), even while it is still arriving.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
/// Open connections per listener; new ones beyond are shed.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Open connections per client: a local process's uid, else the address (every local
/// process shares 127.0.0.1, so a cap per address would be one per host).
pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: usize = 128;
/// Requests per second per client (uid or address, as above), and the burst above it; 0
/// turns the limit off.
pub const DEFAULT_RATE_LIMIT_PER_SECOND: u32 = 100;
/// See [`DEFAULT_RATE_LIMIT_PER_SECOND`].
pub const DEFAULT_RATE_LIMIT_BURST: u32 = 200;
/// The IP TTL / hop limit of IMDS token responses on a non-loopback listener, as on EC2: a
/// container one more hop away cannot fetch a token.
pub const DEFAULT_TOKEN_HOP_LIMIT: u8 = 1;
/// The audit log is rotated when it would grow past this.
pub const DEFAULT_AUDIT_MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// Rotated audit files kept (`audit.jsonl.1` ... `.N`).
pub const DEFAULT_AUDIT_KEEP_FILES: u32 = 5;
/// Identical `served` / `denied` events within this are one record with a count.
pub const DEFAULT_AUDIT_COALESCE: Duration = Duration::from_secs(60);
/// How often (at most) the audit log's last seq and hash are written to the daemon's log.
pub const DEFAULT_AUDIT_CHECKPOINT: Duration = Duration::from_secs(300);
/// `sts.source_identity` that stands for the daemon's user name (`$USER`).
pub const SOURCE_IDENTITY_USER: &str = "$USER";
/// Default `ecs.token_file`, under the state directory.
pub const ECS_TOKEN_FILE_NAME: &str = "ecs-token";
/// Default `audit.path`, under the state directory.
pub const AUDIT_FILE_NAME: &str = "audit.jsonl";
/// The control socket's file name, in the runtime directory (or the state directory).
pub const CONTROL_SOCKET_NAME: &str = "control.sock";
/// The address `[metrics] listen` is shown with (the listener is off unless it is set).
pub const EXAMPLE_METRICS_LISTEN: &str = "127.0.0.1:9169";
/// The file looked for in the platform's config directory.
pub const CONFIG_FILE_NAME: &str = "config.toml";
/// The name the platform directories are made from.
pub const APP_NAME: &str = "credvend";

/// The validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The file it was read from, if any.
    pub file: Option<PathBuf>,
    /// Where credvend keeps its ECS token, capability ids and audit log by default.
    pub state_dir: PathBuf,
    /// `run_as`: the user to become once the listeners are bound (started as root).
    pub run_as: Option<String>,
    /// `[aws]`.
    pub aws: AwsSettings,
    /// `[cache]`.
    pub cache: CacheSettings,
    /// `[server]`.
    pub server: ServerSettings,
    /// `[[imds]]`: one entry per IMDS listener address, in the order written. A table whose
    /// `listen` is a list gives one entry per address (its other settings copied), so every
    /// address is a listener of its own: its own socket, token key and `Host` check.
    pub imds: Vec<ImdsListener>,
    /// `[ecs]`; `None` when disabled.
    pub ecs: Option<EcsListener>,
    /// `[audit]`.
    pub audit: AuditSettings,
    /// `[docker]`.
    pub docker: DockerSettings,
    /// `[control]`.
    pub control: ControlSettings,
    /// `[metrics]`.
    pub metrics: MetricsSettings,
}

/// `[docker]`: the engine credvend asks which container a bridge peer is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DockerSettings {
    /// `socket`: the engine's API socket; `None`: containers are known by address only.
    pub socket: Option<PathBuf>,
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
    /// `credential_process_timeout_seconds`: how long a profile's `credential_process` may
    /// run before it is killed.
    pub credential_process_timeout: Duration,
    /// `duration_seconds`: DurationSeconds when the profile sets none.
    pub duration_seconds: u32,
    /// `role_session_name`: prefix of session names when the profile sets none.
    pub role_session_name: String,
    /// `[sts] source_identity`: the `SourceIdentity` every AssumeRole sends (`"$USER"`
    /// resolved to the daemon's user name), so CloudTrail shows the local user; `None`: not
    /// sent.
    pub source_identity: Option<String>,
    /// The profile chosen by `$AWS_PROFILE`, else `default`.
    pub default_profile: String,
    /// `[mfa]`: MFA sessions of chains with `mfa_serial`.
    pub mfa: MfaSettings,
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
    /// `max_read_wait_ms`: how long a read with nothing valid waits for the fetch in flight.
    pub max_read_wait: Duration,
}

/// `[server]`: limits every listener applies to its connections and clients.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerSettings {
    /// `header_read_timeout_seconds`.
    pub header_read_timeout: Duration,
    /// `max_header_bytes`.
    pub max_header_bytes: usize,
    /// `max_connections`: per listener.
    pub max_connections: usize,
    /// `max_connections_per_client`: per client (local uid, else address) and listener.
    pub max_connections_per_client: usize,
    /// `rate_limit_per_second` (0: no limit).
    pub rate_limit_per_second: u32,
    /// `rate_limit_burst`.
    pub rate_limit_burst: u32,
}

/// One `[[imds]]` listener: one address of its table's `listen`.
#[derive(Clone, Debug, PartialEq)]
pub struct ImdsListener {
    /// The address (one entry of `listen`).
    pub listen: SocketAddr,
    /// `profile`: served as the instance role.
    pub profile: String,
    /// `imdsv1`: whether token-less GETs are answered.
    pub imdsv1: bool,
    /// `public_key_file`: served at `public-keys/0/openssh-key`.
    pub public_key_file: Option<PathBuf>,
    /// `allowed_networks`: client networks for a non-loopback `listen`.
    pub allowed_networks: Vec<IpNet>,
    /// `allowed_users`: local users served besides the daemon's own and root.
    pub allowed_users: AllowedUsers,
    /// `label_profiles`: the profiles a container's `credvend.profile` label may choose.
    pub label_profiles: Vec<String>,
    /// `require_label`: refuse containers without the label (and peers that are none).
    pub require_label: bool,
    /// `token_hop_limit`: IP TTL of token responses on a non-loopback listener.
    pub token_hop_limit: u8,
}

/// `[ecs]`: one listener on each of its addresses, all serving the same profiles behind the
/// same token.
#[derive(Clone, Debug, PartialEq)]
pub struct EcsListener {
    /// The first address of `listen`: the one `credvend env`, `doctor` and
    /// `credential-process` go to.
    pub listen: SocketAddr,
    /// The other addresses of `listen`, in the order written.
    pub also_listen: Vec<SocketAddr>,
    /// `token_file`.
    pub token_file: PathBuf,
    /// `profiles`: served at `/role/<profile>`; the first also at `/`.
    pub profiles: Vec<String>,
    /// `allowed_networks`: client networks for a non-loopback `listen`.
    pub allowed_networks: Vec<IpNet>,
    /// `allowed_users`: local users served besides the daemon's own and root.
    pub allowed_users: AllowedUsers,
    /// `profile_users`: per profile, the users served that profile instead.
    pub profile_users: std::collections::BTreeMap<String, AllowedUsers>,
}

/// `[audit]`.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditSettings {
    /// `path`; `None` when `enabled = false`.
    pub path: Option<PathBuf>,
    /// `max_file_bytes`: rotate before the file grows past this.
    pub max_file_bytes: u64,
    /// `keep_files`: rotated files kept.
    pub keep_files: u32,
    /// `coalesce_seconds`: identical served/denied events within this are one record.
    pub coalesce: Duration,
    /// `checkpoint_seconds`: the longest a written record waits to be covered by a checkpoint
    /// in the daemon's log.
    pub checkpoint: Duration,
}

/// `[control]`: the Unix socket of `credvend status` and `credvend refresh`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlSettings {
    /// The socket: `path`, else in the runtime directory; `None` when `enabled = false`.
    pub path: Option<PathBuf>,
}

/// `[metrics]`: the optional Prometheus listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsSettings {
    /// `listen`; `None` (the default): no metrics listener.
    pub listen: Option<SocketAddr>,
}

/// Where to look when neither the file nor the environment says: the platform's directories.
/// Injected so that tests never depend on the real home directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DefaultPaths {
    /// The configuration file read when `--config` is not given and it exists.
    pub config_file: Option<PathBuf>,
    /// The state directory when neither `state_dir` nor `$STATE_DIRECTORY` is set.
    pub state_dir: Option<PathBuf>,
}

impl DefaultPaths {
    /// From the `directories` crate: `<config dir>/credvend/config.toml` and the state
    /// directory (`~/.local/state/credvend` on Linux), else the local data directory (macOS
    /// has no state directory).
    #[must_use]
    pub fn from_platform() -> Self {
        let dirs = directories::ProjectDirs::from("", "", APP_NAME);
        Self {
            config_file: dirs.as_ref().map(|d| d.config_dir().join(CONFIG_FILE_NAME)),
            state_dir: dirs.as_ref().map(|d| {
                d.state_dir()
                    .unwrap_or_else(|| d.data_local_dir())
                    .to_path_buf()
            }),
        }
    }
}

impl DefaultPaths {
    /// The platform's default places under another user's `home` (after a `run_as` drop, when
    /// the process environment still names root's home).
    #[must_use]
    pub fn under_home(home: &std::path::Path) -> Self {
        let state = if cfg!(target_os = "macos") {
            home.join("Library/Application Support").join(APP_NAME)
        } else {
            home.join(".local/state").join(APP_NAME)
        };
        Self {
            config_file: None,
            state_dir: Some(state),
        }
    }
}

impl EcsListener {
    /// Every address of `listen`, the first first.
    pub fn addresses(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        std::iter::once(self.listen).chain(self.also_listen.iter().copied())
    }
}

impl AwsSettings {
    /// The `~/.aws` files these settings name.
    #[must_use]
    pub fn profile_paths(&self) -> ProfilePaths {
        ProfilePaths {
            config_file: self.config_file.clone(),
            credentials_file: self.credentials_file.clone(),
        }
    }
}
