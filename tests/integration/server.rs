//! The IMDS and ECS routers under `serve`, read by real botocore: the v2 token flow, the role
//! list, the credentials JSON, and the container endpoint with a token file.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use credvend::audit::NoAudit;
use credvend::cache::{CacheError, CredentialProvider, Served};
use credvend::clock::SystemClock;
use credvend::config::AllowedUsers;
use credvend::random::OsRandom;
use credvend::secret::{Credentials, Secret};
use credvend::server::{
    EcsConfig, EcsState, ImdsConfig, ImdsState, Limits, Services, ecs_router, imds_router,
    load_or_create_capabilities, load_or_create_token, serve,
};
use credvend::sts::BoxFuture;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::support;

const KEY_ID: &str = "ASIAPEERTESTEXAMPLE1";
const SECRET: &str = "peerSECRETmarker/K7MDENG+bPxRfiCYEXAMPLE";
const TOKEN: &str = "peerSESSIONTOKENmarkerIQoJb3JpZ2luX2VjE";

/// The built-in `[server]` limits.
fn default_limits(home: &Path) -> Limits {
    let paths = credvend::config::DefaultPaths {
        config_file: None,
        state_dir: Some(home.join("state")),
    };
    let env = credvend::env::Env::from_pairs([("HOME", home.display().to_string())]);
    let config = credvend::config::Config::defaults(&paths, &env).expect("built-in defaults");
    Limits::from_settings(&config.server)
}

/// Serves one fixed session for any profile, valid for an hour of real time.
#[derive(Debug)]
struct OneSession;

impl CredentialProvider for OneSession {
    fn credentials<'a>(
        &'a self,
        profile: &'a str,
    ) -> BoxFuture<'a, Result<Arc<Served>, CacheError>> {
        let now = OffsetDateTime::now_utc();
        let served = Served {
            profile: profile.to_owned(),
            credentials: Credentials {
                access_key_id: KEY_ID.into(),
                secret_access_key: Secret::new(SECRET),
                session_token: Some(Secret::new(TOKEN)),
                expiration: Some(now + time::Duration::hours(1)),
            },
            issued_at: now,
            role_arn: Some("arn:aws:iam::123456789012:role/peer".into()),
            account_id: Some("123456789012".into()),
        };
        Box::pin(async move { Ok(Arc::new(served)) })
    }
}

fn services() -> Services {
    Services {
        credentials: Arc::new(OneSession),
        audit: Arc::new(NoAudit),
        clock: Arc::new(SystemClock),
        identify: Arc::new(credvend::identity::Identify::new(None)),
    }
}

/// Runs botocore's default chain in a scrubbed environment plus `env`; returns its JSON.
fn botocore_credentials(python: &Path, home: &Path, env: &[(&str, String)]) -> serde_json::Value {
    const SCRIPT: &str = "import json, botocore.session\n\
        c = botocore.session.get_session().get_credentials()\n\
        f = c.get_frozen_credentials()\n\
        print(json.dumps({'method': c.method, 'key': f.access_key, 'secret': f.secret_key, 'token': f.token}))";
    let out = Command::new(python)
        .arg("-c")
        .arg(SCRIPT)
        .env_clear()
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "botocore failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json from the script")
}

async fn bind() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn botocore_reads_credentials_from_the_imds_and_ecs_endpoints() {
    let Some(python) = support::python() else {
        return;
    };
    let home = std::env::temp_dir().join(format!("credvend-it-server-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();

    let (imds_listener, imds_addr) = bind().await;
    let imds = ImdsConfig {
        listen: imds_addr,
        profile: "dev".into(),
        role_name: "credvend-dev".into(),
        region: "us-east-1".into(),
        imdsv1: false,
        public_key: None,
        allowed_networks: vec![],
        allowed_users: AllowedUsers::default(),
        account_id: None,
        labels: Default::default(),
    };
    let imds = imds_router(ImdsState::new(imds, services(), &OsRandom));
    let (ecs_listener, ecs_addr) = bind().await;
    let token_file = home.join("state/ecs-token");
    let ecs = EcsConfig {
        listen: ecs_addr,
        profiles: vec!["dev".into()],
        allowed_networks: vec![],
        allowed_users: AllowedUsers::default(),
        profile_users: std::collections::BTreeMap::new(),
        token: load_or_create_token(&token_file, &OsRandom).unwrap(),
        capabilities: load_or_create_capabilities(
            &home.join("state/caps.json"),
            &["dev".into()],
            &OsRandom,
        )
        .unwrap(),
    };
    let ecs = ecs_router(EcsState::new(ecs, services()));
    let (stop_imds, imds_stopped) = oneshot::channel::<()>();
    let (stop_ecs, ecs_stopped) = oneshot::channel::<()>();
    let limits = default_limits(&home);
    let imds_task = tokio::spawn(serve(imds_listener, imds, limits.clone(), async {
        let _ = imds_stopped.await;
    }));
    let ecs_task = tokio::spawn(serve(ecs_listener, ecs, limits, async {
        let _ = ecs_stopped.await;
    }));

    let py = python.clone();
    let h = home.clone();
    let from_imds = tokio::task::spawn_blocking(move || {
        botocore_credentials(
            &py,
            &h,
            &[
                (
                    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                    format!("http://{imds_addr}"),
                ),
                ("AWS_EC2_METADATA_V1_DISABLED", "true".into()),
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(from_imds["method"], "iam-role");
    assert_eq!(from_imds["key"], KEY_ID);
    assert_eq!(from_imds["secret"], SECRET);
    assert_eq!(from_imds["token"], TOKEN);

    let h = home.clone();
    let from_ecs = tokio::task::spawn_blocking(move || {
        botocore_credentials(
            &python,
            &h,
            &[
                (
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    format!("http://{ecs_addr}/role/dev"),
                ),
                (
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                    token_file.display().to_string(),
                ),
                ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(from_ecs["method"], "container-role");
    assert_eq!(from_ecs["key"], KEY_ID);
    assert_eq!(from_ecs["token"], TOKEN);

    stop_imds.send(()).unwrap();
    stop_ecs.send(()).unwrap();
    imds_task.await.unwrap().unwrap();
    ecs_task.await.unwrap().unwrap();
    std::fs::remove_dir_all(home).unwrap();
}
