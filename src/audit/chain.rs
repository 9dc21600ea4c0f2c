//! The hash chain that makes the log verifiable: every line starts with `seq` (one more than
//! the record before) and `prev` (the SHA-256, lowercase hex, of the previous record's line,
//! its bytes without the `\n`). The first record of a fresh log has seq 1 and links to
//! [`GENESIS`], 64 zeros.
//!
//! The writer keeps the [`Link`] of the last record it wrote; on open it finds it again with
//! [`resume`], in the live file or, when that holds no record yet, in the rotated ones, so
//! the chain continues across restarts and rotations. Lines that are not records (a torn
//! line left by a crash) are skipped: the next record links to the last whole one.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::rotate;

/// What the first record of a fresh log links to.
pub(crate) const GENESIS: [u8; 32] = [0; 32];

/// How far back from the end of a file [`resume`] looks at first; doubled until a record is
/// found (lines are a few hundred bytes).
const TAIL_BYTES: u64 = 64 * 1024;

/// The last record written: its seq (0 before the first) and the hash of its line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) seq: u64,
    pub(crate) hash: [u8; 32],
}

impl Link {
    /// Before the first record.
    pub(crate) const START: Self = Self {
        seq: 0,
        hash: GENESIS,
    };

    /// `line` (one JSON object, `\n` included or not) with this link's successor's `seq` and
    /// `prev` put first, and the link that writing it makes.
    pub(crate) fn stamp(&self, line: &str) -> (String, Self) {
        let body = line.strip_suffix('\n').unwrap_or(line);
        let rest = body.strip_prefix('{').unwrap_or(body);
        let sep = if rest.starts_with('}') { "" } else { "," };
        // Saturating: a forged last record with seq u64::MAX must not stop the writer.
        let seq = self.seq.saturating_add(1);
        let stamped = format!(
            "{{\"seq\":{seq},\"prev\":\"{}\"{sep}{rest}",
            crate::hex::encode(&self.hash)
        );
        let next = Self {
            seq,
            hash: hash(stamped.as_bytes()),
        };
        (stamped + "\n", next)
    }

    /// The hash as written in `prev` and in checkpoints.
    pub(crate) fn hex(&self) -> String {
        crate::hex::encode(&self.hash)
    }
}

/// SHA-256 of a line's bytes (without its `\n`).
pub(crate) fn hash(line: &[u8]) -> [u8; 32] {
    Sha256::digest(line).into()
}

/// What one line of a log is to the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A chained record.
    Record { seq: u64, prev: [u8; 32] },
    /// A JSON object without `seq`: written before the log was chained.
    Unchained,
    /// Anything else: a torn or damaged line.
    NotARecord,
}

/// Classifies one line (without its `\n`).
pub(crate) fn parse(line: &[u8]) -> Line {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(line)
    else {
        return Line::NotARecord;
    };
    match (map.get("seq"), map.get("prev")) {
        (None, None) => Line::Unchained,
        (Some(seq), Some(serde_json::Value::String(prev))) => {
            match (seq.as_u64(), decode_hash(prev)) {
                (Some(seq), Some(prev)) if seq > 0 => Line::Record { seq, prev },
                _ => Line::NotARecord,
            }
        }
        _ => Line::NotARecord,
    }
}

