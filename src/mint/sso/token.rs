//! The token cache `aws sso login` writes: `~/.aws/sso/cache/<sha1>.json`.
//!
//! The file name is the SHA-1 hex of the `sso_session` name, or of the start URL for the
//! legacy form (botocore's `SSOTokenLoader`). A refreshed token is written back as botocore's
//! `SSOTokenProvider` writes it: the same fields in the same order, `json.dumps` spacing and
//! ASCII escaping, `expiresAt` as `%Y-%m-%dT%H:%M:%SZ`, through a 0600 temporary file renamed
//! into place, so the CLI and the SDKs read what credvend wrote and the other way round.

use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::secret::Secret;

/// The fields of a refreshed token, in the order botocore's `_attempt_create_token` builds
/// them.
const WRITTEN_FIELDS: &[&str] = &[
    "startUrl",
    "region",
    "accessToken",
    "expiresAt",
    "clientId",
    "clientSecret",
    "registrationExpiresAt",
    "refreshToken",
];

/// Why a token file cannot be used; the caller adds the login hint.
#[derive(Debug)]
pub(super) enum LoadError {
    /// No file.
    Missing,
    /// Unreadable or malformed, with the reason (no values).
    Unusable(String),
}

/// One cached token, as read.
pub(super) struct CachedToken {
    /// `accessToken`.
    pub access_token: Secret,
    /// `expiresAt`, parsed.
    pub expires_at: OffsetDateTime,
    /// `expiresAt` as written, for messages.
    pub expires_at_text: String,
    /// Every field of the file, for the refresh (client registration, refresh token).
    fields: Map<String, Value>,
}

impl std::fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What a refresh needs from the file: the client registration and the refresh token.
pub(super) struct Registration {
    /// `clientId`.
    pub client_id: String,
    /// `clientSecret`.
    pub client_secret: Secret,
    /// `refreshToken`.
    pub refresh_token: Secret,
}

/// The cache file for `key` (the session name, or the start URL) under `home`.
pub(super) fn cache_file(home: &Path, key: &str) -> PathBuf {
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, key.as_bytes());
    home.join(".aws/sso/cache")
        .join(format!("{}.json", crate::hex::encode(digest.as_ref())))
}

/// Reads and checks the token in `file`.
pub(super) fn load(file: &Path) -> Result<CachedToken, LoadError> {
    let text = match crate::files::read_text(file) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(LoadError::Missing),
        Err(e) => return Err(LoadError::Unusable(format!("cannot read it: {e}"))),
    };
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&text) else {
        return Err(LoadError::Unusable("not a JSON object".into()));
    };
    let string = |key: &str| fields.get(key).and_then(Value::as_str);
    let access_token =
        string("accessToken").ok_or_else(|| LoadError::Unusable("no accessToken".into()))?;
    let expires_at_text =
        string("expiresAt").ok_or_else(|| LoadError::Unusable("no expiresAt".into()))?;
    let expires_at = parse_time(expires_at_text)
        .ok_or_else(|| LoadError::Unusable("expiresAt is not a date".into()))?;
    Ok(CachedToken {
        access_token: Secret::new(access_token),
        expires_at,
        expires_at_text: expires_at_text.to_owned(),
        fields,
    })
}

impl CachedToken {
    /// The registration a refresh needs, or why there is none (botocore's checks).
    pub(super) fn registration(&self, now: OffsetDateTime) -> Result<Registration, String> {
        let string = |key: &str| self.fields.get(key).and_then(Value::as_str);
        let missing: Vec<&str> = [
            "refreshToken",
            "clientId",
            "clientSecret",
            "registrationExpiresAt",
        ]
        .into_iter()
        .filter(|k| string(k).is_none())
        .collect();
        if !missing.is_empty() {
            return Err(format!("the cache has no {}", missing.join(", ")));
        }
        let expires_at = string("registrationExpiresAt")
            .and_then(parse_time)
            .ok_or("registrationExpiresAt is not a date")?;
        if expires_at <= now {
            return Err(format!("the client registration expired at {expires_at}"));
        }
        Ok(Registration {
            client_id: string("clientId").unwrap_or_default().to_owned(),
            client_secret: Secret::new(string("clientSecret").unwrap_or_default()),
            refresh_token: Secret::new(string("refreshToken").unwrap_or_default()),
        })
    }

