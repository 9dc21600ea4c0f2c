//! Reading the two files with rust-ini into a [`ProfileSet`](super::ProfileSet).
//!
//! Each file goes through the pre-scan ([`super::scan`]) and then rust-ini, which is the parser
//! of record: values come from rust-ini, line numbers from the scan, and the two must agree key
//! for key. Then sections are sorted into profiles and `[services]` by the rules of
//! docs/wire-contract.md §7: in the config file `[default]` and `[profile NAME]` (a `[profile default]`
//! replaces `[default]`), in the credentials file `[NAME]`; credentials-file keys win.

use std::io::ErrorKind;
use std::path::Path;

use ini::{Ini, ParseOption};

use super::error::Malformed;
use super::scan::{self, Scanned};
use super::{
    FileKind as Kind, Location, Profile, ProfileError, ProfilePaths, ProfileSet, Property,
};

/// One section as read: header text, its line, and its properties.
struct Section {
    header: String,
    location: Location,
    properties: Vec<Entry>,
}

/// One property with its location and, for `key =` followed by indented lines, its
/// sub-properties.
struct Entry {
    key: String,
    property: Property,
    subs: Vec<(String, Property)>,
}

impl ProfileSet {
    /// Reads and merges both files (a missing file counts as empty). Only regular files under
    /// [`MAX_FILE_BYTES`](crate::files::MAX_FILE_BYTES) are read: a FIFO or a device in their
    /// place is an error naming the file, never a hang.
    pub fn load(paths: &ProfilePaths) -> Result<Self, ProfileError> {
        let mut set = Self::default();
        for (file, kind) in [
            (&paths.config_file, Kind::Config),
            (&paths.credentials_file, Kind::Credentials),
        ] {
            let text = match crate::files::read_text(file) {
                Ok(text) => text,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(ProfileError::Read {
                        file: file.clone(),
                        source,
                    });
                }
            };
            set.merge_text(&text, file, kind)?;
        }
        Ok(set)
    }

    /// Merges one file's text into the set, under `kind`'s section rules; keys already in the
    /// set are overwritten. [`ProfileSet::load`] is this for the config file, then the
    /// credentials file; tests feed text directly. `file` is only used in locations.
    pub fn merge_text(&mut self, text: &str, file: &Path, kind: Kind) -> Result<(), ProfileError> {
        let scanned = scan::scan(text, file)?;
        let sections = read_with_ini(&scanned, file)?;
        self.warnings.extend(
            scanned
                .warnings
                .into_iter()
                .map(|w| format!("{}:{w}", file.display())),
        );
        self.merge_sections(sections, kind);
        Ok(())
    }

    fn merge_sections(&mut self, sections: Vec<Section>, kind: Kind) {
        let has_profile_default = kind == Kind::Config
            && sections
                .iter()
                .any(|s| classify(&s.header) == Class::Profile("default", true));
        for section in sections {
            let header = section.header.clone();
            let at = section.location.to_string();
            let warn = |what: &str| format!("{at}: {what}");
            match (kind, classify(&header)) {
                (_, Class::Invalid) => self
                    .warnings
                    .push(warn("section ignored: not a valid profile name")),
                (Kind::Config, Class::Profile("default", false)) if has_profile_default => self
                    .warnings
                    .push(warn("[default] ignored: [profile default] replaces it")),
                (Kind::Config, Class::Profile(name, prefixed)) if prefixed || name == "default" => {
                    self.merge_profile(name, section);
                }
                (Kind::Config, Class::Profile(name, _)) => self.warnings.push(warn(&format!(
                    "[{name}] ignored: config-file profiles need [profile {name}]"
                ))),
                (Kind::Config, Class::Services(name)) => self.merge_services(name, section),
                (Kind::Config, Class::SsoSession(name)) => self.merge_sso_session(name, section),
                (Kind::Config, Class::Other) => {}
                (Kind::Credentials, Class::Profile(name, false)) => {
                    self.merge_profile(name, section);
                }
                (Kind::Credentials, _) => self.warnings.push(warn(
                    "section ignored: the credentials file takes only [NAME] sections",
                )),
            }
        }
    }

    fn merge_profile(&mut self, name: &str, section: Section) {
        let profile = self
            .profiles
            .entry(name.to_string())
            .or_insert_with(|| Profile {
                name: name.to_string(),
                ..Profile::default()
            });
        profile.location.get_or_insert(section.location);
        for entry in section.properties {
            profile.properties.insert(entry.key, entry.property);
        }
    }

    fn merge_sso_session(&mut self, name: &str, section: Section) {
        let session = self
            .sso_sessions
            .entry(name.to_string())
            .or_insert_with(|| Profile {
                name: name.to_string(),
                ..Profile::default()
            });
        session.location.get_or_insert(section.location);
        for entry in section.properties {
            session.properties.insert(entry.key, entry.property);
        }
    }

    fn merge_services(&mut self, name: &str, section: Section) {
        let services = self.services.entry(name.to_string()).or_default();
        for entry in section.properties {
            if entry.subs.is_empty() {
                self.warnings.push(format!(
                    "{}: property in [services {name}] ignored: no indented sub-properties",
                    entry.property.location
                ));
                continue;
            }
            let service = services.entry(entry.key).or_default();
            service.extend(entry.subs);
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Class<'a> {
    /// A profile name, and whether it came as `profile NAME`.
    Profile(&'a str, bool),
    Services(&'a str),
    /// `[sso-session NAME]`: an IAM Identity Center session that profiles name.
    SsoSession(&'a str),
    /// Another prefix: valid config, not ours.
    Other,
    Invalid,
}

/// Sorts a section header (`profile  x`, `default`, `services s`) into its namespace.
fn classify(header: &str) -> Class<'_> {
    let (prefix, name) = match header.split_once([' ', '\t']) {
        Some((prefix, rest)) => (Some(prefix), rest.trim_matches([' ', '\t'])),
        None => (None, header),
    };
    // `:` is allowed in names by the SDKs; is_identifier leaves it out only for keys.
    if !scan::is_identifier(&name.replace(':', "_")) {
        return Class::Invalid;
    }
    match prefix {
        None => Class::Profile(name, false),
        Some("profile") => Class::Profile(name, true),
        Some("services") => Class::Services(name),
        Some("sso-session") => Class::SsoSession(name),
        Some(_) => Class::Other,
    }
}

/// Parses the cleaned text with rust-ini and pairs its sections and keys with the scan's.
fn read_with_ini(scanned: &Scanned, file: &Path) -> Result<Vec<Section>, ProfileError> {
    let at = |line| ProfileError::Malformed {
        location: Location {
            file: file.to_path_buf(),
            line,
        },
        reason: Malformed::IniDisagrees,
    };
    let options = ParseOption {
        // The SDKs take values literally: no quote stripping, no backslash escapes.
        enabled_quote: false,
        enabled_escape: false,
        // Indented lines continue the value above (`sts =\n  endpoint_url = ...`).
        enabled_indented_mutiline_value: true,
        enabled_preserve_key_leading_whitespace: false,
    };
    let ini = Ini::load_from_str_opt(&scanned.cleaned, options).map_err(|e| at(e.line))?;
    let mut ini_sections = ini
        .iter()
        .filter(|(name, props)| name.is_some() || !props.is_empty());
    let mut sections = Vec::new();
    for expected in &scanned.sections {
        let (name, props) = ini_sections.next().ok_or_else(|| at(expected.line))?;
        if name != Some(expected.header.as_str()) {
            return Err(at(expected.line));
        }
        let mut props = props.iter();
        let mut properties = Vec::new();
        for key in &expected.keys {
            let (ini_key, ini_value) = props.next().ok_or_else(|| at(key.line))?;
            let value = scan::normalize_value(ini_value);
            if ini_key != key.key || value != scan::normalize_value(&key.value) {
                return Err(at(key.line));
            }
            let location = |line| Location {
                file: file.to_path_buf(),
                line,
            };
            let subs = sub_properties(&value, &key.sub_lines, &location);
            properties.push(Entry {
                key: ini_key.to_string(),
                property: Property {
                    value,
                    location: location(key.line),
                },
                subs,
            });
        }
        if props.next().is_some() {
            return Err(at(expected.line));
        }
        sections.push(Section {
            header: expected.header.clone(),
            location: Location {
                file: file.to_path_buf(),
                line: expected.line,
            },
            properties,
        });
    }
    match ini_sections.next() {
        Some(_) => Err(at(scanned.sections.last().map_or(1, |s| s.line))),
        None => Ok(sections),
    }
}

/// `k=v` lines of a value whose first line was empty, each at its scanned line.
fn sub_properties(
    value: &str,
    lines: &[usize],
    location: &impl Fn(usize) -> Location,
) -> Vec<(String, Property)> {
    if lines.is_empty() {
        return Vec::new();
    }
    value
        .split('\n')
        .zip(lines)
        .filter_map(|(text, &line)| {
            let (k, v) = text.split_once('=')?;
            Some((
                k.trim().to_ascii_lowercase(),
                Property {
                    value: v.trim().to_string(),
                    location: location(line),
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY==";

    fn options() -> ParseOption {
        ParseOption {
            enabled_quote: false,
            enabled_escape: false,
            enabled_indented_mutiline_value: true,
            enabled_preserve_key_leading_whitespace: false,
        }
    }

    fn set(config: &str, credentials: &str) -> ProfileSet {
        let mut set = ProfileSet::default();
        set.merge_text(config, Path::new("config"), Kind::Config)
            .unwrap();
        set.merge_text(credentials, Path::new("credentials"), Kind::Credentials)
            .unwrap();
        set
    }

    fn value<'a>(set: &'a ProfileSet, profile: &str, key: &str) -> Option<&'a str> {
        let p = set.profiles.get(profile)?.properties.get(key)?;
        Some(p.value.as_str())
    }

    fn load_error_line(config: &str) -> (usize, Malformed) {
        let mut set = ProfileSet::default();
        match set.merge_text(config, Path::new("config"), Kind::Config) {
            Err(ProfileError::Malformed { location, reason }) => (location.line, reason),
            other => panic!("expected a malformed-line error, got {other:?}"),
        }
    }

    #[test]
    fn rust_ini_alone_runs_a_line_without_equals_into_the_next_key() {
        // Why the pre-scan exists: rust-ini accepts this and invents the key "garbage\nregion".
        let ini = Ini::load_from_str_opt("[default]\ngarbage\nregion = x\n", options()).unwrap();
        let keys: Vec<_> = ini.section(Some("default")).unwrap().iter().collect();
        assert_eq!(keys, [("garbage\nregion", "x")]);
        assert_eq!(
            load_error_line("[default]\ngarbage\nregion = x\n"),
            (2, Malformed::MissingEquals)
        );
    }

    #[test]
    fn rust_ini_with_our_options_keeps_quotes_backslashes_and_base64_literally() {
        let text = format!("[default]\na = \"q\"\nb = C:\\x\\y\nc = {SECRET}\n");
        let ini = Ini::load_from_str_opt(&text, options()).unwrap();
        let s = ini.section(Some("default")).unwrap();
        assert_eq!(s.get("a"), Some("\"q\""));
        assert_eq!(s.get("b"), Some("C:\\x\\y"));
        assert_eq!(s.get("c"), Some(SECRET));
    }

    #[test]
    fn rust_ini_keeps_duplicate_sections_apart_in_file_order() {
        let ini = Ini::load_from_str_opt("[a]\nk = 1\n[b]\n[a]\nk = 2\n", options()).unwrap();
        let names: Vec<_> = ini.iter().map(|(n, _)| n).collect();
        assert_eq!(names, [None, Some("a"), Some("b"), Some("a")]);
    }

    #[test]
    fn rust_ini_joins_indented_lines_with_newlines() {
        let ini = Ini::load_from_str_opt("[s]\nsts =\n  a=1\n\n  b=2\nk = v\n", options()).unwrap();
        let s = ini.section(Some("s")).unwrap();
        assert_eq!(s.get("sts"), Some("a=1\n\nb=2"));
        assert_eq!(s.get("k"), Some("v"));
    }

    #[test]
    fn a_value_ending_in_a_backslash_is_refused_rather_than_misread() {
        // rust-ini treats `\` + newline as a line continuation even with escapes off.
        assert_eq!(
            load_error_line("[default]\na = C:\\dir\\\nb = 2\n"),
            (2, Malformed::IniDisagrees)
        );
    }

    #[test]
    fn secrets_survive_byte_for_byte() {
        let set = set(
            "",
            &format!("[default]\naws_secret_access_key = {SECRET}\n"),
        );
        assert_eq!(
            value(&set, "default", "aws_secret_access_key"),
            Some(SECRET)
        );
    }

    #[test]
    fn locations_point_at_the_key_line() {
        let set = set("# c\n[profile a]\n\nregion = x\n", "");
        let p = &set.profiles["a"];
        assert_eq!(p.location.as_ref().unwrap().to_string(), "config:2");
        assert_eq!(p.properties["region"].location.to_string(), "config:4");
    }

    #[test]
    fn credentials_file_keys_win_over_config_keys() {
        let set = set(
            "[profile a]\nregion = r\naws_access_key_id = CONFIG\n",
            "[a]\naws_access_key_id = CREDS\n",
        );
        assert_eq!(value(&set, "a", "aws_access_key_id"), Some("CREDS"));
        assert_eq!(value(&set, "a", "region"), Some("r"));
        assert_eq!(
            set.profiles["a"].properties["aws_access_key_id"]
                .location
                .to_string(),
            "credentials:2"
        );
    }

    #[test]
    fn profile_default_replaces_default_entirely_in_the_config_file() {
        let set = set(
            "[default]\nregion = a\noutput = json\n[profile default]\nregion = b\n",
            "",
        );
        assert_eq!(value(&set, "default", "region"), Some("b"));
        assert_eq!(value(&set, "default", "output"), None);
        assert_eq!(set.warnings.len(), 1, "{:?}", set.warnings);
    }

    #[test]
    fn sections_outside_their_file_namespace_are_ignored_with_a_warning() {
        let set = set(
            "[bare]\nregion = x\n[sso-session s]\nk = v\n[profile  spaced ]\nregion = y\n",
            "[profile p]\nk = v\n[c]\nk = v\n",
        );
        let names: Vec<_> = set.profiles.keys().map(String::as_str).collect();
        assert_eq!(names, ["c", "spaced"]);
        assert_eq!(set.warnings.len(), 2, "{:?}", set.warnings);
        assert!(set.warnings[0].starts_with("config:1: [bare] ignored"));
        assert!(set.warnings[1].starts_with("credentials:1: section ignored"));
    }

    #[test]
    fn duplicate_sections_merge_and_the_later_key_wins() {
        let set = set("[profile a]\nk = 1\nj = 1\n[profile a]\nk = 2\n", "");
        assert_eq!(value(&set, "a", "k"), Some("2"));
        assert_eq!(value(&set, "a", "j"), Some("1"));
        assert_eq!(set.profiles["a"].location.as_ref().unwrap().line, 1);
    }

    #[test]
    fn services_sections_hold_sub_properties_with_their_lines() {
        let set = set(
            "[services s]\nSTS =\n  Endpoint_URL = http://127.0.0.1:1/ # c\nplain = x\n",
            "",
        );
        let url = &set.services["s"]["sts"]["endpoint_url"];
        assert_eq!(url.value, "http://127.0.0.1:1/");
        assert_eq!(url.location.to_string(), "config:3");
        assert_eq!(set.warnings.len(), 1, "{:?}", set.warnings);
    }

    #[test]
    fn missing_files_are_empty_files() {
        let paths = ProfilePaths {
            config_file: "/nonexistent/credvend/config".into(),
            credentials_file: "/nonexistent/credvend/credentials".into(),
        };
        let set = ProfileSet::load(&paths).unwrap();
        assert!(set.profiles.is_empty() && set.services.is_empty());
    }

    #[test]
    fn a_directory_in_place_of_a_file_is_a_read_error_naming_it() {
        let dir = std::env::temp_dir();
        let paths = ProfilePaths {
            config_file: dir.clone(),
            credentials_file: "/nonexistent/credvend/credentials".into(),
        };
        let err = ProfileSet::load(&paths).unwrap_err();
        assert!(matches!(err, ProfileError::Read { .. }));
        assert!(
            err.to_string().contains(&dir.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn a_fifo_or_a_dev_zero_symlink_is_a_read_error_naming_it_at_once() {
        let dir = crate::test_util::temp_dir("parse-special");
        let fifo = dir.join("credentials");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let zero = dir.join("config");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        for (config_file, credentials_file, named) in [
            (dir.join("none"), fifo.clone(), &fifo),
            (zero.clone(), dir.join("none"), &zero),
        ] {
            let paths = ProfilePaths {
                config_file,
                credentials_file,
            };
            // Before the guard this blocked on the FIFO, or read zeros until memory ran out.
            let err = ProfileSet::load(&paths).unwrap_err();
            let shown = crate::causes::Causes(&err).to_string();
            assert!(
                shown.starts_with(&format!("cannot read {}: it is a ", named.display())),
                "{shown}"
            );
            assert!(shown.ends_with(", not a regular file"), "{shown}");
        }
    }

    #[test]
    fn malformed_errors_show_the_line_but_not_the_value() {
        // Without `=` at all, and with base64 padding that looks like the `=`.
        for secret in [SECRET.trim_end_matches('='), SECRET] {
            let err = ProfileSet::default()
                .merge_text(
                    &format!("[default]\naws_secret_access_key {secret}\n"),
                    Path::new("/home/u/.aws/credentials"),
                    Kind::Credentials,
                )
                .unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(shown.contains("/home/u/.aws/credentials:2"), "{shown}");
            assert!(!shown.contains("wJalr"), "{shown}");
        }
    }

    #[test]
    fn no_combination_of_awkward_lines_panics() {
        let fragments = [
            "[default]",
            "[profile x",
            "[]",
            "[a]b]",
            " [profile i]",
            "k = v",
            "k=",
            "=v",
            "k v",
            "  sub = 1",
            "  no equals",
            "\tk = v",
            "# c",
            "; c",
            "k = v \\",
            "k = \"q\"",
            "\r",
            "k = a\rb",
            "[services s]",
            "sts =",
            "k:v = 1",
            "K = é # ü",
            "[profile a:b]",
            "",
        ];
        for a in fragments {
            for b in fragments {
                for c in fragments {
                    let text = format!("{a}\n{b}\n{c}");
                    for kind in [Kind::Config, Kind::Credentials] {
                        let _ = ProfileSet::default().merge_text(&text, Path::new("f"), kind);
                    }
                }
            }
        }
    }

    #[test]
    fn scan_warnings_name_file_and_line_like_the_others() {
        let set = set("[profile a]\nbad!key = x\n", "");
        assert_eq!(
            set.warnings,
            ["config:2: property ignored: its name is not a valid identifier"]
        );
    }

    #[test]
    fn profile_names_may_contain_colons() {
        let set = set("[profile a:b]\nregion = x\n", "");
        assert_eq!(value(&set, "a:b", "region"), Some("x"));
    }
}