/// 64 lowercase hex digits as a hash.
pub(crate) fn decode_hash(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// The link to continue from: the last record of the live file at `path`, else of the newest
/// rotated file that has one (up to `keep_files` of them), else [`Link::START`]. A last line
/// written before the log was chained starts a new chain too.
pub(crate) fn resume(path: &Path, keep_files: u32) -> io::Result<Link> {
    let files =
        std::iter::once(path.to_owned()).chain((1..=keep_files).map(|n| rotate::numbered(path, n)));
    for file in files {
        match last_record(&file)? {
            Some(Found::Record(line)) => {
                if let Line::Record { seq, .. } = parse(&line) {
                    return Ok(Link {
                        seq,
                        hash: hash(&line),
                    });
                }
            }
            Some(Found::Unchained) => return Ok(Link::START),
            None => {}
        }
    }
    Ok(Link::START)
}

enum Found {
    Record(Vec<u8>),
    Unchained,
}

/// The last line of `file` that is a record or an unchained JSON line (a last line without
/// its `\n` counts only if it is a whole record); `None` when it has neither (or does not
/// exist).
fn last_record(file: &Path) -> io::Result<Option<Found>> {
    let mut f = match fs::File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let mut window = TAIL_BYTES;
    loop {
        let start = len.saturating_sub(window);
        f.seek(SeekFrom::Start(start))?;
        let mut tail = Vec::new();
        f.by_ref().take(len - start).read_to_end(&mut tail)?;
        // A record whose `\n` alone is missing (a write cut short right there) is whole: the
        // writer ends the line before the next record, which links to it.
        let last_piece = tail
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(&tail[..], |i| &tail[i + 1..]);
        let complete = start == 0 || last_piece.len() < tail.len();
        if complete && matches!(parse(last_piece), Line::Record { .. }) {
            return Ok(Some(Found::Record(last_piece.to_vec())));
        }
        // Only lines that end in `\n` are whole; the first piece may be cut by the window.
        let whole = match tail.iter().rposition(|b| *b == b'\n') {
            Some(end) => &tail[..end],
            None if start == 0 => return Ok(None),
            None => &[][..],
        };
        let mut lines: Vec<&[u8]> = whole.split(|b| *b == b'\n').collect();
        if start > 0 && !lines.is_empty() {
            lines.remove(0);
        }
        for line in lines.into_iter().rev() {
            match parse(line) {
                Line::Record { .. } => return Ok(Some(Found::Record(line.to_vec()))),
                Line::Unchained => return Ok(Some(Found::Unchained)),
                Line::NotARecord => {}
            }
        }
        if start == 0 {
            return Ok(None);
        }
        window = window.saturating_mul(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::temp_dir;

    #[test]
    fn stamping_puts_seq_and_prev_first_and_links_to_the_line_written() {
        let (line, link) = Link::START.stamp("{\"time\":\"t\",\"event\":\"issued\"}\n");
        assert_eq!(
            line,
            format!(
                "{{\"seq\":1,\"prev\":\"{}\",\"time\":\"t\",\"event\":\"issued\"}}\n",
                "0".repeat(64)
            )
        );
        assert_eq!(link.seq, 1);
        assert_eq!(link.hash, hash(line.trim_end().as_bytes()));
        let (second, _) = link.stamp("{}");
        assert_eq!(
            second,
            format!("{{\"seq\":2,\"prev\":\"{}\"}}\n", link.hex())
        );
        assert_eq!(
            parse(second.trim_end().as_bytes()),
            Line::Record {
                seq: 2,
                prev: link.hash
            }
        );
    }

    #[test]
    fn lines_are_records_unchained_or_not_records() {
        assert_eq!(parse(b"{\"time\":\"t\"}"), Line::Unchained);
        assert_eq!(parse(b"{\"seq\":1,\"prev\":\"00"), Line::NotARecord);
        assert_eq!(parse(b"{\"seq\":1,\"prev\":\"AB\"}"), Line::NotARecord);
        assert_eq!(parse(b"{\"seq\":\"1\"}"), Line::NotARecord);
        assert_eq!(parse(b"[1]"), Line::NotARecord);
        assert_eq!(parse(b""), Line::NotARecord);
        let upper = format!("{{\"seq\":1,\"prev\":\"{}\"}}", "A".repeat(64));
        assert_eq!(parse(upper.as_bytes()), Line::NotARecord);
    }

    #[test]
    fn resume_finds_the_last_whole_record_past_torn_lines_and_in_rotated_files() {
        let dir = temp_dir("audit-chain");
        let path = dir.join("audit.jsonl");
        assert_eq!(resume(&path, 3).unwrap(), Link::START);

        let (a, la) = Link::START.stamp("{\"n\":1}");
        let (b, lb) = la.stamp("{\"n\":2}");
        fs::write(rotate::numbered(&path, 2), &a).unwrap();
        fs::write(
            rotate::numbered(&path, 1),
            format!("{b}{{\"seq\":3,\"pr\n{{\"seq\":3"),
        )
        .unwrap();
        fs::write(&path, "").unwrap();
        assert_eq!(
            resume(&path, 3).unwrap(),
            lb,
            "the live file is empty: .1's last record"
        );
        assert_eq!(
            resume(&path, 0).unwrap(),
            Link::START,
            "no rotated files to look at"
        );

        // A long file: the record is found further back than the first window.
        let (c, lc) = lb.stamp("{\"n\":3}");
        let junk = "x".repeat(200 * 1024);
        fs::write(&path, format!("{c}{junk}\n{junk}")).unwrap();
        assert_eq!(resume(&path, 3).unwrap(), lc);

        let (d, ld) = lc.stamp("{\"n\":4}");
        fs::write(&path, format!("{c}{}", d.trim_end())).unwrap();
        assert_eq!(
            resume(&path, 3).unwrap(),
            ld,
            "only the newline is missing: a record"
        );

        fs::write(&path, format!("{c}{{\"time\":\"old\"}}\n")).unwrap();
        assert_eq!(
            resume(&path, 3).unwrap(),
            Link::START,
            "an unchained last line starts anew"
        );
        fs::remove_dir_all(dir).unwrap();
    }
}
