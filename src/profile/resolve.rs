//! Resolving a profile name into a [`ProfileChain`](super::ProfileChain).
//!
//! The walk follows `source_profile` from the requested profile (docs/wire-contract.md §7.6):
//! each profile with `role_arn` adds a hop; a later profile with static keys ends the chain
//! (its `role_arn` is ignored); a profile may name itself only when it has keys; any other
//! revisit is a loop. Hops are collected requested-first and returned in call order.

use super::metadata;
use super::{
    BaseCredentials, CredentialSource, Location, MfaDevice, Profile, ProfileChain, ProfileError,
    ProfileSet, Property, RoleHop, StsRegionalEndpoints,
};
use crate::env::Env;
use crate::secret::{Credentials, Secret};

const ACCESS_KEY_ID: &str = "aws_access_key_id";
const SECRET_ACCESS_KEY: &str = "aws_secret_access_key";
const SESSION_TOKEN: &str = "aws_session_token";
const SECURITY_TOKEN: &str = "aws_security_token";
const CREDENTIAL_PROCESS: &str = "credential_process";

impl ProfileSet {
    /// Resolves `name` into base credentials plus role hops. `env` supplies
    /// `credential_source = Environment`.
    pub fn resolve(&self, name: &str, env: &Env) -> Result<ProfileChain, ProfileError> {
        let requested = self.profile(name)?;
        let mut visited: Vec<&str> = Vec::new();
        let mut hops = Vec::new();
        let mut mfa = None;
        let mut current = requested;
        let base = loop {
            visited.push(&current.name);
            check_keys_complete(current)?;
            // The closest `mfa_serial` to the requested profile is the one its chain needs.
            if mfa.is_none()
                && let Some(serial) = get(current, "mfa_serial")
            {
                mfa = Some(MfaDevice {
                    serial: serial.value.clone(),
                    profile: current.name.clone(),
                    location: serial.location.clone(),
                });
            }
            // An SSO profile without a role is a source, even beside keys (botocore's order).
            if get(current, "role_arn").is_none()
                && get(current, "credential_source").is_none()
                && let Some(base) = self.sso_base(current, requested)?
            {
                break base;
            }
            if visited.len() > 1
                && let Some(base) = static_base(current)
            {
                break base;
            }
            let source_profile = get(current, "source_profile");
            let credential_source = get(current, "credential_source");
            if let (Some(at), Some(_)) = (source_profile, credential_source) {
                return Err(ProfileError::BothSources {
                    location: at.location.clone(),
                    profile: current.name.clone(),
                });
            }
            let Some(role_arn) = get(current, "role_arn") else {
                if let Some(source) = credential_source {
                    break source_base(requested, current, source, env)?;
                }
                // Keys win over credential_process, as in botocore's shared-credentials order.
                if let (None, Some(process)) =
                    (static_base(current), get(current, CREDENTIAL_PROCESS))
                {
                    break process_base(current, process, &visited)?;
                }
                break static_base(current).ok_or_else(|| ProfileError::NoCredentials {
                    location: header(current),
                    profile: current.name.clone(),
                })?;
            };
            hops.push(hop(current, role_arn)?);
            if let Some(source) = credential_source {
                break source_base(requested, current, source, env)?;
            }
            let next = source_profile.ok_or_else(|| ProfileError::RoleWithoutSource {
                location: role_arn.location.clone(),
                profile: current.name.clone(),
            })?;
            let loop_error = |start: usize| ProfileError::Loop {
                location: next.location.clone(),
                cycle: [&visited[start..], &[next.value.as_str()]]
                    .concat()
                    .join(" -> "),
            };
            if next.value == current.name {
                break static_base(current).ok_or_else(|| loop_error(visited.len() - 1))?;
            }
            if let Some(start) = visited.iter().position(|v| *v == next.value) {
                return Err(loop_error(start));
            }
            current = self.profiles.get(&next.value).ok_or_else(|| {
                ProfileError::UnknownSourceProfile {
                    location: next.location.clone(),
                    profile: current.name.clone(),
                    source_profile: next.value.clone(),
                }
            })?;
        };
        hops.reverse();
        if let Some(device) = &mfa {
            check_mfa_base(device, &base)?;
        }
        Ok(ProfileChain {
            profile: requested.name.clone(),
            base,
            hops,
            region: get(requested, "region").map(|p| p.value.clone()),
            sts_regional_endpoints: sts_regional_endpoints(requested)?,
            endpoint_url: self.endpoint_url(requested),
            mfa,
        })
    }

