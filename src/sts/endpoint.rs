//! Which STS endpoint a profile talks to, and with which signing region.

/// An STS endpoint: base URL plus the region that goes into the signature scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://sts.us-east-1.amazonaws.com`, or an override such as `http://127.0.0.1:5000`.
    pub url: String,
    /// The signing region.
    pub region: String,
}
