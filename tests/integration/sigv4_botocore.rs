//! Differential test: hundreds of generated requests signed by credvend and by botocore's own
//! `SigV4Auth` (tests/peers/botocore_sign.py, one Python process) must get identical
//! `Authorization` headers.
//!
//! The generator stays where the spec is defined and botocore follows it. One class is left
//! out on purpose: a path whose last segment is `.` or `..` with something left before it
//! (`/a/b/..`). RFC 3986 section 5.2.4, which the SigV4 docs cite, gives `/a/`; botocore's
//! `remove_dot_segments` gives `/a` (it keeps a trailing slash only when the raw path ends in
//! `/`). credvend follows the RFC; src/sigv4/canonical.rs pins it in a unit test. Paths the
//! generator ends with a dot segment get a trailing `/`, where both agree.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use credvend::sigv4::{self, SignableRequest, SigningParams};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::support;

const CASES: usize = 600;

/// splitmix64: small, seeded, the same sequence on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).expect("n fits")).expect("fits")
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }

    fn string(&mut self, alphabet: &[&str], min: usize, max: usize) -> String {
        let len = min + self.below(max - min + 1);
        (0..len).map(|_| self.pick(alphabet)).collect()
    }
}

const UNRESERVED: &[&str] = &["a", "z", "A", "Z", "0", "9", "m", "Q", "-", "_", ".", "~"];
const RESERVED: &[&str] = &[
    "!", "$", "&", "'", "(", ")", "*", "+", ",", ";", "=", ":", "@", "[", "]",
];
const EXOTIC: &[&str] = &[
    " ",
    "é",
    "ሴ",
    "😀",
    "%",
    "%2F",
    "%3D",
    "%20",
    "%e1%88%b4",
    "\"",
    "<",
    "|",
];
const BASE64: &[&str] = &[
    "A", "B", "K", "Z", "a", "q", "z", "0", "5", "9", "+", "/", "=",
];

fn text_alphabet() -> Vec<&'static str> {
    [UNRESERVED, RESERVED, EXOTIC].concat()
}

fn gen_path(rng: &mut Rng) -> String {
    let alphabet = text_alphabet();
    let mut path = String::new();
    for _ in 0..rng.below(6) {
        path.push('/');
        let segment = match rng.below(10) {
            0 => String::new(),
            1 => ".".to_owned(),
            2 => "..".to_owned(),
            _ => rng.string(&alphabet, 1, 8),
        };
        path.push_str(&segment);
    }
    // Keep out of the one class where botocore departs from RFC 3986 (module docs).
    if path.ends_with("/.") || path.ends_with("/..") || rng.chance(20) {
        path.push('/');
    }
    if path.is_empty() {
        path.push('/');
    }
    path
}

