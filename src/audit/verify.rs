//! Checking a chained log (docs/audit.md, "Verifying"): every record must continue the one
//! before it, from the oldest file given to the newest, and a checkpoint from the daemon's own
//! log must name a record that is still there, unchanged.
//!
//! The first problem is reported, with its file and line and one of four kinds. Which kind
//! follows from how the chain breaks around the line (the rules are in [`Walk::broken`]):
//! an edit changes a line's hash, so the next record no longer links to it; a removal leaves
//! a gap in `seq`; a reordering puts a seq before a smaller one that is still there; an
//! insertion is a line the chain continues without. A torn line (a record cut short by a
//! crash or a failed write) is only a warning when it is the start of the record the writer
//! would have written next and the chain continues past it.

use std::collections::HashMap;
use std::fmt;

use super::chain::{self, GENESIS, Line, Link};

/// Bytes of a line kept to check a torn line against the record it would have started.
const FRAGMENT_KEEP: usize = 128;

/// A line of a file: `file` indexes the names given, `line` counts from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loc {
    /// Which file, in the order given.
    pub file: usize,
    /// The line number in it.
    pub line: usize,
}

/// What is wrong, by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The line's content changed since it was written.
    Edited,
    /// Records are missing before the line.
    Removed,
    /// The line is out of order.
    Reordered,
    /// The line was not written by the chain's writer.
    Inserted,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Edited => "edited",
            Self::Removed => "removed",
            Self::Reordered => "reordered",
            Self::Inserted => "inserted",
        })
    }
}

/// The first break in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where.
    pub at: Loc,
    /// What.
    pub kind: Kind,
    /// Why, naming the lines involved.
    pub detail: String,
}

/// Something worth saying that is not a break.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    /// A record cut short, the last line of the last file (no `\n`).
    TornEnd(Loc),
    /// A record cut short earlier (a crash or a failed write); the chain continues past it.
    Torn(Loc),
    /// Lines before the first chained record, written before the log was chained.
    Unchained { file: usize, lines: usize },
}

/// How a checkpoint compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckpointResult {
    /// The record is there and hashes as the checkpoint says.
    Matches(Loc),
    /// The record is there with another hash.
    Differs { at: Loc, hash: [u8; 32] },
    /// No record has that seq; the files hold `first..=last` (or nothing).
    Missing { range: Option<(u64, u64)> },
}

/// The outcome of checking some files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Records that continue the chain (up to the problem, if any).
    pub records: u64,
    /// Seq of the first of them.
    pub first_seq: Option<u64>,
    /// Seq and hash of the last of them.
    pub last: Option<(u64, [u8; 32])>,
    /// Warnings, in file order.
    pub warnings: Vec<Warning>,
    /// The first break, if any.
    pub problem: Option<Problem>,
    /// The checkpoint asked for, if any, and how it compared.
    pub checkpoint: Option<((u64, [u8; 32]), CheckpointResult)>,
}

impl Verdict {
    /// Whether the files passed (chain whole, checkpoint matching).
    #[must_use]
    pub fn ok(&self) -> bool {
        self.problem.is_none()
            && self
                .checkpoint
                .as_ref()
                .is_none_or(|(_, r)| matches!(r, CheckpointResult::Matches(_)))
    }
}

#[derive(Debug)]
enum What {
    Record {
        seq: u64,
        prev: [u8; 32],
        hash: [u8; 32],
    },
    Unchained,
    /// Not a record; `whole` when it ends in `\n`.
    Fragment {
        start: Vec<u8>,
        whole: bool,
    },
}

#[derive(Debug)]
struct Entry {
    at: Loc,
    what: What,
}

