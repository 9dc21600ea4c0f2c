//! What an SDK would use before it ever asks credvend. Every SDK's default chain reads keys
//! from the environment, then the profile it was told to use (or `default`) from the shared
//! files, and only then the container and IMDS providers (docs/clients.md). Keys found
//! earlier shadow credvend: the client uses them directly.

use std::path::PathBuf;

use super::{Location, ProfilePaths, ProfileSet};
use crate::env::Env;

/// Environment variables through which a client gets credentials, or a profile, of its own.
pub const SHADOWING_VARIABLES: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_SESSION_NAME",
];

/// Profile keys that make a client use the profile's own credentials instead of going on to
/// the container and IMDS providers.
pub const CREDENTIAL_KEYS: &[&str] = &[
    "aws_access_key_id",
    "role_arn",
    "credential_source",
    "credential_process",
    "sso_session",
    "sso_start_url",
    "web_identity_token_file",
];

/// The shared files a client in `env` reads: `$AWS_CONFIG_FILE` and
/// `$AWS_SHARED_CREDENTIALS_FILE`, else the two files under `~/.aws`; `None` without either
/// variable and without `$HOME`.
#[must_use]
pub fn client_paths(env: &Env) -> Option<ProfilePaths> {
    let under_home = |rel: &str| env.home().map(|h| PathBuf::from(h).join(rel));
    Some(ProfilePaths {
        config_file: env
            .get("AWS_CONFIG_FILE")
            .map(PathBuf::from)
            .or_else(|| under_home(".aws/config"))?,
        credentials_file: env
            .get("AWS_SHARED_CREDENTIALS_FILE")
            .map(PathBuf::from)
            .or_else(|| under_home(".aws/credentials"))?,
    })
}

/// The profile a client in `env` uses: `$AWS_PROFILE`, else `$AWS_DEFAULT_PROFILE` (older
/// SDKs), else `default`.
#[must_use]
pub fn client_profile(env: &Env) -> &str {
    env.get("AWS_PROFILE")
        .or_else(|| env.get("AWS_DEFAULT_PROFILE"))
        .unwrap_or("default")
}

/// The keys of `profile` in `set` that would shadow credvend, with where each is set.
#[must_use]
pub fn shadowing_keys(set: &ProfileSet, profile: &str) -> Vec<(&'static str, Location)> {
    let Some(profile) = set.profiles.get(profile) else {
        return Vec::new();
    };
    CREDENTIAL_KEYS
        .iter()
        .filter_map(|&key| {
            let property = profile.properties.get(key)?;
            (!property.value.is_empty()).then(|| (key, property.location.clone()))
        })
        .collect()
}

/// Where the keys credvend reads are what clients in `env` find first: the clients' profile
/// and the place of its `aws_access_key_id`, when that is in one of credvend's own files
/// (`own`). `None` when clients would not find credvend's keys first.
#[must_use]
pub fn exposed_keys(own: &ProfilePaths, env: &Env) -> Option<(String, Location)> {
    let client = client_paths(env)?;
    let set = ProfileSet::load(&client).ok()?;
    let profile = client_profile(env);
    let key = set
        .profiles
        .get(profile)?
        .properties
        .get("aws_access_key_id")?;
    let file = PathBuf::from(&key.location.file);
    (file == own.credentials_file || file == own.config_file)
        .then(|| (profile.to_owned(), key.location.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::FileKind;

    #[test]
    fn the_client_files_follow_the_sdk_variables_then_home() {
        let env = Env::from_pairs([("HOME", "/home/u")]);
        let paths = client_paths(&env).unwrap();
        assert_eq!(paths.config_file, PathBuf::from("/home/u/.aws/config"));
        assert_eq!(
            paths.credentials_file,
            PathBuf::from("/home/u/.aws/credentials")
        );
        let env = Env::from_pairs([
            ("HOME", "/home/u"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ]);
        assert_eq!(
            client_paths(&env).unwrap().credentials_file,
            PathBuf::from("/dev/null")
        );
        assert!(client_paths(&Env::default()).is_none());
    }

    #[test]
    fn the_client_profile_is_aws_profile_then_the_legacy_name_then_default() {
        assert_eq!(client_profile(&Env::default()), "default");
        let legacy = Env::from_pairs([("AWS_DEFAULT_PROFILE", "old")]);
        assert_eq!(client_profile(&legacy), "old");
        let both = Env::from_pairs([("AWS_DEFAULT_PROFILE", "old"), ("AWS_PROFILE", "new")]);
        assert_eq!(client_profile(&both), "new");
    }

    #[test]
    fn keys_in_the_file_clients_read_first_are_exposed_until_they_move() {
        let dir = crate::test_util::temp_dir("exposed");
        std::fs::create_dir_all(dir.join(".aws")).unwrap();
        let shared = dir.join(".aws/credentials");
        std::fs::write(
            &shared,
            "[default]\naws_access_key_id = AKIDX\naws_secret_access_key = s\n",
        )
        .unwrap();
        let env = Env::from_pairs([("HOME", dir.display().to_string())]);
        let own = ProfilePaths {
            config_file: dir.join(".aws/config"),
            credentials_file: shared.clone(),
        };
        let (profile, at) = exposed_keys(&own, &env).unwrap();
        assert_eq!(profile, "default");
        assert_eq!(at.to_string(), format!("{}:2", shared.display()));
        // credvend reading a file of its own: clients find nothing of credvend's.
        let moved = ProfilePaths {
            credentials_file: dir.join("own-credentials"),
            ..own.clone()
        };
        assert!(exposed_keys(&moved, &env).is_none());
        // Clients told to use another profile do not pick up the default keys.
        let other = Env::from_pairs([
            ("HOME", dir.display().to_string()),
            ("AWS_PROFILE", "x".to_owned()),
        ]);
        assert!(exposed_keys(&own, &other).is_none());
    }

    #[test]
    fn keys_roles_and_processes_shadow_but_a_region_does_not() {
        let mut set = ProfileSet::default();
        let config = "[default]\nregion = eu-west-1\n\n[profile dev]\nregion = eu-west-1\n\
                      credential_process = /bin/creds\n";
        set.merge_text(config, "config".as_ref(), FileKind::Config)
            .unwrap();
        let creds = "[prod]\naws_access_key_id = AKIDPROD\naws_secret_access_key = s\n";
        set.merge_text(creds, "credentials".as_ref(), FileKind::Credentials)
            .unwrap();
        assert!(shadowing_keys(&set, "default").is_empty());
        let dev = shadowing_keys(&set, "dev");
        assert_eq!(dev.len(), 1);
        assert_eq!(dev[0].0, "credential_process");
        assert_eq!(dev[0].1.to_string(), "config:6");
        assert_eq!(shadowing_keys(&set, "prod")[0].0, "aws_access_key_id");
        assert!(shadowing_keys(&set, "nosuch").is_empty());
    }
}
