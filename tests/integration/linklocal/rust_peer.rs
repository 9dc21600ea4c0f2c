//! The AWS SDK for Rust as a link-local client. aws-config's default chain reads the real
//! process environment, which a test may not change, so the link-local test runs this binary
//! again, inside its container namespace, with only this ignored test selected.

use credvend::random::OsRandom;

/// Set in the environment of this binary when it runs again as the Rust SDK client.
pub(super) const RUST_PEER_STS: &str = "CREDVEND_LINKLOCAL_RUST_PEER_STS";
/// What the Rust SDK client's answer line starts with, among the test harness's own output.
pub(super) const RUST_PEER_MARK: &str = "credvend-rust-peer: ";

/// The full name of [`rust_sdk_peer_in_the_container_namespace`], for `--exact`.
pub(super) const RUST_PEER_TEST: &str =
    "linklocal::rust_peer::rust_sdk_peer_in_the_container_namespace";

/// The AWS SDK for Rust as a client: aws-config's default chain on the real environment (no
/// endpoint variable), then GetCallerIdentity at moto signed by credvend's own STS client with
/// what it returned (so aws-sdk-sts is not needed). Not a test of its own: the link-local test
/// runs this binary again inside its container namespace, with [`RUST_PEER_STS`] set.
#[tokio::test(flavor = "current_thread")]
#[ignore = "a client that the link-local test runs inside its container namespace"]
async fn rust_sdk_peer_in_the_container_namespace() {
    use aws_credential_types::provider::ProvideCredentials;
    use credvend::sts::Sts;

    let Ok(sts_url) = std::env::var(RUST_PEER_STS) else {
        // Run by hand (`--ignored`): there is no container namespace to read from.
        eprintln!(
            "SKIP: run by the link-local test in its container namespace, with {RUST_PEER_STS}"
        );
        return;
    };
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .region(aws_types::region::Region::new("us-east-1"))
        .load()
        .await;
    let resolved = config
        .credentials_provider()
        .expect("a default credentials chain")
        .provide_credentials()
        .await
        .unwrap_or_else(|e| panic!("aws-config default chain: {e}"));
    let env = credvend::env::Env::from_pairs([("HOME", "/nonexistent")]);
    let defaults = credvend::config::DefaultPaths {
        config_file: None,
        state_dir: Some("/nonexistent/state".into()),
    };
    let mut settings = credvend::config::Config::defaults(&defaults, &env)
        .expect("the built-in defaults")
        .aws;
    settings.max_attempts = 1;
    let clock = std::sync::Arc::new(credvend::clock::AwsClock::new(std::sync::Arc::new(
        credvend::clock::SystemClock,
    )));
    let sts =
        credvend::sts::client::StsClient::new(&settings, clock, std::sync::Arc::new(OsRandom))
            .expect("an STS client");
    let endpoint = credvend::sts::Endpoint {
        url: sts_url,
        region: "us-east-1".into(),
    };
    let credentials = credvend::secret::Credentials {
        access_key_id: resolved.access_key_id().to_owned(),
        secret_access_key: credvend::secret::Secret::new(resolved.secret_access_key()),
        session_token: resolved.session_token().map(credvend::secret::Secret::new),
        expiration: None,
    };
    let identity = sts
        .get_caller_identity(&endpoint, &credentials)
        .await
        .unwrap_or_else(|e| panic!("GetCallerIdentity with aws-config's credentials: {e}"));
    let answer = serde_json::json!({
        "access_key_id": resolved.access_key_id(),
        "arn": identity.arn,
    });
    println!("{RUST_PEER_MARK}{answer}");
}