/// Checks `files` (name and contents, oldest first) as one chain, and `checkpoint` (seq and
/// hash) against them. Details name lines as `NAME:LINE`.
#[must_use]
pub fn verify(files: &[(String, Vec<u8>)], checkpoint: Option<(u64, [u8; 32])>) -> Verdict {
    let entries = entries(files);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let mut walk = Walk::new(&entries, &names);
    let problem = walk.run();
    let checkpoint = checkpoint.map(|c| (c, walk.checkpoint(c)));
    Verdict {
        records: walk.records,
        first_seq: walk.first_seq,
        last: walk.last.map(|i| {
            let l = link_of(&entries[i]);
            (l.seq, l.hash)
        }),
        warnings: walk.warnings,
        problem,
        checkpoint,
    }
}

fn entries(files: &[(String, Vec<u8>)]) -> Vec<Entry> {
    let mut out = Vec::new();
    for (file, (_, bytes)) in files.iter().enumerate() {
        let mut pieces: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        // After the last `\n` comes an empty piece, or a line cut short.
        let tail = pieces.pop().filter(|t| !t.is_empty());
        let whole = pieces.into_iter().map(|p| (p, true));
        for (n, (line, ends)) in whole.chain(tail.map(|t| (t, false))).enumerate() {
            let what = match chain::parse(line) {
                Line::Record { seq, prev } => What::Record {
                    seq,
                    prev,
                    hash: chain::hash(line),
                },
                Line::Unchained if ends => What::Unchained,
                _ => What::Fragment {
                    start: line[..line.len().min(FRAGMENT_KEEP)].to_vec(),
                    whole: ends,
                },
            };
            out.push(Entry {
                at: Loc { file, line: n + 1 },
                what,
            });
        }
    }
    out
}

fn link_of(e: &Entry) -> Link {
    match e.what {
        What::Record { seq, hash, .. } => Link { seq, hash },
        _ => Link::START,
    }
}

fn record(e: &Entry) -> Option<(u64, [u8; 32], [u8; 32])> {
    match e.what {
        What::Record { seq, prev, hash } => Some((seq, prev, hash)),
        _ => None,
    }
}

/// Whether `next` continues the chain from `from` (`None`: the start of a fresh log).
fn links(from: Option<&Entry>, next: &Entry) -> bool {
    let link = from.map_or(Link::START, link_of);
    matches!(record(next), Some((seq, prev, _)) if link.seq.checked_add(1) == Some(seq) && prev == link.hash)
}

/// Whether a line that is no record is the start of the one the writer would write after
/// `from`: the only kind of torn line a crash or a failed write leaves.
fn torn_after(from: Option<&Entry>, start: &[u8]) -> bool {
    let expected = match from {
        Some(e) => {
            let l = link_of(e);
            format!(
                "{{\"seq\":{},\"prev\":\"{}\",",
                l.seq.saturating_add(1),
                l.hex()
            )
        }
        // Before the chain starts nothing is verified: any line cut short is just that.
        None => return !start.is_empty(),
    };
    let expected = expected.as_bytes();
    !start.is_empty() && (start.starts_with(expected) || expected.starts_with(start))
}

struct Walk<'a> {
    entries: &'a [Entry],
    names: &'a [&'a str],
    /// Entry index of each seq's first record.
    by_seq: HashMap<u64, usize>,
    last: Option<usize>,
    records: u64,
    first_seq: Option<u64>,
    warnings: Vec<Warning>,
}

impl<'a> Walk<'a> {
    fn new(entries: &'a [Entry], names: &'a [&'a str]) -> Self {
        let mut by_seq = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            if let Some((seq, ..)) = record(e) {
                by_seq.entry(seq).or_insert(i);
            }
        }
        Self {
            entries,
            names,
            by_seq,
            last: None,
            records: 0,
            first_seq: None,
            warnings: Vec::new(),
        }
    }

    fn loc(&self, i: usize) -> Loc {
        self.entries[i].at
    }

