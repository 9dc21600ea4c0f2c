//! Maps between byte offsets in the TOML text and key paths (`imds[1].listen`), so that
//! every error names both the key and the line.
//!
//! serde reports where a bad value is but not under which key; validation knows the key
//! but not where it was written. Both questions are answered from toml's spanned tree.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::Position;

/// The 1-based line and column of byte `offset` in `text`.
pub(super) fn position(text: &str, offset: usize) -> Position {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Position {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The key path whose key or value covers byte `offset`, e.g. `aws.bogus` for an unknown
/// key or `imds[1].imdsv1` for a value of the wrong type.
pub(super) fn key_at(doc: &DeTable<'_>, offset: usize) -> Option<String> {
    let mut path = String::new();
    find(doc, offset, &mut path).then_some(path)
}

/// Appends the path to `offset` to `path`; false (and `path` unchanged) when not found.
fn find(table: &DeTable<'_>, offset: usize, path: &mut String) -> bool {
    let len = path.len();
    for (key, value) in table.iter() {
        push_key(path, key.get_ref());
        if covers(key.span(), offset) || find_in(value, offset, path) {
            return true;
        }
        path.truncate(len);
    }
    false
}

fn find_in(value: &Spanned<DeValue<'_>>, offset: usize, path: &mut String) -> bool {
    match value.get_ref() {
        // An inline table's span is its braces; a [header] table's, the header.
        DeValue::Table(table) => find(table, offset, path) || covers(value.span(), offset),
        DeValue::Array(items) => {
            let len = path.len();
            for (i, item) in items.iter().enumerate() {
                path.push_str(&format!("[{i}]"));
                if find_in(item, offset, path) {
                    return true;
                }
                path.truncate(len);
            }
            // A miss inside the brackets (e.g. a type error on the whole array).
            covers(value.span(), offset)
        }
        _ => covers(value.span(), offset),
    }
}

fn covers(span: Range<usize>, offset: usize) -> bool {
    span.contains(&offset) || (span.is_empty() && span.start == offset)
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

/// Where the value of `key` (a path as [`key_at`] builds them) was written. When the key
/// itself is absent (a missing setting), the nearest enclosing table that is written.
pub(super) fn span_of(doc: &DeTable<'_>, key: &str) -> Option<Range<usize>> {
    let mut table = doc;
    let mut found = None;
    for segment in key.split('.') {
        let (name, index) = split_index(segment);
        let Some((_, mut value)) = table.iter().find(|(k, _)| k.get_ref() == name) else {
            return found;
        };
        if let Some(index) = index {
            let DeValue::Array(items) = value.get_ref() else {
                return Some(value.span());
            };
            match items.get(index) {
                Some(item) => value = item,
                None => return Some(value.span()),
            }
        }
        found = Some(value.span());
        match value.get_ref() {
            DeValue::Table(inner) => table = inner,
            _ => break,
        }
    }
    found
}

/// `imds[1]` -> (`imds`, Some(1)).
fn split_index(segment: &str) -> (&str, Option<usize>) {
    segment
        .strip_suffix(']')
        .and_then(|s| s.split_once('['))
        .and_then(|(name, i)| Some((name, Some(i.parse().ok()?))))
        .unwrap_or((segment, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "top = 1\naws.region = 'x'\n[cache]\nmax = 2\n\n[[imds]]\nlisten = 'a'\n\
                        [[imds]]\nimdsv1 = 3\n[ecs]\nprofiles = ['a', 1]\n";

    fn doc() -> Spanned<DeTable<'static>> {
        DeTable::parse(TEXT).unwrap()
    }

    fn offset_of(needle: &str) -> usize {
        TEXT.find(needle).unwrap()
    }

    #[test]
    fn offsets_map_to_the_key_path_under_them() {
        let d = doc();
        let cases = [
            ("top", "top"),
            ("region", "aws.region"),
            ("'x'", "aws.region"),
            ("max", "cache.max"),
            ("'a'\n", "imds[0].listen"),
            ("imdsv1", "imds[1].imdsv1"),
            ("3", "imds[1].imdsv1"),
            ("1]", "ecs.profiles[1]"),
        ];
        for (needle, want) in cases {
            assert_eq!(
                key_at(d.get_ref(), offset_of(needle)).as_deref(),
                Some(want),
                "{needle}"
            );
        }
        assert_eq!(key_at(d.get_ref(), offset_of("\n\n")), None);
    }

    #[test]
    fn key_paths_map_back_to_lines() {
        let d = doc();
        let line = |key: &str| span_of(d.get_ref(), key).map(|s| position(TEXT, s.start).line);
        assert_eq!(line("aws.region"), Some(2));
        assert_eq!(line("imds[1].imdsv1"), Some(9));
        // Absent keys fall back to their table: here the second [[imds]] header.
        assert_eq!(line("imds[1].listen"), Some(8));
        assert_eq!(line("ecs.profiles"), Some(11));
        assert_eq!(line("audit.path"), None);
    }

    #[test]
    fn positions_count_lines_and_characters() {
        assert_eq!(position("a\nbé = c", 6), Position { line: 2, column: 4 });
        assert_eq!(position("", 0), Position { line: 1, column: 1 });
    }
}
