//! The checks that talk HTTP to credvend's listeners: the configured ones, and the ones the
//! current shell's endpoint variables point at.

use std::net::{IpAddr, SocketAddr};

use hyper::{Method, StatusCode, Uri};

use super::Report;
use crate::commands::local_http::{self, Answer, LocalHttpError};
use crate::config::Config;
use crate::env::Env;

const START: &str = "start it: `credvend serve` (or `systemctl --user start credvend`)";

/// Every configured listener answers as it should.
pub(super) async fn listeners(report: &mut Report, config: &Config) {
    for imds in &config.imds {
        let addr = local_http::reachable(imds.listen);
        match put_token(addr).await {
            Ok(a) if a.status == StatusCode::OK => report.ok(
                "daemon",
                format!("imds listener {addr} answers (profile {})", imds.profile),
            ),
            Ok(a) => report.fail(
                "daemon",
                format!(
                    "imds listener {addr} answered the token request with HTTP {}",
                    a.status
                ),
                "see the daemon's log; is another program on that port?",
            ),
            Err(e) => report.fail(
                "daemon",
                format!("imds listener {addr}: {}", cause(&e)),
                START,
            ),
        }
    }
    let Some(ecs) = &config.ecs else { return };
    let Some(profile) = ecs.profiles.first() else {
        return;
    };
    let token = match crate::files::read_text(&ecs.token_file) {
        Ok(token) => token,
        Err(e) => {
            return report.fail(
                "daemon",
                format!(
                    "cannot read the ECS token file {}: {e}",
                    ecs.token_file.display()
                ),
                format!("{START}; it writes the file on first start"),
            );
        }
    };
    let path = format!("/role/{profile}");
    for addr in ecs.addresses().map(local_http::reachable) {
        let auth = [("authorization", token.trim())];
        match local_http::request(addr, Method::GET, &path, &auth).await {
            Ok(a) => ecs_answer(report, addr, profile, &a),
            Err(e) => report.fail(
                "daemon",
                format!("ecs listener {addr}: {}", cause(&e)),
                START,
            ),
        }
    }
}

fn ecs_answer(report: &mut Report, addr: SocketAddr, profile: &str, answer: &Answer) {
    match answer.status {
        StatusCode::OK => report.ok(
            "daemon",
            format!("ecs listener {addr} serves credentials for profile {profile}"),
        ),
        StatusCode::SERVICE_UNAVAILABLE => report.warn(
            "daemon",
            format!("ecs listener {addr} answers, but has no valid credentials for {profile} now"),
            format!(
                "the daemon's log says why; `credvend check --profile {profile}` tries STS once"
            ),
        ),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => report.fail(
            "daemon",
            format!("ecs listener {addr} refuses the token in the configured token file"),
            "the daemon on that port runs with another config; restart it with this one",
        ),
        status => report.fail(
            "daemon",
            format!("ecs listener {addr} answered HTTP {status}"),
            "see the daemon's log",
        ),
    }
}

/// The shell's endpoint variables are well-formed and reach a credvend listener.
pub(super) async fn shell_endpoints(report: &mut Report, env: &Env, link_local: bool) {
    let imds = env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    let ecs = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if imds.is_none() && ecs.is_none() {
        if !link_local {
            report.warn(
                "endpoints",
                "no AWS_EC2_METADATA_SERVICE_ENDPOINT or AWS_CONTAINER_CREDENTIALS_FULL_URI in this shell: its clients do not know where credvend is",
                "eval \"$(credvend env)\"",
            );
        }
        return;
    }
    if let Some(url) = imds {
        if !url.ends_with('/') {
            report.warn(
                "endpoints",
                format!("AWS_EC2_METADATA_SERVICE_ENDPOINT={url} has no trailing slash; the AWS CLI v2 then builds a broken URL"),
                format!("export AWS_EC2_METADATA_SERVICE_ENDPOINT={url}/"),
            );
        }
        match loopback_addr(url) {
            None => report.warn(
                "endpoints",
                format!("AWS_EC2_METADATA_SERVICE_ENDPOINT={url} is not an http URL of this machine; not checked"),
                "eval \"$(credvend env)\"",
            ),
            Some(addr) => match put_token(addr).await {
                Ok(a) if a.status == StatusCode::OK => {
                    report.ok("endpoints", format!("AWS_EC2_METADATA_SERVICE_ENDPOINT reaches {addr}"));
                }
                Ok(a) => report.fail(
                    "endpoints",
                    format!("AWS_EC2_METADATA_SERVICE_ENDPOINT: {addr} answered HTTP {}", a.status),
                    "eval \"$(credvend env)\" again",
                ),
                Err(e) => report.fail(
                    "endpoints",
                    format!("AWS_EC2_METADATA_SERVICE_ENDPOINT: {}", cause(&e)),
                    START,
                ),
            },
        }
    }
    if let Some(url) = ecs {
        container_endpoint(report, env, url).await;
    }
}

