//! The JSON bodies of the control socket, shared by the daemon (which writes them) and the
//! commands (which read them). Nothing here holds a secret: access key ids are masked, and
//! no field could carry a secret key or token.

use serde::{Deserialize, Serialize};

use super::served::Reads;
use crate::cache::{ErrorInfo, ProfileStatus};
use crate::clock::format_timestamp;

/// `GET /status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// credvend's version.
    pub version: String,
    /// The daemon's process id.
    pub pid: u32,
    /// The daemon's time (STS-corrected) when it answered: what "time left" is counted from.
    pub now: String,
    /// Every served profile, by name.
    pub profiles: Vec<ProfileView>,
    /// Every listener, in config order.
    pub listeners: Vec<ListenerView>,
}

/// One profile in [`StatusReport`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileView {
    /// The profile.
    pub profile: String,
    /// How it resolves (base keys masked, role chain), when it does.
    pub source: Option<String>,
    /// Why it does not resolve, when it does not.
    pub resolve_error: Option<String>,
    /// The role served (or to be assumed).
    pub role_arn: Option<String>,
    /// The served access key id, masked (`****ABCD`).
    pub access_key_id: Option<String>,
    /// When the served credentials expire.
    pub expiration: Option<String>,
    /// Whether reads get credentials now.
    pub serving: bool,
    /// When the served credentials were minted.
    pub last_refresh: Option<String>,
    /// When the next renewal or retry is planned.
    pub next_refresh: Option<String>,
    /// Whether an STS call is in flight.
    pub refreshing: bool,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// The most recent failure (kept after recovery).
    pub last_error: Option<ErrorView>,
    /// Credential responses served.
    pub reads_served: u64,
    /// Distinct callers (client addresses) served.
    pub distinct_callers: u64,
    /// True when more callers came than are remembered: `distinct_callers` is a floor.
    pub distinct_callers_capped: bool,
}

/// A failure, as status shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorView {
    /// The STS error code, when STS answered with one.
    pub code: Option<String>,
    /// The STS request id, when STS sent one.
    pub request_id: Option<String>,
    /// The message, naming profile and role.
    pub message: String,
    /// When it happened.
    pub at: String,
}

/// One listener in [`StatusReport`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerView {
    /// `imds`, `ecs` or `metrics`.
    pub kind: String,
    /// The bound addresses.
    pub addresses: Vec<String>,
    /// The profiles it serves.
    pub profiles: Vec<String>,
    /// More to say (`IMDSv2 only`), if anything.
    pub note: Option<String>,
}

/// `POST /refresh/{profile}` when it worked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refreshed {
    /// The profile.
    pub profile: String,
    /// The new access key id, masked.
    pub access_key_id: String,
    /// When the new credentials expire.
    pub expiration: Option<String>,
}

/// `POST /mfa/{profile}`'s body: the code, which never goes into a URI or a log.
#[derive(Clone, Deserialize, Serialize)]
pub struct MfaCode {
    /// The code from the device.
    pub code: String,
}

impl std::fmt::Debug for MfaCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaCode(<redacted>)")
    }
}

/// `POST /mfa/{profile}` when the code worked: the device's new session, and each profile on
/// the device renewed from it (or why not).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaStarted {
    /// The device (`mfa_serial`).
    pub serial: String,
    /// When the session ends.
    pub expiration: Option<String>,
    /// Each profile on the device: its masked key and expiry, or the error.
    pub profiles: Vec<MfaProfile>,
}

/// One profile renewed from a new MFA session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaProfile {
    /// The profile.
    pub profile: String,
    /// The new access key id, masked, when renewing worked.
    pub access_key_id: Option<String>,
    /// When the new credentials expire.
    pub expiration: Option<String>,
    /// Why renewing failed.
    pub error: Option<String>,
}

/// Any request that failed: what and why, with STS's code and request id when it has them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error, one line.
    pub error: String,
    /// The STS error code.
    pub code: Option<String>,
    /// The STS request id.
    pub request_id: Option<String>,
}

impl ErrorView {
    /// From the cache's record.
    #[must_use]
    pub fn from_info(e: &ErrorInfo) -> Self {
        Self {
            code: e.code.clone(),
            request_id: e.request_id.clone(),
            message: e.message.clone(),
            at: format_timestamp(e.at),
        }
    }
}

impl ProfileView {
    /// From the cache's view of the profile and its read counts.
    #[must_use]
    pub fn new(p: &ProfileStatus, reads: Option<&Reads>) -> Self {
        let reads = reads.cloned().unwrap_or_default();
        Self {
            profile: p.profile.clone(),
            source: p.source.clone(),
            resolve_error: p.resolve_error.clone(),
            role_arn: p.role_arn.clone(),
            access_key_id: p.access_key_id.clone(),
            expiration: p.expiration.map(format_timestamp),
            serving: p.serving,
            last_refresh: p.last_refresh.map(format_timestamp),
            next_refresh: p.next_refresh.map(format_timestamp),
            refreshing: p.refreshing,
            consecutive_failures: p.consecutive_failures,
            last_error: p.last_error.as_ref().map(ErrorView::from_info),
            reads_served: reads.served,
            distinct_callers: reads.distinct_callers,
            distinct_callers_capped: reads.callers_capped,
        }
    }
}
