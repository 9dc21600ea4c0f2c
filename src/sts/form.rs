//! STS Query-protocol request bodies: `Action=…&Version=2011-06-15&…`, form-encoded.

use super::{AssumeRoleParams, GetSessionTokenParams};

/// The STS API version every request names.
const API_VERSION: &str = "2011-06-15";

/// A form body under construction; values are percent-encoded as RFC 3986 requires.
struct Form(String);

impl Form {
    fn new(action: &str) -> Self {
        let mut form = Self(String::new());
        form.push("Action", action);
        form.push("Version", API_VERSION);
        form
    }

    fn push(&mut self, key: &str, value: &str) {
        if !self.0.is_empty() {
            self.0.push('&');
        }
        encode_into(&mut self.0, key);
        self.0.push('=');
        encode_into(&mut self.0, value);
    }

    fn push_opt(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.push(key, value);
        }
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (space is `%20`, never `+`).
fn encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// The body of an `AssumeRole` call.
pub(super) fn assume_role(p: &AssumeRoleParams) -> String {
    let mut form = Form::new("AssumeRole");
    form.push("RoleArn", &p.role_arn);
    form.push("RoleSessionName", &p.role_session_name);
    form.push_opt(
        "DurationSeconds",
        p.duration_seconds.map(|d| d.to_string()).as_deref(),
    );
    form.push_opt("ExternalId", p.external_id.as_deref());
    form.push_opt("SerialNumber", p.serial_number.as_deref());
    form.push_opt("TokenCode", p.token_code.as_ref().map(|t| t.expose()));
    form.push_opt("Policy", p.policy.as_deref());
    for (i, (key, value)) in p.tags.iter().enumerate() {
        // Query-protocol lists are 1-based `Name.member.N`.
        form.push(&format!("Tags.member.{}.Key", i + 1), key);
        form.push(&format!("Tags.member.{}.Value", i + 1), value);
    }
    form.push_opt("SourceIdentity", p.source_identity.as_deref());
    form.0
}

/// The body of a `GetSessionToken` call.
pub(super) fn get_session_token(p: &GetSessionTokenParams) -> String {
    let mut form = Form::new("GetSessionToken");
    form.push_opt(
        "DurationSeconds",
        p.duration_seconds.map(|d| d.to_string()).as_deref(),
    );
    form.push_opt("SerialNumber", p.serial_number.as_deref());
    form.push_opt("TokenCode", p.token_code.as_ref().map(|t| t.expose()));
    form.0
}

/// The body of a `GetCallerIdentity` call.
pub(super) fn get_caller_identity() -> String {
    Form::new("GetCallerIdentity").0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn assume_role_body_encodes_every_parameter() {
        let p = AssumeRoleParams {
            role_arn: "arn:aws:iam::123456789012:role/app".into(),
            role_session_name: "me@example.com=x".into(),
            duration_seconds: Some(3600),
            external_id: Some("ext+id/with=special:chars".into()),
            serial_number: Some("arn:aws:iam::123456789012:mfa/me".into()),
            token_code: Some(Secret::new("123456")),
            policy: Some(r#"{"Version":"2012-10-17"}"#.into()),
            tags: vec![("team".into(), "a b".into()), ("env".into(), "".into())],
            source_identity: Some("alice".into()),
        };
        assert_eq!(
            assume_role(&p),
            "Action=AssumeRole&Version=2011-06-15\
             &RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fapp\
             &RoleSessionName=me%40example.com%3Dx&DurationSeconds=3600\
             &ExternalId=ext%2Bid%2Fwith%3Dspecial%3Achars\
             &SerialNumber=arn%3Aaws%3Aiam%3A%3A123456789012%3Amfa%2Fme&TokenCode=123456\
             &Policy=%7B%22Version%22%3A%222012-10-17%22%7D\
             &Tags.member.1.Key=team&Tags.member.1.Value=a%20b\
             &Tags.member.2.Key=env&Tags.member.2.Value=&SourceIdentity=alice"
        );
    }

    #[test]
    fn optional_parameters_are_left_out() {
        let p = AssumeRoleParams {
            role_arn: "r".into(),
            role_session_name: "s".into(),
            ..Default::default()
        };
        assert_eq!(
            assume_role(&p),
            "Action=AssumeRole&Version=2011-06-15&RoleArn=r&RoleSessionName=s"
        );
        assert_eq!(
            get_session_token(&GetSessionTokenParams::default()),
            "Action=GetSessionToken&Version=2011-06-15"
        );
        assert_eq!(
            get_caller_identity(),
            "Action=GetCallerIdentity&Version=2011-06-15"
        );
    }

    #[test]
    fn multibyte_characters_are_encoded_per_byte() {
        let mut out = String::new();
        encode_into(&mut out, "é ~");
        assert_eq!(out, "%C3%A9%20~");
    }
}
