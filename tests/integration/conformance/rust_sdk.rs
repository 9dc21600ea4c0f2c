//! The AWS SDK for Rust (aws-config) as a client: its IMDS credentials provider, and its
//! default chain reading IMDS or the container endpoint. The identity comes from
//! GetCallerIdentity at moto, signed by credvend's own STS client with what aws-config
//! returned (so aws-sdk-sts is not needed as a dependency).
//!
//! aws-config's standalone ECS provider reads only the real process environment, which a test
//! may not change (`set_var` is unsafe, and unsafe code is forbidden); the default chain takes
//! an injected environment and, with IMDS disabled, delegates to that same ECS provider.

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_config::imds;
use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_types::os_shim_internal::{Env, Fs};
use aws_types::region::Region;
use credvend::clock::{AwsClock, SystemClock};
use credvend::config::{Config, DefaultPaths};
use credvend::env::Env as CredvendEnv;
use credvend::random::OsRandom;
use credvend::secret::{Credentials, Secret};
use credvend::sts::client::StsClient;
use credvend::sts::{Endpoint, Sts};

use super::{Peer, daemon, served_arn};
use crate::support::http::imds_credentials;
use crate::support::moto::Seeded;

fn http_client() -> aws_types::sdk_config::SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_http()
}

/// The ARN moto reports for credentials aws-config resolved.
async fn identity(moto: &Seeded, resolved: &aws_credential_types::Credentials) -> String {
    let defaults = DefaultPaths {
        config_file: None,
        state_dir: Some("/nonexistent/state".into()),
    };
    let mut settings = Config::defaults(
        &defaults,
        &CredvendEnv::from_pairs([("HOME", "/nonexistent")]),
    )
    .expect("the built-in defaults are valid")
    .aws;
    settings.max_attempts = 1;
    let clock = Arc::new(AwsClock::new(Arc::new(SystemClock)));
    let sts = StsClient::new(&settings, clock, Arc::new(OsRandom)).expect("sts client");
    let endpoint = Endpoint {
        url: moto.url.clone(),
        region: "us-east-1".into(),
    };
    let credentials = Credentials {
        access_key_id: resolved.access_key_id().to_owned(),
        secret_access_key: Secret::new(resolved.secret_access_key()),
        session_token: resolved.session_token().map(Secret::new),
        expiration: None,
    };
    sts.get_caller_identity(&endpoint, &credentials)
        .await
        .unwrap_or_else(|e| panic!("GetCallerIdentity with aws-config's credentials: {e}"))
        .arn
}

/// What aws-config's default chain resolves in the peer's environment (real files, so the
/// peer's fresh HOME and token file are read as a client would).
async fn default_chain(peer: &Peer) -> aws_credential_types::Credentials {
    let env: HashMap<String, String> = peer.vars().iter().cloned().collect();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .env(Env::from(env))
        .fs(Fs::real())
        .http_client(http_client())
        .region(Region::new("us-east-1"))
        .load()
        .await;
    config
        .credentials_provider()
        .expect("a default credentials chain")
        .provide_credentials()
        .await
        .unwrap_or_else(|e| panic!("aws-config default chain: {e:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_sdk_imds_provider_gets_the_served_role() {
    let Some((moto, daemon)) = daemon(&[false]) else {
        return;
    };
    let url = daemon.imds_url(false);
    let pc = ProviderConfig::default().with_http_client(http_client());
    let client = imds::Client::builder()
        .configure(&pc)
        .endpoint(&url)
        .expect("endpoint")
        .build();
    let provider = ImdsCredentialsProvider::builder()
        .configure(&pc)
        .imds_client(client)
        .build();
    let resolved = provider
        .provide_credentials()
        .await
        .unwrap_or_else(|e| panic!("aws-config IMDS: {e:?}\n{}", daemon.stderr()));
    let (_, served) = imds_credentials(&url);
    assert_eq!(
        Some(resolved.access_key_id()),
        served["AccessKeyId"].as_str()
    );
    assert!(resolved.expiry().is_some(), "IMDS credentials expire");
    assert_eq!(identity(moto, &resolved).await, served_arn(moto));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_sdk_default_chain_gets_the_served_role_from_imds() {
    let Some((moto, daemon)) = daemon(&[false]) else {
        return;
    };
    let peer = Peer::new(moto).imds(&daemon.imds_url(false));
    let resolved = default_chain(&peer).await;
    assert_eq!(identity(moto, &resolved).await, served_arn(moto));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_sdk_default_chain_gets_the_served_role_from_the_container_endpoint() {
    let Some((moto, daemon)) = daemon(&[]) else {
        return;
    };
    let inline = Peer::new(moto).ecs_token(&daemon.ecs_role_url("app"), &daemon.token());
    let from_file = Peer::new(moto).ecs_token_file(
        daemon.ecs.as_deref().expect("ecs listener"),
        &daemon.token_file(),
    );
    for (how, peer) in [("inline token", inline), ("token file", from_file)] {
        // The scrubbed environment already disables IMDS: the chain cannot fall through.
        assert!(
            peer.vars()
                .iter()
                .any(|(k, v)| k == "AWS_EC2_METADATA_DISABLED" && v == "true")
        );
        let resolved = default_chain(&peer).await;
        assert_eq!(identity(moto, &resolved).await, served_arn(moto), "{how}");
    }
}
