//! A warm `CredentialCache::get` while STS takes 2 s per call: what every credential request
//! costs once a profile is loaded. Prints ns/op; asserts nothing.
//!
//! Run with `cargo bench --bench cache_get`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use credvend::audit::NoAudit;
use credvend::cache::CredentialCache;
use credvend::clock::{Clock, SystemClock};
use credvend::config::{Config, DefaultPaths};
use credvend::env::Env;
use credvend::profile::{BaseCredentials, Location, ProfileChain, RoleHop};
use credvend::random::OsRandom;
use credvend::secret::{Credentials, Secret};
use credvend::sts::{
    AssumeRoleParams, AssumedRole, BoxFuture, CallerIdentity, Endpoint, GetSessionTokenParams,
    SessionToken, Sts, StsError, StsErrorKind,
};
use tokio::time::Instant;

/// An STS that answers every AssumeRole after 2 s (real time).
#[derive(Debug)]
struct SlowSts;

impl Sts for SlowSts {
    fn assume_role<'a>(
        &'a self,
        _endpoint: &'a Endpoint,
        _credentials: &'a Credentials,
        params: &'a AssumeRoleParams,
    ) -> BoxFuture<'a, Result<AssumedRole, StsError>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok(AssumedRole {
                credentials: Credentials {
                    access_key_id: "ASIABENCH".into(),
                    secret_access_key: Secret::new("bench-secret"),
                    session_token: Some(Secret::new("bench-token")),
                    expiration: Some(SystemClock.now() + time::Duration::HOUR),
                },
                assumed_role_arn: format!(
                    "arn:aws:sts::1:assumed-role/r/{}",
                    params.role_session_name
                ),
                assumed_role_id: "AROABENCH:s".into(),
                request_id: None,
            })
        })
    }

    fn get_session_token<'a>(
        &'a self,
        _endpoint: &'a Endpoint,
        _credentials: &'a Credentials,
        _params: &'a GetSessionTokenParams,
    ) -> BoxFuture<'a, Result<SessionToken, StsError>> {
        Box::pin(async { Err(unused()) })
    }

    fn get_caller_identity<'a>(
        &'a self,
        _endpoint: &'a Endpoint,
        _credentials: &'a Credentials,
    ) -> BoxFuture<'a, Result<CallerIdentity, StsError>> {
        Box::pin(async { Err(unused()) })
    }
}

fn unused() -> StsError {
    StsError::new(StsErrorKind::Request {
        reason: "not used by the bench".into(),
    })
}

fn chain() -> ProfileChain {
    let location = Location {
        file: "/bench/config".into(),
        line: 1,
    };
    ProfileChain {
        profile: "bench".into(),
        base: BaseCredentials::Static {
            profile: "base".into(),
            credentials: Credentials {
                access_key_id: "AKIABENCH".into(),
                secret_access_key: Secret::new("long-term"),
                session_token: None,
                expiration: None,
            },
            location: location.clone(),
        },
        hops: vec![RoleHop {
            profile: "bench".into(),
            role_arn: "arn:aws:iam::1:role/r".into(),
            role_session_name: None,
            external_id: None,
            duration_seconds: None,
            location,
        }],
        region: Some("eu-west-1".into()),
        sts_regional_endpoints: None,
        endpoint_url: None,
        mfa: None,
    }
}

fn cache() -> CredentialCache {
    let defaults = DefaultPaths {
        config_file: None,
        state_dir: Some("/bench/state".into()),
    };
    let config = Config::defaults(&defaults, &Env::from_pairs([("HOME", "/bench")]))
        .expect("the built-in defaults are valid");
    let mut aws = config.aws;
    aws.region = "eu-west-1".into();
    let settings = config.cache;
    let cache = CredentialCache::new(
        Arc::new(SlowSts),
        aws,
        settings,
        Env::default(),
        Arc::new(SystemClock),
        Arc::new(OsRandom),
        Arc::new(NoAudit),
    );
    cache.set_profiles(BTreeMap::from([("bench".to_owned(), Ok(chain()))]));
    cache
}

async fn timed_gets(cache: &CredentialCache, iterations: u32) -> Duration {
    let start = Instant::now();
    for _ in 0..iterations {
        let served = cache.get("bench").await.expect("warm");
        std::hint::black_box(served);
    }
    start.elapsed()
}

fn main() {
    // `cargo bench` passes --bench. `cargo test --all-targets` runs this binary without it:
    // the bench is compiled and linted there, but measuring belongs to `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("cache_get: run with `cargo bench --bench cache_get`");
        return;
    }
    let iterations: u32 = 1_000_000;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let cache = cache();
        let cold = Instant::now();
        cache.get("bench").await.expect("first fetch");
        println!("cold get (one 2 s STS call): {:?}", cold.elapsed());

        timed_gets(&cache, iterations / 10).await; // warm-up
        let took = timed_gets(&cache, iterations).await;
        println!(
            "warm get, 1 task: {:.0} ns/op over {iterations} gets",
            took.as_nanos() as f64 / f64::from(iterations)
        );

        const TASKS: u32 = 8;
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..TASKS {
            let cache = cache.clone();
            tasks.spawn(async move { timed_gets(&cache, iterations / 4).await });
        }
        tasks.join_all().await;
        let total = f64::from(TASKS * (iterations / 4));
        println!(
            "warm get, {TASKS} tasks at once: {:.0} ns/op (wall time / total gets)",
            start.elapsed().as_nanos() as f64 / total
        );
    });
}
