//! Which profile an IMDS request is served: the listener's, or the one that the
//! `credvend.profile` label of the container asking picks (Docker engine configured).
//!
//! A label may pick only a profile of the listener's `label_profiles`; anything else is
//! refused rather than quietly answered with the listener's own profile, since a container
//! that asks for one role and gets another would act with the wrong rights. With
//! `require_label`, a peer that is no labelled container is refused too.

use std::collections::BTreeMap;

use crate::identity::Caller;

/// What labels may choose on one listener.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Labels {
    /// The profiles a label may pick, each with the role name IMDS shows for it.
    pub profiles: BTreeMap<String, String>,
    /// Refuse peers that are not a labelled container.
    pub required: bool,
}

/// The profile served to a request, and its role name under `security-credentials/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Choice<'a> {
    pub(crate) profile: &'a str,
    pub(crate) role_name: &'a str,
}

/// Why a label refused a request: the `reason` of its `denied` record.
pub(crate) const LABEL_REQUIRED: &str = "LabelRequired";
pub(crate) const LABEL_NOT_ALLOWED: &str = "LabelNotAllowed";

impl Labels {
    /// The choice for `caller`, with `default` (the listener's own) when no label applies.
    pub(crate) fn choose<'a>(
        &'a self,
        caller: &Caller,
        default: Choice<'a>,
    ) -> Result<Choice<'a>, &'static str> {
        let label = match caller {
            Caller::Container(c) => c.profile.as_deref(),
            _ => None,
        };
        match label {
            None if self.required => Err(LABEL_REQUIRED),
            None => Ok(default),
            Some(profile) => self
                .profiles
                .get_key_value(profile)
                .map(|(profile, role_name)| Choice { profile, role_name })
                .ok_or(LABEL_NOT_ALLOWED),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::identity::Container;

    const DEFAULT: Choice<'static> = Choice {
        profile: "app",
        role_name: "app-role",
    };

    fn container(label: Option<&str>) -> Caller {
        Caller::Container(Arc::new(Container {
            id: "0123".into(),
            name: "web".into(),
            image: "img".into(),
            profile: label.map(str::to_owned),
        }))
    }

    fn labels(required: bool) -> Labels {
        Labels {
            profiles: BTreeMap::from([("web".to_owned(), "web-role".to_owned())]),
            required,
        }
    }

    #[test]
    fn a_label_picks_one_of_the_listed_profiles_and_nothing_else() {
        let l = labels(false);
        let web = l.choose(&container(Some("web")), DEFAULT).unwrap();
        assert_eq!((web.profile, web.role_name), ("web", "web-role"));
        assert_eq!(
            l.choose(&container(Some("admin")), DEFAULT),
            Err(LABEL_NOT_ALLOWED)
        );
        assert_eq!(l.choose(&container(None), DEFAULT), Ok(DEFAULT));
        assert_eq!(l.choose(&Caller::Remote(None), DEFAULT), Ok(DEFAULT));
    }

    #[test]
    fn require_label_refuses_everyone_without_one() {
        let l = labels(true);
        assert_eq!(l.choose(&container(None), DEFAULT), Err(LABEL_REQUIRED));
        assert_eq!(
            l.choose(&Caller::Remote(None), DEFAULT),
            Err(LABEL_REQUIRED)
        );
        assert!(l.choose(&container(Some("web")), DEFAULT).is_ok());
    }
}
