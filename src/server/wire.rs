//! The credential JSON shapes both endpoints answer with, and the one read of the cache they
//! share (with the cache's errors mapped to HTTP and a last expiry check).
//!
//! Timestamps are whole-second UTC `Z` ([`format_timestamp`]): botocore's strict `strptime`,
//! JS's RFC 3339 regex and Go's `time.Time` all accept that form and no other is safe.

use crate::server::client::Client;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use axum::body::Bytes;
use serde::Serialize;

use crate::audit::AuditEvent;
use crate::cache::Served;
use crate::clock::format_timestamp;
use crate::server::audit_path::audit_path;
use crate::server::error::ApiError;
use crate::server::services::Services;

/// IMDS `iam/security-credentials[-extended]/<role>` (docs/wire-contract.md §3).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ImdsCredentials<'a> {
    code: &'static str,
    last_updated: String,
    #[serde(rename = "Type")]
    kind: &'static str,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    token: &'a str,
    expiration: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
}

/// The container endpoint's body (docs/wire-contract.md §6.4).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EcsCredentials<'a> {
    access_key_id: &'a str,
    secret_access_key: &'a str,
    token: &'a str,
    expiration: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
}

/// The IMDS credentials JSON; `extended` adds `AccountId` when it is known.
pub(crate) fn imds_body(served: &Served, extended: bool) -> String {
    let c = &served.credentials;
    let body = ImdsCredentials {
        code: "Success",
        last_updated: format_timestamp(served.issued_at),
        kind: "AWS-HMAC",
        access_key_id: &c.access_key_id,
        secret_access_key: c.secret_access_key.expose(),
        token: c.session_token.as_ref().map_or("", |t| t.expose()),
        expiration: c.expiration.map(format_timestamp).unwrap_or_default(),
        account_id: served.account_id.as_deref().filter(|_| extended),
    };
    serde_json::to_string(&body).unwrap_or_default()
}

/// The ECS credentials JSON.
pub(crate) fn ecs_body(served: &Served) -> String {
    let c = &served.credentials;
    let body = EcsCredentials {
        access_key_id: &c.access_key_id,
        secret_access_key: c.secret_access_key.expose(),
        token: c.session_token.as_ref().map_or("", |t| t.expose()),
        expiration: c.expiration.map(format_timestamp).unwrap_or_default(),
        role_arn: served.role_arn.as_deref(),
        account_id: served.account_id.as_deref(),
    };
    serde_json::to_string(&body).unwrap_or_default()
}

/// Each profile's credential body as last rendered, for one body shape. The cache hands out
/// the same `Arc<Served>` until the next refresh, so rendering once per `Arc` is rendering
/// once per refresh; the JSON and its timestamps were a good part of an answer's cost.
#[derive(Default)]
pub(crate) struct Rendered(RwLock<HashMap<String, (Arc<Served>, Bytes)>>);

impl Rendered {
    /// The body of `served`: the last rendering if it was of these very credentials, else
    /// `render`'s, kept for the next request.
    pub(crate) fn body(
        &self,
        served: &Arc<Served>,
        render: impl FnOnce(&Served) -> String,
    ) -> Bytes {
        if let Some((last, body)) = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&served.profile)
            && Arc::ptr_eq(last, served)
        {
            return body.clone();
        }
        let body = Bytes::from(render(served));
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(served.profile.clone(), (served.clone(), body.clone()));
        body
    }
}

/// The bodies hold secrets: show only how many there are.
impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.read().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("Rendered").field("profiles", &n).finish()
    }
}

/// Reads `profile` from the cache; only session credentials that have not expired pass.
///
/// The cache's error text stays in the daemon's log: the client gets a generic status.
pub(crate) async fn fetch(services: &Services, profile: &str) -> Result<Arc<Served>, ApiError> {
    let served = match services.credentials.credentials(profile).await {
        Ok(s) => s,
        Err(e) => {
            let error = ApiError::from(&e);
            if error == ApiError::Internal {
                tracing::error!(%profile, "listener serves a profile the cache does not know");
            } else {
                tracing::warn!(%profile, error = %e, "no credentials to serve");
            }
            return Err(error);
        }
    };
    let usable = served.credentials.session_token.is_some()
        && served
            .expiration()
            .is_some_and(|exp| exp > services.clock.now());
    if !usable {
        // Clients that get expired credentials fail in confusing ways (botocore raises), so
        // refuse instead.
        tracing::warn!(%profile, "cache returned expired or non-session credentials");
        return Err(ApiError::NoCredentials);
    }
    Ok(served)
}

/// Records that `client` got `served` on `path`.
pub(crate) fn record_served(
    services: &Services,
    client: &Client,
    listener: &str,
    path: &str,
    served: &Served,
) {
    services.audit.record(AuditEvent::Served {
        client: client.addr,
        caller: client.caller.clone(),
        listener: listener.to_owned(),
        path: audit_path(path),
        profile: served.profile.clone(),
        access_key_id: served.credentials.access_key_id.clone(),
    });
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::test_util::*;

    #[test]
    fn a_body_is_rendered_once_per_credentials_and_again_after_a_refresh() {
        let rendered = Rendered::default();
        let renders = Cell::new(0);
        let render = |s: &Served| {
            renders.set(renders.get() + 1);
            ecs_body(s)
        };
        let first = Arc::new(served("dev"));
        let a = rendered.body(&first, render);
        let b = rendered.body(&first, render);
        assert_eq!((renders.get(), &a), (1, &b), "the same Arc: one rendering");
        assert!(String::from_utf8_lossy(&a).contains(KEY_ID));

        // A refresh hands out a new Arc, even with equal contents: render again.
        let mut next = served("dev");
        next.credentials.access_key_id = "ASIANEXTKEY".into();
        let refreshed = rendered.body(&Arc::new(next), render);
        assert_eq!(renders.get(), 2);
        assert!(String::from_utf8_lossy(&refreshed).contains("ASIANEXTKEY"));
        // Another profile has its own slot and does not evict the first.
        rendered.body(&Arc::new(served("other")), render);
        let again = rendered.body(&first, render);
        assert_eq!(renders.get(), 4, "first was replaced by the refresh");
        assert_eq!(again, a);

        let shown = format!("{rendered:?}");
        assert_eq!(shown, "Rendered { profiles: 2 }");
        assert!(!shown.contains(SECRET_MARK));
    }
}
