//! The SSO source against an in-process fake portal and OIDC endpoint (axum on loopback),
//! with token files in a temporary home. Compatibility with botocore's own cache code and a
//! real daemon is shown in tests/integration/sso.rs.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use time::macros::datetime;

use super::*;
use crate::clock::ManualClock;
use crate::test_util::{SECRET_MARK, TOKEN_MARK, aws_settings, leaks, temp_dir};

const NOW: OffsetDateTime = datetime!(2026-03-01 08:00 UTC);
const ACCESS: &str = "ACCESSTOKEN-SESSIONTOKENMARKERIQoJb3JpZ2lu-old";
const NEW_ACCESS: &str = "ACCESSTOKEN-SESSIONTOKENMARKERIQoJb3JpZ2lu-new";
const REFRESH: &str = "REFRESH-SECRETMARKERwJalrXUtnFEMIK7MDENG";
const CLIENT_SECRET: &str = "CLIENTSECRET-SECRETMARKERwJalrXUtnFEMIK7MDENG";

/// What the fake saw and how it answers.
#[derive(Default)]
struct Fake {
    /// The bearer token the portal accepts.
    valid: Mutex<String>,
    /// Bearer tokens and queries the portal got.
    portal: Mutex<Vec<(String, String)>>,
    /// CreateToken bodies.
    oidc: Mutex<Vec<serde_json::Value>>,
    /// CreateToken answers 400 when set.
    oidc_fails: Mutex<bool>,
}

async fn portal(State(fake): State<Arc<Fake>>, headers: HeaderMap, uri: Uri) -> Response {
    let token = headers
        .get("x-amz-sso_bearer_token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    fake.portal.lock().unwrap().push((token.clone(), query));
    if token != *fake.valid.lock().unwrap() {
        return (
            StatusCode::UNAUTHORIZED,
            [("x-amzn-errortype", "UnauthorizedException:http://x")],
            r#"{"message":"Session token not found or invalid"}"#,
        )
            .into_response();
    }
    let body = format!(
        r#"{{"roleCredentials":{{"accessKeyId":"ASIAPORTAL","secretAccessKey":"{SECRET_MARK}-s","sessionToken":"{TOKEN_MARK}-t","expiration":{}}}}}"#,
        (NOW.unix_timestamp() + 3600) * 1000
    );
    (StatusCode::OK, body).into_response()
}

async fn oidc(State(fake): State<Arc<Fake>>, body: String) -> Response {
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    fake.oidc.lock().unwrap().push(json);
    if *fake.oidc_fails.lock().unwrap() {
        return (
            StatusCode::BAD_REQUEST,
            r#"{"error":"invalid_grant","error_description":"refresh token expired"}"#,
        )
            .into_response();
    }
    *fake.valid.lock().unwrap() = NEW_ACCESS.into();
    let body = format!(
        r#"{{"accessToken":"{NEW_ACCESS}","expiresIn":28800,"tokenType":"Bearer","refreshToken":"{REFRESH}-2"}}"#
    );
    (StatusCode::OK, body).into_response()
}

async fn start() -> (Arc<Fake>, SocketAddr) {
    let fake = Arc::new(Fake::default());
    *fake.valid.lock().unwrap() = ACCESS.into();
    let app = Router::new()
        .route("/federation/credentials", get(portal))
        .route("/token", post(oidc))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, addr)
}

fn source(session: Option<&str>, addr: SocketAddr) -> SsoSource {
    SsoSource {
        session: session.map(str::to_owned),
        start_url: "https://corp.awsapps.com/start".into(),
        region: "eu-west-1".into(),
        account_id: "111122223333".into(),
        role_name: "Dev+Ops".into(),
        registration_scopes: vec![],
        portal_endpoint: Some(format!("http://{addr}")),
        oidc_endpoint: Some(format!("http://{addr}/")),
    }
}

/// A cache file as `aws sso login` leaves it, expiring at `expires`.
fn write_token(home: &Path, key: &str, expires: &str, with_registration: bool) -> PathBuf {
    let file = token::cache_file(home, key);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let mut json = serde_json::json!({
        "startUrl": "https://corp.awsapps.com/start", "region": "eu-west-1",
        "accessToken": ACCESS, "expiresAt": expires,
    });
    if with_registration {
        json["clientId"] = "client-1".into();
        json["clientSecret"] = CLIENT_SECRET.into();
        json["registrationExpiresAt"] = "2026-06-01T00:00:00Z".into();
        json["refreshToken"] = REFRESH.into();
    }
    std::fs::write(&file, json.to_string()).unwrap();
    file
}