    /// The token that replaces this one after a `CreateToken`, as botocore builds it.
    pub(super) fn refreshed(
        &self,
        start_url: &str,
        region: &str,
        access_token: Secret,
        expires_at: OffsetDateTime,
        refresh_token: Option<Secret>,
    ) -> Self {
        let expires_at_text = format_time(expires_at);
        let mut fields = Map::new();
        let mut put = |k: &str, v: Value| {
            fields.insert(k.to_owned(), v);
        };
        put("startUrl", start_url.into());
        put("region", region.into());
        put("accessToken", access_token.expose().into());
        put("expiresAt", expires_at_text.clone().into());
        for key in ["clientId", "clientSecret", "registrationExpiresAt"] {
            put(key, self.fields.get(key).cloned().unwrap_or(Value::Null));
        }
        if let Some(refresh) = refresh_token {
            put("refreshToken", refresh.expose().into());
        }
        Self {
            access_token,
            expires_at,
            expires_at_text,
            fields,
        }
    }

    /// The file's text: botocore's fields in botocore's order (serde_json's map is sorted).
    fn json(&self) -> String {
        let items: Vec<String> = WRITTEN_FIELDS
            .iter()
            .filter_map(|k| {
                let v = self.fields.get(*k)?;
                Some(format!("{}: {}", python_string(k), python_json(v)))
            })
            .collect();
        format!("{{{}}}", items.join(", "))
    }

    /// Writes the token to `file`: a 0600 temporary file beside it, then a rename.
    pub(super) fn save(&self, file: &Path) -> std::io::Result<()> {
        let dir = file.parent().unwrap_or(Path::new("."));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let tmp = dir.join(format!(".credvend-{}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let result = (|| {
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            out.write_all(self.json().as_bytes())?;
            out.sync_all()?;
            std::fs::rename(&tmp, file)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

/// `expiresAt` as botocore reads it: RFC 3339, or the `...UTC` of older CLIs.
fn parse_time(text: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t);
    }
    let bare = text
        .strip_suffix("UTC")
        .or_else(|| text.strip_suffix('Z'))?;
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(bare, &format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

/// `%Y-%m-%dT%H:%M:%SZ`.
fn format_time(t: OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

/// Python's `json.dumps(value)`: `", "` and `": "` separators, non-ASCII as `\uXXXX`.
fn python_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", python_string(k), python_json(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(python_json).collect();
            format!("[{}]", items.join(", "))
        }
        Value::String(s) => python_string(s),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
    }
}

fn python_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn the_file_name_is_the_sha1_of_the_key() {
        // sha1("corp"), as hashlib computes it.
        let home = Path::new("/h");
        assert_eq!(
            cache_file(home, "corp"),
            Path::new("/h/.aws/sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json")
        );
    }

    #[test]
    fn json_is_written_as_python_writes_it() {
        let value = serde_json::json!({"a": "x\"\\\n\u{7f}é😀", "b": null, "c": 5});
        assert_eq!(
            python_json(&value),
            r#"{"a": "x\"\\\n\u007f\u00e9\ud83d\ude00", "b": null, "c": 5}"#
        );
    }

    #[test]
    fn times_parse_in_both_cli_forms() {
        let t = datetime!(2026-12-02 16:00:00 UTC);
        assert_eq!(parse_time("2026-12-02T16:00:00Z"), Some(t));
        assert_eq!(parse_time("2026-12-02T16:00:00UTC"), Some(t));
        assert_eq!(parse_time("2026-12-02T17:00:00+01:00"), Some(t));
        assert_eq!(parse_time("tomorrow"), None);
        assert_eq!(format_time(t), "2026-12-02T16:00:00Z");
    }
}
