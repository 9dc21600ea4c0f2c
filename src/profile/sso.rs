//! IAM Identity Center (SSO) profiles: reading `sso_session` (with its `[sso-session NAME]`
//! section) or the legacy `sso_start_url` form into an [`SsoSource`].
//!
//! The rules are botocore's (`SSOProvider`): a profile is an SSO source when it sets
//! `sso_account_id` or `sso_role_name`; then both are needed, plus either `sso_session` naming
//! an existing section with `sso_start_url` and `sso_region`, or (legacy) those two in the
//! profile itself. A profile that repeats `sso_start_url` or `sso_region` beside `sso_session`
//! must agree with the session. Values are shown only when they are names or URLs, never
//! anything a user may have pasted a secret into.

use super::{BaseCredentials, Location, Profile, ProfileSet, SsoSource};
use crate::validate;

/// Why an SSO profile cannot be used. Names file, line, profile and key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SsoConfigError {
    /// A key the SSO form needs is missing.
    #[error("{location}: profile `{profile}` uses IAM Identity Center but does not set {key}")]
    Missing {
        /// The section that should have it.
        location: Location,
        /// The profile.
        profile: String,
        /// The missing key.
        key: &'static str,
    },
    /// A key the `[sso-session NAME]` section needs is missing.
    #[error("{location}: [sso-session {session}] does not set {key}")]
    SessionMissing {
        /// The session's header.
        location: Location,
        /// The session.
        session: String,
        /// The missing key.
        key: &'static str,
    },
    /// `sso_session` names no `[sso-session NAME]` section.
    #[error(
        "{location}: profile `{profile}`: sso_session `{session}` has no [sso-session {session}] section in the config file"
    )]
    UnknownSession {
        /// Where `sso_session` was set.
        location: Location,
        /// The profile.
        profile: String,
        /// The session named.
        session: String,
    },
    /// The profile repeats a session key with another value.
    #[error(
        "{location}: profile `{profile}`: {key} differs from the one in [sso-session {session}]"
    )]
    Mismatch {
        /// Where the profile's key was set.
        location: Location,
        /// The profile.
        profile: String,
        /// The key.
        key: &'static str,
        /// The session.
        session: String,
    },
    /// `sso_region` is not a region name (it becomes part of a host name).
    #[error("{location}: sso_region must be a region name like us-east-1")]
    BadRegion {
        /// Where `sso_region` was set.
        location: Location,
    },
}

impl ProfileSet {
    /// The SSO source of `profile`, if it is an SSO profile. `requested` is the profile asked
    /// for: as in the SDKs, its `[services]` and `endpoint_url` place the portal and OIDC.
    pub(super) fn sso_base(
        &self,
        profile: &Profile,
        requested: &Profile,
    ) -> Result<Option<BaseCredentials>, SsoConfigError> {
        let missing = |key| SsoConfigError::Missing {
            location: header(profile),
            profile: profile.name.clone(),
            key,
        };
        if get(profile, "sso_account_id").is_none() && get(profile, "sso_role_name").is_none() {
            // A session without account and role only gives a bearer token (for other
            // services), no AWS credentials: say what is missing rather than "no keys".
            let session_only = get(profile, "sso_session").or(get(profile, "sso_start_url"));
            if session_only.is_some() && get(profile, "aws_access_key_id").is_none() {
                return Err(missing("sso_account_id and sso_role_name"));
            }
            return Ok(None);
        }
        let account = get(profile, "sso_account_id").ok_or_else(|| missing("sso_account_id"))?;
        let role = get(profile, "sso_role_name").ok_or_else(|| missing("sso_role_name"))?;
        let (session, start_url, region, scopes) = match get(profile, "sso_session") {
            Some(named) => self.session_settings(profile, named)?,
            None => {
                let url = get(profile, "sso_start_url").ok_or_else(|| missing("sso_start_url"))?;
                let region = get(profile, "sso_region").ok_or_else(|| missing("sso_region"))?;
                (None, url.value.clone(), region, Vec::new())
            }
        };
        if !validate::is_region_name(&region.value) {
            return Err(SsoConfigError::BadRegion {
                location: region.location.clone(),
            });
        }
        Ok(Some(BaseCredentials::Sso {
            profile: profile.name.clone(),
            source: SsoSource {
                session,
                start_url,
                region: region.value.clone(),
                account_id: account.value.clone(),
                role_name: role.value.clone(),
                registration_scopes: scopes,
                portal_endpoint: self.service_endpoint(requested, "sso"),
                oidc_endpoint: self.service_endpoint(requested, "sso_oidc"),
            },
            location: account.location.clone(),
        }))
    }

