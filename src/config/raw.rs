//! The TOML file as written: every key optional, unknown keys refused. `build` turns this
//! into a [`Config`](super::Config) with the environment and the defaults.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, SeqAccess, Visitor};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) state_dir: Option<String>,
    pub(super) run_as: Option<String>,
    #[serde(default)]
    pub(super) aws: RawAws,
    #[serde(default)]
    pub(super) sts: RawSts,
    #[serde(default)]
    pub(super) mfa: RawMfa,
    #[serde(default)]
    pub(super) cache: RawCache,
    #[serde(default)]
    pub(super) server: RawServer,
    /// `None` when no `[[imds]]` is written (one default listener); `Some([])` for `imds = []`.
    pub(super) imds: Option<Vec<RawImds>>,
    #[serde(default)]
    pub(super) ecs: RawEcs,
    #[serde(default)]
    pub(super) audit: RawAudit,
    #[serde(default)]
    pub(super) docker: RawDocker,
    #[serde(default)]
    pub(super) control: RawControl,
    #[serde(default)]
    pub(super) metrics: RawMetrics,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDocker {
    pub(super) socket: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAws {
    pub(super) config_file: Option<String>,
    pub(super) credentials_file: Option<String>,
    pub(super) region: Option<String>,
    pub(super) sts_endpoint: Option<String>,
    pub(super) ca_file: Option<String>,
    pub(super) connect_timeout_seconds: Option<u64>,
    pub(super) timeout_seconds: Option<u64>,
    pub(super) max_attempts: Option<u32>,
    pub(super) credential_process_timeout_seconds: Option<u64>,
    pub(super) duration_seconds: Option<u32>,
    pub(super) role_session_name: Option<String>,
}

/// `[sts]`: what every STS call carries.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMfa {
    pub(super) session_seconds: Option<u32>,
    pub(super) renew_before_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSts {
    pub(super) source_identity: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCache {
    pub(super) refresh_margin_seconds: Option<u64>,
    pub(super) refresh_jitter_seconds: Option<u64>,
    pub(super) max_backoff_seconds: Option<u64>,
    pub(super) max_read_wait_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub(super) header_read_timeout_seconds: Option<u64>,
    pub(super) max_header_bytes: Option<usize>,
    pub(super) max_connections: Option<usize>,
    pub(super) max_connections_per_client: Option<usize>,
    pub(super) rate_limit_per_second: Option<u32>,
    pub(super) rate_limit_burst: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawImds {
    pub(super) listen: Option<RawListen>,
    pub(super) profile: Option<String>,
    pub(super) imdsv1: Option<bool>,
    pub(super) public_key_file: Option<String>,
    pub(super) allowed_networks: Option<Vec<String>>,
    pub(super) allowed_users: Option<Vec<String>>,
    pub(super) label_profiles: Option<Vec<String>>,
    pub(super) require_label: Option<bool>,
    pub(super) token_hop_limit: Option<u8>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEcs {
    pub(super) enabled: Option<bool>,
    pub(super) listen: Option<RawListen>,
    pub(super) token_file: Option<String>,
    pub(super) profiles: Option<Vec<String>>,
    pub(super) allowed_networks: Option<Vec<String>>,
    pub(super) allowed_users: Option<Vec<String>>,
    /// Per served profile: `allowed_users` for that profile instead of the listener's.
    pub(super) profile_users: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAudit {
    pub(super) enabled: Option<bool>,
    pub(super) path: Option<String>,
    pub(super) max_file_bytes: Option<u64>,
    pub(super) keep_files: Option<u32>,
    pub(super) coalesce_seconds: Option<u64>,
    pub(super) checkpoint_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawControl {
    pub(super) enabled: Option<bool>,
    pub(super) path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub(super) listen: Option<String>,
    pub(super) allow_non_loopback: Option<bool>,
}

/// `listen` as written: one address, or a list of them (each gets a socket of its own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum RawListen {
    /// `listen = "ADDR"`.
    One(String),
    /// `listen = ["ADDR", ...]`.
    List(Vec<String>),
}

impl<'de> Deserialize<'de> for RawListen {
    // By hand rather than `#[serde(untagged)]`, whose error ("did not match any variant")
    // would not say what the key takes.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Expect;
        impl<'de> Visitor<'de> for Expect {
            type Value = RawListen;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an address \"IP:PORT\" (IPv6 in brackets), or a list of them")
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<RawListen, E> {
                Ok(RawListen::One(value.to_owned()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawListen, A::Error> {
                let mut all = Vec::new();
                while let Some(addr) = seq.next_element::<String>()? {
                    all.push(addr);
                }
                Ok(RawListen::List(all))
            }
        }
        deserializer.deserialize_any(Expect)
    }
}
