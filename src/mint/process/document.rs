//! The JSON a `credential_process` prints, checked as botocore checks it (`ProcessProvider`):
//! `Version` must be 1, `AccessKeyId` and `SecretAccessKey` are required, `SessionToken` and
//! `Expiration` are optional (<https://docs.aws.amazon.com/sdkref/latest/guide/feature-process-credentials.html>).
//!
//! The text is parsed into a plain JSON value first and each field checked by hand, so an
//! error names the field and what is wrong with it but never quotes what was printed (which
//! holds the secret).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::secret::{Credentials, Secret};

/// What is wrong with the printed document. Never carries a value from it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// Nothing on stdout.
    #[error("it printed nothing on stdout")]
    Empty,
    /// Not JSON at all (serde_json's position, never the text).
    #[error("stdout is not JSON ({reason} at line {line} column {column})")]
    NotJson {
        /// What kind of syntax error.
        reason: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// JSON, but not an object.
    #[error("stdout is JSON but not an object")]
    NotAnObject,
    /// `Version` missing or not 1.
    #[error("field Version must be 1, found {found}")]
    Version {
        /// What was there: `nothing`, `a string`, `the number 2` (a number is safe to show).
        found: String,
    },
    /// A required field is absent or null.
    #[error("field {0} is missing")]
    Missing(&'static str),
    /// A field that is not a string.
    #[error("field {0} must be a string")]
    NotAString(&'static str),
    /// A required string that is empty.
    #[error("field {0} is empty")]
    EmptyField(&'static str),
    /// `Expiration` that is not an RFC 3339 time.
    #[error("field Expiration must be an RFC 3339 time such as 2026-01-01T00:00:00Z")]
    Expiration,
}

/// The credentials in `stdout`, or what is wrong with it.
pub(super) fn parse(stdout: &[u8]) -> Result<Credentials, DocumentError> {
    if stdout.iter().all(u8::is_ascii_whitespace) {
        return Err(DocumentError::Empty);
    }
    let value: serde_json::Value =
        serde_json::from_slice(stdout).map_err(|e| DocumentError::NotJson {
            reason: match e.classify() {
                serde_json::error::Category::Eof => "unexpected end",
                serde_json::error::Category::Syntax => "syntax error",
                serde_json::error::Category::Data | serde_json::error::Category::Io => "bad data",
            },
            line: e.line(),
            column: e.column(),
        })?;
    let serde_json::Value::Object(doc) = value else {
        return Err(DocumentError::NotAnObject);
    };
    check_version(doc.get("Version"))?;
    let string = |field: &'static str| -> Result<Option<&str>, DocumentError> {
        match doc.get(field) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(DocumentError::NotAString(field)),
        }
    };
    let required = |field: &'static str| -> Result<&str, DocumentError> {
        let value = string(field)?.ok_or(DocumentError::Missing(field))?;
        if value.is_empty() {
            return Err(DocumentError::EmptyField(field));
        }
        Ok(value)
    };
    let access_key_id = required("AccessKeyId")?.to_owned();
    let secret_access_key = Secret::new(required("SecretAccessKey")?);
    // An empty token is no token, as botocore's falsy check treats it when signing.
    let session_token = string("SessionToken")?
        .filter(|t| !t.is_empty())
        .map(Secret::new);
    let expiration = string("Expiration")?
        .map(|t| OffsetDateTime::parse(t, &Rfc3339).map_err(|_| DocumentError::Expiration))
        .transpose()?;
    Ok(Credentials {
        access_key_id,
        secret_access_key,
        session_token,
        expiration,
    })
}

