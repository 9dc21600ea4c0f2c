//! The credential scope and the string to sign.

use std::fmt;

/// The algorithm name, first line of the string to sign and of the `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// `datestamp/region/service/aws4_request`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// `YYYYMMDD`.
    pub datestamp: String,
    /// The signing region.
    pub region: String,
    /// The signing name of the service.
    pub service: String,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/aws4_request",
            self.datestamp, self.region, self.service
        )
    }
}

/// `AWS4-HMAC-SHA256\n<amzdate>\n<scope>\n<hex sha256 of the canonical request>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StringToSign {
    /// `YYYYMMDDTHHMMSSZ`.
    pub amz_date: String,
    /// The credential scope.
    pub scope: Scope,
    /// Hex SHA-256 of the canonical request text.
    pub canonical_request_hash: String,
}

impl fmt::Display for StringToSign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ALGORITHM}\n{}\n{}\n{}",
            self.amz_date, self.scope, self.canonical_request_hash
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            datestamp: "20150830".into(),
            region: "us-east-1".into(),
            service: "sts".into(),
        }
    }

    #[test]
    fn the_scope_joins_date_region_service_and_terminator() {
        assert_eq!(scope().to_string(), "20150830/us-east-1/sts/aws4_request");
    }

    #[test]
    fn the_string_to_sign_has_four_lines_without_a_trailing_newline() {
        let sts = StringToSign {
            amz_date: "20150830T123600Z".into(),
            scope: scope(),
            canonical_request_hash: "abc".into(),
        };
        assert_eq!(
            sts.to_string(),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/sts/aws4_request\nabc"
        );
    }
}