    fn profile(&self, name: &str) -> Result<&Profile, ProfileError> {
        self.profiles
            .get(name)
            .ok_or_else(|| ProfileError::UnknownProfile {
                name: name.to_string(),
                available: if self.profiles.is_empty() {
                    "none".into()
                } else {
                    self.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
                },
            })
    }

    /// `[services NAME]` `sts` `endpoint_url` for the profile's `services = NAME`, else the
    /// profile's own `endpoint_url`.
    fn endpoint_url(&self, profile: &Profile) -> Option<String> {
        get(profile, "services")
            .and_then(|s| self.services.get(&s.value))
            .and_then(|services| services.get("sts"))
            .and_then(|sts| sts.get("endpoint_url"))
            .filter(|p| !p.value.is_empty())
            .or_else(|| get(profile, "endpoint_url"))
            .map(|p| p.value.clone())
    }
}

/// The credentials of `credential_source = Environment`: `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` (or the legacy `AWS_SECURITY_TOKEN`).
/// The error names the first key variable that is missing.
pub fn environment_credentials(env: &Env) -> Result<Credentials, &'static str> {
    let key = env.get("AWS_ACCESS_KEY_ID").ok_or("AWS_ACCESS_KEY_ID")?;
    let secret = env
        .get("AWS_SECRET_ACCESS_KEY")
        .ok_or("AWS_SECRET_ACCESS_KEY")?;
    Ok(Credentials {
        access_key_id: key.to_owned(),
        secret_access_key: Secret::new(secret),
        session_token: env
            .get("AWS_SESSION_TOKEN")
            .or_else(|| env.get("AWS_SECURITY_TOKEN"))
            .map(Secret::new),
        expiration: None,
    })
}

/// A key's property, treating an empty value as unset.
fn get<'a>(profile: &'a Profile, key: &str) -> Option<&'a Property> {
    profile.properties.get(key).filter(|p| !p.value.is_empty())
}

/// Where the profile's section header is (profiles built by hand may have none).
fn header(profile: &Profile) -> Location {
    profile.location.clone().unwrap_or_else(|| Location {
        file: "<unknown>".into(),
        line: 0,
    })
}

fn session_token(profile: &Profile) -> Option<&Property> {
    get(profile, SESSION_TOKEN).or_else(|| get(profile, SECURITY_TOKEN))
}

/// Half a key pair, or a token without keys, is an error wherever the chain meets it.
fn check_keys_complete(profile: &Profile) -> Result<(), ProfileError> {
    let id = get(profile, ACCESS_KEY_ID);
    let secret = get(profile, SECRET_ACCESS_KEY);
    let (at, present, missing) = match (id, secret, session_token(profile)) {
        (Some(at), None, _) => (at, ACCESS_KEY_ID, SECRET_ACCESS_KEY),
        (None, Some(at), _) => (at, SECRET_ACCESS_KEY, ACCESS_KEY_ID),
        (None, None, Some(at)) => (at, SESSION_TOKEN, ACCESS_KEY_ID),
        _ => return Ok(()),
    };
    Err(ProfileError::IncompleteKeys {
        location: at.location.clone(),
        profile: profile.name.clone(),
        present,
        missing,
    })
}

fn static_base(profile: &Profile) -> Option<BaseCredentials> {
    let id = get(profile, ACCESS_KEY_ID)?;
    let secret = get(profile, SECRET_ACCESS_KEY)?;
    Some(BaseCredentials::Static {
        profile: profile.name.clone(),
        credentials: Credentials {
            access_key_id: id.value.clone(),
            secret_access_key: Secret::new(secret.value.clone()),
            session_token: session_token(profile).map(|t| Secret::new(t.value.clone())),
            expiration: None,
        },
        location: id.location.clone(),
    })
}

