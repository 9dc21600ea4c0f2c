//! AWS Signature Version 4, as pure functions: no clock, no I/O, no environment.
//!
//! The stages (canonical request, string to sign, signing key, signature) are separate and
//! each prints the exact spec text, so tests can check them one by one against the official
//! suite. See <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>.

use time::OffsetDateTime;

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
}

impl std::fmt::Debug for SigningOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The signature is not a secret, but the token among the headers is.
        f.debug_struct("SigningOutput")
            .field("signature", &self.signature)
            .finish_non_exhaustive()
    }
}

/// Signs `request`: the headers to add (see [`SigningOutput`]).
#[must_use]
pub fn sign(request: &SignableRequest<'_>, params: &SigningParams<'_>) -> SigningOutput {
    let _ = (request, params);
    unimplemented!("sigv4::sign lands with the signer")
}
