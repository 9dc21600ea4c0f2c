//! What `credvend env` points clients at: the listeners that serve the profile, the addresses
//! they are configured on, and how URLs and shell words are written for them.

use std::net::SocketAddr;
use std::path::Path;

use crate::commands::CommandError;
use crate::config::Config;

/// The listeners serving one profile.
pub(super) struct Target<'a> {
    /// The IMDS listener's addresses, when one serves the profile.
    pub(super) imds: Option<Vec<SocketAddr>>,
    /// The ECS listener, when it serves the profile.
    pub(super) ecs: Option<EcsTarget<'a>>,
}

/// The ECS listener and the profile's name on it.
pub(super) struct EcsTarget<'a> {
    /// Its addresses.
    pub(super) addrs: Vec<SocketAddr>,
    /// The token file (its path is printed, never its contents).
    pub(super) token_file: &'a Path,
    /// Served at `/role/<profile>`.
    pub(super) profile: String,
}

/// The listeners serving `profile` (default: the first IMDS listener and the first ECS
/// profile).
pub(super) fn select<'a>(
    config: &'a Config,
    profile: Option<&str>,
) -> Result<Target<'a>, CommandError> {
    // A `[[imds]]` table with a list of addresses is one listener per address, all alike.
    let imds_profile = profile.or_else(|| config.imds.first().map(|l| l.profile.as_str()));
    let imds: Vec<SocketAddr> = config
        .imds
        .iter()
        .filter(|l| Some(l.profile.as_str()) == imds_profile)
        .map(|l| l.listen)
        .collect();
    let ecs = config.ecs.as_ref().and_then(|ecs| {
        let name = match profile {
            Some(p) => ecs.profiles.iter().find(|q| *q == p),
            None => ecs.profiles.first(),
        }?;
        Some(EcsTarget {
            addrs: ecs.addresses().collect(),
            token_file: &ecs.token_file,
            profile: name.clone(),
        })
    });
    if imds.is_empty() && ecs.is_none() {
        return Err(match profile {
            Some(p) => CommandError::NotServed(p.to_owned()),
            None => CommandError::NoListeners,
        });
    }
    Ok(Target {
        imds: (!imds.is_empty()).then_some(imds),
        ecs,
    })
}

/// The address a client on this host uses: a loopback one when there is one (it needs no
/// set-up on the host), else the first.
pub(super) fn preferred(addrs: &[SocketAddr]) -> Option<SocketAddr> {
    addrs
        .iter()
        .find(|a| a.ip().is_loopback())
        .or_else(|| addrs.first())
        .copied()
}

/// `AWS_EC2_METADATA_SERVICE_ENDPOINT` for `addr`; the trailing `/` is for the AWS CLI v2,
/// which builds `base + "latest/api/token"`.
pub(super) fn imds_url(addr: SocketAddr) -> String {
    format!("http://{addr}/")
}

/// The ECS URL of `profile` on `addr`.
pub(super) fn ecs_url(addr: SocketAddr, profile: &str) -> String {
    format!("http://{addr}/role/{profile}")
}

/// Single-quotes `s` for POSIX shells when it holds anything but safe characters.
pub(super) fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_leaves_safe_words_and_quotes_the_rest() {
        assert_eq!(
            shell_quote("http://127.0.0.1:8169"),
            "http://127.0.0.1:8169"
        );
        assert_eq!(shell_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn clients_on_the_host_prefer_a_loopback_address() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            preferred(&[a("169.254.170.2:80"), a("127.0.0.1:8170")]),
            Some(a("127.0.0.1:8170"))
        );
        assert_eq!(
            preferred(&[a("169.254.170.2:80"), a("169.254.170.23:80")]),
            Some(a("169.254.170.2:80"))
        );
        assert_eq!(preferred(&[]), None);
    }
}
