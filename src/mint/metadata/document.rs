//! The credential document both endpoints answer with (docs/wire-contract.md §3.1, §6.4):
//! `AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration`, and `Code` when IMDS sends it.

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::MetadataErrorKind;
use crate::secret::{Credentials, Secret};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Document {
    code: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    token: Option<String>,
    expiration: Option<String>,
}

/// Parses a 200 body into session credentials; the error names the missing field, never a
/// value.
pub(super) fn parse(body: &str) -> Result<Credentials, MetadataErrorKind> {
    let doc: Document =
        serde_json::from_str(body).map_err(|_| MetadataErrorKind::BadDocument("not JSON"))?;
    if let Some(code) = doc.code.as_deref().filter(|c| *c != "Success") {
        // Codes are words like AssumeRoleUnauthorizedAccess; anything else is not shown.
        let shown = if code.len() <= 64 && code.chars().all(|c| c.is_ascii_alphanumeric()) {
            code
        } else {
            "(unreadable)"
        };
        return Err(MetadataErrorKind::Code(shown.to_owned()));
    }
    let need = |v: Option<String>, name| {
        v.filter(|v| !v.is_empty())
            .ok_or(MetadataErrorKind::BadDocument(name))
    };
    let access_key_id = need(doc.access_key_id, "no AccessKeyId")?;
    let secret = need(doc.secret_access_key, "no SecretAccessKey")?;
    let token = need(doc.token, "no Token")?;
    let expiration = need(doc.expiration, "no Expiration")?;
    let expiration = OffsetDateTime::parse(&expiration, &Rfc3339)
        .map_err(|_| MetadataErrorKind::BadDocument("an Expiration that is not RFC 3339"))?;
    Ok(Credentials {
        access_key_id,
        secret_access_key: Secret::new(secret),
        session_token: Some(Secret::new(token)),
        expiration: Some(expiration),
    })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_document_gives_session_credentials_with_their_expiry() {
        let body = r#"{"Code":"Success","LastUpdated":"2026-01-01T00:00:00Z","Type":"AWS-HMAC","AccessKeyId":"ASIAX","SecretAccessKey":"s3cr3t","Token":"t0k3n","Expiration":"2026-01-01T06:00:00Z"}"#;
        let creds = parse(body).unwrap();
        assert_eq!(creds.access_key_id, "ASIAX");
        assert_eq!(creds.secret_access_key.expose(), "s3cr3t");
        assert_eq!(creds.session_token.unwrap().expose(), "t0k3n");
        assert_eq!(creds.expiration, Some(datetime!(2026-01-01 06:00 UTC)));
        // ECS sends no Code; fractional seconds (moto's) parse too.
        let ecs = r#"{"RoleArn":"arn:aws:iam::1:role/x","AccessKeyId":"ASIAY","SecretAccessKey":"s","Token":"t","Expiration":"2026-01-01T06:00:00.123456Z"}"#;
        assert_eq!(parse(ecs).unwrap().access_key_id, "ASIAY");
    }

    #[test]
    fn bad_documents_name_what_is_wrong_and_never_a_value() {
        let cases = [
            ("nope", "not JSON"),
            (
                r#"{"AccessKeyId":"ASIAX","SecretAccessKey":"s3cr3t","Expiration":"2026-01-01T06:00:00Z"}"#,
                "no Token",
            ),
            (
                r#"{"AccessKeyId":"ASIAX","SecretAccessKey":"s3cr3t","Token":"t0k3n"}"#,
                "no Expiration",
            ),
            (
                r#"{"AccessKeyId":"ASIAX","SecretAccessKey":"s3cr3t","Token":"t0k3n","Expiration":"tomorrow"}"#,
                "an Expiration that is not RFC 3339",
            ),
        ];
        for (body, want) in cases {
            let err = parse(body).unwrap_err();
            assert_eq!(err, MetadataErrorKind::BadDocument(want), "{body}");
            assert!(!format!("{err} {err:?}").contains("s3cr3t"));
        }
        let err =
            parse(r#"{"Code":"AssumeRoleUnauthorizedAccess","Message":"s3cr3t"}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the endpoint answered Code AssumeRoleUnauthorizedAccess"
        );
        let err = parse(r#"{"Code":"s3cr3t value!"}"#).unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }
}
