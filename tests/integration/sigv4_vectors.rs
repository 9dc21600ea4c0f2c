//! The AWS-published SigV4 test suite (botocore's copy, tests/data/sigv4): every case is
//! parsed from its `.req`, signed, and checked stage by stage against `.creq`, `.sts` and
//! `.authz`, both through `sign_headers` (exactly the file's headers) and through `sign`
//! (the signer adds `x-amz-date` and the token itself).

use std::fs;
use std::path::{Path, PathBuf};

use credvend::sigv4::{self, SignableRequest, SigningParams};
use time::PrimitiveDateTime;
use time::macros::format_description;

use crate::support;

const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN_HEADER: &str = "x-amz-security-token";
const DATE_HEADER: &str = "x-amz-date";

/// One case: its name relative to the suite root and the path prefix of its files.
struct Case {
    name: String,
    base: PathBuf,
}

impl Case {
    fn read(&self, ext: &str) -> String {
        let path = self.base.with_extension(ext);
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("case {}: reading {}: {e}", self.name, path.display()));
        text.strip_suffix('\n').unwrap_or(&text).to_owned()
    }
}

/// A case is a folder holding `<folder>.req`; folders without one group further cases.
fn discover(root: &Path, prefix: &str, out: &mut Vec<Case>) {
    let mut dirs: Vec<PathBuf> = fs::read_dir(root)
        .unwrap_or_else(|e| panic!("reading {}: {e}", root.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let leaf = dir
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let name = format!("{prefix}{leaf}");
        let req = dir.join(format!("{leaf}.req"));
        if req.exists() {
            out.push(Case {
                name,
                base: dir.join(&leaf),
            });
        } else {
            discover(&dir, &format!("{name}/"), out);
        }
    }
}

/// A raw HTTP request as the suite writes it.
struct RawRequest {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawRequest {
    /// Parses the request line (the target may hold a raw space), headers (a line starting
    /// with whitespace continues the previous value, keeping the line break for the signer to
    /// fold) and the body after the first empty line.
    fn parse(text: &str) -> Self {
        let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let request_line = lines.next().expect("request line");
        let (method, rest) = request_line.split_once(' ').expect("method");
        let (target, _version) = rest.rsplit_once(' ').expect("http version");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines.by_ref() {
            if line.is_empty() {
                break;
            }
            if line.starts_with([' ', '\t']) {
                let last = headers.last_mut().expect("continuation after a header");
                last.1.push('\n');
                last.1.push_str(line);
            } else {
                let (name, value) = line.split_once(':').expect("header colon");
                headers.push((name.to_owned(), value.to_owned()));
            }
        }
        let body = lines.collect::<Vec<_>>().join("\n").into_bytes();
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers,
            body,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn signable<'a>(&'a self, headers: &'a [(String, String)]) -> SignableRequest<'a> {
        SignableRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers,
            body: &self.body,
        }
    }
}

/// How the case uses a session token, read from its files.
enum Token {
    None,
    /// In the `.req` already: signed as one of the request's headers.
    InRequest(String),
    /// Only in the `.sreq`, given to the signer, which adds and signs it.
    AddedBySigner(String),
    /// Only in the `.sreq`, added after signing (post-sts-token readme: the `-after` case).
    AddedAfter(String),
}

fn token_of(case: &Case, req: &RawRequest) -> Token {
    if let Some(token) = req.header(TOKEN_HEADER) {
        return Token::InRequest(token.to_owned());
    }
    let sreq = RawRequest::parse(&case.read("sreq"));
    match sreq.header(TOKEN_HEADER) {
        None => Token::None,
        Some(token) if case.name.ends_with("-after") => Token::AddedAfter(token.to_owned()),
        Some(token) => Token::AddedBySigner(token.to_owned()),
    }
}

/// Compares each stage, recording a message naming the case, the route and the stage.
fn compare(failures: &mut Vec<String>, case: &Case, route: &str, got: [(&str, String); 3]) {
    for (stage, got) in got {
        let expected = case.read(stage);
        if got != expected {
            failures.push(format!(
                "case {} via {route}: {stage} differs\n--- expected\n{expected}\n--- got\n{got}\n",
                case.name
            ));
        }
    }
}

fn check_case(case: &Case, failures: &mut Vec<String>) {
    let req = RawRequest::parse(&case.read("req"));
    let date = req
        .header(DATE_HEADER)
        .unwrap_or_else(|| panic!("case {}: no X-Amz-Date", case.name));
    let time = PrimitiveDateTime::parse(
        date,
        format_description!("[year][month][day]T[hour][minute][second]Z"),
    )
    .unwrap_or_else(|e| panic!("case {}: bad X-Amz-Date {date}: {e}", case.name))
    .assume_utc();
    let token = token_of(case, &req);
    let mut params = SigningParams {
        access_key_id: ACCESS_KEY_ID,
        secret_access_key: SECRET,
        session_token: None,
        region: "us-east-1",
        service: "service",
        time,
    };

    // Route 1: exactly the file's headers, when they are all the signed ones.
    if !matches!(token, Token::AddedBySigner(_)) {
        let signed = sigv4::sign_headers(&req.signable(&req.headers), &params);
        compare(
            failures,
            case,
            "sign_headers",
            [
                ("creq", signed.canonical_request.to_string()),
                ("sts", signed.string_to_sign.to_string()),
                ("authz", signed.authorization),
            ],
        );
    }

    // Route 2: `sign` adds the date and the token itself.
    let bare: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(n, _)| {
            !n.eq_ignore_ascii_case(DATE_HEADER) && !n.eq_ignore_ascii_case(TOKEN_HEADER)
        })
        .cloned()
        .collect();
    params.session_token = match &token {
        Token::InRequest(t) | Token::AddedBySigner(t) => Some(t),
        Token::None | Token::AddedAfter(_) => None,
    };
    let out = sigv4::sign(&req.signable(&bare), &params);
    let authorization = out
        .headers
        .iter()
        .find(|(n, _)| *n == "authorization")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let added_date = out.headers.iter().find(|(n, _)| *n == DATE_HEADER);
    if added_date.map(|(_, v)| v.as_str()) != Some(date) {
        failures.push(format!(
            "case {} via sign: x-amz-date {added_date:?}, want {date}",
            case.name
        ));
    }
    let added_token = out.headers.iter().any(|(n, _)| *n == TOKEN_HEADER);
    if added_token != params.session_token.is_some() {
        failures.push(format!(
            "case {} via sign: token header added: {added_token}",
            case.name
        ));
    }
    compare(
        failures,
        case,
        "sign",
        [
            ("creq", out.canonical_request.to_string()),
            ("sts", out.string_to_sign.to_string()),
            ("authz", authorization.clone()),
        ],
    );

    // A token added after signing leaves the signature alone: the `.sreq` carries ours.
    if let Token::AddedAfter(token) = &token {
        if out.canonical_request.to_string().contains(token.as_str()) {
            failures.push(format!(
                "case {}: a token added after was signed",
                case.name
            ));
        }
        let sreq = RawRequest::parse(&case.read("sreq"));
        let sent = sreq.header("authorization").map(str::trim);
        if sent != Some(authorization.as_str()) {
            failures.push(format!(
                "case {}: .sreq authorization {sent:?} is not ours {authorization}",
                case.name
            ));
        }
    }
}

#[test]
fn every_official_sigv4_vector_matches_stage_by_stage() {
    let root = support::data("sigv4");
    let mut cases = Vec::new();
    discover(&root, "", &mut cases);
    let count = |prefix: &str| {
        cases
            .iter()
            .filter(|c| match prefix {
                "" => !c.name.contains('/'),
                p => c.name.starts_with(p),
            })
            .count()
    };
    assert_eq!(
        (
            cases.len(),
            count(""),
            count("normalize-path/"),
            count("post-sts-token/")
        ),
        (34, 24, 8, 2),
        "unexpected suite layout: {:?}",
        cases.iter().map(|c| &c.name).collect::<Vec<_>>()
    );

    let mut failures = Vec::new();
    for case in &cases {
        check_case(case, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} stage mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn get_vanilla_has_the_published_signature() {
    let case = Case {
        name: "get-vanilla".into(),
        base: support::data("sigv4/get-vanilla/get-vanilla"),
    };
    let req = RawRequest::parse(&case.read("req"));
    let params = SigningParams {
        access_key_id: ACCESS_KEY_ID,
        secret_access_key: SECRET,
        session_token: None,
        region: "us-east-1",
        service: "service",
        time: time::macros::datetime!(2015-08-30 12:36:00 UTC),
    };
    let signed = sigv4::sign_headers(&req.signable(&req.headers), &params);
    assert_eq!(
        signed.signature,
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
}
