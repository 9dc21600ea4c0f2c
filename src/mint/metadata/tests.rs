//! The fetch flows against small scripted endpoints on 127.0.0.1:0.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, Method as AxumMethod, StatusCode, Uri};
use axum::response::IntoResponse;

use super::*;
use crate::secret::Secret;

const DOC: &str = r#"{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIAFROMIMDS","SecretAccessKey":"imds-secret","Token":"imds-token","Expiration":"2026-03-01T09:00:00Z"}"#;

/// One request as the endpoint saw it: method, path, and the headers that matter here.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    ttl: Option<String>,
    token: Option<String>,
    authorization: Option<String>,
}

type Script = Arc<dyn Fn(&str, &str) -> (u16, String) + Send + Sync>;

/// Serves `script(method, path)` and records every request.
async fn endpoint(script: Script) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = Router::new().fallback(move |method: AxumMethod, uri: Uri, headers: HeaderMap| {
        let (script, log) = (script.clone(), log.clone());
        async move {
            let header = |n: &str| {
                headers
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            log.lock().unwrap().push(Seen {
                method: method.to_string(),
                path: uri.path().to_owned(),
                ttl: header("x-aws-ec2-metadata-token-ttl-seconds"),
                token: header("x-aws-ec2-metadata-token"),
                authorization: header("authorization"),
            });
            let (status, body) = script(method.as_str(), uri.path());
            (StatusCode::from_u16(status).unwrap(), body).into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, seen)
}

fn url(addr: SocketAddr, path: &str) -> MetadataUrl {
    MetadataUrl {
        host: addr.ip().to_string(),
        port: addr.port(),
        path: path.to_owned(),
    }
}

fn imds_script(role_list: (u16, &'static str)) -> Script {
    Arc::new(move |method, path| match (method, path) {
        ("PUT", "/latest/api/token") => (200, "TOKEN-1".into()),
        ("GET", ROLE_LIST) => (role_list.0, role_list.1.into()),
        ("GET", "/latest/meta-data/iam/security-credentials/instance-role") => (200, DOC.into()),
        _ => (404, String::new()),
    })
}

#[tokio::test]
async fn imds_takes_a_token_then_the_role_then_its_document() {
    let (addr, seen) = endpoint(imds_script((200, "instance-role\n"))).await;
    let source = MetadataSource::Imds {
        endpoint: url(addr, ""),
    };
    let creds = fetch(&source).await.unwrap();
    assert_eq!(creds.access_key_id, "ASIAFROMIMDS");
    assert_eq!(creds.session_token, Some(Secret::new("imds-token")));
    let seen = seen.lock().unwrap().clone();
    let paths: Vec<_> = seen
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert_eq!(
        paths,
        [
            "PUT /latest/api/token",
            "GET /latest/meta-data/iam/security-credentials/",
            "GET /latest/meta-data/iam/security-credentials/instance-role",
        ]
    );
    assert_eq!(seen[0].ttl.as_deref(), Some(TOKEN_TTL_SECONDS));
    assert!(seen[0].token.is_none());
    assert!(
        seen[1..]
            .iter()
            .all(|s| s.token.as_deref() == Some("TOKEN-1"))
    );
}

#[tokio::test]
async fn no_role_is_not_retried_and_a_failing_endpoint_is_tried_once_more() {
    let (addr, seen) = endpoint(imds_script((404, ""))).await;
    let err = fetch(&MetadataSource::Imds {
        endpoint: url(addr, ""),
    })
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "IMDS at http://{addr}: GET /latest/meta-data/iam/security-credentials/ answered HTTP 404"
        )
    );
    assert!(!err.is_retryable());
    assert_eq!(seen.lock().unwrap().len(), 2, "one attempt");

    let (addr, seen) = endpoint(imds_script((500, ""))).await;
    let err = fetch(&MetadataSource::Imds {
        endpoint: url(addr, ""),
    })
    .await
    .unwrap_err();
    assert!(err.is_retryable());
    let puts = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.method == "PUT")
        .count();
    assert_eq!(puts, 2, "two attempts, each with a new token");

    let (addr, _) = endpoint(imds_script((200, "../../etc"))).await;
    let err = fetch(&MetadataSource::Imds {
        endpoint: url(addr, ""),
    })
    .await
    .unwrap_err();
    assert_eq!(err.kind, MetadataErrorKind::Empty, "{err}");
}

#[tokio::test]
async fn a_container_endpoint_gets_the_token_as_given_and_the_path_is_never_shown() {
    let script: Script = Arc::new(|_, path| match path {
        "/v2/credentials/capability-0123" => (200, DOC.into()),
        _ => (403, r#"{"code":"AccessDenied","message":"no"}"#.into()),
    });
    let (addr, seen) = endpoint(script).await;
    let dir = crate::test_util::temp_dir("metadata-token");
    let file = dir.join("token");
    std::fs::write(&file, "file-token-value").unwrap();
    let source = |path: &str, token| MetadataSource::Container {
        endpoint: url(addr, path),
        token,
    };
    let creds = fetch(&source(
        "/v2/credentials/capability-0123",
        Some(ContainerToken::File(file.clone())),
    ))
    .await
    .unwrap();
    assert_eq!(creds.access_key_id, "ASIAFROMIMDS");
    let inline = Some(ContainerToken::Inline(Secret::new("inline-token-value")));
    let err = fetch(&source("/v2/credentials/other-capability", inline))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("container endpoint at http://{addr}: GET answered HTTP 403")
    );
    assert!(!format!("{err:?}").contains("capability"), "{err:?}");
    let auth: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.authorization.clone())
        .collect();
    assert_eq!(
        auth,
        [
            Some("file-token-value".to_owned()),
            Some("inline-token-value".to_owned())
        ]
    );

    std::fs::write(&file, "file-token-value\n").unwrap();
    let err = fetch(&source("/x", Some(ContainerToken::File(file.clone()))))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("holds a line break"), "{err}");
    assert!(
        !format!("{err} {err:?}").contains("file-token-value"),
        "{err:?}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "no request with a bad token file"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error_worth_retrying() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let err = fetch(&MetadataSource::Imds {
        endpoint: url(addr, ""),
    })
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("IMDS at http://{addr}: PUT /latest/api/token cannot connect (connection refused)")
    );
    assert!(err.is_retryable());
}
