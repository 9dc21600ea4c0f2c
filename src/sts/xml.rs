//! STS response documents: the success shapes of the three calls and both error shapes (real
//! STS puts `RequestId` beside `Error`; moto omits it and the namespace). Parsed with roxmltree
//! by local element names, so namespaces and wrappers do not matter.
//!
//! Error texts never quote the body: a success body carries secrets.

use roxmltree::{Document, Node};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{AssumedRole, CallerIdentity, SessionToken, StsError, StsErrorKind};
use crate::secret::{Credentials, Secret};

/// Deeper than any STS document (about 5), shallow enough for roxmltree's recursive parser.
const MAX_DEPTH: usize = 32;

/// A parsed document, or why the body is not one.
fn document(status: u16, body: &str) -> Result<Document<'_>, StsError> {
    if nesting_depth(body) > MAX_DEPTH {
        return Err(invalid(
            status,
            format!("body nests deeper than {MAX_DEPTH} elements"),
        ));
    }
    Document::parse(body).map_err(|e| {
        invalid(
            status,
            format!(
                "body of {} bytes is not XML ({})",
                body.len(),
                position_only(&e)
            ),
        )
    })
}

/// The deepest element nesting in `body`, by a cheap scan of its tags (an upper bound for
/// malformed input, which the parser then rejects).
fn nesting_depth(body: &str) -> usize {
    let bytes = body.as_bytes();
    let (mut depth, mut max) = (0usize, 0usize);
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'<') {
        let start = i + offset;
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(bytes.len(), |e| start + e);
        match bytes.get(start + 1) {
            Some(b'/') => depth = depth.saturating_sub(1),
            Some(b'?' | b'!') => {}
            _ if end > 0 && bytes.get(end - 1) == Some(&b'/') => {}
            _ => {
                depth += 1;
                max = max.max(depth);
            }
        }
        i = end.min(bytes.len().saturating_sub(1)) + 1;
        if i >= bytes.len() {
            break;
        }
    }
    max
}

/// roxmltree errors quote no input, but keep only the kind and position to be sure.
fn position_only(e: &roxmltree::Error) -> String {
    let pos = e.pos();
    format!("malformed at {}:{}", pos.row, pos.col)
}

fn invalid(status: u16, reason: impl Into<String>) -> StsError {
    StsError::new(StsErrorKind::InvalidResponse {
        status,
        reason: reason.into(),
    })
}

/// The first element named `name` anywhere below `node`.
fn find<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.descendants()
        .find(|n| n.is_element() && n.tag_name().name() == name)
}

