//! Turns the file as written ([`RawConfig`]), the environment and the platform defaults into
//! a [`Config`], checking every value on the way.
//!
//! Errors name the key the value came from: the TOML key (`aws.region`), or `$AWS_REGION`
//! when the environment supplied it. The caller adds the file and line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::check::{
    ListenAt, check_listeners, check_profile, check_region, check_session_name,
    check_source_identity, check_url, listen, networks, positive,
};
use super::error::ConfigError;
use super::raw::{
    RawAudit, RawAws, RawCache, RawConfig, RawDocker, RawEcs, RawImds, RawServer, RawSts,
};
use super::settings::*;
use super::users::{AllowedUsers, system_users};
use crate::env::Env;

type Result<T> = std::result::Result<T, ConfigError>;

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::invalid(key, message)
}

/// The key to blame for a defaulted profile name: only `$AWS_PROFILE` can make it bad.
fn profile_from_env() -> String {
    format!("${ENV_PROFILE}")
}

/// Everything from `raw`, with the environment on top and defaults below.
pub(super) fn build(raw: RawConfig, defaults: &DefaultPaths, env: &Env) -> Result<Config> {
    let home = env.home();
    let state_dir = state_dir(raw.state_dir.as_deref(), defaults, env)?;
    let run_as = match &raw.run_as {
        Some(user) if user.is_empty() || user.contains(['/', ':', '\0']) => {
            return Err(invalid("run_as", format!("{user:?} is not a user name")));
        }
        other => other.clone(),
    };
    let aws = aws(&raw.aws, &raw.sts, &raw.mfa, env)?;
    let cache = cache(&raw.cache)?;
    let server = server(&raw.server)?;
    // No [[imds]] at all means one listener with every default.
    let imds_tables: Vec<Vec<(String, ImdsListener)>> = raw
        .imds
        .unwrap_or_else(|| vec![RawImds::default()])
        .iter()
        .enumerate()
        .map(|(i, raw)| imds(&format!("imds[{i}]"), raw, &aws.default_profile, home))
        .collect::<Result<_>>()?;
    let ecs = ecs(&raw.ecs, &aws.default_profile, &state_dir, home)?;
    let audit = audit(&raw.audit, &state_dir, home)?;
    let docker = docker(&raw.docker, home)?;
    let labelled = imds_tables
        .iter()
        .flatten()
        .find(|(_, l)| !l.label_profiles.is_empty() || l.require_label);
    if let Some((key, _)) = labelled.filter(|_| docker.socket.is_none()) {
        return Err(invalid(
            format!("{key}.label_profiles"),
            "container labels need the engine: set [docker] socket",
        ));
    }
    let control_path = raw.control.path.as_deref();
    let control_path = control_path
        .map(|p| expand("control.path", p, home))
        .transpose()?;
    let control = super::control::control(raw.control.enabled, control_path, &state_dir, env)?;
    let metrics = super::control::metrics(&raw.metrics)?;

    let mut listeners: Vec<ListenAt<'_>> = Vec::new();
    for (i, table) in imds_tables.iter().enumerate() {
        for (key, l) in table {
            listeners.push(ListenAt {
                table: format!("imds[{i}]"),
                key: key.clone(),
                addr: l.listen,
                nets: &l.allowed_networks,
            });
        }
    }
    if let Some((ecs, keys)) = &ecs {
        for (key, addr) in keys.iter().zip(ecs.addresses()) {
            listeners.push(ListenAt {
                table: "ecs".into(),
                key: key.clone(),
                addr,
                nets: &ecs.allowed_networks,
            });
        }
    }
    check_listeners(&listeners)?;
    let imds = imds_tables
        .into_iter()
        .flatten()
        .map(|(_, listener)| listener)
        .collect();
    let ecs = ecs.map(|(ecs, _)| ecs);

    Ok(Config {
        file: None,
        state_dir,
        run_as,
        aws,
        cache,
        server,
        imds,
        ecs,
        audit,
        docker,
        control,
        metrics,
    })
}

