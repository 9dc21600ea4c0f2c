//! A minimal HTTP/1.1 client for probing the daemon's listeners directly (one request per
//! connection, loopback only), and the IMDSv2 credentials fetch built on it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A raw HTTP/1.1 exchange with a loopback server.
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpAnswer {
    /// A header's value (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `METHOD url` with `headers`, one request per connection; panics on I/O errors.
pub fn http(method: &str, url: &str, headers: &[(&str, &str)]) -> HttpAnswer {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = TcpStream::connect(authority).expect("connect to the daemon");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> HttpAnswer {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .expect("a complete HTTP response");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    HttpAnswer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// The IMDSv2 credentials document of a listener: token PUT, role list, role.
pub fn imds_credentials(url: &str) -> (String, serde_json::Value) {
    let token = http(
        "PUT",
        &format!("{url}/latest/api/token"),
        &[("X-aws-ec2-metadata-token-ttl-seconds", "60")],
    );
    assert_eq!(token.status, 200, "token PUT: {token:?}");
    let auth = [("X-aws-ec2-metadata-token", token.body.as_str())];
    let base = format!("{url}/latest/meta-data/iam/security-credentials/");
    let role = http("GET", &base, &auth);
    assert_eq!(role.status, 200, "role list: {role:?}");
    let doc = http("GET", &format!("{base}{}", role.body), &auth);
    assert_eq!(doc.status, 200, "credentials: status {}", doc.status);
    let json = serde_json::from_str(&doc.body).expect("credentials JSON");
    (role.body, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let answer = parse_response(raw);
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, "abcde");
    }
}