    fn run(&mut self) -> Option<Problem> {
        let mut fragments: Vec<usize> = Vec::new();
        let mut unchained: Vec<usize> = Vec::new();
        for i in 0..self.entries.len() {
            let e = &self.entries[i];
            match e.what {
                What::Fragment { .. } => fragments.push(i),
                What::Unchained if self.last.is_none() => unchained.push(i),
                What::Unchained => {
                    return Some(self.problem(
                        i,
                        Kind::Inserted,
                        "a JSON line without seq and prev inside the chain".into(),
                    ));
                }
                What::Record { seq, prev, .. } => {
                    let last = self.last.map(|l| &self.entries[l]);
                    if self.last.is_none() && (seq > 1 || prev == GENESIS) || links(last, e) {
                        if let Some(p) = self.torn(&fragments) {
                            return Some(p);
                        }
                        self.note_unchained(&mut unchained);
                        fragments.clear();
                        self.first_seq.get_or_insert(seq);
                        self.records += 1;
                        self.last = Some(i);
                        continue;
                    }
                    return Some(self.broken(i, &fragments));
                }
            }
        }
        self.note_unchained(&mut unchained);
        self.torn(&fragments)
    }

    fn note_unchained(&mut self, unchained: &mut Vec<usize>) {
        let mut by_file: Vec<(usize, usize)> = Vec::new();
        for &i in unchained.iter() {
            let file = self.loc(i).file;
            match by_file.last_mut() {
                Some((f, n)) if *f == file => *n += 1,
                _ => by_file.push((file, 1)),
            }
        }
        self.warnings.extend(
            by_file
                .into_iter()
                .map(|(file, lines)| Warning::Unchained { file, lines }),
        );
        unchained.clear();
    }

    /// The torn lines since the last record: warnings if each is the start of the record
    /// that would have followed it, else the first that is not is an edit.
    fn torn(&mut self, fragments: &[usize]) -> Option<Problem> {
        let last = self.last.map(|l| &self.entries[l]);
        let end = self.entries.len().checked_sub(1);
        for &i in fragments {
            let What::Fragment { start, whole } = &self.entries[i].what else {
                continue;
            };
            if !torn_after(last, start) {
                let after = self
                    .last
                    .map_or("the start".to_owned(), |l| format!("line {}", self.name(l)));
                return Some(self.problem(
                    i,
                    Kind::Edited,
                    format!("not a record, nor the start of the one that follows {after}"),
                ));
            }
            let at = self.loc(i);
            self.warnings.push(if !whole && Some(i) == end {
                Warning::TornEnd(at)
            } else {
                Warning::Torn(at)
            });
        }
        None
    }