fn docker(raw: &RawDocker, home: Option<&str>) -> Result<DockerSettings> {
    Ok(DockerSettings {
        socket: match &raw.socket {
            Some(path) => Some(expand("docker.socket", path, home)?),
            None => None,
        },
    })
}

/// `state_dir`, else `$STATE_DIRECTORY` (systemd's `StateDirectory=`), else the platform's.
fn state_dir(raw: Option<&str>, defaults: &DefaultPaths, env: &Env) -> Result<PathBuf> {
    let (key, dir) = if let Some(value) = raw {
        (
            "state_dir".to_owned(),
            expand("state_dir", value, env.home())?,
        )
    } else if let Some(value) = env.get(ENV_STATE_DIRECTORY) {
        // systemd joins several StateDirectory= entries with ':'; the first is ours.
        let first = value.split(':').next().unwrap_or_default();
        let key = format!("${ENV_STATE_DIRECTORY}");
        (key.clone(), expand(&key, first, env.home())?)
    } else if let Some(dir) = &defaults.state_dir {
        ("state_dir".to_owned(), dir.clone())
    } else {
        return Err(invalid(
            "state_dir",
            format!("no default state directory (${ENV_STATE_DIRECTORY} and $HOME are unset)"),
        ));
    };
    if dir.is_relative() {
        return Err(invalid(key, format!("{dir:?} is not an absolute path")));
    }
    Ok(dir)
}

/// `[aws]`, with `[sts]` (what the calls carry) folded in: minting reads both.
fn aws(raw: &RawAws, sts: &RawSts, raw_mfa: &super::raw::RawMfa, env: &Env) -> Result<AwsSettings> {
    let home = env.home();
    // The files: credvend's own setting wins, then the SDKs' variable, then the SDK default.
    // The file must win: `credvend env` points client shells' AWS_SHARED_CREDENTIALS_FILE at
    // /dev/null, and a credvend started from such a shell must still find its keys.
    let path = |names: &[&str], value: &Option<String>, key: &str, default: &str| {
        let (key, value) = match value {
            Some(v) => (key.to_owned(), v.as_str()),
            None => pick(env, names, None, key, default),
        };
        expand(&key, value, home)
    };
    let config_file = path(
        &[ENV_CONFIG_FILE],
        &raw.config_file,
        "aws.config_file",
        DEFAULT_AWS_CONFIG_FILE,
    )?;
    let credentials_file = path(
        &[ENV_SHARED_CREDENTIALS_FILE],
        &raw.credentials_file,
        "aws.credentials_file",
        DEFAULT_AWS_CREDENTIALS_FILE,
    )?;
    let (key, region) = pick(
        env,
        &[ENV_REGION, ENV_DEFAULT_REGION],
        raw.region.as_deref(),
        "aws.region",
        DEFAULT_REGION,
    );
    check_region(&key, region)?;
    let sts_endpoint = match &raw.sts_endpoint {
        Some(url) => Some(check_url("aws.sts_endpoint", url)?),
        None => None,
    };
    let env_sts_endpoint = match from_env(env, &[ENV_ENDPOINT_URL_STS, ENV_ENDPOINT_URL]) {
        Some((key, url)) => Some(check_url(&key, url)?),
        None => None,
    };
    let ca_file = match &raw.ca_file {
        Some(value) => Some(expand("aws.ca_file", value, home)?),
        None => None,
    };
    let max_attempts = raw.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
    if max_attempts < 1 {
        return Err(invalid("aws.max_attempts", "must be at least 1"));
    }
    let duration_seconds = raw.duration_seconds.unwrap_or(DEFAULT_DURATION_SECONDS);
    if !DURATION_SECONDS_RANGE.contains(&duration_seconds) {
        return Err(invalid(
            "aws.duration_seconds",
            format!(
                "must be between {} and {} (got {duration_seconds})",
                DURATION_SECONDS_RANGE.start(),
                DURATION_SECONDS_RANGE.end()
            ),
        ));
    }
    let role_session_name = raw
        .role_session_name
        .clone()
        .unwrap_or_else(|| DEFAULT_ROLE_SESSION_NAME.into());
    check_session_name("aws.role_session_name", &role_session_name)?;
    let source_identity = match sts.source_identity.as_deref() {
        None => None,
        Some(SOURCE_IDENTITY_USER) => {
            let user = env.get("USER").ok_or_else(|| {
                invalid(
                    "sts.source_identity",
                    "\"$USER\" stands for the daemon's user name, but $USER is not set",
                )
            })?;
            let named = check_source_identity("sts.source_identity", user);
            Some(named.map_err(|_| {
                invalid(
                    "sts.source_identity",
                    format!("\"$USER\" is {user:?}, which STS does not take as a SourceIdentity (2 to 64 of letters, digits and _+=,.@-)"),
                )
            })?)
        }
        Some(value) => Some(check_source_identity("sts.source_identity", value)?),
    };
    Ok(AwsSettings {
        config_file,
        credentials_file,
        region: region.to_owned(),
        sts_endpoint,
        env_sts_endpoint,
        ca_file,
        connect_timeout: positive(
            "aws.connect_timeout_seconds",
            raw.connect_timeout_seconds,
            DEFAULT_CONNECT_TIMEOUT,
        )?,
        timeout: positive("aws.timeout_seconds", raw.timeout_seconds, DEFAULT_TIMEOUT)?,
        max_attempts,
        credential_process_timeout: positive(
            "aws.credential_process_timeout_seconds",
            raw.credential_process_timeout_seconds,
            DEFAULT_CREDENTIAL_PROCESS_TIMEOUT,
        )?,
        duration_seconds,
        role_session_name,
        source_identity,
        default_profile: env.get(ENV_PROFILE).unwrap_or(DEFAULT_PROFILE).to_owned(),
        mfa: super::mfa::mfa(raw_mfa)?,
    })
}

