//! Resolving a profile name into a [`ProfileChain`](super::ProfileChain).
//!
//! The walk follows `source_profile` from the requested profile (docs/wire-contract.md §7.6):
//! each profile with `role_arn` adds a hop; a later profile with static keys ends the chain
//! (its `role_arn` is ignored); a profile may name itself only when it has keys; any other
//! revisit is a loop. Hops are collected requested-first and returned in call order.

use super::{
    BaseCredentials, CredentialSource, Location, Profile, ProfileChain, ProfileError, ProfileSet,
    Property, RoleHop, StsRegionalEndpoints,
};
use crate::env::Env;
use crate::secret::{Credentials, Secret};

const ACCESS_KEY_ID: &str = "aws_access_key_id";
const SECRET_ACCESS_KEY: &str = "aws_secret_access_key";
const SESSION_TOKEN: &str = "aws_session_token";
const SECURITY_TOKEN: &str = "aws_security_token";

impl ProfileSet {
    /// Resolves `name` into base credentials plus role hops. `env` supplies
    /// `credential_source = Environment`.
    pub fn resolve(&self, name: &str, env: &Env) -> Result<ProfileChain, ProfileError> {
        let requested = self.profile(name)?;
        let mut visited: Vec<&str> = Vec::new();
        let mut hops = Vec::new();
        let mut current = requested;
        let base = loop {
            visited.push(&current.name);
            check_keys_complete(current)?;
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
                    break source_base(current, source, env)?;
                }
                break static_base(current).ok_or_else(|| ProfileError::NoCredentials {
                    location: header(current),
                    profile: current.name.clone(),
                })?;
            };
            hops.push(hop(current, role_arn)?);
            if let Some(source) = credential_source {
                break source_base(current, source, env)?;
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
        Ok(ProfileChain {
            profile: requested.name.clone(),
            base,
            hops,
            region: get(requested, "region").map(|p| p.value.clone()),
            sts_regional_endpoints: sts_regional_endpoints(requested)?,
            endpoint_url: self.endpoint_url(requested),
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

fn source_base(
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
        return Err(ProfileError::UnsupportedCredentialSource {
            location,
            profile: profile.name.clone(),
            credential_source: parsed,
        });
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

fn hop(profile: &Profile, role_arn: &Property) -> Result<RoleHop, ProfileError> {
    if let Some(mfa) = get(profile, "mfa_serial") {
        return Err(ProfileError::MfaNotSupported {
            location: mfa.location.clone(),
            profile: profile.name.clone(),
        });
    }
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
    fn other_credential_sources_are_represented_but_refused() {
        let set = set(
            "[profile i]\nrole_arn = r\ncredential_source = Ec2InstanceMetadata\n\
             [profile c]\nrole_arn = r\ncredential_source = EcsContainer\n\
             [profile u]\nrole_arn = r\ncredential_source = Bogus\n",
            "",
        );
        for (name, source) in [
            ("i", CredentialSource::Ec2InstanceMetadata),
            ("c", CredentialSource::EcsContainer),
        ] {
            match resolve(&set, name).unwrap_err() {
                ProfileError::UnsupportedCredentialSource {
                    credential_source, ..
                } => assert_eq!(credential_source, source),
                other => panic!("{other}"),
            }
        }
        let err = resolve(&set, "u").unwrap_err();
        assert!(
            matches!(err, ProfileError::UnknownCredentialSource { .. }),
            "{err}"
        );
        assert!(err.to_string().starts_with("config:9:"), "{err}");
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
                "mfa",
                "config:15: profile `mfa` needs MFA (mfa_serial), which is not supported yet",
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