    /// The session's name, start URL, region property and scopes, checked against the
    /// profile's own copies.
    fn session_settings<'a>(
        &'a self,
        profile: &Profile,
        named: &super::Property,
    ) -> Result<SessionSettings<'a>, SsoConfigError> {
        let name = named.value.clone();
        let section =
            self.sso_sessions
                .get(&name)
                .ok_or_else(|| SsoConfigError::UnknownSession {
                    location: named.location.clone(),
                    profile: profile.name.clone(),
                    session: name.clone(),
                })?;
        let need = |key| {
            get(section, key).ok_or_else(|| SsoConfigError::SessionMissing {
                location: header(section),
                session: name.clone(),
                key,
            })
        };
        let url = need("sso_start_url")?;
        let region = need("sso_region")?;
        for (key, theirs) in [("sso_start_url", url), ("sso_region", region)] {
            if let Some(mine) = get(profile, key)
                && mine.value != theirs.value
            {
                return Err(SsoConfigError::Mismatch {
                    location: mine.location.clone(),
                    profile: profile.name.clone(),
                    key,
                    session: name.clone(),
                });
            }
        }
        let scopes = get(section, "sso_registration_scopes")
            .map(|s| {
                s.value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok((Some(name), url.value.clone(), region, scopes))
    }

    /// `[services NAME]` `service` `endpoint_url` for the profile's `services = NAME`, else
    /// the profile's own `endpoint_url`.
    fn service_endpoint(&self, profile: &Profile, service: &str) -> Option<String> {
        get(profile, "services")
            .and_then(|s| self.services.get(&s.value))
            .and_then(|services| services.get(service))
            .and_then(|s| s.get("endpoint_url"))
            .filter(|p| !p.value.is_empty())
            .or_else(|| get(profile, "endpoint_url"))
            .map(|p| p.value.clone())
    }
}

/// Session name, start URL, the `sso_region` property and the registration scopes.
type SessionSettings<'a> = (Option<String>, String, &'a super::Property, Vec<String>);

fn get<'a>(profile: &'a Profile, key: &str) -> Option<&'a super::Property> {
    profile.properties.get(key).filter(|p| !p.value.is_empty())
}

