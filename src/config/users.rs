//! `allowed_users`: which local users' processes a listener serves.
//!
//! The daemon's own user and root are always admitted: both can read the keys credvend
//! reads anyway, so refusing them would protect nothing. The list adds users, by name or
//! uid; `"*"` admits every local user. Names are looked up when the config is loaded (a user
//! created later needs a reload). The list governs processes on this host only; peers from
//! elsewhere (containers on a bridge) are governed by `allowed_networks`.

use super::error::ConfigError;

/// Who, besides the daemon's user and root, may read a listener.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedUsers {
    /// `"*"` was listed.
    pub anyone: bool,
    /// The other entries, as uids.
    pub uids: Vec<u32>,
}

impl AllowedUsers {
    /// Everyone (tests, and configs that say `["*"]`).
    #[must_use]
    pub fn anyone() -> Self {
        Self {
            anyone: true,
            uids: Vec::new(),
        }
    }

    /// Whether `uid` may read, for a daemon running as `own`.
    #[must_use]
    pub fn admits(&self, uid: u32, own: u32) -> bool {
        self.anyone || uid == own || uid == 0 || self.uids.contains(&uid)
    }
}

/// Reads the list at `key` (`imds[0].allowed_users`, say) against this host's user database.
pub(super) fn system_users(
    key: &str,
    entries: Option<&[String]>,
) -> Result<AllowedUsers, ConfigError> {
    allowed_users(
        key,
        entries,
        &system_lookup,
        crate::identity::NAMES_LOCAL_CALLERS,
    )
}

/// Reads the list at `key`, finding names with `lookup`. Where local callers cannot be named
/// (`names_callers` false), a list of users could not be kept, and only `"*"` is taken.
fn allowed_users(
    key: &str,
    entries: Option<&[String]>,
    lookup: &dyn Fn(&str) -> Option<u32>,
    names_callers: bool,
) -> Result<AllowedUsers, ConfigError> {
    let mut users = AllowedUsers::default();
    for (i, entry) in entries.unwrap_or_default().iter().enumerate() {
        let at = || format!("{key}[{i}]");
        if entry == "*" {
            users.anyone = true;
        } else if let Ok(uid) = entry.parse::<u32>() {
            users.uids.push(uid);
        } else if entry.is_empty() || entry.contains(['/', ':', '\0', ' ']) {
            return Err(ConfigError::invalid(
                at(),
                format!("{entry:?} is not a user name or uid"),
            ));
        } else {
            let uid = lookup(entry).ok_or_else(|| {
                ConfigError::invalid(at(), format!("there is no user {entry:?} on this host"))
            })?;
            users.uids.push(uid);
        }
    }
    if !names_callers && !users.uids.is_empty() {
        return Err(ConfigError::invalid(
            key,
            "credvend can tell local users apart only on Linux; here every local user is \
             served, so list only \"*\" (or nothing)",
        ));
    }
    Ok(users)
}

/// The user database's uid for `name`.
fn system_lookup(name: &str) -> Option<u32> {
    nix::unistd::User::from_name(name)
        .ok()
        .flatten()
        .map(|u| u.uid.as_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<u32> {
        (name == "alice").then_some(1000)
    }

    fn parse(entries: &[&str]) -> Result<AllowedUsers, ConfigError> {
        let entries: Vec<String> = entries.iter().map(|&e| e.to_owned()).collect();
        allowed_users("imds[0].allowed_users", Some(&entries), &lookup, true)
    }

    #[test]
    fn names_uids_and_the_wildcard() {
        assert_eq!(parse(&[]).unwrap(), AllowedUsers::default());
        let users = parse(&["alice", "1001"]).unwrap();
        assert_eq!(users.uids, vec![1000, 1001]);
        assert!(!users.anyone);
        assert!(parse(&["*"]).unwrap().anyone);
    }

    #[test]
    fn unknown_names_and_nonsense_are_refused_by_their_key() {
        let e = parse(&["alice", "bob"]).unwrap_err();
        assert_eq!(e.key(), Some("imds[0].allowed_users[1]"));
        assert!(e.to_string().contains("there is no user \"bob\""), "{e}");
        let e = parse(&["a/b"]).unwrap_err();
        assert!(e.to_string().contains("not a user name or uid"), "{e}");
    }

    #[test]
    fn where_callers_cannot_be_named_only_everyone_or_nobody_listed_is_taken() {
        let entries = |e: &[&str]| e.iter().map(|&e| e.to_owned()).collect::<Vec<_>>();
        let read =
            |e: &[&str]| allowed_users("ecs.allowed_users", Some(&entries(e)), &lookup, false);
        assert_eq!(read(&[]).unwrap(), AllowedUsers::default());
        assert!(read(&["*"]).unwrap().anyone);
        let e = read(&["alice"]).unwrap_err();
        assert_eq!(e.key(), Some("ecs.allowed_users"));
        assert!(e.to_string().contains("only on Linux"), "{e}");
        assert!(read(&["*", "1001"]).is_err());
    }

    #[test]
    fn the_daemon_user_and_root_are_always_admitted() {
        let none = AllowedUsers::default();
        assert!(none.admits(1000, 1000) && none.admits(0, 1000));
        assert!(!none.admits(1001, 1000));
        assert!(parse(&["1001"]).unwrap().admits(1001, 1000));
        assert!(AllowedUsers::anyone().admits(4242, 1000));
    }

    #[test]
    fn root_is_found_in_the_user_database() {
        assert_eq!(system_lookup("root"), Some(0));
        assert_eq!(system_lookup("no-such-user-credvend"), None);
    }
}