async fn fetch(home: &Path, profile: &str, src: &SsoSource) -> Result<Credentials, SsoError> {
    let env = Env::from_pairs([("HOME", home.to_str().unwrap())]);
    let clock = ManualClock::new(NOW);
    credentials(&aws_settings(), &env, &clock, profile, src).await
}

#[tokio::test]
async fn a_valid_token_gets_the_portals_role_credentials() {
    let (fake, addr) = start().await;
    let home = temp_dir("sso-valid");
    write_token(&home, "corp", "2026-03-01T10:00:00Z", false);
    let creds = fetch(&home, "dev", &source(Some("corp"), addr))
        .await
        .unwrap();
    assert_eq!(creds.access_key_id, "ASIAPORTAL");
    assert_eq!(creds.expiration, Some(NOW + Duration::hours(1)));
    assert!(creds.is_session());
    let seen = fake.portal.lock().unwrap().clone();
    assert_eq!(
        seen,
        [(
            ACCESS.to_owned(),
            "account_id=111122223333&role_name=Dev%2BOps".to_owned()
        )]
    );
    assert!(
        fake.oidc.lock().unwrap().is_empty(),
        "no refresh for a fresh token"
    );
}

#[tokio::test]
async fn a_token_near_its_end_is_refreshed_and_written_back_as_botocore_writes_it() {
    let (fake, addr) = start().await;
    let home = temp_dir("sso-refresh");
    let file = write_token(&home, "corp", "2026-03-01T08:05:00Z", true);
    let creds = fetch(&home, "dev", &source(Some("corp"), addr))
        .await
        .unwrap();
    assert_eq!(creds.access_key_id, "ASIAPORTAL");
    let sent = fake.oidc.lock().unwrap()[0].clone();
    assert_eq!(
        sent,
        serde_json::json!({"clientId": "client-1", "clientSecret": CLIENT_SECRET,
            "grantType": "refresh_token", "refreshToken": REFRESH})
    );
    assert_eq!(fake.portal.lock().unwrap()[0].0, NEW_ACCESS);
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        written,
        format!(
            r#"{{"startUrl": "https://corp.awsapps.com/start", "region": "eu-west-1", "accessToken": "{NEW_ACCESS}", "expiresAt": "2026-03-01T16:00:00Z", "clientId": "client-1", "clientSecret": "{CLIENT_SECRET}", "registrationExpiresAt": "2026-06-01T00:00:00Z", "refreshToken": "{REFRESH}-2"}}"#
        )
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[tokio::test]
async fn a_missing_token_says_which_login_to_run() {
    let (fake, addr) = start().await;
    let home = temp_dir("sso-missing");
    let err = fetch(&home, "dev", &source(Some("corp"), addr))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("run `aws sso login --sso-session corp`"),
        "{text}"
    );
    assert!(
        text.contains(".aws/sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json"),
        "{text}"
    );
    assert!(!err.is_retryable());
    let legacy = fetch(&home, "old", &source(None, addr)).await.unwrap_err();
    assert!(
        legacy
            .to_string()
            .contains("run `aws sso login --profile old`"),
        "{legacy}"
    );
    assert!(fake.portal.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_expired_legacy_token_is_not_refreshed_and_not_sent() {
    let (fake, addr) = start().await;
    let home = temp_dir("sso-legacy");
    write_token(
        &home,
        "https://corp.awsapps.com/start",
        "2026-03-01T07:00:00Z",
        true,
    );
    let err = fetch(&home, "old", &source(None, addr)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the token expired at 2026-03-01T07:00:00Z: run `aws sso login --profile old`"
    );
    assert!(fake.oidc.lock().unwrap().is_empty());
    assert!(fake.portal.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_refresh_of_an_expired_token_is_reported_without_secrets() {
    let (fake, addr) = start().await;
    *fake.oidc_fails.lock().unwrap() = true;
    let home = temp_dir("sso-refresh-fails");
    let file = write_token(&home, "corp", "2026-03-01T07:59:00Z", true);
    let before = std::fs::read_to_string(&file).unwrap();
    let err = fetch(&home, "dev", &source(Some("corp"), addr))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("could not be refreshed: CreateToken answered HTTP 400, invalid_grant: refresh token expired"), "{text}");
    assert!(
        text.ends_with("run `aws sso login --sso-session corp`"),
        "{text}"
    );
    assert!(!leaks(&format!("{text} {err:?}")), "{text}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        before,
        "cache untouched"
    );
    assert_eq!(fake.oidc.lock().unwrap().len(), 1, "one attempt, no loop");
}

#[tokio::test]
async fn a_refused_token_says_to_log_in_again() {
    let (fake, addr) = start().await;
    *fake.valid.lock().unwrap() = "another".into();
    let home = temp_dir("sso-refused");
    write_token(&home, "corp", "2026-03-01T10:00:00Z", false);
    let err = fetch(&home, "dev", &source(Some("corp"), addr))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the portal refused the token (HTTP 401, UnauthorizedException: Session token not found or invalid): run `aws sso login --sso-session corp`"
    );
    assert!(!err.is_retryable());
    assert!(!leaks(&format!("{err:?}")));
}

#[test]
fn endpoints_follow_the_sdks_precedence() {
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut src = source(Some("corp"), addr);
    let env = Env::from_pairs([("AWS_ENDPOINT_URL_SSO", "http://127.0.0.1:1/")]);
    let got = |env: &Env, src: &SsoSource| {
        endpoint(
            env,
            "SSO",
            src.portal_endpoint.as_deref(),
            "portal.sso",
            src,
        )
    };
    assert_eq!(got(&env, &src).unwrap(), "http://127.0.0.1:1");
    let global = Env::from_pairs([("AWS_ENDPOINT_URL", "http://127.0.0.1:2")]);
    assert_eq!(got(&global, &src).unwrap(), "http://127.0.0.1:2");
    assert_eq!(got(&Env::default(), &src).unwrap(), "http://127.0.0.1:9");
    let ignore = Env::from_pairs([("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")]);
    assert_eq!(
        got(&ignore, &src).unwrap(),
        "https://portal.sso.eu-west-1.amazonaws.com"
    );
    src.portal_endpoint = None;
    src.region = "cn-north-1".into();
    assert_eq!(
        endpoint(&Env::default(), "SSO_OIDC", None, "oidc", &src).unwrap(),
        "https://oidc.cn-north-1.amazonaws.com.cn"
    );
    src.portal_endpoint = Some("http://10.0.0.1".into());
    assert!(
        got(&Env::default(), &src).is_err(),
        "plain HTTP off this host"
    );
}

#[tokio::test]
async fn a_chain_on_an_sso_base_signs_its_first_hop_with_the_portals_credentials() {
    use crate::causes::Causes;
    use crate::profile::{BaseCredentials, Location};
    use crate::test_util::{FakeSts, chain, hop};
    let (_fake, addr) = start().await;
    let home = temp_dir("sso-chain");
    let env = Env::from_pairs([("HOME", home.to_str().unwrap())]);
    let clock = Arc::new(ManualClock::new(NOW));
    let sts = FakeSts::new(clock.clone());
    let mut c = chain("app", vec![hop("app", "arn:aws:iam::1:role/app")]);
    c.base = BaseCredentials::Sso {
        profile: "base".into(),
        source: source(Some("corp"), addr),
        location: Location {
            file: "config".into(),
            line: 3,
        },
    };
    let err = crate::mint::mint(
        &sts,
        &c,
        &aws_settings(),
        &env,
        &*clock,
        &crate::mint::MfaSessions::default(),
    )
    .await
    .unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(err.sso_login(), Some("aws sso login --sso-session corp"));
    let shown = Causes(&err).to_string();
    assert!(
        shown.starts_with("profile \"base\": IAM Identity Center: no cached token at ")
            && shown.ends_with(": run `aws sso login --sso-session corp`"),
        "{shown}"
    );
    assert!(sts.calls().is_empty());

    write_token(&home, "corp", "2026-03-01T10:00:00Z", false);
    let mut aws = aws_settings();
    aws.duration_seconds = 43200;
    let minted = crate::mint::mint(
        &sts,
        &c,
        &aws,
        &env,
        &*clock,
        &crate::mint::MfaSessions::default(),
    )
    .await
    .unwrap();
    assert_eq!(sts.calls()[0].signed_with, "ASIAPORTAL");
    // The portal's credentials are a role session: STS allows a chained hop one hour.
    assert_eq!(sts.calls()[0].duration_seconds, Some(3600));
    assert_eq!(minted.role_arn.as_deref(), Some("arn:aws:iam::1:role/app"));
}
