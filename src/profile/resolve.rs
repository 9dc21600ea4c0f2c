//! Resolving a profile name into a [`ProfileChain`](super::ProfileChain).
//!
//! The walk follows `source_profile` from the requested profile (PROTOCOL.md C, "Chaining"):
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
/// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` (or the legacy `AWS_SECURITY_TOKEN`);
/// `None` unless both keys are set.
#[must_use]
pub fn environment_credentials(env: &Env) -> Option<Credentials> {
    Some(Credentials {
        access_key_id: env.get("AWS_ACCESS_KEY_ID")?.to_string(),
        secret_access_key: Secret::new(env.get("AWS_SECRET_ACCESS_KEY")?),
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
    for var in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        if env.get(var).is_none() {
            return Err(ProfileError::EnvironmentCredentialsMissing {
                location,
                profile: profile.name.clone(),
                missing: var,
            });
        }
    }
    Ok(BaseCredentials::Source {
        profile: profile.name.clone(),
        source: parsed,
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
        mfa_serial: value("mfa_serial"),
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