fn cache(raw: &RawCache) -> Result<CacheSettings> {
    let margin = raw
        .refresh_margin_seconds
        .map_or(DEFAULT_REFRESH_MARGIN, Duration::from_secs);
    let jitter = raw
        .refresh_jitter_seconds
        .map_or(DEFAULT_REFRESH_JITTER, Duration::from_secs);
    let (min, session) = (MIN_REFRESH_MARGIN.as_secs(), REFERENCE_SESSION.as_secs());
    if margin < MIN_REFRESH_MARGIN || margin >= REFERENCE_SESSION {
        return Err(invalid(
            "cache.refresh_margin_seconds",
            format!(
                "must be at least {min} (clients get credentials with more than 20 minutes \
                 left) and less than {session} (it is relative to a one-hour session); got {}",
                margin.as_secs()
            ),
        ));
    }
    if margin + jitter >= REFERENCE_SESSION {
        return Err(invalid(
            "cache.refresh_jitter_seconds",
            format!(
                "refresh_margin_seconds + refresh_jitter_seconds must be less than {session}; \
                 got {}",
                (margin + jitter).as_secs()
            ),
        ));
    }
    Ok(CacheSettings {
        refresh_margin: margin,
        refresh_jitter: jitter,
        max_backoff: positive(
            "cache.max_backoff_seconds",
            raw.max_backoff_seconds,
            DEFAULT_MAX_BACKOFF,
        )?,
        max_read_wait: raw
            .max_read_wait_ms
            .map_or(DEFAULT_MAX_READ_WAIT, Duration::from_millis),
    })
}

