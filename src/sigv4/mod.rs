//! AWS Signature Version 4, as pure functions: no clock, no I/O, no environment.
//!
//! The stages (canonical request, string to sign, signing key, signature) are separate and
//! each prints the exact spec text, so tests can check them one by one against the official
//! suite. See <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>.

pub mod canonical;
pub mod encode;
pub mod key;
pub mod string_to_sign;

use time::{OffsetDateTime, UtcOffset};

pub use canonical::CanonicalRequest;
pub use key::SigningKey;
pub use string_to_sign::{ALGORITHM, Scope, StringToSign};

/// The parts of an HTTP request that SigV4 covers.
#[derive(Clone, Copy, Debug)]
pub struct SignableRequest<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The path as sent on the wire (percent-encoded as the client sends it), e.g. `/`.
    pub path: &'a str,
    /// The raw query string without `?`; empty when there is none.
    pub query: &'a str,
    /// Headers to sign, in order, names in any case. Must include `host`.
    pub headers: &'a [(String, String)],
    /// The body.
    pub body: &'a [u8],
}

/// Who signs, for what, and when.
#[derive(Clone, Copy)]
pub struct SigningParams<'a> {
    /// The access key id.
    pub access_key_id: &'a str,
    /// The secret access key.
    pub secret_access_key: &'a str,
    /// A session token: added as `x-amz-security-token` and signed.
    pub session_token: Option<&'a str>,
    /// The signing region, e.g. `us-east-1`.
    pub region: &'a str,
    /// The signing name of the service, e.g. `sts`.
    pub service: &'a str,
    /// The signing time.
    pub time: OffsetDateTime,
}

impl std::fmt::Debug for SigningParams<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningParams")
            .field(
                "access_key_id",
                &crate::secret::mask_key_id(self.access_key_id),
            )
            .field("region", &self.region)
            .field("service", &self.service)
            .field("time", &self.time)
            .finish_non_exhaustive()
    }
}

/// Headers to add to the request: `x-amz-date`, `x-amz-security-token` (when a session token
/// is used) and `authorization`.
#[derive(Clone)]
pub struct SigningOutput {
    /// `(lowercase name, value)` pairs to add, in this order.
    pub headers: Vec<(&'static str, String)>,
    /// The hex signature.
    pub signature: String,
    /// The canonical request that was signed (its text holds the token: never log it).
    pub canonical_request: CanonicalRequest,
    /// The string to sign.
    pub string_to_sign: StringToSign,
}

impl std::fmt::Debug for SigningOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The signature is not a secret, but the token among the headers is.
        f.debug_struct("SigningOutput")
            .field("signature", &self.signature)
            .finish_non_exhaustive()
    }
}

/// Every stage of one signature, for the lower-level [`sign_headers`].
#[derive(Clone, Debug)]
pub struct Signed {
    /// The canonical request.
    pub canonical_request: CanonicalRequest,
    /// The string to sign.
    pub string_to_sign: StringToSign,
    /// The hex signature.
    pub signature: String,
    /// The `Authorization` header value.
    pub authorization: String,
}

/// Headers that [`sign`] sets itself, so any the caller passes are replaced, as botocore does
/// (a retry may carry the previous attempt's).
const SIGNER_HEADERS: [&str; 3] = ["x-amz-date", "x-amz-security-token", "authorization"];