fn header(profile: &Profile) -> Location {
    profile.location.clone().unwrap_or_else(|| Location {
        file: "<unknown>".into(),
        line: 0,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::env::Env;
    use crate::profile::{FileKind, ProfileChain};

    fn set(config: &str) -> ProfileSet {
        let mut set = ProfileSet::default();
        set.merge_text(config, Path::new("config"), FileKind::Config)
            .unwrap();
        set
    }

    fn resolve(set: &ProfileSet, name: &str) -> Result<ProfileChain, String> {
        set.resolve(name, &Env::default())
            .map_err(|e| e.to_string())
    }

    fn source(chain: &ProfileChain) -> &SsoSource {
        match &chain.base {
            BaseCredentials::Sso { source, .. } => source,
            other => panic!("not sso: {other:?}"),
        }
    }

    const SESSION: &str = "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n\
                           sso_region = eu-west-1\nsso_registration_scopes = sso:account:access, x\n";

    #[test]
    fn an_sso_session_profile_takes_the_sessions_url_and_region() {
        let set = set(&format!(
            "{SESSION}[services local]\nsso =\n  endpoint_url = http://127.0.0.1:9\n\
             [profile dev]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Dev\nservices = local\n"
        ));
        let chain = resolve(&set, "dev").unwrap();
        assert!(chain.hops.is_empty());
        let s = source(&chain);
        assert_eq!(s.session.as_deref(), Some("corp"));
        assert_eq!(s.start_url, "https://corp.awsapps.com/start");
        assert_eq!(s.region, "eu-west-1");
        assert_eq!(
            (s.account_id.as_str(), s.role_name.as_str()),
            ("111122223333", "Dev")
        );
        assert_eq!(s.registration_scopes, ["sso:account:access", "x"]);
        assert_eq!(s.portal_endpoint.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(s.oidc_endpoint, None);
    }

    #[test]
    fn the_legacy_form_has_everything_in_the_profile() {
        let set = set(
            "[profile old]\nsso_start_url = https://old.awsapps.com/start\nsso_region = us-east-1\n\
             sso_account_id = 1\nsso_role_name = R\n",
        );
        let chain = resolve(&set, "old").unwrap();
        let s = source(&chain);
        assert_eq!(s.session, None);
        assert_eq!(s.start_url, "https://old.awsapps.com/start");
    }

    #[test]
    fn a_role_on_top_of_an_sso_profile_is_a_hop() {
        let set = set(&format!(
            "{SESSION}[profile base]\nsso_session = corp\nsso_account_id = 1\nsso_role_name = R\n\
             [profile app]\nrole_arn = arn:aws:iam::1:role/app\nsource_profile = base\n"
        ));
        let chain = resolve(&set, "app").unwrap();
        assert_eq!(chain.hops.len(), 1);
        assert!(matches!(&chain.base, BaseCredentials::Sso { profile, .. } if profile == "base"));
    }

    #[test]
    fn incomplete_or_inconsistent_sso_profiles_are_errors_naming_the_line() {
        let cases = [
            (
                "[profile p]\nsso_session = corp\nsso_account_id = 1\n",
                "config:1: profile `p` uses IAM Identity Center but does not set sso_role_name",
            ),
            (
                "[profile p]\nsso_session = nope\nsso_account_id = 1\nsso_role_name = R\n",
                "config:2: profile `p`: sso_session `nope` has no [sso-session nope] section in the config file",
            ),
            (
                "[sso-session s]\nsso_region = eu-west-1\n[profile p]\nsso_session = s\nsso_account_id = 1\nsso_role_name = R\n",
                "config:1: [sso-session s] does not set sso_start_url",
            ),
            (
                "[sso-session s]\nsso_region = eu-west-1\nsso_start_url = https://a\n\
                 [profile p]\nsso_session = s\nsso_region = us-east-1\nsso_account_id = 1\nsso_role_name = R\n",
                "config:6: profile `p`: sso_region differs from the one in [sso-session s]",
            ),
            (
                "[sso-session s]\nsso_region = eu-west-1\nsso_start_url = https://a\n[profile p]\nsso_session = s\n",
                "config:4: profile `p` uses IAM Identity Center but does not set sso_account_id and sso_role_name",
            ),
            (
                "[profile p]\nsso_start_url = https://a\nsso_account_id = 1\nsso_role_name = R\n",
                "config:1: profile `p` uses IAM Identity Center but does not set sso_region",
            ),
            (
                "[profile p]\nsso_start_url = https://a\nsso_region = evil.example.com/\nsso_account_id = 1\nsso_role_name = R\n",
                "config:3: sso_region must be a region name like us-east-1",
            ),
        ];
        for (config, want) in cases {
            assert_eq!(resolve(&set(config), "p").unwrap_err(), want, "{config}");
        }
    }
}