fn server(raw: &RawServer) -> Result<ServerSettings> {
    let at_least_one = |key: &str, value: Option<usize>, default: usize| match value {
        Some(0) => Err(invalid(key, "must be at least 1")),
        Some(n) => Ok(n),
        None => Ok(default),
    };
    let max_header_bytes = raw.max_header_bytes.unwrap_or(DEFAULT_MAX_HEADER_BYTES);
    if !(8192..=1024 * 1024).contains(&max_header_bytes) {
        return Err(invalid(
            "server.max_header_bytes",
            format!("must be between 8192 and 1048576 (got {max_header_bytes})"),
        ));
    }
    let rate = raw
        .rate_limit_per_second
        .unwrap_or(DEFAULT_RATE_LIMIT_PER_SECOND);
    let burst = raw.rate_limit_burst.unwrap_or(DEFAULT_RATE_LIMIT_BURST);
    if rate > 0 && burst < rate {
        return Err(invalid(
            "server.rate_limit_burst",
            format!("must be at least rate_limit_per_second ({rate}), got {burst}"),
        ));
    }
    Ok(ServerSettings {
        header_read_timeout: positive(
            "server.header_read_timeout_seconds",
            raw.header_read_timeout_seconds,
            DEFAULT_HEADER_READ_TIMEOUT,
        )?,
        max_header_bytes,
        max_connections: at_least_one(
            "server.max_connections",
            raw.max_connections,
            DEFAULT_MAX_CONNECTIONS,
        )?,
        max_connections_per_client: at_least_one(
            "server.max_connections_per_client",
            raw.max_connections_per_client,
            DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
        )?,
        rate_limit_per_second: rate,
        rate_limit_burst: burst,
    })
}

/// The listeners of one `[[imds]]` table, one per address, each with the key of its address.
fn imds(
    key: &str,
    raw: &RawImds,
    default_profile: &str,
    home: Option<&str>,
) -> Result<Vec<(String, ImdsListener)>> {
    let (profile_key, profile) = match &raw.profile {
        Some(profile) => (format!("{key}.profile"), profile.as_str()),
        None => (profile_from_env(), default_profile),
    };
    check_profile(&profile_key, profile)?;
    // Never empty: `listen` refuses an empty list.
    let addresses = listen(key, raw.listen.as_ref(), DEFAULT_IMDS_LISTEN)?;
    let listener = ImdsListener {
        listen: addresses[0].1,
        profile: profile.to_owned(),
        imdsv1: raw.imdsv1.unwrap_or(true),
        public_key_file: match &raw.public_key_file {
            Some(value) => Some(expand(&format!("{key}.public_key_file"), value, home)?),
            None => None,
        },
        allowed_networks: networks(key, raw.allowed_networks.as_deref())?,
        allowed_users: system_users(
            &format!("{key}.allowed_users"),
            raw.allowed_users.as_deref(),
        )?,
        label_profiles: label_profiles(key, raw.label_profiles.as_deref())?,
        require_label: raw.require_label.unwrap_or(false),
        token_hop_limit: match raw.token_hop_limit {
            Some(0) => {
                return Err(invalid(
                    format!("{key}.token_hop_limit"),
                    "must be at least 1",
                ));
            }
            Some(n) => n,
            None => DEFAULT_TOKEN_HOP_LIMIT,
        },
    };
    Ok(addresses
        .into_iter()
        .map(|(key, listen)| {
            (
                key,
                ImdsListener {
                    listen,
                    ..listener.clone()
                },
            )
        })
        .collect())
}

fn label_profiles(key: &str, raw: Option<&[String]>) -> Result<Vec<String>> {
    let profiles = raw.unwrap_or_default().to_vec();
    for (i, profile) in profiles.iter().enumerate() {
        check_profile(&format!("{key}.label_profiles[{i}]"), profile)?;
    }
    Ok(profiles)
}