/// botocore compares with `!= 1`, so `1` and `1.0` pass; anything else is named by its kind.
fn check_version(version: Option<&serde_json::Value>) -> Result<(), DocumentError> {
    let found = match version {
        Some(serde_json::Value::Number(n)) if n.as_f64() == Some(1.0) => return Ok(()),
        Some(serde_json::Value::Number(n)) => format!("the number {n}"),
        None => "nothing".into(),
        Some(serde_json::Value::Null) => "null".into(),
        Some(serde_json::Value::String(_)) => "a string".into(),
        Some(serde_json::Value::Bool(_)) => "a boolean".into(),
        Some(_) => "an array or object".into(),
    };
    Err(DocumentError::Version { found })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const SECRET: &str = "FAKESECRET/proc+ess=KEY0123456789abcdefgh";
    const TOKEN: &str = "FAKETOKEN-process-session";

    fn doc(fields: &str) -> String {
        format!("{{\"Version\": 1, {fields}}}")
    }

    #[test]
    fn long_term_keys_and_session_credentials_are_read() {
        let keys = parse(
            doc(&format!(
                "\"AccessKeyId\": \"AKIAPROCESS\", \"SecretAccessKey\": \"{SECRET}\""
            ))
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(keys.access_key_id, "AKIAPROCESS");
        assert_eq!(keys.secret_access_key.expose(), SECRET);
        assert!(!keys.is_session() && keys.expiration.is_none());

        let session = parse(
            doc(&format!(
                "\"AccessKeyId\": \"ASIAPROCESS\", \"SecretAccessKey\": \"{SECRET}\", \
                 \"SessionToken\": \"{TOKEN}\", \"Expiration\": \"2026-03-01T09:00:00+01:00\", \
                 \"AccountId\": \"123456789012\""
            ))
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(session.session_token.unwrap().expose(), TOKEN);
        assert_eq!(session.expiration, Some(datetime!(2026-03-01 08:00 UTC)));
        // Version 1.0 passes botocore's `!= 1` too; nulls are absent fields.
        let loose = "{\"Version\": 1.0, \"AccessKeyId\": \"AKIA\", \"SecretAccessKey\": \"s\", \
                     \"SessionToken\": null, \"Expiration\": null}";
        assert!(parse(loose.as_bytes()).unwrap().expiration.is_none());
    }

    #[test]
    fn each_mistake_is_named_by_field_without_the_value() {
        let cases: Vec<(String, &str)> = vec![
            ("  \n".into(), "it printed nothing on stdout"),
            (
                format!("{{\"Version\": 1, \"SecretAccessKey\": \"{SECRET}\""),
                "stdout is not JSON (unexpected end at line 1 column",
            ),
            (
                format!("{SECRET} {TOKEN}"),
                "stdout is not JSON (syntax error",
            ),
            (
                format!("[\"{SECRET}\"]"),
                "stdout is JSON but not an object",
            ),
            (
                format!("{{\"AccessKeyId\": \"A\", \"SecretAccessKey\": \"{SECRET}\"}}"),
                "field Version must be 1, found nothing",
            ),
            (
                format!("{{\"Version\": 2, \"SecretAccessKey\": \"{SECRET}\"}}"),
                "field Version must be 1, found the number 2",
            ),
            (
                format!("{{\"Version\": \"{SECRET}\"}}"),
                "field Version must be 1, found a string",
            ),
            (
                doc(&format!("\"SecretAccessKey\": \"{SECRET}\"")),
                "field AccessKeyId is missing",
            ),
            (
                doc("\"AccessKeyId\": \"A\""),
                "field SecretAccessKey is missing",
            ),
            (
                doc("\"AccessKeyId\": \"A\", \"SecretAccessKey\": \"\""),
                "field SecretAccessKey is empty",
            ),
            (
                doc(&format!(
                    "\"AccessKeyId\": 7, \"SecretAccessKey\": \"{SECRET}\""
                )),
                "field AccessKeyId must be a string",
            ),
            (
                doc(&format!(
                    "\"AccessKeyId\": \"A\", \"SecretAccessKey\": \"{SECRET}\", \"SessionToken\": [\"{TOKEN}\"]"
                )),
                "field SessionToken must be a string",
            ),
            (
                doc(&format!(
                    "\"AccessKeyId\": \"A\", \"SecretAccessKey\": \"{SECRET}\", \"Expiration\": \"{TOKEN}\""
                )),
                "field Expiration must be an RFC 3339 time",
            ),
            (
                doc(&format!(
                    "\"AccessKeyId\": \"A\", \"SecretAccessKey\": \"{SECRET}\", \"Expiration\": 1767225600"
                )),
                "field Expiration must be a string",
            ),
        ];
        for (text, want) in cases {
            let err = parse(text.as_bytes()).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(shown.starts_with(want), "{text}: {shown}");
            assert!(!shown.contains(SECRET) && !shown.contains(TOKEN), "{shown}");
        }
    }
}