    /// Why the record at `i` does not continue the chain from the last one, first rule that
    /// fits (in this order):
    /// 0. its seq skips ahead and a skipped seq comes later: reordered;
    /// 1. the next record continues from the last one: this one was inserted;
    /// 2. it has the last one's seq and prev: the last one was inserted (a forgery that
    ///    copied the link of the record it sits before);
    /// 3. a line between them is no record: that line was a record, edited;
    /// 4. it links to the last one's hash with the wrong seq: its seq was edited;
    /// 5. its seq skips ahead: removed;
    /// 6. its seq does not increase: reordered;
    /// 7. its seq is right but its prev is not: it was edited if the next record does not
    ///    link to it either, else the last one was.
    fn broken(&self, i: usize, fragments: &[usize]) -> Problem {
        let e = &self.entries[i];
        let (seq, prev, _) = record(e).unwrap_or((0, GENESIS, GENESIS));
        let last = self.last.map(|l| &self.entries[l]);
        let Link {
            seq: last_seq,
            hash: last_hash,
        } = last.map_or(Link::START, link_of);
        let last_prev = last.and_then(record).map(|(_, p, _)| p);
        let next = self.entries[i + 1..]
            .iter()
            .position(|n| record(n).is_some())
            .map(|k| i + 1 + k);
        let before = self.last.map_or("the start of the log".to_owned(), |l| {
            format!("line {}", self.name(l))
        });
        // A forged seq may be u64::MAX: no arithmetic on seqs may overflow.
        let want = last_seq.saturating_add(1);
        let skipped_later = (seq > want)
            .then(|| self.by_seq.get(&want).filter(|&&k| k > i))
            .flatten();
        if let Some(&later) = skipped_later {
            return self.problem(
                i,
                Kind::Reordered,
                format!(
                    "seq {seq} comes before seq {} at line {}",
                    want,
                    self.name(later)
                ),
            );
        }
        if let Some(n) = next.filter(|&n| links(last, &self.entries[n])) {
            return self.problem(
                i,
                Kind::Inserted,
                format!("line {} continues the chain from {before}", self.name(n)),
            );
        }
        if let (Some(l), true) = (self.last, seq == last_seq && Some(prev) == last_prev) {
            return self.problem(
                l,
                Kind::Inserted,
                format!(
                    "line {} has the same seq {seq} and links to the record before it",
                    self.name(i)
                ),
            );
        }
        if let Some(&f) = fragments.last() {
            return self.problem(
                f,
                Kind::Edited,
                format!(
                    "not a record, and line {} does not continue the chain without it",
                    self.name(i)
                ),
            );
        }
        if prev == last_hash {
            return self.problem(
                i,
                Kind::Edited,
                format!("seq {seq} where {want} follows {before}"),
            );
        }
        if seq > want {
            let missing = if seq == want.saturating_add(1) {
                format!("seq {want} is missing")
            } else {
                format!("seq {want}..{} are missing", seq - 1)
            };
            return self.problem(i, Kind::Removed, format!("{missing} after {before}"));
        }
        if seq <= last_seq {
            return self.problem(
                i,
                Kind::Reordered,
                format!("seq {seq} comes after seq {last_seq} at {before}"),
            );
        }
        let next_links = next.is_some_and(|n| links(Some(e), &self.entries[n]));
        match self.last {
            Some(l) if next_links => self.problem(
                l,
                Kind::Edited,
                format!(
                    "its hash is not the prev that line {} records",
                    self.name(i)
                ),
            ),
            Some(_) if next.is_none() => self.problem(
                i,
                Kind::Edited,
                format!("its prev is not the hash of {before} (this line or that one was edited)"),
            ),
            _ => self.problem(
                i,
                Kind::Edited,
                format!("its prev is not the hash of {before}"),
            ),
        }
    }

    /// `NAME:LINE` of entry `i`.
    fn name(&self, i: usize) -> String {
        let at = self.loc(i);
        format!("{}:{}", self.names[at.file], at.line)
    }

    fn problem(&self, i: usize, kind: Kind, detail: String) -> Problem {
        Problem {
            at: self.loc(i),
            kind,
            detail,
        }
    }

