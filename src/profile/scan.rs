//! The lexical pre-scan of a profile file: the cross-SDK line rules rust-ini does not know.
//!
//! rust-ini stays the parser of record for sections, keys and values. It cannot report line
//! numbers, accepts lines the SDKs reject (a key without `=` runs on into the next line), and
//! knows neither `v # c` inline comments nor `[services]` sub-properties. So this pass checks each
//! line against the rules of docs/wire-contract.md §7, records line numbers and what it expects, and hands
//! rust-ini a cleaned text with exactly one line per input line: comments blanked, inline
//! comments cut, keys lowercased. `parse.rs` then checks that both passes agree.

use std::path::Path;

use super::error::Malformed;
use super::{Location, ProfileError};

/// Whitespace as the SDKs define it for these files: only space and tab.
const WS: &[char] = &[' ', '\t'];
const COMMENT: &[char] = &['#', ';'];

/// What the scan found in one file.
#[derive(Debug, Default)]
pub(super) struct Scanned {
    /// Sections in file order (duplicates kept, as rust-ini keeps them).
    pub(super) sections: Vec<ScannedSection>,
    /// The text for rust-ini, line for line.
    pub(super) cleaned: String,
    /// Lines ignored on purpose, without their contents.
    pub(super) warnings: Vec<String>,
}

/// One `[...]` section occurrence.
#[derive(Debug)]
pub(super) struct ScannedSection {
    /// The text between the brackets, trimmed.
    pub(super) header: String,
    /// 1-based line of the header.
    pub(super) line: usize,
    /// Properties in order.
    pub(super) keys: Vec<ScannedKey>,
}

/// One property, with its continuation lines.
#[derive(Debug)]
pub(super) struct ScannedKey {
    /// Lowercased name.
    pub(super) key: String,
    /// 1-based line of the `key =` line.
    pub(super) line: usize,
    /// The value as the SDKs see it: first line, then one `\n`-joined line per continuation.
    pub(super) value: String,
    /// Lines of the sub-properties, when the first line's value was empty.
    pub(super) sub_lines: Vec<usize>,
}

enum State {
    Start,
    /// Inside an ignored section: everything up to the next header is blanked.
    Skipping,
    Section {
        property: Property,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Property {
    None,
    Plain,
    Sub,
    Ignored,
}

/// Scans `text` (from `file`, for error locations).
pub(super) fn scan(text: &str, file: &Path) -> Result<Scanned, ProfileError> {
    let mut out = Scanned::default();
    let mut state = State::Start;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let at = |reason| ProfileError::Malformed {
            location: Location {
                file: file.to_path_buf(),
                line,
            },
            reason,
        };
        let cleaned = if raw.trim_matches(WS).is_empty() || raw.starts_with(COMMENT) {
            String::new()
        } else if raw.starts_with('[') {
            let header = prepare(raw, false);
            let inner = header
                .strip_suffix(']')
                .ok_or_else(|| at(Malformed::UnterminatedSection))?[1..]
                .trim_matches(WS);
            if inner.is_empty() || inner.contains(['[', ']']) {
                out.warnings
                    .push(format!("{line}: section ignored: not a valid section name"));
                state = State::Skipping;
                String::new()
            } else {
                out.sections.push(ScannedSection {
                    header: inner.to_string(),
                    line,
                    keys: Vec::new(),
                });
                state = State::Section {
                    property: Property::None,
                };
                format!("[{inner}]")
            }
        } else {
            let property = match &mut state {
                State::Start => return Err(at(Malformed::PropertyBeforeSection)),
                State::Skipping => {
                    out.cleaned.push('\n');
                    continue;
                }
                State::Section { property } => property,
            };
            let section = out.sections.last_mut().expect("a section is open");
            if raw.starts_with(WS) {
                continuation(raw, property, section, line).map_err(at)?
            } else {
                property_line(raw, property, section, line, &mut out.warnings).map_err(at)?
            }
        };
        out.cleaned.push_str(&cleaned);
        out.cleaned.push('\n');
    }
    Ok(out)
}

/// A `key = value` line; returns the cleaned line.
fn property_line(
    raw: &str,
    property: &mut Property,
    section: &mut ScannedSection,
    line: usize,
    warnings: &mut Vec<String>,
) -> Result<String, Malformed> {
    let (key, value) = split_property(raw).ok_or(Malformed::MissingEquals)?;
    if key.is_empty() {
        return Err(Malformed::MissingName);
    }
    // Stricter than the SDKs (which skip such keys): `aws_secret_access_key abc/d==` is a
    // missing `=`, and silently dropping the key would hide it.
    if key.contains(WS) {
        return Err(Malformed::NameWithWhitespace);
    }
    if !is_identifier(key) {
        // The SDKs skip such keys with a warning; the name itself is not repeated (it may be a
        // secret pasted without its `key =`).
        warnings.push(format!(
            "{line}: property ignored: its name is not a valid identifier"
        ));
        *property = Property::Ignored;
        return Ok(String::new());
    }
    let key = key.to_ascii_lowercase();
    *property = if value.is_empty() {
        Property::Sub
    } else {
        Property::Plain
    };
    let cleaned = format!("{key}={value}");
    section.keys.push(ScannedKey {
        key,
        line,
        value: value.to_string(),
        sub_lines: Vec::new(),
    });
    Ok(cleaned)
}

/// An indented line continuing the property above; returns the cleaned line.
fn continuation(
    raw: &str,
    property: &Property,
    section: &mut ScannedSection,
    line: usize,
) -> Result<String, Malformed> {
    let appended = match property {
        Property::None => return Err(Malformed::ContinuationWithoutProperty),
        Property::Ignored => return Ok(String::new()),
        Property::Plain => raw.trim_matches(WS).to_string(),
        Property::Sub => {
            let (key, value) = split_property(raw).ok_or(Malformed::SubPropertyMissingEquals)?;
            if key.is_empty() {
                return Err(Malformed::SubPropertyMissingName);
            }
            format!("{}={value}", key.to_ascii_lowercase())
        }
    };
    let key = section.keys.last_mut().expect("a property is open");
    if *property == Property::Sub {
        key.sub_lines.push(line);
    }
    key.value.push('\n');
    key.value.push_str(&appended);
    Ok(format!("  {appended}"))
}

/// `key = value # comment` -> (`key`, `value`), both trimmed; `None` without `=`.
fn split_property(raw: &str) -> Option<(&str, &str)> {
    let (key, value) = prepare(raw, true).split_once('=')?;
    Some((key.trim_matches(WS), value.trim_matches(WS)))
}

/// Trims the line and cuts a trailing comment. In property lines a comment needs whitespace
/// before it (`v#c` is a value); in section lines it does not.
fn prepare(raw: &str, comment_needs_space: bool) -> &str {
    let line = raw.trim_matches(WS);
    let mut after_space = false;
    for (at, ch) in line.char_indices() {
        if COMMENT.contains(&ch) && (after_space || !comment_needs_space) {
            return line[..at].trim_matches(WS);
        }
        after_space = ch.is_whitespace();
    }
    line
}

/// Names the SDKs accept for profiles and keys: `[A-Za-z0-9_\-/.%@+]` (and `:` for the SDKs,
/// which rust-ini would read as a separator, so it is left out here).
pub(super) fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-/.%@+".contains(c))
}

