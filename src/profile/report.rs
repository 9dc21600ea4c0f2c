//! The `credvend profiles` listing: one line per profile saying how it resolves.
//!
//! Built from [`ProfileSet::resolve`], so the listing and the daemon agree. Access key ids are
//! masked (`****EKEY`); secrets and tokens are never read here.

use std::fmt;

use super::{BaseCredentials, Location, ProfileChain, ProfileSet};
use crate::causes::Causes;
use crate::env::Env;
use crate::secret::mask_key_id;

/// How one profile resolves, for display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Long-term keys (`aws_access_key_id` without a token): the masked key id.
    StaticKeys(String),
    /// Keys with `aws_session_token`: the masked key id.
    SessionKeys(String),
    /// `credential_source` with no role (`Environment`).
    CredentialSource(String),
    /// `credential_process`: its program, `...` standing for any arguments (never shown).
    CredentialProcess(String),
    /// IAM Identity Center: the session (or legacy start URL), account and role.
    Sso(String),
    /// One or more AssumeRole hops.
    Role {
        /// The last hop's role: the one whose credentials are served.
        role_arn: String,
        /// What the first hop signs with: `profile base (static keys ****EKEY)` or
        /// `credential_source Environment`.
        via: String,
        /// Profiles from the requested one to the base, `a -> b -> c`.
        chain: String,
    },
    /// The resolution error, rendered (it never holds a secret).
    Error(String),
}

/// One profile of the listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileReport {
    /// The profile name.
    pub name: String,
    /// How it resolves.
    pub resolution: Resolution,
    /// Where its section header is.
    pub location: Option<Location>,
    /// `region`, if set.
    pub region: Option<String>,
    /// The `mfa_serial` its chain needs codes from, if any.
    pub mfa: Option<String>,
}

impl ProfileSet {
    /// One report per profile, in name order.
    #[must_use]
    pub fn report(&self, env: &Env) -> Vec<ProfileReport> {
        self.profiles
            .values()
            .map(|profile| {
                let resolved = self.resolve(&profile.name, env);
                let mfa = resolved
                    .as_ref()
                    .ok()
                    .and_then(|c| c.mfa.as_ref())
                    .map(|m| m.serial.clone());
                ProfileReport {
                    name: profile.name.clone(),
                    resolution: match &resolved {
                        Ok(chain) => Resolution::from_chain(chain),
                        Err(e) => Resolution::Error(Causes(e).to_string()),
                    },
                    mfa,
                    location: profile.location.clone(),
                    region: profile
                        .properties
                        .get("region")
                        .filter(|p| !p.value.is_empty())
                        .map(|p| p.value.clone()),
                }
            })
            .collect()
    }
}

impl Resolution {
    /// Describes a resolved chain.
    #[must_use]
    pub fn from_chain(chain: &ProfileChain) -> Self {
        let base = match &chain.base {
            BaseCredentials::Static { credentials, .. } if credentials.is_session() => {
                Self::SessionKeys(mask_key_id(&credentials.access_key_id))
            }
            BaseCredentials::Static { credentials, .. } => {
                Self::StaticKeys(mask_key_id(&credentials.access_key_id))
            }
            BaseCredentials::Environment { .. } => Self::CredentialSource("Environment".into()),
            BaseCredentials::Metadata { source, .. } => Self::CredentialSource(source.to_string()),
            BaseCredentials::Process { command, .. } => Self::CredentialProcess(
                crate::mint::process::split::describe(command.expose()).unwrap_or_default(),
            ),
            BaseCredentials::Sso { source, .. } => Self::Sso(describe_sso(source)),
        };
        let Some(last) = chain.hops.last() else {
            return base;
        };
        let (base_profile, via) = match (&chain.base, base) {
            (
                BaseCredentials::Static { profile, .. }
                | BaseCredentials::Process { profile, .. }
                | BaseCredentials::Sso { profile, .. },
                described,
            ) => (profile, format!("profile {profile} ({described})")),
            (
                BaseCredentials::Environment { profile, .. }
                | BaseCredentials::Metadata { profile, .. },
                described,
            ) => (profile, described.to_string()),
        };
        let mut names: Vec<&str> = chain
            .hops
            .iter()
            .rev()
            .map(|h| h.profile.as_str())
            .collect();
        if names.last() != Some(&base_profile.as_str()) {
            names.push(base_profile);
        }
        Self::Role {
            role_arn: last.role_arn.clone(),
            via,
            chain: names.join(" -> "),
        }
    }
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StaticKeys(key) => write!(f, "static keys {key}"),
            Self::SessionKeys(key) => write!(f, "session keys {key}"),
            Self::CredentialSource(source) => write!(f, "credential_source {source}"),
            Self::CredentialProcess(program) => {
                write!(f, "credential_process `{program}` (run by credvend)")
            }
            Self::Sso(described) => f.write_str(described),
            Self::Role {
                role_arn,
                via,
                chain,
            } => write!(f, "role {role_arn} via {via} (chain {chain})"),
            Self::Error(e) => write!(f, "error: {e}"),
        }
    }
}