/// The trimmed text of the first element named `name`, if present and not empty.
fn text(node: Node<'_, '_>, name: &str) -> Option<String> {
    let t = find(node, name)?.text()?.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn required(status: u16, node: Node<'_, '_>, name: &str) -> Result<String, StsError> {
    text(node, name).ok_or_else(|| invalid(status, format!("response has no {name}")))
}

/// The error in a non-success answer: the first `Error/Code` anywhere, its `Message`, and a
/// `RequestId` wherever it is.
pub(super) fn error(status: u16, body: &str) -> StsError {
    let doc = match document(status, body) {
        Ok(doc) => doc,
        Err(e) => return e,
    };
    let root = doc.root();
    let Some(err) = find(root, "Error") else {
        return invalid(status, "answer is not an STS error document");
    };
    let Some(code) = text(err, "Code") else {
        return invalid(status, "STS error document has no Code");
    };
    StsError::new(StsErrorKind::Service {
        status,
        code,
        message: text(err, "Message").unwrap_or_default(),
        request_id: text(root, "RequestId"),
    })
}

/// Parses `<Credentials>` (with `Expiration`, whole or fractional seconds).
fn credentials(status: u16, root: Node<'_, '_>) -> Result<Credentials, StsError> {
    let creds =
        find(root, "Credentials").ok_or_else(|| invalid(status, "response has no Credentials"))?;
    let expiration = required(status, creds, "Expiration")?;
    let expiration = OffsetDateTime::parse(&expiration, &Rfc3339).map_err(|_| {
        invalid(
            status,
            format!("Expiration {expiration:?} is not an RFC 3339 time"),
        )
    })?;
    Ok(Credentials {
        access_key_id: required(status, creds, "AccessKeyId")?,
        secret_access_key: Secret::new(required(status, creds, "SecretAccessKey")?),
        session_token: Some(Secret::new(required(status, creds, "SessionToken")?)),
        expiration: Some(expiration),
    })
}

/// Parses an `AssumeRoleResponse`.
pub(super) fn assume_role(status: u16, body: &str) -> Result<AssumedRole, StsError> {
    let doc = document(status, body)?;
    let root = doc.root();
    let user = find(root, "AssumedRoleUser")
        .ok_or_else(|| invalid(status, "response has no AssumedRoleUser"))?;
    Ok(AssumedRole {
        credentials: credentials(status, root)?,
        assumed_role_arn: required(status, user, "Arn")?,
        assumed_role_id: required(status, user, "AssumedRoleId")?,
        request_id: text(root, "RequestId"),
    })
}

/// Parses a `GetSessionTokenResponse`.
pub(super) fn session_token(status: u16, body: &str) -> Result<SessionToken, StsError> {
    let doc = document(status, body)?;
    let root = doc.root();
    Ok(SessionToken {
        credentials: credentials(status, root)?,
        request_id: text(root, "RequestId"),
    })
}

/// Parses a `GetCallerIdentityResponse`.
pub(super) fn caller_identity(status: u16, body: &str) -> Result<CallerIdentity, StsError> {
    let doc = document(status, body)?;
    let root = doc.root();
    let result = find(root, "GetCallerIdentityResult")
        .ok_or_else(|| invalid(status, "response has no GetCallerIdentityResult"))?;
    Ok(CallerIdentity {
        user_id: required(status, result, "UserId")?,
        account: required(status, result, "Account")?,
        arn: required(status, result, "Arn")?,
        request_id: text(root, "RequestId"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const ASSUME_ROLE: &str = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser><AssumedRoleId>AROAEXAMPLE:sess</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/app/sess</Arn></AssumedRoleUser>
    <Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>SECRET+/=</SecretAccessKey><SessionToken>TOKEN+/=</SessionToken><Expiration>2021-09-21T18:41:26Z</Expiration></Credentials>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</AssumeRoleResponse>"#;

    #[test]
    fn assume_role_response_is_parsed() {
        let r = assume_role(200, ASSUME_ROLE).unwrap();
        assert_eq!(
            r.assumed_role_arn,
            "arn:aws:sts::123456789012:assumed-role/app/sess"
        );
        assert_eq!(r.assumed_role_id, "AROAEXAMPLE:sess");
        assert_eq!(r.account_id(), Some("123456789012"));
        assert_eq!(
            r.request_id.as_deref(),
            Some("c6104cbe-af31-11e0-8154-cbc7ccf896c7")
        );
        assert_eq!(r.credentials.access_key_id, "ASIAEXAMPLE");
        assert_eq!(r.credentials.secret_access_key.expose(), "SECRET+/=");
        assert_eq!(
            r.credentials.session_token.as_ref().unwrap().expose(),
            "TOKEN+/="
        );
        assert_eq!(
            r.credentials.expiration,
            Some(datetime!(2021-09-21 18:41:26 UTC))
        );
    }

    #[test]
    fn fractional_second_expiration_as_moto_sends_it() {
        let body = ASSUME_ROLE.replace("2021-09-21T18:41:26Z", "2026-11-22T09:05:47.837987Z");
        let r = assume_role(200, &body).unwrap();
        assert_eq!(
            r.credentials.expiration,
            Some(datetime!(2026-11-22 09:05:47.837987 UTC))
        );
    }

    #[test]
    fn real_sts_error_shape_has_request_id_beside_error() {
        let body = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized</Message></Error><RequestId>req-9</RequestId></ErrorResponse>"#;
        let e = error(403, body);
        assert_eq!(e.code(), Some("AccessDenied"));
        assert_eq!(e.request_id(), Some("req-9"));
        assert_eq!(
            e.to_string(),
            "STS error AccessDenied: not authorized (HTTP 403, request id req-9)"
        );
    }

    #[test]
    fn moto_error_shape_without_namespace_or_request_id() {
        let body = "<ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error></Errors></ErrorResponse>";
        let e = error(403, body);
        assert_eq!(e.code(), Some("SignatureDoesNotMatch"));
        assert_eq!(e.request_id(), None);
    }

    #[test]
    fn garbage_truncated_and_foreign_bodies_are_typed_errors() {
        let truncated = &ASSUME_ROLE[..ASSUME_ROLE.len() / 2];
        for (status, body) in [
            (200, "not xml at all"),
            (200, truncated),
            (200, "<html><body>proxy says hi</body></html>"),
            (200, ""),
        ] {
            let e = assume_role(status, body).unwrap_err();
            assert!(
                matches!(e.kind(), StsErrorKind::InvalidResponse { .. }),
                "{e}"
            );
            assert!(!e.to_string().contains("SECRET"), "{e}");
        }
        let e = error(502, "<html>Bad Gateway</html>");
        assert!(matches!(
            e.kind(),
            StsErrorKind::InvalidResponse { status: 502, .. }
        ));
        assert!(e.is_retryable());
    }

    #[test]
    fn a_bad_expiration_names_the_field_but_no_secret() {
        let body = ASSUME_ROLE.replace("2021-09-21T18:41:26Z", "tomorrow");
        let e = assume_role(200, &body).unwrap_err().to_string();
        assert!(e.contains("Expiration"), "{e}");
        assert!(!e.contains("SECRET") && !e.contains("TOKEN"), "{e}");
    }

    #[test]
    fn deeply_nested_xml_is_an_error_not_a_crash() {
        let body = "<a>".repeat(5000) + &"</a>".repeat(5000);
        assert!(assume_role(200, &body).is_err());
    }

    #[test]
    fn nesting_depth_counts_open_elements_only() {
        assert_eq!(
            nesting_depth("<?xml version=\"1.0\"?><a><b/><c>x</c></a>"),
            2
        );
        assert_eq!(nesting_depth(ASSUME_ROLE), 4);
        assert_eq!(nesting_depth("<a><b><c>"), 3);
        assert_eq!(nesting_depth(""), 0);
    }

    #[test]
    fn session_token_and_caller_identity() {
        let body = "<GetSessionTokenResponse><GetSessionTokenResult><Credentials><AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2026-01-01T00:00:00Z</Expiration></Credentials></GetSessionTokenResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></GetSessionTokenResponse>";
        let s = session_token(200, body).unwrap();
        assert_eq!(s.credentials.access_key_id, "ASIA1");
        assert_eq!(s.request_id.as_deref(), Some("r1"));
        let body = "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:sts::123456789012:assumed-role/app/s</Arn><UserId>AROA:s</UserId><Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>";
        let c = caller_identity(200, body).unwrap();
        assert_eq!(c.account, "123456789012");
        assert_eq!(c.arn, "arn:aws:sts::123456789012:assumed-role/app/s");
    }
}