/// Wire form of one query name or value: characters that would change the split are always
/// escaped, the rest randomly raw or escaped (in either hex case).
fn wire_encode(rng: &mut Rng, decoded: &str) -> String {
    let mut out = String::new();
    for c in decoded.chars() {
        let must = matches!(c, '&' | '=' | '%' | '#');
        let unreserved = c.is_ascii_alphanumeric() || "-_.~".contains(c);
        if must || (!unreserved && rng.chance(60)) {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                if rng.chance(50) {
                    out.push_str(&format!("%{b:02X}"));
                } else {
                    out.push_str(&format!("%{b:02x}"));
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Decoded pairs for botocore and the wire query for credvend.
fn gen_query(rng: &mut Rng) -> (Vec<(String, String)>, String) {
    let alphabet: Vec<&str> = [UNRESERVED, RESERVED, EXOTIC, &["+", "/", "?"]]
        .concat()
        .into_iter()
        .filter(|s| !s.starts_with('%') || *s == "%")
        .collect();
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut wire = Vec::new();
    for _ in 0..rng.below(6) {
        let name = if !pairs.is_empty() && rng.chance(25) {
            pairs[rng.below(pairs.len())].0.clone()
        } else {
            let min = usize::from(!rng.chance(3));
            rng.string(&alphabet, min, 6)
        };
        let value = if rng.chance(20) {
            String::new()
        } else {
            rng.string(&alphabet, 1, 8)
        };
        let encoded_name = wire_encode(rng, &name);
        // `name` alone means an empty value, but an empty name alone is an empty piece
        // (`a&&b`), which is no parameter (module docs), so that pair is always `=`.
        if value.is_empty() && !name.is_empty() && rng.chance(50) {
            wire.push(encoded_name);
        } else {
            wire.push(format!("{encoded_name}={}", wire_encode(rng, &value)));
        }
        pairs.push((name, value));
    }
    (pairs, wire.join("&"))
}

fn mixed_case(rng: &mut Rng, name: &str) -> String {
    name.chars()
        .map(|c| {
            if rng.chance(40) {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

fn gen_headers(rng: &mut Rng) -> Vec<(String, String)> {
    const NAMES: &[&str] = &[
        "content-type",
        "x-amz-target",
        "x-custom",
        "x-amz-meta-a",
        "accept",
        "x-a-b-c",
        "content-md5",
        "x-amz-user-agent",
        "cache-control",
        "x-z9",
    ];
    // Printable ASCII and whitespace runs; botocore folds any Unicode whitespace, HTTP values
    // hold bytes, so values stay ASCII.
    let value_chars: Vec<String> = (0x21u8..=0x7e).map(|b| char::from(b).to_string()).collect();
    let mut value_alphabet: Vec<&str> = value_chars.iter().map(String::as_str).collect();
    value_alphabet.extend([" ", " ", "  ", "\t", " \t  "]);
    let mut headers = vec![(
        mixed_case(rng, "host"),
        rng.pick(&[
            "example.amazonaws.com",
            "sts.us-east-1.amazonaws.com",
            "127.0.0.1:8080",
        ])
        .to_owned(),
    )];
    for _ in 0..rng.below(6) {
        let base = rng.pick(NAMES);
        let name = mixed_case(rng, base);
        let value = rng.string(&value_alphabet, 0, 20);
        headers.push((name, value));
    }
    // Headers keep their relative order; shuffle host among them.
    let at = rng.below(headers.len());
    headers.swap(0, at);
    headers
}

fn gen_body(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => String::new(),
        1 => rng.string(&["a", "b", " ", "=", "&", "Action", "%3A", "\n"], 1, 40),
        2 => (0..rng.below(64))
            .map(|_| char::from(u8::try_from(rng.below(128)).expect("ascii")))
            .collect(),
        _ => rng.string(&text_alphabet(), 1, 30),
    }
}

fn gen_case(rng: &mut Rng) -> Value {
    let (params, query) = gen_query(rng);
    let seconds = 946_684_800 + i64::try_from(rng.next() % 3_155_760_000).expect("fits");
    let time = OffsetDateTime::from_unix_timestamp(seconds).expect("valid time");
    json!({
        "method": rng.pick(&["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"]),
        "path": gen_path(rng),
        "query": query,
        "params": params,
        "headers": gen_headers(rng),
        "body": gen_body(rng),
        "access_key": format!("AKIA{}", rng.string(&["A", "B", "Q", "7", "2", "Z"], 16, 16)),
        "secret_key": rng.string(BASE64, 40, 40),
        "token": if rng.chance(50) { Some(rng.string(BASE64, 16, 300)) } else { None },
        "region": rng.pick(&["us-east-1", "eu-west-3", "ap-southeast-2", "cn-north-1", "us-gov-west-1"]),
        "service": rng.pick(&["sts", "service", "iam", "execute-api", "ec2"]),
        "amz_date": sigv4::amz_date(time),
        "unix": seconds,
    })
}

fn str_of<'a>(case: &'a Value, key: &str) -> &'a str {
    case[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a string"))
}

fn credvend_sign(case: &Value) -> sigv4::SigningOutput {
    let headers: Vec<(String, String)> = case["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .map(|h| {
            (
                h[0].as_str().expect("n").to_owned(),
                h[1].as_str().expect("v").to_owned(),
            )
        })
        .collect();
    let request = SignableRequest {
        method: str_of(case, "method"),
        path: str_of(case, "path"),
        query: str_of(case, "query"),
        headers: &headers,
        body: str_of(case, "body").as_bytes(),
    };
    let params = SigningParams {
        access_key_id: str_of(case, "access_key"),
        secret_access_key: str_of(case, "secret_key"),
        session_token: case["token"].as_str(),
        region: str_of(case, "region"),
        service: str_of(case, "service"),
        time: OffsetDateTime::from_unix_timestamp(case["unix"].as_i64().expect("unix"))
            .expect("time"),
    };
    sigv4::sign(&request, &params)
}

/// Runs the peer once over all cases: one output line per input line.
fn botocore_sign(python: &std::path::Path, cases: &[Value]) -> Vec<Value> {
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/botocore_sign.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the botocore peer");
    let mut stdin = child.stdin.take().expect("stdin");
    let input: String = cases.iter().map(|c| format!("{c}\n")).collect();
    // Written from a thread: the peer's output would fill its pipe before we finish writing.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let outputs: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(&line.expect("peer output")).expect("peer json"))
        .collect();
    writer
        .join()
        .expect("writer thread")
        .expect("write to peer");
    let status = child.wait().expect("peer exit");
    assert!(status.success(), "botocore peer failed: {status}");
    assert_eq!(outputs.len(), cases.len(), "peer answered every case");
    outputs
}

#[test]
fn credvend_and_botocore_sign_generated_requests_identically() {
    let Some(python) = support::python() else {
        return;
    };
    let mut rng = Rng(0x0516_74c0_ffee);
    let cases: Vec<Value> = (0..CASES).map(|_| gen_case(&mut rng)).collect();
    let theirs = botocore_sign(&python, &cases);

    let mut failures = Vec::new();
    let mut with_token = 0;
    for (i, (case, theirs)) in cases.iter().zip(&theirs).enumerate() {
        let ours = credvend_sign(case);
        let authorization = &ours.headers.last().expect("authorization").1;
        with_token += usize::from(case["token"].is_string());
        if Some(authorization.as_str()) != theirs["authorization"].as_str() {
            failures.push(format!(
                "case {i}: inputs (test secrets) {case}\n--- credvend canonical request\n{}\n\
                 --- botocore canonical request\n{}\n--- credvend {authorization}\n--- botocore {}\n",
                ours.canonical_request,
                theirs["canonical_request"].as_str().unwrap_or("?"),
                theirs["authorization"],
            ));
        }
    }
    assert!(
        with_token > CASES / 4,
        "the generator exercises session tokens"
    );
    assert!(
        failures.is_empty(),
        "{} of {CASES} signatures differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