    fn checkpoint(&self, (seq, hash): (u64, [u8; 32])) -> CheckpointResult {
        let accepted = |&i: &usize| self.last.is_some_and(|l| i <= l);
        match self.by_seq.get(&seq).filter(|i| accepted(i)) {
            Some(&i) => match record(&self.entries[i]) {
                Some((_, _, h)) if h == hash => CheckpointResult::Matches(self.loc(i)),
                Some((_, _, h)) => CheckpointResult::Differs {
                    at: self.loc(i),
                    hash: h,
                },
                None => CheckpointResult::Missing { range: None },
            },
            None => CheckpointResult::Missing {
                range: self
                    .first_seq
                    .zip(self.last.map(|l| link_of(&self.entries[l]).seq)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` chained lines, as the writer makes them.
    fn log(n: u64) -> Vec<String> {
        let mut link = Link::START;
        (1..=n)
            .map(|i| {
                let (line, next) = link.stamp(&format!("{{\"event\":\"issued\",\"n\":{i}}}"));
                link = next;
                line
            })
            .collect()
    }

    fn check(lines: &[String]) -> Verdict {
        verify(&[("audit.jsonl".into(), lines.concat().into_bytes())], None)
    }

    fn problem(lines: &[String]) -> (usize, Kind, String) {
        let v = check(lines);
        let Some(p) = v.problem else {
            panic!("no problem found: {v:#?}")
        };
        (p.at.line, p.kind, p.detail)
    }

    fn kind_at(lines: &[String]) -> (usize, Kind) {
        let (line, kind, _) = problem(lines);
        (line, kind)
    }

    #[test]
    fn an_intact_log_passes_with_its_count_and_last_hash() {
        let lines = log(5);
        let v = check(&lines);
        assert!(v.ok(), "{v:#?}");
        assert_eq!((v.records, v.first_seq), (5, Some(1)));
        let last = chain::hash(lines[4].trim_end().as_bytes());
        assert_eq!(v.last, Some((5, last)));
        assert!(v.warnings.is_empty());
        assert!(check(&[]).ok());
    }

    #[test]
    fn an_edited_field_names_the_line_whose_hash_changed() {
        let mut lines = log(5);
        lines[2] = lines[2].replace("\"n\":3", "\"n\":33");
        let (line, kind, detail) = problem(&lines);
        assert_eq!((line, kind), (3, Kind::Edited), "{detail}");
        assert!(detail.contains("audit.jsonl:4"), "{detail}");

        // An edit that breaks the JSON is an edit of that line too.
        let mut lines = log(5);
        lines[1] = "{\"seq\":2,\"garbage\n".into();
        assert_eq!(kind_at(&lines), (2, Kind::Edited));

        // Its seq or prev: still that line.
        let mut lines = log(5);
        lines[1] = lines[1].replacen("\"seq\":2", "\"seq\":7", 1);
        assert_eq!(kind_at(&lines), (2, Kind::Edited));
    }

    #[test]
    fn a_deleted_line_is_a_gap_named_at_the_line_after_it() {
        let mut lines = log(5);
        lines.remove(2);
        let (line, kind, detail) = problem(&lines);
        assert_eq!((line, kind), (3, Kind::Removed));
        assert!(
            detail.contains("seq 3 is missing after line audit.jsonl:2"),
            "{detail}"
        );
    }

    #[test]
    fn swapped_lines_are_reordered() {
        let mut lines = log(5);
        lines.swap(1, 2);
        let (line, kind, detail) = problem(&lines);
        assert_eq!((line, kind), (2, Kind::Reordered));
        assert!(
            detail.contains("seq 3 comes before seq 2 at line audit.jsonl:3"),
            "{detail}"
        );
    }

    #[test]
    fn a_forged_line_is_inserted_however_it_is_linked() {
        let lines = log(5);
        // Linked to the record before, as a careful forger would.
        let (forged, _) = Link {
            seq: 2,
            hash: chain::hash(lines[1].trim_end().as_bytes()),
        }
        .stamp("{\"event\":\"issued\",\"n\":99}");
        let mut careful = lines.clone();
        careful.insert(2, forged);
        let (line, kind, detail) = problem(&careful);
        assert_eq!((line, kind), (3, Kind::Inserted), "{detail}");

        let mut sloppy = lines.clone();
        sloppy.insert(
            2,
            format!("{{\"seq\":3,\"prev\":\"{}\",\"n\":0}}\n", "1".repeat(64)),
        );
        assert_eq!(kind_at(&sloppy), (3, Kind::Inserted));

        let mut duplicate = lines.clone();
        duplicate.insert(3, lines[2].clone());
        assert_eq!(kind_at(&duplicate), (4, Kind::Inserted));

        let mut plain = lines;
        plain.insert(1, "{\"event\":\"issued\"}\n".into());
        assert_eq!(kind_at(&plain), (2, Kind::Inserted));
    }

    #[test]
    fn a_torn_last_line_is_a_warning_and_a_torn_line_the_chain_continues_past_too() {
        let mut lines = log(3);
        let cut = lines[2].len() / 2;
        lines[2].truncate(cut);
        let v = check(&lines);
        assert!(v.ok(), "{v:#?}");
        assert_eq!(v.records, 2);
        assert_eq!(v.warnings, [Warning::TornEnd(Loc { file: 0, line: 3 })]);

        // A restart ends it with `\n` and links the next record to the last whole one.
        let (next, _) = Link {
            seq: 2,
            hash: chain::hash(lines[1].trim_end().as_bytes()),
        }
        .stamp("{\"n\":3}");
        lines[2].push('\n');
        lines.push(next);
        let v = check(&lines);
        assert!(v.ok(), "{v:#?}");
        assert_eq!(v.records, 3);
        assert_eq!(v.warnings, [Warning::Torn(Loc { file: 0, line: 3 })]);

        // A line that is not the start of the next record is no torn write.
        let mut lines = log(3);
        lines[2] = "{\"seq\":3,\"prev\":\"ffff".into();
        assert_eq!(kind_at(&lines), (3, Kind::Edited));
    }

    #[test]
    fn a_chain_goes_on_across_files_and_may_start_after_rotated_ones_were_dropped() {
        let lines = log(6);
        let files = vec![
            ("a.2".to_owned(), lines[1..3].concat().into_bytes()),
            ("a.1".to_owned(), lines[3..5].concat().into_bytes()),
            ("a".to_owned(), lines[5..].concat().into_bytes()),
        ];
        let v = verify(&files, None);
        assert!(v.ok(), "{v:#?}");
        assert_eq!((v.records, v.first_seq), (5, Some(2)));
        let mut wrong_order = files.clone();
        wrong_order.swap(0, 1);
        let p = verify(&wrong_order, None).problem.unwrap();
        assert_eq!((p.at, p.kind), (Loc { file: 1, line: 1 }, Kind::Reordered));
        // Lines from before the chain are noted, not checked.
        let old = format!("{{\"event\":\"issued\"}}\n{}", lines[..2].concat());
        let v = verify(&[("a".into(), old.into_bytes())], None);
        assert!(v.ok(), "{v:#?}");
        assert_eq!(v.warnings, [Warning::Unchained { file: 0, lines: 1 }]);
    }

    #[test]
    fn a_forged_seq_at_the_end_of_the_range_is_named_without_overflow() {
        let mut lines = log(3);
        lines.insert(
            1,
            format!("{{\"seq\":{},\"prev\":\"{}\"}}\n", u64::MAX, "0".repeat(64)),
        );
        assert_eq!(kind_at(&lines).0, 2);
        let max = Link {
            seq: u64::MAX,
            hash: GENESIS,
        };
        let (after, _) = max.stamp("{}");
        let v = check(&[
            format!("{{\"seq\":{},\"prev\":\"{}\"}}\n", u64::MAX, "1".repeat(64)),
            after,
        ]);
        assert!(v.problem.is_some(), "{v:#?}");
    }

    #[test]
    fn a_checkpoint_must_name_a_record_that_is_there_unchanged() {
        let lines = log(4);
        let files = [("a".to_owned(), lines.concat().into_bytes())];
        let h3 = chain::hash(lines[2].trim_end().as_bytes());
        let v = verify(&files, Some((3, h3)));
        assert!(v.ok());
        assert_eq!(
            v.checkpoint.unwrap().1,
            CheckpointResult::Matches(Loc { file: 0, line: 3 })
        );

        let v = verify(&files, Some((3, [7; 32])));
        assert!(!v.ok());
        assert!(
            matches!(v.checkpoint.unwrap().1, CheckpointResult::Differs { at, hash } if at.line == 3 && hash == h3)
        );

        let v = verify(&files, Some((9, h3)));
        assert!(!v.ok());
        assert_eq!(
            v.checkpoint.unwrap().1,
            CheckpointResult::Missing {
                range: Some((1, 4))
            }
        );

        // A rewritten chain (every hash recomputed after an edit) is caught by the checkpoint.
        let mut link = Link::START;
        let rewritten: Vec<String> = (1..=4)
            .map(|i| {
                let body = if i == 2 {
                    "{\"n\":0}".to_owned()
                } else {
                    format!("{{\"event\":\"issued\",\"n\":{i}}}")
                };
                let (line, next) = link.stamp(&body);
                link = next;
                line
            })
            .collect();
        let files = [("a".to_owned(), rewritten.concat().into_bytes())];
        assert!(verify(&files, None).ok());
        assert!(!verify(&files, Some((3, h3))).ok());
    }
}