/// `credential_process`: checked now only to fail early, with the file and line, on a command
/// line that cannot be split; it runs at each mint.
fn process_base(
    profile: &Profile,
    process: &Property,
    visited: &[&str],
) -> Result<BaseCredentials, ProfileError> {
    let invalid = |expected| ProfileError::InvalidValue {
        location: process.location.clone(),
        profile: profile.name.clone(),
        key: CREDENTIAL_PROCESS,
        expected,
    };
    let Ok(words) = crate::mint::process::split::split(&process.value) else {
        return Err(invalid(
            "a command line with balanced quotes and no trailing backslash",
        ));
    };
    if asks_credvend_for(&words).is_some_and(|asked| visited.contains(&asked)) {
        return Err(invalid(
            "something other than `credvend credential-process` for this same chain, which \
             would ask credvend for the credentials it is making",
        ));
    }
    Ok(BaseCredentials::Process {
        profile: profile.name.clone(),
        command: Secret::new(process.value.clone()),
        location: process.location.clone(),
    })
}

/// The profile a `credvend credential-process --profile NAME` command line asks credvend for.
fn asks_credvend_for(words: &[String]) -> Option<&str> {
    let program = std::path::Path::new(words.first()?).file_name()?;
    if program != "credvend" || !words.iter().any(|w| w == "credential-process") {
        return None;
    }
    words
        .iter()
        .enumerate()
        .find_map(|(i, w)| match w.strip_prefix("--profile") {
            Some("") => words.get(i + 1).map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        })
}

fn source_base(
    requested: &Profile,
    profile: &Profile,
    source: &Property,
    env: &Env,
) -> Result<BaseCredentials, ProfileError> {
    let location = source.location.clone();
    // botocore compares case-insensitively; the other SDKs want the exact spelling.
    let parsed = match source.value.to_ascii_lowercase().as_str() {
        "environment" => CredentialSource::Environment,
        "ec2instancemetadata" => CredentialSource::Ec2InstanceMetadata,
        "ecscontainer" => CredentialSource::EcsContainer,
        _ => {
            return Err(ProfileError::UnknownCredentialSource {
                location,
                profile: profile.name.clone(),
            });
        }
    };
    if parsed != CredentialSource::Environment {
        return metadata_base(requested, profile, location, parsed, env);
    }
    // Read now only to fail early with the file and line; minting reads them again.
    if let Err(missing) = environment_credentials(env) {
        return Err(ProfileError::EnvironmentCredentialsMissing {
            location,
            profile: profile.name.clone(),
            missing,
        });
    }
    Ok(BaseCredentials::Environment {
        profile: profile.name.clone(),
        location,
    })
}

/// `credential_source = Ec2InstanceMetadata | EcsContainer`: the endpoint is resolved now, so
/// a bad one is an error naming the line. The IMDS keys are looked for in the requested
/// profile (as botocore does), then in the one naming the source.
fn metadata_base(
    requested: &Profile,
    profile: &Profile,
    location: Location,
    credential_source: CredentialSource,
    env: &Env,
) -> Result<BaseCredentials, ProfileError> {
    let key = |name| {
        get(requested, name)
            .or_else(|| get(profile, name))
            .map(|p| p.value.as_str())
    };
    let resolved = if credential_source == CredentialSource::EcsContainer {
        metadata::container_source(env)
    } else {
        metadata::imds_source(
            env,
            key("ec2_metadata_service_endpoint"),
            key("ec2_metadata_service_endpoint_mode"),
        )
    };
    match resolved {
        Ok(source) => Ok(BaseCredentials::Metadata {
            profile: profile.name.clone(),
            location,
            source,
        }),
        Err(reason) => Err(ProfileError::MetadataSource {
            location,
            profile: profile.name.clone(),
            credential_source,
            reason,
        }),
    }
}

/// An MFA session is made with GetSessionToken, which takes an IAM user's long-term keys.
fn check_mfa_base(device: &MfaDevice, base: &BaseCredentials) -> Result<(), ProfileError> {
    match base {
        BaseCredentials::Static { credentials, .. } if !credentials.is_session() => Ok(()),
        _ => Err(ProfileError::MfaNeedsLongTermKeys {
            location: device.location.clone(),
            profile: device.profile.clone(),
        }),
    }
}

