//! Which STS endpoint a profile talks to, and with which signing region.
//!
//! Precedence follows the AWS SDKs' "service-specific endpoints" rules, with credvend's own
//! `sts_endpoint` setting on top: `[aws] sts_endpoint`, `$AWS_ENDPOINT_URL_STS`,
//! `$AWS_ENDPOINT_URL`, the profile's `[services]` sts `endpoint_url`, the profile's
//! `endpoint_url`, then the regional endpoint of the region's partition (or the global one
//! for the legacy regions when `sts_regional_endpoints = legacy`).

use super::{StsError, StsErrorKind};
use crate::profile::{ProfileChain, StsRegionalEndpoints};
use crate::validate;

/// An STS endpoint: base URL plus the region that goes into the signature scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://sts.us-east-1.amazonaws.com`, or an override such as `http://127.0.0.1:5000`.
    pub url: String,
    /// The signing region.
    pub region: String,
}

/// What the resolver needs beyond the profile chain: credvend's own overrides and the region
/// for profiles that name none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overrides<'a> {
    /// `[aws] sts_endpoint`: above everything.
    pub sts_endpoint: Option<&'a str>,
    /// `$AWS_ENDPOINT_URL_STS`, else `$AWS_ENDPOINT_URL`: above the profile's own settings.
    pub env_sts_endpoint: Option<&'a str>,
    /// The region of a profile without `region`.
    pub default_region: &'a str,
}

/// Regions that use `sts.amazonaws.com` in legacy mode (botocore's endpoint rule set).
const LEGACY_GLOBAL_REGIONS: &[&str] = &[
    "ap-northeast-1",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "aws-global",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// The endpoint for `chain` under `overrides`.
pub fn resolve(chain: &ProfileChain, overrides: &Overrides<'_>) -> Result<Endpoint, StsError> {
    let region = chain
        .region
        .clone()
        .unwrap_or_else(|| overrides.default_region.to_owned());
    let bad = |reason: String| StsError::new(StsErrorKind::Request { reason });
    // The region becomes part of a host name and of the signature scope.
    if !validate::is_region_name(&region) {
        return Err(bad(format!(
            "region {region:?} of profile {} is not a region name like us-east-1",
            chain.profile
        )));
    }
    let configured = overrides
        .sts_endpoint
        .or(overrides.env_sts_endpoint)
        .or(chain.endpoint_url.as_deref());
    let url = match configured {
        Some(url) => {
            validate::check_endpoint_url(url)
                .map_err(|e| bad(format!("STS endpoint {url:?} {e}")))?;
            url.trim_end_matches('/').to_owned()
        }
        None => {
            let mode = chain.sts_regional_endpoints.unwrap_or_default();
            if mode == StsRegionalEndpoints::Legacy
                && LEGACY_GLOBAL_REGIONS.contains(&region.as_str())
            {
                return Ok(Endpoint {
                    url: "https://sts.amazonaws.com".into(),
                    region: "us-east-1".into(),
                });
            }
            format!("https://sts.{region}.{}", dns_suffix(&region))
        }
    };
    Ok(Endpoint { url, region })
}

/// The DNS suffix of the partition `region` belongs to.
fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        // aws and aws-us-gov share the suffix (sts.us-gov-west-1.amazonaws.com).
        "amazonaws.com"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{BaseCredentials, Location};

    fn chain(
        region: Option<&str>,
        mode: Option<StsRegionalEndpoints>,
        url: Option<&str>,
    ) -> ProfileChain {
        ProfileChain {
            profile: "p".into(),
            base: BaseCredentials::Environment {
                profile: "p".into(),
                location: Location {
                    file: "config".into(),
                    line: 1,
                },
            },
            hops: vec![],
            region: region.map(Into::into),
            sts_regional_endpoints: mode,
            endpoint_url: url.map(Into::into),
            mfa: None,
        }
    }

    fn aws<'a>(region: &'a str, sts: Option<&'a str>, env: Option<&'a str>) -> Overrides<'a> {
        Overrides {
            sts_endpoint: sts,
            env_sts_endpoint: env,
            default_region: region,
        }
    }

    fn url(chain: &ProfileChain, aws: &Overrides<'_>) -> (String, String) {
        let e = resolve(chain, aws).unwrap();
        (e.url, e.region)
    }

    #[test]
    fn regional_endpoints_by_partition() {
        let a = aws("us-east-1", None, None);
        let cases = [
            ("eu-west-1", "https://sts.eu-west-1.amazonaws.com"),
            ("cn-north-1", "https://sts.cn-north-1.amazonaws.com.cn"),
            ("us-gov-west-1", "https://sts.us-gov-west-1.amazonaws.com"),
        ];
        for (region, want) in cases {
            assert_eq!(
                url(&chain(Some(region), None, None), &a),
                (want.into(), region.into())
            );
        }
        assert_eq!(
            url(&chain(None, None, None), &a).0,
            "https://sts.us-east-1.amazonaws.com"
        );
    }

    #[test]
    fn legacy_mode_uses_the_global_endpoint_only_for_legacy_regions() {
        let a = aws("us-east-1", None, None);
        let legacy = Some(StsRegionalEndpoints::Legacy);
        assert_eq!(
            url(&chain(Some("eu-west-1"), legacy, None), &a),
            ("https://sts.amazonaws.com".into(), "us-east-1".into())
        );
        assert_eq!(
            url(&chain(Some("af-south-1"), legacy, None), &a).0,
            "https://sts.af-south-1.amazonaws.com"
        );
    }

    #[test]
    fn overrides_win_in_order_and_keep_the_signing_region() {
        let c = chain(Some("eu-west-1"), None, Some("https://profile.example"));
        assert_eq!(url(&c, &aws("x", None, None)).0, "https://profile.example");
        assert_eq!(
            url(&c, &aws("x", None, Some("http://127.0.0.1:5000/"))).0,
            "http://127.0.0.1:5000"
        );
        let both = aws(
            "x",
            Some("https://config.example"),
            Some("http://127.0.0.1:5000"),
        );
        assert_eq!(
            url(&c, &both),
            ("https://config.example".into(), "eu-west-1".into())
        );
    }

    #[test]
    fn a_region_that_is_not_a_region_name_is_refused() {
        for bad in ["us-east-1/evil", "x.y", "", "a b"] {
            let err =
                resolve(&chain(Some(bad), None, None), &aws("us-east-1", None, None)).unwrap_err();
            assert!(err.to_string().contains("not a region name"), "{err}");
        }
    }

    #[test]
    fn plain_http_only_to_loopback() {
        let c = chain(None, None, None);
        for ok in [
            "http://127.0.0.1:5000",
            "http://localhost:1",
            "http://[::1]:80",
            "https://sts.example",
        ] {
            assert!(
                resolve(&c, &aws("us-east-1", Some(ok), None)).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "http://10.0.0.1",
            "http://sts.amazonaws.com",
            "ftp://x",
            "sts.amazonaws.com",
            "http://",
        ] {
            assert!(
                resolve(&c, &aws("us-east-1", Some(bad), None)).is_err(),
                "{bad}"
            );
        }
    }
}
