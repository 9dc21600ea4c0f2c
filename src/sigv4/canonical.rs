//! The canonical request: method, canonical URI, canonical query, canonical headers, signed
//! headers and payload hash, each built by a pure function and printed as the spec text.

use std::collections::BTreeMap;
use std::fmt;

use super::encode::{percent_decode, percent_encode};
use super::key::hex_sha256;

/// The canonical request of SigV4. Header values may include the session token, so `Debug`
/// shows only the header names; `Display` is the exact spec text (never log it).
#[derive(Clone, PartialEq, Eq)]
pub struct CanonicalRequest {
    /// The HTTP method as sent.
    pub method: String,
    /// The normalized, encoded path.
    pub uri: String,
    /// The sorted, encoded query.
    pub query: String,
    /// `(lowercase name, canonical value)`, sorted by name, repeated headers joined.
    pub headers: Vec<(String, String)>,
    /// The signed header names joined by `;`.
    pub signed_headers: String,
    /// Hex SHA-256 of the body.
    pub payload_hash: String,
}

impl CanonicalRequest {
    /// Builds the canonical request of `method path?query` with exactly `headers` signed.
    #[must_use]
    pub fn new(
        method: &str,
        path: &str,
        query: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Self {
        let headers = canonical_headers(headers);
        let signed_headers = signed_headers(&headers);
        Self {
            method: method.to_owned(),
            uri: canonical_uri(path),
            query: canonical_query(query),
            headers,
            signed_headers,
            payload_hash: hex_sha256(body),
        }
    }
}

impl fmt::Display for CanonicalRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.method)?;
        writeln!(f, "{}", self.uri)?;
        writeln!(f, "{}", self.query)?;
        for (name, value) in &self.headers {
            writeln!(f, "{name}:{value}")?;
        }
        writeln!(f)?;
        writeln!(f, "{}", self.signed_headers)?;
        write!(f, "{}", self.payload_hash)
    }
}

impl fmt::Debug for CanonicalRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanonicalRequest")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("query", &self.query)
            .field("signed_headers", &self.signed_headers)
            .field("payload_hash", &self.payload_hash)
            .finish_non_exhaustive()
    }
}

/// Removes `.` and `..` segments (RFC 3986 section 5.2.4) and empty segments (AWS collapses
/// `//`), for services other than S3. A path ending in `/`, `/.` or `/..` keeps a trailing `/`
/// as RFC 3986 says, unless nothing is left but the root.
#[must_use]
pub fn normalize_path(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut last = "";
    for segment in path.split('/') {
        last = segment;
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            other => kept.push(other),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    out.push('/');
    out.push_str(&kept.join("/"));
    if !kept.is_empty() && matches!(last, "" | "." | "..") {
        out.push('/');
    }
    out
}

/// The canonical URI: the normalized path with each segment percent-encoded. The path is
/// taken as sent, so an already-encoded path is encoded again (`%3D` → `%253D`), as AWS does
/// for every service but S3.
#[must_use]
pub fn canonical_uri(path: &str) -> String {
    percent_encode(normalize_path(path).as_bytes(), true)
}

/// The canonical query: each name and value decoded from the wire form, re-encoded with only
/// `-_.~` unreserved, sorted by encoded name then value, `name=` for a missing value. `+` is a
/// literal plus (RFC 3986), not a space. Empty pieces (`a&&b`, a trailing `&`) are skipped.
#[must_use]
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_encode(&percent_decode(name), false),
                percent_encode(&percent_decode(value), false),
            )
        })
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(query.len());
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// Trims a header value and collapses each inner run of whitespace (including the line breaks
/// of a folded header) to one space.
#[must_use]
pub fn canonical_header_value(value: &str) -> String {
    value
        .split([' ', '\t', '\r', '\n'])
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Lowercases names, canonicalizes values, joins repeated headers with `,` in their order,
/// and sorts by name.
#[must_use]
pub fn canonical_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut grouped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        grouped
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(canonical_header_value(value));
    }
    grouped
        .into_iter()
        .map(|(name, values)| (name, values.join(",")))
        .collect()
}

/// The signed header names (already lowercase and sorted) joined by `;`.
#[must_use]
pub fn signed_headers(canonical: &[(String, String)]) -> String {
    canonical
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn dot_segments_and_empty_segments_are_removed() {
        assert_eq!(normalize_path("/a/./b//c/../d"), "/a/b/d");
        assert_eq!(normalize_path("/../.."), "/");
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("//"), "/");
        assert_eq!(normalize_path("/a//"), "/a/");
    }

    #[test]
    fn a_trailing_dot_segment_leaves_a_trailing_slash_as_rfc_3986_says() {
        // botocore drops the slash here (`/a`); see the report in the botocore test.
        assert_eq!(normalize_path("/a/b/.."), "/a/");
        assert_eq!(normalize_path("/a/."), "/a/");
        assert_eq!(normalize_path("/a/.."), "/");
    }

    #[test]
    fn a_path_without_leading_slash_is_made_absolute() {
        assert_eq!(normalize_path("a/b"), "/a/b");
    }

    #[test]
    fn the_canonical_uri_encodes_segments_and_double_encodes_escapes() {
        assert_eq!(canonical_uri("/a b/$x/%3D"), "/a%20b/%24x/%253D");
    }

    #[test]
    fn the_query_is_re_encoded_and_sorted_by_name_then_value() {
        assert_eq!(
            canonical_query("b=2&a=z&a=y&c&%e1%88%b4=x y"),
            "%E1%88%B4=x%20y&a=y&a=z&b=2&c="
        );
    }

    #[test]
    fn the_query_keeps_plus_literal_and_splits_only_the_first_equals() {
        assert_eq!(canonical_query("a=b=c+d"), "a=b%3Dc%2Bd");
    }

    #[test]
    fn empty_query_pieces_are_no_parameter_but_a_lone_equals_is() {
        // botocore's URL route would sign each empty piece as `=` (see the botocore test).
        assert_eq!(canonical_query("b=2&&a=1&"), "a=1&b=2");
        assert_eq!(canonical_query("=&a"), "=&a=");
    }

    #[test]
    fn an_empty_query_stays_empty() {
        assert_eq!(canonical_query(""), "");
    }

    #[test]
    fn header_values_are_trimmed_and_inner_runs_collapsed() {
        assert_eq!(canonical_header_value("  a \t b\n   c  "), "a b c");
        assert_eq!(canonical_header_value("   "), "");
    }

    #[test]
    fn repeated_headers_join_in_order_and_names_sort_lowercase() {
        let canonical = canonical_headers(&headers(&[("X-B", "2"), ("Host", "h"), ("x-b", " 1 ")]));
        assert_eq!(canonical, headers(&[("host", "h"), ("x-b", "2,1")]));
        assert_eq!(signed_headers(&canonical), "host;x-b");
    }

    #[test]
    fn the_canonical_request_prints_the_spec_layout() {
        let cr = CanonicalRequest::new("GET", "/", "", &headers(&[("Host", "h")]), b"");
        assert_eq!(
            cr.to_string(),
            "GET\n/\n\nhost:h\n\nhost\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn debug_hides_header_values() {
        let cr = CanonicalRequest::new(
            "GET",
            "/",
            "",
            &headers(&[("x-amz-security-token", "TOKENVALUE")]),
            b"",
        );
        assert!(!format!("{cr:?}").contains("TOKENVALUE"));
    }
}