fn hop(profile: &Profile, role_arn: &Property) -> Result<RoleHop, ProfileError> {
    let duration_seconds = get(profile, "duration_seconds")
        .map(|d| {
            d.value
                .parse::<u32>()
                .map_err(|_| ProfileError::InvalidValue {
                    location: d.location.clone(),
                    profile: profile.name.clone(),
                    key: "duration_seconds",
                    expected: "a whole number of seconds",
                })
        })
        .transpose()?;
    let value = |key| get(profile, key).map(|p| p.value.clone());
    Ok(RoleHop {
        profile: profile.name.clone(),
        role_arn: role_arn.value.clone(),
        role_session_name: value("role_session_name"),
        external_id: value("external_id"),
        duration_seconds,
        location: role_arn.location.clone(),
    })
}

fn sts_regional_endpoints(profile: &Profile) -> Result<Option<StsRegionalEndpoints>, ProfileError> {
    let Some(p) = get(profile, "sts_regional_endpoints") else {
        return Ok(None);
    };
    match p.value.to_ascii_lowercase().as_str() {
        "regional" => Ok(Some(StsRegionalEndpoints::Regional)),
        "legacy" => Ok(Some(StsRegionalEndpoints::Legacy)),
        _ => Err(ProfileError::InvalidValue {
            location: p.location.clone(),
            profile: profile.name.clone(),
            key: "sts_regional_endpoints",
            expected: "`regional` or `legacy`",
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::profile::FileKind;

    fn set(config: &str, credentials: &str) -> ProfileSet {
        let mut set = ProfileSet::default();
        set.merge_text(config, Path::new("config"), FileKind::Config)
            .unwrap();
        set.merge_text(credentials, Path::new("credentials"), FileKind::Credentials)
            .unwrap();
        set
    }

    fn no_env() -> Env {
        Env::from_pairs::<&str, &str>([])
    }

    fn resolve(set: &ProfileSet, name: &str) -> Result<ProfileChain, ProfileError> {
        set.resolve(name, &no_env())
    }

    fn hop_names(chain: &ProfileChain) -> Vec<&str> {
        chain.hops.iter().map(|h| h.profile.as_str()).collect()
    }

    const KEYS: &str = "aws_access_key_id = AKIDBASE\naws_secret_access_key = s/e+c=\n";

    #[test]
    fn keys_only_resolve_to_static_credentials_without_hops() {
        let set = set("", &format!("[default]\n{KEYS}aws_security_token = T\n"));
        let chain = resolve(&set, "default").unwrap();
        assert!(chain.hops.is_empty());
        let BaseCredentials::Static {
            credentials,
            location,
            ..
        } = chain.base
        else {
            panic!("not static");
        };
        assert_eq!(credentials.access_key_id, "AKIDBASE");
        assert_eq!(credentials.secret_access_key.expose(), "s/e+c=");
        assert_eq!(credentials.session_token.unwrap().expose(), "T");
        assert_eq!(location.to_string(), "credentials:2");
    }

    #[test]
    fn chains_are_followed_to_the_first_source_with_keys_and_hops_come_in_call_order() {
        let set = set(
            &format!(
                "[profile a]\nrole_arn = arn:a\nsource_profile = b\nexternal_id = x\nrole_session_name = s\nduration_seconds = 900\n\
                 [profile b]\nrole_arn = arn:b\nsource_profile = c\n\
                 [profile c]\nrole_arn = arn:c-ignored\nsource_profile = a\n{KEYS}"
            ),
            "",
        );
        let chain = resolve(&set, "a").unwrap();
        assert_eq!(hop_names(&chain), ["b", "a"]);
        assert!(matches!(&chain.base, BaseCredentials::Static { profile, .. } if profile == "c"));
        let last = &chain.hops[1];
        assert_eq!(last.role_arn, "arn:a");
        assert_eq!(last.external_id.as_deref(), Some("x"));
        assert_eq!(last.role_session_name.as_deref(), Some("s"));
        assert_eq!(last.duration_seconds, Some(900));
        assert_eq!(last.location.to_string(), "config:2");
    }

    #[test]
    fn a_profile_may_be_its_own_source_only_with_keys() {
        let with = set(
            &format!("[profile a]\nrole_arn = r\nsource_profile = a\n{KEYS}"),
            "",
        );
        let chain = resolve(&with, "a").unwrap();
        assert_eq!(hop_names(&chain), ["a"]);
        assert!(matches!(&chain.base, BaseCredentials::Static { profile, .. } if profile == "a"));

        let without = set("[profile a]\nrole_arn = r\nsource_profile = a\n", "");
        let err = resolve(&without, "a").unwrap_err();
        assert_eq!(err.to_string(), "config:3: source_profile loop: a -> a");
    }

    #[test]
    fn other_cycles_are_errors_listing_the_cycle() {
        let set = set(
            "[profile a]\nrole_arn = r\nsource_profile = b\n\
             [profile b]\nrole_arn = r\nsource_profile = c\n\
             [profile c]\nrole_arn = r\nsource_profile = b\n",
            "",
        );
        let err = resolve(&set, "a").unwrap_err();
        assert_eq!(
            err.to_string(),
            "config:9: source_profile loop: b -> c -> b"
        );
    }

    #[test]
    fn credential_source_environment_needs_the_keys_in_the_env() {
        let set = set(
            "[profile r]\nrole_arn = arn:r\ncredential_source = Environment\n\
             [profile e]\ncredential_source = Environment\n",
            "",
        );
        let env = Env::from_pairs([
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "env/secret"),
        ]);
        let chain = set.resolve("r", &env).unwrap();
        assert_eq!(hop_names(&chain), ["r"]);
        assert!(matches!(chain.base, BaseCredentials::Environment { .. }));
        assert!(set.resolve("e", &env).unwrap().hops.is_empty());
        let err = set.resolve("r", &no_env()).unwrap_err();
        assert!(
            err.to_string().contains("AWS_ACCESS_KEY_ID is not set"),
            "{err}"
        );

        let creds = environment_credentials(&env).unwrap();
        assert_eq!(creds.access_key_id, "AKIDENV");
        assert_eq!(creds.secret_access_key.expose(), "env/secret");
        assert_eq!(
            environment_credentials(&no_env()).unwrap_err(),
            "AWS_ACCESS_KEY_ID"
        );
        let legacy = Env::from_pairs([
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "env/secret"),
            ("AWS_SECURITY_TOKEN", "legacy-token"),
        ]);
        let creds = environment_credentials(&legacy).unwrap();
        assert_eq!(creds.session_token.unwrap().expose(), "legacy-token");
    }

    #[test]
    fn instance_and_container_sources_resolve_their_endpoint_or_name_the_line() {
        let set = set(
            "[profile i]\nrole_arn = r\ncredential_source = Ec2InstanceMetadata\nec2_metadata_service_endpoint = http://127.0.0.1:1\n\
             [profile c]\nrole_arn = r\ncredential_source = EcsContainer\n\
             [profile top]\nrole_arn = r2\nsource_profile = i\nec2_metadata_service_endpoint = http://127.0.0.1:2\n\
             [profile u]\nrole_arn = r\ncredential_source = Bogus\n",
            "",
        );
        let endpoint = |chain: &ProfileChain| match &chain.base {
            BaseCredentials::Metadata { source, .. } => source.endpoint().to_string(),
            other => panic!("{other:?}"),
        };
        let i = resolve(&set, "i").unwrap();
        assert_eq!(endpoint(&i), "http://127.0.0.1:1");
        // The requested profile's key wins, as botocore reads its session's profile.
        assert_eq!(
            endpoint(&resolve(&set, "top").unwrap()),
            "http://127.0.0.1:2"
        );
        let err = resolve(&set, "c").unwrap_err();
        assert_eq!(
            err.to_string(),
            "config:7: profile `c`: credential_source EcsContainer: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
             or AWS_CONTAINER_CREDENTIALS_FULL_URI must be set in credvend's environment"
        );
        let env = Env::from_pairs([(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://127.0.0.1:3/role/app",
        )]);
        let c = set.resolve("c", &env).unwrap();
        assert_eq!(endpoint(&c), "http://127.0.0.1:3");
        assert!(
            matches!(&c.base, BaseCredentials::Metadata { profile, location, .. }
            if profile == "c" && location.to_string() == "config:7")
        );
        let err = resolve(&set, "u").unwrap_err();
        assert!(
            matches!(err, ProfileError::UnknownCredentialSource { .. }),
            "{err}"
        );
        assert!(err.to_string().starts_with("config:14:"), "{err}");
    }

    #[test]
    fn mfa_serial_anywhere_in_the_chain_puts_it_on_an_mfa_session_of_the_base_keys() {
        let set = set(
            "[profile dev]\nrole_arn = arn:aws:iam::1:role/dev\nsource_profile = mid\n\
             [profile mid]\nrole_arn = arn:aws:iam::1:role/mid\nsource_profile = k\n\
             mfa_serial = arn:aws:iam::1:mfa/me\n\
             [profile own]\nrole_arn = arn:aws:iam::1:role/own\nsource_profile = k\n\
             mfa_serial = arn:aws:iam::1:mfa/other\n\
             [profile sess]\nrole_arn = r\nsource_profile = s\nmfa_serial = arn:aws:iam::1:mfa/me\n",
            &format!("[k]\n{KEYS}[s]\n{KEYS}aws_session_token = t\n"),
        );
        let dev = resolve(&set, "dev").unwrap();
        let device = dev.mfa.expect("the chain needs the device");
        assert_eq!(device.serial, "arn:aws:iam::1:mfa/me");
        assert_eq!((device.profile.as_str(), device.location.line), ("mid", 7));
        assert_eq!(hop_names(&resolve(&set, "dev").unwrap()), ["mid", "dev"]);
        let own = resolve(&set, "own").unwrap().mfa.unwrap();
        assert_eq!(own.serial, "arn:aws:iam::1:mfa/other");
        assert_eq!(resolve(&set, "k").unwrap().mfa, None);
        // GetSessionToken takes long-term keys only.
        let e = resolve(&set, "sess").unwrap_err().to_string();
        assert!(
            e.starts_with("config:15: profile `sess`: mfa_serial needs long-term keys"),
            "{e}"
        );
    }

    #[test]
    fn configuration_mistakes_are_errors_naming_file_line_and_profile() {
        let set = set(
            "[profile both]\nrole_arn = r\nsource_profile = k\ncredential_source = Environment\n\
             [profile none]\nregion = x\n\
             [profile orphan]\nrole_arn = r\n\
             [profile lost]\nrole_arn = r\nsource_profile = nowhere\n\
             [profile mfa]\nrole_arn = r\nsource_profile = k\nmfa_serial = arn:mfa\n\
             [profile dur]\nrole_arn = r\nsource_profile = k\nduration_seconds = 1h\n\
             [profile half]\naws_access_key_id = AKID\n",
            &format!(
                "[k]\n{KEYS}[nokey]\naws_secret_access_key = x\n[sts]\nsts_regional_endpoints = sideways\n{KEYS}"
            ),
        );
        let cases = [
            (
                "both",
                "config:3: profile `both` sets both source_profile and credential_source",
            ),
            ("none", "config:5: profile `none` has no credentials"),
            (
                "orphan",
                "config:8: profile `orphan` sets role_arn but neither",
            ),
            (
                "lost",
                "config:11: profile `lost`: source_profile `nowhere` not found",
            ),
            (
                "dur",
                "config:19: profile `dur`: duration_seconds must be a whole number",
            ),
            (
                "half",
                "config:21: profile `half` sets aws_access_key_id but not aws_secret_access_key",
            ),
            (
                "nokey",
                "credentials:5: profile `nokey` sets aws_secret_access_key but not aws_access_key_id",
            ),
            (
                "sts",
                "credentials:7: profile `sts`: sts_regional_endpoints must be",
            ),
        ];
        for (name, want) in cases {
            let err = resolve(&set, name).unwrap_err().to_string();
            assert!(err.starts_with(want), "{name}: {err}");
        }
    }

    #[test]
    fn credential_process_is_a_source_below_keys_and_roles() {
        let set = set(
            &format!(
                "[profile proc]\ncredential_process = /bin/helper --x 'a b'\n\
                 [profile app]\nrole_arn = arn:app\nsource_profile = proc\n\
                 [profile keyed]\ncredential_process = /bin/helper\n{KEYS}\
                 [profile bad]\ncredential_process = /bin/helper 'open\n\
                 [profile self]\ncredential_process = credvend credential-process --profile self\n\
                 [profile top]\nrole_arn = r\nsource_profile = loop\n\
                 [profile loop]\ncredential_process = /usr/bin/credvend credential-process --profile=top\n\
                 [profile other]\ncredential_process = credvend credential-process --profile app\n"
            ),
            "",
        );
        let chain = resolve(&set, "proc").unwrap();
        assert!(chain.hops.is_empty());
        let BaseCredentials::Process {
            profile,
            command,
            location,
        } = &chain.base
        else {
            panic!("{:?}", chain.base);
        };
        assert_eq!(profile, "proc");
        assert_eq!(command.expose(), "/bin/helper --x 'a b'");
        assert_eq!(location.to_string(), "config:2");
        let app = resolve(&set, "app").unwrap();
        assert_eq!(hop_names(&app), ["app"]);
        assert!(matches!(&app.base, BaseCredentials::Process { profile, .. } if profile == "proc"));
        assert!(matches!(
            resolve(&set, "keyed").unwrap().base,
            BaseCredentials::Static { .. }
        ));
        let err = resolve(&set, "bad").unwrap_err().to_string();
        assert!(
            err.starts_with("config:11: profile `bad`: credential_process must be a command line"),
            "{err}"
        );
        assert!(!err.contains("helper"), "{err}");
        for name in ["self", "top"] {
            let err = resolve(&set, name).unwrap_err().to_string();
            assert!(
                err.contains("ask credvend for the credentials it is making"),
                "{err}"
            );
        }
        assert!(matches!(
            resolve(&set, "other").unwrap().base,
            BaseCredentials::Process { .. }
        ));
    }

    #[test]
    fn an_unknown_profile_lists_the_ones_that_exist() {
        let set = set("[profile b]\nregion = x\n[default]\nregion = y\n", "");
        let err = resolve(&set, "nope").unwrap_err();
        assert_eq!(
            err.to_string(),
            "profile `nope` not found (profiles: b, default)"
        );
        let err = resolve(&ProfileSet::default(), "default").unwrap_err();
        assert_eq!(
            err.to_string(),
            "profile `default` not found (profiles: none)"
        );
    }

    #[test]
    fn services_sts_endpoint_wins_over_the_profile_endpoint_url() {
        let set = set(
            &format!(
                "[profile a]\n{KEYS}endpoint_url = http://global\nservices = s\nregion = eu-west-1\nsts_regional_endpoints = legacy\n\
                 [profile b]\n{KEYS}endpoint_url = http://global\nservices = missing\n\
                 [services s]\nsts =\n  endpoint_url = http://sts-only\ns3 =\n  endpoint_url = http://s3\n"
            ),
            "",
        );
        let a = resolve(&set, "a").unwrap();
        assert_eq!(a.endpoint_url.as_deref(), Some("http://sts-only"));
        assert_eq!(a.region.as_deref(), Some("eu-west-1"));
        assert_eq!(a.sts_regional_endpoints, Some(StsRegionalEndpoints::Legacy));
        let b = resolve(&set, "b").unwrap();
        assert_eq!(b.endpoint_url.as_deref(), Some("http://global"));
        assert_eq!(b.sts_regional_endpoints, None);
    }

    #[test]
    fn resolution_errors_never_contain_secret_values() {
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let set = set(
            "",
            &format!(
                "[a]\naws_secret_access_key = {secret}\naws_session_token = TOKENVALUE\n\
                 [b]\naws_access_key_id = AKID\naws_secret_access_key = {secret}\nrole_arn = r\ncredential_source = {secret}\n"
            ),
        );
        for name in ["a", "b"] {
            let err = resolve(&set, name).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(
                !shown.contains(secret) && !shown.contains("TOKENVALUE"),
                "{shown}"
            );
        }
    }
}