/// `[ecs]`, checked even when disabled (a bad value is never silently ignored), with the key
/// of each of its addresses; `None` when `enabled = false`.
fn ecs(
    raw: &RawEcs,
    default_profile: &str,
    state_dir: &Path,
    home: Option<&str>,
) -> Result<Option<(EcsListener, Vec<String>)>> {
    // Never empty: `listen` refuses an empty list.
    let (keys, addresses): (Vec<String>, Vec<_>) =
        listen("ecs", raw.listen.as_ref(), DEFAULT_ECS_LISTEN)?
            .into_iter()
            .unzip();
    let token_file = state_file(
        "ecs.token_file",
        raw.token_file.as_deref(),
        ECS_TOKEN_FILE_NAME,
        state_dir,
        home,
    )?;
    let profiles = raw
        .profiles
        .clone()
        .unwrap_or_else(|| vec![default_profile.to_owned()]);
    for (i, profile) in profiles.iter().enumerate() {
        let key = match raw.profiles {
            Some(_) => format!("ecs.profiles[{i}]"),
            None => profile_from_env(),
        };
        check_profile(&key, profile)?;
        if profiles[..i].contains(profile) {
            return Err(invalid(key, format!("{profile:?} is listed twice")));
        }
    }
    let allowed_networks = networks("ecs", raw.allowed_networks.as_deref())?;
    let users = system_users("ecs.allowed_users", raw.allowed_users.as_deref())?;
    let mut profile_users = std::collections::BTreeMap::new();
    for (profile, entries) in raw.profile_users.iter().flatten() {
        let key = format!("ecs.profile_users.{profile}");
        if !profiles.contains(profile) {
            return Err(invalid(key, "is not one of ecs.profiles"));
        }
        let users: AllowedUsers = system_users(&key, Some(entries))?;
        profile_users.insert(profile.clone(), users);
    }
    if !raw.enabled.unwrap_or(true) {
        return Ok(None);
    }
    if profiles.is_empty() {
        return Err(invalid(
            "ecs.profiles",
            "must name at least one profile (or set enabled = false)",
        ));
    }
    Ok(Some((
        EcsListener {
            listen: addresses[0],
            also_listen: addresses[1..].to_vec(),
            token_file,
            profiles,
            allowed_networks,
            allowed_users: users,
            profile_users,
        },
        keys,
    )))
}

fn audit(raw: &RawAudit, state_dir: &Path, home: Option<&str>) -> Result<AuditSettings> {
    let path = state_file(
        "audit.path",
        raw.path.as_deref(),
        AUDIT_FILE_NAME,
        state_dir,
        home,
    )?;
    let max_file_bytes = raw.max_file_bytes.unwrap_or(DEFAULT_AUDIT_MAX_FILE_BYTES);
    if max_file_bytes < 64 * 1024 {
        return Err(invalid(
            "audit.max_file_bytes",
            format!("must be at least 65536 (got {max_file_bytes})"),
        ));
    }
    Ok(AuditSettings {
        path: raw.enabled.unwrap_or(true).then_some(path),
        max_file_bytes,
        keep_files: raw.keep_files.unwrap_or(DEFAULT_AUDIT_KEEP_FILES),
        coalesce: positive(
            "audit.coalesce_seconds",
            raw.coalesce_seconds,
            DEFAULT_AUDIT_COALESCE,
        )?,
        checkpoint: positive(
            "audit.checkpoint_seconds",
            raw.checkpoint_seconds,
            DEFAULT_AUDIT_CHECKPOINT,
        )?,
    })
}

/// The environment's value (first of `names` that is set), else the file's, else `default`;
/// with the key to blame.
fn pick<'a>(
    env: &'a Env,
    names: &[&str],
    file: Option<&'a str>,
    key: &str,
    default: &'a str,
) -> (String, &'a str) {
    from_env(env, names).unwrap_or_else(|| (key.to_owned(), file.unwrap_or(default)))
}

/// The first of `names` set in `env`, as (`$NAME`, value).
fn from_env<'a>(env: &'a Env, names: &[&str]) -> Option<(String, &'a str)> {
    names
        .iter()
        .find_map(|name| Some((format!("${name}"), env.get(name)?)))
}

/// `value` as a path, with a leading `~/` taken from `$HOME`.
fn expand(key: &str, value: &str, home: Option<&str>) -> Result<PathBuf> {
    if value.is_empty() {
        return Err(invalid(key, "must not be empty"));
    }
    match value.strip_prefix("~/") {
        None => Ok(PathBuf::from(value)),
        Some(rest) => home.map(|home| Path::new(home).join(rest)).ok_or_else(|| {
            invalid(
                key,
                format!("{value:?} starts with ~/ but $HOME is not set"),
            )
        }),
    }
}

/// A file credvend writes: relative paths (and the default) are under the state directory.
fn state_file(
    key: &str,
    value: Option<&str>,
    default: &str,
    state_dir: &Path,
    home: Option<&str>,
) -> Result<PathBuf> {
    let path = expand(key, value.unwrap_or(default), home)?;
    Ok(state_dir.join(path))
}