/// `IAM Identity Center sso_session corp (https://…, eu-west-1) account 1 role R`.
fn describe_sso(source: &super::SsoSource) -> String {
    let session = match &source.session {
        Some(name) => format!("sso_session {name}"),
        None => "legacy sso_start_url".to_owned(),
    };
    format!(
        "IAM Identity Center {session} ({}, {}) account {} role {}",
        source.start_url, source.region, source.account_id, source.role_name
    )
}

impl fmt::Display for ProfileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.resolution)?;
        if let Some(serial) = &self.mfa {
            write!(
                f,
                ", on an MFA session of {serial} (codes: `credvend mfa {}`)",
                self.name
            )?;
        }
        if let Some(location) = &self.location {
            write!(f, " [{location}]")?;
        }
        if let Some(region) = &self.region {
            write!(f, " region {region}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::profile::FileKind;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const TOKEN: &str = "FwoGZXIvYXdzEXAMPLETOKEN+/=";

    fn lines(config: &str, credentials: &str, env: &Env) -> Vec<String> {
        let mut set = ProfileSet::default();
        set.merge_text(config, Path::new("config"), FileKind::Config)
            .unwrap();
        set.merge_text(credentials, Path::new("credentials"), FileKind::Credentials)
            .unwrap();
        set.report(env).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn each_profile_says_how_it_resolves_where_it_is_and_its_region() {
        let config = "[profile dev]\nrole_arn = arn:aws:iam::1:role/dev\nsource_profile = mid\nregion = eu-west-1\n\
                      [profile mid]\nrole_arn = arn:aws:iam::1:role/mid\nsource_profile = base\n\
                      [profile env]\nrole_arn = arn:aws:iam::1:role/env\ncredential_source = Environment\n\
                      [profile broken]\nrole_arn = r\n\
                      [profile proc]\ncredential_process = /opt/bin/helper --token hunter2\n\
                      [profile via-proc]\nrole_arn = arn:aws:iam::1:role/p\nsource_profile = proc\n";
        let credentials = format!(
            "[base]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = {SECRET}\n\
             [sess]\naws_access_key_id = ASIAEXAMPLESESSEKEY\naws_secret_access_key = {SECRET}\naws_session_token = {TOKEN}\n"
        );
        let env = Env::from_pairs([
            ("AWS_ACCESS_KEY_ID", "AKIAENV"),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ]);
        let got = lines(config, &credentials, &env);
        assert_eq!(
            got,
            [
                "base: static keys ****MPLE [credentials:1]",
                "broken: error: config:12: profile `broken` sets role_arn but neither source_profile nor credential_source [config:11]",
                "dev: role arn:aws:iam::1:role/dev via profile base (static keys ****MPLE) (chain dev -> mid -> base) [config:1] region eu-west-1",
                "env: role arn:aws:iam::1:role/env via credential_source Environment (chain env) [config:8]",
                "mid: role arn:aws:iam::1:role/mid via profile base (static keys ****MPLE) (chain mid -> base) [config:5]",
                "proc: credential_process `/opt/bin/helper ...` (run by credvend) [config:13]",
                "sess: session keys ****EKEY [credentials:4]",
                "via-proc: role arn:aws:iam::1:role/p via profile proc (credential_process `/opt/bin/helper ...` (run by credvend)) (chain via-proc -> proc) [config:15]",
            ]
        );
        let all = got.join("\n");
        assert!(!all.contains(SECRET) && !all.contains(TOKEN), "{all}");
        assert!(!all.contains("hunter2"), "{all}");
    }

    #[test]
    fn sso_profiles_name_their_session_account_and_role() {
        let config = "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n\
                      [profile base]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Dev\n\
                      [profile app]\nrole_arn = arn:aws:iam::1:role/app\nsource_profile = base\n\
                      [profile old]\nsso_start_url = https://old.awsapps.com/start\nsso_region = us-east-1\nsso_account_id = 2\nsso_role_name = R\n";
        let got = lines(config, "", &Env::default());
        assert_eq!(
            got,
            [
                "app: role arn:aws:iam::1:role/app via profile base (IAM Identity Center sso_session corp (https://corp.awsapps.com/start, eu-west-1) account 111122223333 role Dev) (chain app -> base) [config:8]",
                "base: IAM Identity Center sso_session corp (https://corp.awsapps.com/start, eu-west-1) account 111122223333 role Dev [config:4]",
                "old: IAM Identity Center legacy sso_start_url (https://old.awsapps.com/start, us-east-1) account 2 role R [config:11]",
            ]
        );
    }
}