/// `time` in UTC as `YYYYMMDDTHHMMSSZ`, the `x-amz-date` form.
#[must_use]
pub fn amz_date(time: OffsetDateTime) -> String {
    let t = time.to_offset(UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Signs exactly `request.headers`, adding nothing: the caller must already have put
/// `x-amz-date` (matching `params.time`) and any token header among them.
/// `params.session_token` is ignored here.
#[must_use]
pub fn sign_headers(request: &SignableRequest<'_>, params: &SigningParams<'_>) -> Signed {
    let canonical_request = CanonicalRequest::new(
        request.method,
        request.path,
        request.query,
        request.headers,
        request.body,
    );
    let amz_date = amz_date(params.time);
    let scope = Scope {
        datestamp: amz_date[..8].to_owned(),
        region: params.region.to_owned(),
        service: params.service.to_owned(),
    };
    let string_to_sign = StringToSign {
        amz_date,
        scope,
        canonical_request_hash: key::hex_sha256(canonical_request.to_string().as_bytes()),
    };
    let signing_key = SigningKey::derive(
        params.secret_access_key,
        &string_to_sign.scope.datestamp,
        params.region,
        params.service,
    );
    let signature = signing_key.sign(&string_to_sign.to_string());
    let authorization = format!(
        "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={signature}",
        params.access_key_id, string_to_sign.scope, canonical_request.signed_headers
    );
    Signed {
        canonical_request,
        string_to_sign,
        signature,
        authorization,
    }
}

/// Signs `request`: the headers to add (see [`SigningOutput`]). `x-amz-date` (from
/// `params.time`) and, with a session token, `x-amz-security-token` are added to the given
/// headers and signed; caller-supplied copies of those two and of `authorization` are dropped.
#[must_use]
pub fn sign(request: &SignableRequest<'_>, params: &SigningParams<'_>) -> SigningOutput {
    let date = amz_date(params.time);
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .filter(|(name, _)| !SIGNER_HEADERS.iter().any(|s| name.eq_ignore_ascii_case(s)))
        .cloned()
        .collect();
    headers.push(("x-amz-date".to_owned(), date.clone()));
    if let Some(token) = params.session_token {
        headers.push(("x-amz-security-token".to_owned(), token.to_owned()));
    }
    let signed = sign_headers(
        &SignableRequest {
            headers: &headers,
            ..*request
        },
        params,
    );
    let mut out = vec![("x-amz-date", date)];
    if let Some(token) = params.session_token {
        out.push(("x-amz-security-token", token.to_owned()));
    }
    out.push(("authorization", signed.authorization));
    SigningOutput {
        headers: out,
        signature: signed.signature,
        canonical_request: signed.canonical_request,
        string_to_sign: signed.string_to_sign,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const TOKEN: &str = "FQoGZXIvYXdzEXAMPLETOKEN/+=";
    const BODY: &[u8] =
        b"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdemo\
&RoleSessionName=credvend&Version=2011-06-15";

    fn assume_role_headers() -> Vec<(String, String)> {
        vec![
            ("host".into(), "sts.us-east-1.amazonaws.com".into()),
            (
                "content-type".into(),
                "application/x-www-form-urlencoded; charset=utf-8".into(),
            ),
        ]
    }

    fn params(token: Option<&str>) -> SigningParams<'_> {
        SigningParams {
            access_key_id: "AKIDEXAMPLE",
            secret_access_key: SECRET,
            session_token: token,
            region: "us-east-1",
            service: "sts",
            time: datetime!(2026-11-22 10:30:00 UTC),
        }
    }

    fn sign_assume_role(headers: &[(String, String)], token: Option<&str>) -> SigningOutput {
        let request = SignableRequest {
            method: "POST",
            path: "/",
            query: "",
            headers,
            body: BODY,
        };
        sign(&request, &params(token))
    }

    #[test]
    fn an_assume_role_request_signs_the_token_and_matches_botocore() {
        let out = sign_assume_role(&assume_role_headers(), Some(TOKEN));
        let names: Vec<_> = out.headers.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            ["x-amz-date", "x-amz-security-token", "authorization"]
        );
        assert_eq!(out.headers[0].1, "20261122T103000Z");
        assert_eq!(out.headers[1].1, TOKEN);
        // Computed once with botocore 1.44.5 SigV4Auth on the same inputs.
        assert_eq!(
            out.headers[2].1,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/sts/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, \
             Signature=38c905ccf7bab638e91c8c948aae0bc46780a6f390d57befc515095e43677f40"
        );
        assert!(
            out.canonical_request
                .to_string()
                .contains(&format!("x-amz-security-token:{TOKEN}\n"))
        );
        assert_eq!(out.canonical_request.uri, "/");
        assert_eq!(out.canonical_request.query, "");
    }

    #[test]
    fn signing_is_stable_and_depends_on_the_token() {
        let first = sign_assume_role(&assume_role_headers(), Some(TOKEN));
        let again = sign_assume_role(&assume_role_headers(), Some(TOKEN));
        let other = sign_assume_role(&assume_role_headers(), Some("another-token"));
        let none = sign_assume_role(&assume_role_headers(), None);
        assert_eq!(first.signature, again.signature);
        assert_ne!(first.signature, other.signature);
        assert_ne!(first.signature, none.signature);
        assert_eq!(none.headers.len(), 2);
        assert!(
            none.headers[1]
                .1
                .contains("SignedHeaders=content-type;host;x-amz-date,")
        );
    }

    #[test]
    fn caller_copies_of_signer_headers_are_replaced() {
        let mut headers = assume_role_headers();
        headers.push(("X-Amz-Date".into(), "19990101T000000Z".into()));
        headers.push(("Authorization".into(), "stale".into()));
        headers.push(("X-Amz-Security-Token".into(), "stale-token".into()));
        let out = sign_assume_role(&headers, Some(TOKEN));
        let clean = sign_assume_role(&assume_role_headers(), Some(TOKEN));
        assert_eq!(out.signature, clean.signature);
    }

    #[test]
    fn sign_headers_signs_exactly_the_given_headers() {
        let mut headers = assume_role_headers();
        headers.push(("x-amz-date".into(), "20261122T103000Z".into()));
        let request = SignableRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: BODY,
        };
        let signed = sign_headers(&request, &params(Some(TOKEN)));
        assert_eq!(
            signed.canonical_request.signed_headers,
            "content-type;host;x-amz-date"
        );
        assert_eq!(
            signed.signature,
            sign_assume_role(&assume_role_headers(), None).signature
        );
    }

    #[test]
    fn the_amz_date_is_utc() {
        let t = datetime!(2015-08-30 14:36:00 +02:00);
        assert_eq!(amz_date(t), "20150830T123600Z");
    }

    #[test]
    fn debug_output_shows_no_secret_or_token() {
        let out = sign_assume_role(&assume_role_headers(), Some(TOKEN));
        let shown = format!("{out:?} {:?}", params(Some(TOKEN)));
        assert!(!shown.contains(TOKEN));
        assert!(!shown.contains(SECRET));
    }
}