/// `value` with the empty lines dropped, the form both passes are compared in.
pub(super) fn normalize_value(value: &str) -> String {
    value
        .split('\n')
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_ok(text: &str) -> Scanned {
        scan(text, Path::new("config")).unwrap()
    }

    fn scan_err(text: &str) -> (usize, Malformed) {
        match scan(text, Path::new("config")).unwrap_err() {
            ProfileError::Malformed { location, reason } => (location.line, reason),
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn inline_comments_need_whitespace_before_them_in_properties() {
        let s = scan_ok("[default]\na = v # c\nb = v#c\nc = v ; c\nd = v;c\ne = ;all comment\n");
        let values: Vec<_> = s.sections[0]
            .keys
            .iter()
            .map(|k| k.value.as_str())
            .collect();
        assert_eq!(values, ["v", "v#c", "v", "v;c", ""]);
    }

    #[test]
    fn section_headers_drop_comments_without_whitespace() {
        let s = scan_ok("[profile a]#c\n[profile b] ; c\n");
        let headers: Vec<_> = s.sections.iter().map(|s| s.header.as_str()).collect();
        assert_eq!(headers, ["profile a", "profile b"]);
    }

    #[test]
    fn keys_are_lowercased_and_lines_counted_from_one() {
        let s = scan_ok("# top\n\n[default]\n  \nREGION = x\n");
        assert_eq!(s.sections[0].line, 3);
        assert_eq!(s.sections[0].keys[0].key, "region");
        assert_eq!(s.sections[0].keys[0].line, 5);
        assert_eq!(
            scan_err("[default]\n\n  x = y\n"),
            (3, Malformed::ContinuationWithoutProperty)
        );
    }

    #[test]
    fn malformed_lines_name_their_line_and_reason() {
        assert_eq!(scan_err("x = 1\n"), (1, Malformed::PropertyBeforeSection));
        assert_eq!(
            scan_err("[default]\n[profile x\n"),
            (2, Malformed::UnterminatedSection)
        );
        assert_eq!(
            scan_err("[default]\ngarbage\n"),
            (2, Malformed::MissingEquals)
        );
        assert_eq!(scan_err("[default]\n= v\n"), (2, Malformed::MissingName));
        assert_eq!(
            scan_err("[default]\na b = v\n"),
            (2, Malformed::NameWithWhitespace)
        );
        assert_eq!(
            scan_err("[services s]\nsts =\n  no equals\n"),
            (3, Malformed::SubPropertyMissingEquals)
        );
        assert_eq!(
            scan_err("[services s]\nsts =\n  = v\n"),
            (3, Malformed::SubPropertyMissingName)
        );
    }

    #[test]
    fn sub_properties_keep_their_own_lines() {
        let s = scan_ok("[services s]\nsts =\n  Endpoint_URL = http://x # c\n  other = y\n");
        let key = &s.sections[0].keys[0];
        assert_eq!(key.value, "\nendpoint_url=http://x\nother=y");
        assert_eq!(key.sub_lines, [3, 4]);
    }

    #[test]
    fn invalid_names_are_skipped_with_a_warning_that_does_not_repeat_them() {
        let s = scan_ok("[default]\nsecret!stuff = x\n  more\n[]\nk = v\n");
        assert!(s.sections[0].keys.is_empty());
        assert_eq!(s.sections.len(), 1);
        assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
        assert!(!s.warnings.iter().any(|w| w.contains("secret!stuff")));
    }

    #[test]
    fn cleaned_text_has_one_line_per_input_line() {
        let text = "# c\n[default]\na = 1 # c\n  more\n\n[x]\n";
        let s = scan_ok(text);
        assert_eq!(s.cleaned.lines().count(), text.lines().count());
    }
}
