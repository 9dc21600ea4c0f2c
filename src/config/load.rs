//! Reading the configuration: the file (or the platform default, or nothing), parsed, with
//! errors mapped to the line of the key they name.

use std::path::Path;

use super::error::ConfigError;
use super::settings::{Config, DefaultPaths};
use super::{build, locate, raw};
use crate::env::Env;

impl Config {
    /// Reads `file` (or the platform's default file when it exists), applies the
    /// environment, validates.
    pub fn load(file: Option<&Path>, env: &Env) -> Result<Self, ConfigError> {
        Self::load_with(file, &DefaultPaths::from_platform(), env)
    }

    /// [`load`](Self::load) with the platform defaults given. `file` must exist; the default
    /// file may be missing (built-in defaults then), but one that exists must be readable: a
    /// regular file under [`MAX_FILE_BYTES`](crate::files::MAX_FILE_BYTES), so a FIFO or a
    /// device in its place is an error, never a hang.
    pub fn load_with(
        file: Option<&Path>,
        defaults: &DefaultPaths,
        env: &Env,
    ) -> Result<Self, ConfigError> {
        let read = |path: &Path| {
            crate::files::read_text(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        let (path, text) = match (file, &defaults.config_file) {
            (Some(path), _) => (path, read(path)?),
            (None, Some(path)) => match read(path) {
                Ok(text) => (path.as_path(), text),
                Err(ConfigError::Read { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    return Self::defaults(defaults, env);
                }
                Err(e) => return Err(e),
            },
            (None, None) => return Self::defaults(defaults, env),
        };
        Self::parse(&text, Some(path), defaults, env)
    }

    /// The built-in defaults under `env`, as if the file were empty.
    pub fn defaults(defaults: &DefaultPaths, env: &Env) -> Result<Self, ConfigError> {
        build::build(raw::RawConfig::default(), defaults, env)
    }

    /// Configuration text, as read from `file` (named in errors; `None` for text from
    /// elsewhere).
    pub fn parse(
        text: &str,
        file: Option<&Path>,
        defaults: &DefaultPaths,
        env: &Env,
    ) -> Result<Self, ConfigError> {
        let file_buf = file.map(Path::to_path_buf);
        let at = |offset: usize| Some(locate::position(text, offset));
        let doc = toml::de::DeTable::parse(text).map_err(|e| ConfigError::Syntax {
            file: file_buf.clone(),
            position: e.span().and_then(|s| at(s.start)),
            message: e.message().to_owned(),
        })?;
        let raw: raw::RawConfig = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start);
            let position = offset.and_then(at);
            let message = e.message().replacen("unknown field", "unknown key", 1);
            match offset.and_then(|o| locate::key_at(doc.get_ref(), o)) {
                Some(key) => ConfigError::Invalid {
                    file: file_buf.clone(),
                    position,
                    key,
                    message,
                },
                None => ConfigError::Syntax {
                    file: file_buf.clone(),
                    position,
                    message,
                },
            }
        })?;
        let mut config = build::build(raw, defaults, env).map_err(|e| match e {
            // Values from the environment are not in the file.
            ConfigError::Invalid { key, message, .. } if !key.starts_with('$') => {
                ConfigError::Invalid {
                    file: file_buf.clone(),
                    position: locate::span_of(doc.get_ref(), &key).and_then(|s| at(s.start)),
                    key,
                    message,
                }
            }
            e => e,
        })?;
        config.file = file_buf;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    //! Loading, precedence and validation, end to end through [`Config::parse`] and
    //! [`Config::load_with`].

    use crate::config::AllowedUsers;
    use std::io::ErrorKind;
    use std::net::SocketAddr;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::config::*;

    const EXAMPLE: &str = include_str!("../../config.example.toml");

    fn env(pairs: &[(&str, &str)]) -> Env {
        let base = [
            ("HOME", "/home/u"),
            ("STATE_DIRECTORY", "/var/lib/credvend"),
        ];
        let mut all: Vec<(&str, &str)> = base
            .into_iter()
            .filter(|(k, _)| !pairs.iter().any(|(p, _)| p == k))
            .collect();
        all.extend(pairs.iter().filter(|(_, v)| !v.is_empty()));
        Env::from_pairs(all)
    }

    fn no_paths() -> DefaultPaths {
        DefaultPaths::default()
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        parse_env(text, &env(&[]))
    }

    fn parse_env(text: &str, env: &Env) -> Result<Config, ConfigError> {
        Config::parse(text, Some(Path::new("/etc/cv.toml")), &no_paths(), env)
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// The key and message of an `Invalid` error, with its line when the file has it.
    fn invalid(result: Result<Config, ConfigError>) -> (String, Option<usize>, String) {
        match result {
            Err(ConfigError::Invalid {
                key,
                position,
                message,
                ..
            }) => (key, position.map(|p| p.line), message),
            other => panic!("expected an invalid-key error, got {other:?}"),
        }
    }

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "credvend-config-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn defaults_come_from_home_and_the_state_directory() {
        let c = Config::defaults(&no_paths(), &env(&[])).unwrap();
        assert_eq!(c.file, None);
        assert_eq!(c.state_dir, Path::new("/var/lib/credvend"));
        assert_eq!(c.aws.config_file, Path::new("/home/u/.aws/config"));
        assert_eq!(
            c.aws.credentials_file,
            Path::new("/home/u/.aws/credentials")
        );
        assert_eq!(c.aws.region, "us-east-1");
        assert_eq!((c.aws.sts_endpoint, c.aws.env_sts_endpoint), (None, None));
        assert_eq!(c.aws.ca_file, None);
        assert_eq!(c.aws.connect_timeout, Duration::from_secs(5));
        assert_eq!(c.aws.timeout, Duration::from_secs(10));
        assert_eq!((c.aws.max_attempts, c.aws.duration_seconds), (3, 3600));
        assert_eq!(c.aws.role_session_name, "credvend");
        assert_eq!(c.aws.default_profile, "default");
        assert_eq!(c.cache.refresh_margin, Duration::from_secs(1800));
        assert_eq!(c.cache.refresh_jitter, Duration::from_secs(300));
        assert_eq!(c.cache.max_backoff, Duration::from_secs(60));
        assert_eq!(
            c.imds,
            vec![ImdsListener {
                listen: addr("127.0.0.1:8169"),
                profile: "default".into(),
                imdsv1: true,
                public_key_file: None,
                allowed_networks: vec![],
                allowed_users: AllowedUsers::default(),
                label_profiles: vec![],
                require_label: false,
                token_hop_limit: 1,
            }]
        );
        assert_eq!(
            c.ecs,
            Some(EcsListener {
                listen: addr("127.0.0.1:8170"),
                also_listen: vec![],
                token_file: "/var/lib/credvend/ecs-token".into(),
                profiles: vec!["default".into()],
                allowed_networks: vec![],
                allowed_users: AllowedUsers::default(),
                profile_users: std::collections::BTreeMap::new(),
            })
        );
        assert_eq!(c.audit.path, Some("/var/lib/credvend/audit.jsonl".into()));
    }

    #[test]
    fn the_example_file_equals_the_builtin_defaults() {
        let e = env(&[]);
        let from_example = Config::parse(EXAMPLE, None, &no_paths(), &e).unwrap();
        assert_eq!(from_example, Config::defaults(&no_paths(), &e).unwrap());
    }

    #[test]
    fn the_example_shows_every_key_and_its_commented_keys_are_valid() {
        // Uncomment `# key = value` lines (not prose) and expect every key to be set.
        let uncommented: String = EXAMPLE
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest) if rest.split_once(" = ").is_some_and(|(k, _)| is_key(k)) => rest,
                _ => line,
            })
            .flat_map(|line| [line, "\n"])
            .collect();
        assert_ne!(uncommented, EXAMPLE);
        let raw: raw::RawConfig = toml::from_str(&uncommented).unwrap();
        let shown = format!("{raw:?}");
        assert!(
            !shown.contains("None"),
            "a key is missing from the example: {shown}"
        );
        let c = parse(&uncommented).unwrap();
        assert_eq!(c.state_dir, Path::new("/var/lib/credvend"));
        assert_eq!(c.imds[0].allowed_networks.len(), 1);
    }

    fn is_key(s: &str) -> bool {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    }

    #[test]
    fn the_environment_overrides_the_file_except_for_the_files_it_names() {
        let file = r#"
        [aws]
        config_file = "/f/config"
        credentials_file = "/f/credentials"
        region = "eu-west-1"
        sts_endpoint = "https://sts.file.example"
    "#;
        let c = parse(file).unwrap();
        assert_eq!(c.aws.config_file, Path::new("/f/config"));
        assert_eq!(c.aws.region, "eu-west-1");

        let e = env(&[
            ("AWS_CONFIG_FILE", "/e/config"),
            ("AWS_SHARED_CREDENTIALS_FILE", "~/e/credentials"),
            ("AWS_REGION", "ap-south-1"),
            ("AWS_DEFAULT_REGION", "sa-east-1"),
            ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL", "https://all.example"),
        ]);
        let c = parse_env(file, &e).unwrap();
        // The files named in credvend's config win over the SDKs' variables...
        assert_eq!(c.aws.config_file, Path::new("/f/config"));
        assert_eq!(c.aws.credentials_file, Path::new("/f/credentials"));
        // ...which stand in for them when the config names none.
        let c_env = parse_env("", &e).unwrap();
        assert_eq!(c_env.aws.config_file, Path::new("/e/config"));
        assert_eq!(
            c_env.aws.credentials_file,
            Path::new("/home/u/e/credentials")
        );
        assert_eq!(c.aws.region, "ap-south-1");
        // The file's own endpoint stays; the environment's is kept apart (lower precedence).
        assert_eq!(
            c.aws.sts_endpoint.as_deref(),
            Some("https://sts.file.example")
        );
        assert_eq!(
            c.aws.env_sts_endpoint.as_deref(),
            Some("http://127.0.0.1:5000")
        );

        let c = parse_env(
            file,
            &env(&[
                ("AWS_DEFAULT_REGION", "sa-east-1"),
                ("AWS_ENDPOINT_URL", "https://all.example"),
            ]),
        )
        .unwrap();
        assert_eq!(c.aws.region, "sa-east-1");
        assert_eq!(
            c.aws.env_sts_endpoint.as_deref(),
            Some("https://all.example")
        );
    }

    #[test]
    fn aws_profile_is_the_default_profile_unless_the_file_names_one() {
        let e = env(&[("AWS_PROFILE", "dev")]);
        let c = parse_env("", &e).unwrap();
        assert_eq!(c.aws.default_profile, "dev");
        assert_eq!(c.imds[0].profile, "dev");
        assert_eq!(c.ecs.unwrap().profiles, vec!["dev".to_owned()]);

        let file = "[[imds]]\nprofile = \"ops\"\n[[imds]]\nlisten = \"127.0.0.1:9000\"\n\
                [ecs]\nprofiles = [\"a\", \"b\"]\n";
        let c = parse_env(file, &e).unwrap();
        assert_eq!(c.aws.default_profile, "dev");
        assert_eq!(c.imds[0].profile, "ops");
        assert_eq!(c.imds[1].profile, "dev");
        assert_eq!(
            c.ecs.unwrap().profiles,
            vec!["a".to_owned(), "b".to_owned()]
        );
    }

    #[test]
    fn the_state_directory_comes_from_the_file_then_systemd_then_the_platform() {
        let platform = DefaultPaths {
            config_file: None,
            state_dir: Some("/p/state".into()),
        };
        let parse_with = |text: &str, e: &Env| Config::parse(text, None, &platform, e).unwrap();
        let systemd = env(&[("STATE_DIRECTORY", "/run/a:/run/b")]);
        assert_eq!(parse_with("", &systemd).state_dir, Path::new("/run/a"));
        assert_eq!(
            parse_with("state_dir = \"~/s\"", &systemd).state_dir,
            Path::new("/home/u/s")
        );
        let plain = env(&[("STATE_DIRECTORY", "")]);
        let c = parse_with("", &plain);
        assert_eq!(c.state_dir, Path::new("/p/state"));
        assert_eq!(c.audit.path, Some("/p/state/audit.jsonl".into()));

        let err = Config::defaults(&no_paths(), &plain).unwrap_err();
        assert_eq!(err.key(), Some("state_dir"));
        let (key, _, message) = invalid(parse("state_dir = \"rel\""));
        assert_eq!(
            (key.as_str(), message.as_str()),
            ("state_dir", "\"rel\" is not an absolute path")
        );
    }

    #[test]
    fn every_key_can_be_set_in_the_file() {
        let file = r#"
        state_dir = "/srv/cv"
        [aws]
        config_file = "/c"
        credentials_file = "/k"
        region = "cn-north-1"
        sts_endpoint = "https://sts.example"
        ca_file = "~/ca.pem"
        connect_timeout_seconds = 1
        timeout_seconds = 2
        max_attempts = 1
        duration_seconds = 900
        role_session_name = "me@host"
        [cache]
        refresh_margin_seconds = 2000
        refresh_jitter_seconds = 0
        max_backoff_seconds = 5
        [[imds]]
        listen = "10.0.0.1:80"
        profile = "p1"
        imdsv1 = false
        public_key_file = "~/.ssh/id.pub"
        allowed_networks = ["10.0.0.0/8", "fd00::/8"]
        [ecs]
        listen = "[::1]:0"
        token_file = "/t/token"
        profiles = ["a", "b"]
        allowed_networks = ["192.0.2.0/24"]
        [audit]
        path = "logs/a.jsonl"
    "#;
        let c = parse(file).unwrap();
        assert_eq!(c.file.as_deref(), Some(Path::new("/etc/cv.toml")));
        assert_eq!(c.state_dir, Path::new("/srv/cv"));
        let a = &c.aws;
        assert_eq!(
            (a.config_file.to_str(), a.credentials_file.to_str()),
            (Some("/c"), Some("/k"))
        );
        assert_eq!(a.region, "cn-north-1");
        assert_eq!(a.sts_endpoint.as_deref(), Some("https://sts.example"));
        assert_eq!(a.ca_file.as_deref(), Some(Path::new("/home/u/ca.pem")));
        assert_eq!(
            (a.connect_timeout, a.timeout),
            (Duration::from_secs(1), Duration::from_secs(2))
        );
        assert_eq!((a.max_attempts, a.duration_seconds), (1, 900));
        assert_eq!(a.role_session_name, "me@host");
        assert_eq!(c.cache.refresh_margin, Duration::from_secs(2000));
        assert_eq!(c.cache.refresh_jitter, Duration::ZERO);
        assert_eq!(c.cache.max_backoff, Duration::from_secs(5));
        assert_eq!(
            c.imds,
            vec![ImdsListener {
                listen: addr("10.0.0.1:80"),
                profile: "p1".into(),
                imdsv1: false,
                public_key_file: Some("/home/u/.ssh/id.pub".into()),
                allowed_networks: vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()],
                allowed_users: AllowedUsers::default(),
                label_profiles: vec![],
                require_label: false,
                token_hop_limit: 1,
            }]
        );
        assert_eq!(
            c.ecs,
            Some(EcsListener {
                listen: addr("[::1]:0"),
                also_listen: vec![],
                token_file: "/t/token".into(),
                profiles: vec!["a".into(), "b".into()],
                allowed_networks: vec!["192.0.2.0/24".parse().unwrap()],
                allowed_users: AllowedUsers::default(),
                profile_users: std::collections::BTreeMap::new(),
            })
        );
        assert_eq!(c.audit.path, Some("/srv/cv/logs/a.jsonl".into()));
    }

    #[test]
    fn source_identity_is_a_name_or_the_daemons_user() {
        assert_eq!(parse("").unwrap().aws.source_identity, None);
        let c = parse("[sts]\nsource_identity = \"ci-runner@host\"\n").unwrap();
        assert_eq!(c.aws.source_identity.as_deref(), Some("ci-runner@host"));
        let user = "[sts]\nsource_identity = \"$USER\"\n";
        let c = parse_env(user, &env(&[("USER", "alice")])).unwrap();
        assert_eq!(c.aws.source_identity.as_deref(), Some("alice"));
        let (key, line, message) = invalid(parse(user));
        assert_eq!((key.as_str(), line), ("sts.source_identity", Some(2)));
        assert!(message.contains("$USER is not set"), "{message}");
        let (_, _, message) = invalid(parse_env(user, &env(&[("USER", "a")])));
        assert!(message.contains("\"$USER\" is \"a\""), "{message}");
        let (key, line, message) = invalid(parse("[sts]\nsource_identity = \"a b\"\n"));
        assert_eq!((key.as_str(), line), ("sts.source_identity", Some(2)));
        assert!(message.contains("2 to 64"), "{message}");
        let c = parse("[audit]\ncheckpoint_seconds = 30\n").unwrap();
        assert_eq!(c.audit.checkpoint, Duration::from_secs(30));
        assert_eq!(
            invalid(parse("[audit]\ncheckpoint_seconds = 0\n")).0,
            "audit.checkpoint_seconds"
        );
    }

    #[test]
    fn disabled_sections_and_an_empty_imds_list_mean_none() {
        let c =
            parse("imds = []\n[ecs]\nenabled = false\nprofiles = []\n[audit]\nenabled = false\n")
                .unwrap();
        assert!(c.imds.is_empty());
        assert_eq!(c.ecs, None);
        assert_eq!(c.audit.path, None);
        // Disabled is no licence for bad values.
        let (key, _, _) = invalid(parse("[ecs]\nenabled = false\nlisten = \"x\"\n"));
        assert_eq!(key, "ecs.listen");
    }

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        let cases = [
            ("bogus = 1\n", "bogus", 1),
            (
                "[aws]\nregion = \"us-east-1\"\nregoin = \"x\"\n",
                "aws.regoin",
                3,
            ),
            (
                "[[imds]]\n[[imds]]\nlisten = \"127.0.0.1:1\"\nprofil = \"x\"\n",
                "imds[1].profil",
                4,
            ),
            ("[ecs]\n\ntoken = \"x\"\n", "ecs.token", 3),
            ("[audit]\nfile = \"x\"\n", "audit.file", 2),
            ("[cache.more]\n", "cache.more", 1),
            ("[nope]\n", "nope", 1),
        ];
        for (text, want_key, want_line) in cases {
            let (key, line, message) = invalid(parse(text));
            assert_eq!((key.as_str(), line), (want_key, Some(want_line)), "{text}");
            assert!(message.starts_with("unknown key"), "{message}");
        }
        let err = parse("[aws]\nbogus = 1\n").unwrap_err().to_string();
        assert!(
            err.starts_with("/etc/cv.toml:2:1: aws.bogus: unknown key `bogus`"),
            "{err}"
        );
    }

    #[test]
    fn values_of_the_wrong_type_are_named() {
        let cases = [
            ("[aws]\nmax_attempts = \"3\"\n", "aws.max_attempts", 2),
            ("[aws]\ntimeout_seconds = -1\n", "aws.timeout_seconds", 2),
            (
                "[[imds]]\n[[imds]]\nimdsv1 = \"yes\"\n",
                "imds[1].imdsv1",
                3,
            ),
            ("[ecs]\nprofiles = [\"a\", 1]\n", "ecs.profiles[1]", 2),
            ("aws = 3\n", "aws", 1),
            ("imds = {}\n", "imds", 1),
        ];
        for (text, want_key, want_line) in cases {
            let (key, line, _) = invalid(parse(text));
            assert_eq!((key.as_str(), line), (want_key, Some(want_line)), "{text}");
        }
    }

    #[test]
    fn invalid_values_are_named_with_a_reason() {
        let lo = "\nallowed_networks = [\"10.0.0.0/8\"]";
        let cases: Vec<(String, &str, &str)> = vec![
            (
                "[[imds]]\n[[imds]]\nlisten = \"x\"".into(),
                "imds[1].listen",
                "\"x\" is not an address like 127.0.0.1:8169",
            ),
            (
                "[ecs]\nlisten = \"localhost:1\"".into(),
                "ecs.listen",
                "is not an address like 127.0.0.1:8170",
            ),
            (
                "[[imds]]\nlisten = \"0.0.0.0:8169\"".into(),
                "imds[0].allowed_networks",
                "is not loopback",
            ),
            (
                "[ecs]\nlisten = \"192.0.2.1:8170\"\nallowed_networks = []".into(),
                "ecs.allowed_networks",
                "is not loopback",
            ),
            (
                "[[imds]]\nlisten = \"10.0.0.1:1\"\nallowed_networks = [\"10.0.0.0/33\"]".into(),
                "imds[0].allowed_networks[0]",
                "prefix longer than 32",
            ),
            (
                "[ecs]\nallowed_networks = [\"10.0.0.0/8\", \"nope\"]".into(),
                "ecs.allowed_networks[1]",
                "is not a network",
            ),
            (
                "[[imds]]\n[[imds]]".into(),
                "imds[1].listen",
                "overlaps imds[0].listen",
            ),
            (
                "[ecs]\nlisten = \"127.0.0.1:8169\"".into(),
                "ecs.listen",
                "overlaps imds[0].listen = \"127.0.0.1:8169\"",
            ),
            (
                format!("[[imds]]\nlisten = \"0.0.0.0:8170\"{lo}"),
                "ecs.listen",
                "overlaps imds[0].listen",
            ),
            (
                "[ecs]\nprofiles = []".into(),
                "ecs.profiles",
                "at least one profile",
            ),
            (
                "[ecs]\nprofiles = [\"a\", \"a\"]".into(),
                "ecs.profiles[1]",
                "listed twice",
            ),
            (
                "[ecs]\nprofiles = [\"a/b\"]".into(),
                "ecs.profiles[0]",
                "cannot be served in a URL path",
            ),
            (
                "[[imds]]\nprofile = \"\"".into(),
                "imds[0].profile",
                "must not be empty",
            ),
            (
                "[aws]\nduration_seconds = 899".into(),
                "aws.duration_seconds",
                "between 900 and 43200 (got 899)",
            ),
            (
                "[aws]\nduration_seconds = 43201".into(),
                "aws.duration_seconds",
                "between 900 and 43200",
            ),
            (
                "[aws]\nmax_attempts = 0".into(),
                "aws.max_attempts",
                "at least 1",
            ),
            (
                "[aws]\nconnect_timeout_seconds = 0".into(),
                "aws.connect_timeout_seconds",
                "at least 1",
            ),
            (
                "[aws]\ntimeout_seconds = 0".into(),
                "aws.timeout_seconds",
                "at least 1",
            ),
            (
                "[cache]\nmax_backoff_seconds = 0".into(),
                "cache.max_backoff_seconds",
                "at least 1",
            ),
            (
                "[cache]\nrefresh_margin_seconds = 3600".into(),
                "cache.refresh_margin_seconds",
                "less than 3600",
            ),
            (
                "[cache]\nrefresh_margin_seconds = 1199".into(),
                "cache.refresh_margin_seconds",
                "at least 1200",
            ),
            (
                "[cache]\nrefresh_margin_seconds = 3000\nrefresh_jitter_seconds = 600".into(),
                "cache.refresh_jitter_seconds",
                "less than 3600; got 3600",
            ),
            (
                "[aws]\nrole_session_name = \"a b\"".into(),
                "aws.role_session_name",
                "2 to 32 characters",
            ),
            (
                "[aws]\nrole_session_name = \"a\"".into(),
                "aws.role_session_name",
                "2 to 32 characters",
            ),
            (
                format!("[aws]\nrole_session_name = \"{}\"", "a".repeat(33)),
                "aws.role_session_name",
                "2 to 32",
            ),
            (
                "[aws]\nregion = \"evil.example/\"".into(),
                "aws.region",
                "not a region name",
            ),
            (
                "[aws]\nsts_endpoint = \"http://sts.example\"".into(),
                "aws.sts_endpoint",
                "not loopback; use https",
            ),
            (
                "[aws]\nsts_endpoint = \"sts.example\"".into(),
                "aws.sts_endpoint",
                "not an http(s) URL",
            ),
            (
                "[aws]\nconfig_file = \"\"".into(),
                "aws.config_file",
                "must not be empty",
            ),
        ];
        for (text, want_key, want) in cases {
            let (key, line, message) = invalid(parse(&text));
            assert_eq!(key, want_key, "{text}");
            assert!(message.contains(want), "{text}: {message}");
            // A key in a table the file does not write has no line.
            let table = want_key.split(['.', '[']).next().unwrap();
            assert_eq!(
                line.is_some(),
                text.contains(table),
                "{text}: line {line:?}"
            );
        }
    }

    #[test]
    fn validation_errors_point_at_the_line_of_the_value() {
        let text = "[aws]\nregion = \"us-east-1\"\n\n[[imds]]\n[[imds]]\nlisten = \"bad\"\n";
        let err = parse(text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/etc/cv.toml:6:10: imds[1].listen: \"bad\" is not an address like 127.0.0.1:8169"
        );
    }

    #[test]
    fn listen_takes_one_address_or_a_list_and_each_address_is_a_listener() {
        let text = r#"
        [[imds]]
        listen = ["169.254.169.254:80", "[fd00:ec2::254]:80"]
        profile = "app"
        imdsv1 = false
        allowed_networks = ["172.17.0.0/16", "fd00:d0c::/64"]
        [[imds]]
        listen = "127.0.0.1:8169"
        [ecs]
        listen = ["169.254.170.2:80", "169.254.170.23:80", "[fd00:ec2::23]:80"]
        allowed_networks = ["172.17.0.0/16"]
    "#;
        let c = parse(text).unwrap();
        let imds: Vec<(SocketAddr, &str, bool)> = c
            .imds
            .iter()
            .map(|l| (l.listen, l.profile.as_str(), l.imdsv1))
            .collect();
        assert_eq!(
            imds,
            [
                (addr("169.254.169.254:80"), "app", false),
                (addr("[fd00:ec2::254]:80"), "app", false),
                (addr("127.0.0.1:8169"), "default", true),
            ]
        );
        // Everything but the address is the table's, for each of its addresses.
        assert_eq!(c.imds[0].allowed_networks, c.imds[1].allowed_networks);
        assert_eq!(c.imds[1].allowed_networks.len(), 2);
        let ecs = c.ecs.unwrap();
        assert_eq!(ecs.listen, addr("169.254.170.2:80"));
        assert_eq!(
            ecs.addresses().collect::<Vec<_>>(),
            [
                addr("169.254.170.2:80"),
                addr("169.254.170.23:80"),
                addr("[fd00:ec2::23]:80")
            ]
        );
        // A list of one is the same as the address alone.
        let one =
            parse("[[imds]]\nlisten = [\"127.0.0.1:1\"]\n[ecs]\nlisten = [\"127.0.0.1:2\"]\n")
                .unwrap();
        assert_eq!(one.imds[0].listen, addr("127.0.0.1:1"));
        assert!(one.ecs.unwrap().also_listen.is_empty());
    }

    #[test]
    fn a_bad_list_entry_is_named_with_its_index_file_and_line() {
        let nets = "allowed_networks = [\"10.0.0.0/8\"]";
        let cases: Vec<(String, &str, &str)> = vec![
            (
                "[[imds]]\nlisten = [\n  \"169.254.169.254:80\",\n  \"fd00:ec2::254:80\",\n]\n"
                    .into(),
                "/etc/cv.toml:4:3: imds[0].listen[1]",
                "\"fd00:ec2::254:80\" is not an address: an IPv6 address goes in brackets",
            ),
            (
                "[ecs]\nlisten = []\n".into(),
                "/etc/cv.toml:2:10: ecs.listen",
                "must name at least one address, like [\"127.0.0.1:8170\"]",
            ),
            (
                "[ecs]\nlisten = 80\n".into(),
                "/etc/cv.toml:2:10: ecs.listen",
                "expected an address \"IP:PORT\" (IPv6 in brackets), or a list of them",
            ),
            (
                "[ecs]\nlisten = [\"127.0.0.1:1\", 2]\n".into(),
                "/etc/cv.toml:2:",
                "ecs.listen[1]",
            ),
            (
                format!(
                    "[ecs]\n{nets}\nlisten = [\"10.0.0.1:80\", \"10.0.0.2:80\", \"10.0.0.1:80\"]\n"
                ),
                "/etc/cv.toml:3:",
                "ecs.listen[2]: \"10.0.0.1:80\" overlaps ecs.listen[0] = \"10.0.0.1:80\"",
            ),
            (
                format!("[[imds]]\n{nets}\nlisten = [\"10.0.0.1:80\", \"0.0.0.0:8170\"]\n"),
                "/etc/cv.toml:",
                "ecs.listen: \"127.0.0.1:8170\" overlaps imds[0].listen[1] = \"0.0.0.0:8170\"",
            ),
            (
                "[[imds]]\nlisten = [\"127.0.0.1:1\", \"10.0.0.1:80\"]\n".into(),
                "/etc/cv.toml:1:1: imds[0].allowed_networks",
                "because listen = \"10.0.0.1:80\" is not loopback",
            ),
        ];
        for (text, at, want) in cases {
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.starts_with(at), "{text}: {err}");
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn port_zero_listeners_never_clash() {
        let c = parse("[[imds]]\nlisten = \"127.0.0.1:0\"\n[[imds]]\nlisten = \"127.0.0.1:0\"\n[ecs]\nlisten = \"127.0.0.1:0\"\n")
        .unwrap();
        assert_eq!(c.imds.len(), 2);
        // The same port on different loopback addresses is fine too.
        parse("[[imds]]\nlisten = \"127.0.0.2:8169\"\n[[imds]]\nlisten = \"[::1]:8169\"\n")
            .unwrap();
    }

    #[test]
    fn bad_environment_values_name_the_variable_not_the_file() {
        let cases = [
            ("AWS_REGION", "us east"),
            ("AWS_DEFAULT_REGION", "x/y"),
            ("AWS_ENDPOINT_URL_STS", "http://10.0.0.1"),
            ("AWS_ENDPOINT_URL", "nope"),
            ("AWS_ENDPOINT_URL", "https://"),
            ("AWS_ENDPOINT_URL", "https://a b"),
            ("STATE_DIRECTORY", "relative"),
            ("AWS_PROFILE", "a/b"),
        ];
        for (name, value) in cases {
            let err = parse_env("", &env(&[(name, value)])).unwrap_err();
            assert_eq!(err.key(), Some(format!("${name}").as_str()));
            assert!(err.to_string().starts_with(&format!("${name}: ")), "{err}");
        }
    }

    #[test]
    fn only_a_leading_tilde_slash_expands() {
        let file = r#"
        [aws]
        config_file = "~/a"
        credentials_file = "~user/b"
        ca_file = "x/~/c"
    "#;
        let c = parse(file).unwrap();
        assert_eq!(c.aws.config_file, Path::new("/home/u/a"));
        assert_eq!(c.aws.credentials_file, Path::new("~user/b"));
        assert_eq!(c.aws.ca_file.as_deref(), Some(Path::new("x/~/c")));

        let homeless = env(&[("HOME", "")]);
        let (key, _, message) = invalid(parse_env(
            "[aws]\nconfig_file = \"/c\"\ncredentials_file = \"/k\"\nca_file = \"~/ca\"",
            &homeless,
        ));
        assert_eq!(key, "aws.ca_file");
        assert!(message.contains("$HOME is not set"), "{message}");
        // The default ~/.aws/config needs HOME too, unless the environment names the file.
        assert_eq!(
            Config::defaults(&no_paths(), &homeless).unwrap_err().key(),
            Some("aws.config_file")
        );
        let named = env(&[
            ("HOME", ""),
            ("AWS_CONFIG_FILE", "/c"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/k"),
        ]);
        assert!(Config::defaults(&no_paths(), &named).is_ok());
    }

    #[test]
    fn syntax_errors_carry_the_file_and_line() {
        match parse("[aws]\nregion = \n") {
            Err(ConfigError::Syntax {
                file,
                position: Some(p),
                ..
            }) => {
                assert_eq!(file.as_deref(), Some(Path::new("/etc/cv.toml")));
                assert_eq!(p.line, 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_missing_config_file_is_an_error_but_a_missing_default_is_not() {
        let dir = TempDir::new();
        let missing = dir.0.join("nope.toml");
        let err = Config::load_with(Some(&missing), &no_paths(), &env(&[])).unwrap_err();
        match &err {
            ConfigError::Read { path, source } => {
                assert_eq!(path, &missing);
                assert_eq!(source.kind(), ErrorKind::NotFound);
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("nope.toml"), "{err}");

        let defaults = DefaultPaths {
            config_file: Some(missing.clone()),
            state_dir: None,
        };
        let c = Config::load_with(None, &defaults, &env(&[])).unwrap();
        assert_eq!(c, Config::defaults(&defaults, &env(&[])).unwrap());
        assert_eq!(c.file, None);

        std::fs::write(&missing, "[aws]\nregion = \"eu-north-1\"\n").unwrap();
        let c = Config::load_with(None, &defaults, &env(&[])).unwrap();
        assert_eq!(c.file.as_deref(), Some(missing.as_path()));
        assert_eq!(c.aws.region, "eu-north-1");

        let given = dir.0.join("given.toml");
        std::fs::write(&given, "[aws]\nbogus = 1\n").unwrap();
        let err = Config::load_with(Some(&given), &defaults, &env(&[])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("{}:2:1: aws.bogus", given.display())),
            "{err}"
        );
    }

    #[test]
    fn a_default_file_that_cannot_be_read_is_an_error() {
        let dir = TempDir::new();
        // A directory where the file should be.
        let defaults = DefaultPaths {
            config_file: Some(dir.0.clone()),
            state_dir: None,
        };
        assert!(matches!(
            Config::load_with(None, &defaults, &env(&[])),
            Err(ConfigError::Read { .. })
        ));
    }

    #[test]
    fn a_fifo_or_dev_zero_as_the_config_file_is_refused_naming_it() {
        let dir = TempDir::new();
        let fifo = dir.0.join("fifo.toml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let zero = dir.0.join("zero.toml");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        for (path, why) in [
            (&fifo, "it is a FIFO, not a regular file"),
            (&zero, "it is a character device, not a regular file"),
        ] {
            // A plain read would wait for a writer, or fill memory with zeros.
            let err = Config::load_with(Some(path), &no_paths(), &env(&[])).unwrap_err();
            let shown = crate::causes::Causes(&err).to_string();
            assert_eq!(
                shown,
                format!("cannot read config file {}: {why}", path.display())
            );
        }
    }
}