async fn container_endpoint(report: &mut Report, env: &Env, url: &str) {
    let Some(addr) = loopback_addr(url) else {
        return report.warn(
            "endpoints",
            format!("AWS_CONTAINER_CREDENTIALS_FULL_URI={url} is not an http URL of this machine; not checked"),
            "eval \"$(credvend env)\"",
        );
    };
    let token = match (
        env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
        env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
    ) {
        (Some(token), _) => token.to_owned(),
        (None, Some(file)) => crate::files::read_text(file.as_ref()).unwrap_or_default(),
        (None, None) => String::new(),
    };
    if env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN").is_none() {
        report.warn(
            "endpoints",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN is not set: the Go SDKs and the AWS CLI v2 read only that variable, not the token file",
            "eval \"$(credvend env)\"",
        );
    }
    let path = url
        .parse::<Uri>()
        .ok()
        .and_then(|u| u.path_and_query().map(|p| p.as_str().to_owned()))
        .unwrap_or_else(|| "/".into());
    match local_http::request(addr, Method::GET, &path, &[("authorization", token.trim())]).await {
        Ok(a) if a.status == StatusCode::OK => {
            report.ok(
                "endpoints",
                format!("AWS_CONTAINER_CREDENTIALS_FULL_URI gets credentials from {addr}"),
            );
        }
        Ok(a) => report.fail(
            "endpoints",
            format!(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI: {addr} answered HTTP {}",
                a.status
            ),
            "eval \"$(credvend env)\" again (the token or profile changed?)",
        ),
        Err(e) => report.fail(
            "endpoints",
            format!("AWS_CONTAINER_CREDENTIALS_FULL_URI: {}", cause(&e)),
            START,
        ),
    }
}

async fn put_token(addr: SocketAddr) -> Result<Answer, LocalHttpError> {
    local_http::request(
        addr,
        Method::PUT,
        "/latest/api/token",
        &[("x-aws-ec2-metadata-token-ttl-seconds", "60")],
    )
    .await
}

/// The address of an `http://` URL whose host is this machine (an IP literal on loopback,
/// or `localhost`); doctor sends nothing anywhere else.
fn loopback_addr(url: &str) -> Option<SocketAddr> {
    let uri: Uri = url.parse().ok()?;
    if uri.scheme_str() != Some("http") {
        return None;
    }
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::from([127, 0, 0, 1])
    } else {
        host.parse().ok()?
    };
    ip.is_loopback()
        .then(|| SocketAddr::new(ip, uri.port_u16().unwrap_or(80)))
}

fn cause(e: &LocalHttpError) -> String {
    crate::causes::Causes(e).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_urls_are_probed() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            loopback_addr("http://127.0.0.1:8169/"),
            Some(addr("127.0.0.1:8169"))
        );
        assert_eq!(
            loopback_addr("http://localhost:8170/role/app"),
            Some(addr("127.0.0.1:8170"))
        );
        assert_eq!(loopback_addr("http://[::1]:81"), Some(addr("[::1]:81")));
        assert_eq!(
            loopback_addr("http://127.0.0.1"),
            Some(addr("127.0.0.1:80"))
        );
        for other in [
            "http://169.254.169.254/",
            "https://127.0.0.1:1",
            "http://example.com",
            "nonsense",
        ] {
            assert_eq!(loopback_addr(other), None, "{other}");
        }
    }
}
