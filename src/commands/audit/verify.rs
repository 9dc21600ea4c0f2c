//! `credvend audit verify [FILE...] [--checkpoint SEQ:HASH]`: the verdict of
//! [`crate::audit::verify`] as lines a person reads, `ok: ...` last when all is well and
//! `FAILED: FILE:LINE: KIND: ...` when not.

use std::fmt::Write;
use std::path::PathBuf;

use super::{AuditCommandError, files, read};
use crate::audit::{CheckpointResult, Loc, Verdict, Warning};
use crate::config::Config;
use crate::hex;

/// What verify prints, and whether everything checked out (the exit status).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// The report, one finding per line.
    pub text: String,
    /// True when the chain is whole and the checkpoint (if any) matches.
    pub ok: bool,
}

/// Checks `given` (or the configured log and its rotated files) against the chain and, with
/// `checkpoint` (`SEQ:HASH` from the daemon's log), against that.
pub fn verify(
    config: &Config,
    given: &[PathBuf],
    checkpoint: Option<&str>,
) -> Result<Checked, AuditCommandError> {
    let checkpoint = checkpoint.map(parse_checkpoint).transpose()?;
    let files = read(&files(config, given)?)?;
    let verdict = crate::audit::verify(&files, checkpoint);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    Ok(Checked {
        text: render(&verdict, &names),
        ok: verdict.ok(),
    })
}

/// `SEQ:HASH`, as the daemon logs it (`audit checkpoint seq=SEQ hash=HASH`).
fn parse_checkpoint(text: &str) -> Result<(u64, [u8; 32]), AuditCommandError> {
    let bad = || AuditCommandError::Checkpoint(text.to_owned());
    let (seq, hash) = text.split_once(':').ok_or_else(bad)?;
    let seq = seq.parse::<u64>().ok().filter(|s| *s > 0).ok_or_else(bad)?;
    let hash = crate::audit::chain::decode_hash(hash).ok_or_else(bad)?;
    Ok((seq, hash))
}

fn render(v: &Verdict, names: &[&str]) -> String {
    let at = |loc: &Loc| format!("{}:{}", names[loc.file], loc.line);
    let mut out = String::new();
    for w in &v.warnings {
        let _ = match w {
            Warning::TornEnd(loc) => writeln!(
                out,
                "warning: {}: torn last line: a record cut short while it was written (a crash); not counted",
                at(loc)
            ),
            Warning::Torn(loc) => writeln!(
                out,
                "warning: {}: torn line: a record cut short (a crash or a failed write); the next record links past it",
                at(loc)
            ),
            Warning::Unchained { file, lines } => writeln!(
                out,
                "note: {}: {lines} line(s) written before the log was chained (no seq); not verified",
                names[*file]
            ),
        };
    }
    let range = match (v.first_seq, v.last) {
        (Some(first), Some((last, _))) => format!(", seq {first}..{last}"),
        _ => String::new(),
    };
    let records = format!(
        "{} record{}{range}",
        v.records,
        if v.records == 1 { "" } else { "s" }
    );
    match &v.problem {
        Some(p) => {
            let _ = writeln!(out, "FAILED: {}: {}: {}", at(&p.at), p.kind, p.detail);
            let _ = writeln!(out, "({records} verified before it)");
        }
        None => {
            let last = v
                .last
                .map(|(_, h)| format!(", last hash {}", hex::encode(&h)))
                .unwrap_or_default();
            let _ = writeln!(out, "ok: {records}{last}");
        }
    }
    if let Some(((seq, hash), result)) = &v.checkpoint {
        let _ = match result {
            CheckpointResult::Matches(loc) => {
                writeln!(out, "ok: checkpoint seq {seq} matches {}", at(loc))
            }
            CheckpointResult::Differs {
                at: loc,
                hash: found,
            } => writeln!(
                out,
                "FAILED: checkpoint seq {seq}: {} hashes to {}, not {}: the log was rewritten after the checkpoint",
                at(loc),
                hex::encode(found),
                hex::encode(hash)
            ),
            CheckpointResult::Missing {
                range: Some((first, last)),
            } => {
                let why = if seq < first {
                    "older than the files (rotated away, or files are missing)"
                } else if seq > last {
                    "past the end: records were removed from the end"
                } else {
                    "not in the chain as verified"
                };
                writeln!(
                    out,
                    "FAILED: checkpoint seq {seq}: no such record; the files hold seq {first}..{last}: {why}"
                )
            }
            CheckpointResult::Missing { range: None } => writeln!(
                out,
                "FAILED: checkpoint seq {seq}: no such record; the files hold no records"
            ),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::Link;
    use crate::test_util::temp_dir;

    fn chained(n: u64) -> (Vec<String>, Link) {
        let mut link = Link::START;
        let lines = (1..=n)
            .map(|i| {
                let (line, next) = link.stamp(&format!("{{\"event\":\"issued\",\"n\":{i}}}"));
                link = next;
                line
            })
            .collect();
        (lines, link)
    }

    #[test]
    fn checkpoints_parse_as_seq_colon_hash() {
        let h = "ab".repeat(32);
        assert_eq!(
            parse_checkpoint(&format!("12:{h}")).unwrap(),
            (12, [0xab; 32])
        );
        for bad in [
            "12",
            "x:ab",
            &format!("0:{h}"),
            &format!("12:{}", "AB".repeat(32)),
        ] {
            let err = parse_checkpoint(bad).unwrap_err().to_string();
            assert!(err.contains("SEQ:HASH"), "{err}");
        }
    }

    #[test]
    fn the_report_says_ok_with_the_count_or_names_the_line_and_kind() {
        let dir = temp_dir("audit-verify");
        let path = dir.join("audit.jsonl");
        let mut config = crate::test_util::default_config();
        config.audit.path = Some(path.clone());
        let (mut lines, last) = chained(4);
        std::fs::write(&path, lines.concat()).unwrap();
        let checked = verify(&config, &[], None).unwrap();
        assert!(checked.ok);
        assert_eq!(
            checked.text,
            format!("ok: 4 records, seq 1..4, last hash {}\n", last.hex())
        );
        let cp = format!("4:{}", last.hex());
        let checked = verify(&config, &[], Some(&cp)).unwrap();
        assert!(checked.ok);
        assert!(
            checked.text.ends_with(&format!(
                "ok: checkpoint seq 4 matches {}:4\n",
                path.display()
            )),
            "{}",
            checked.text
        );

        lines.remove(1);
        std::fs::write(&path, lines.concat()).unwrap();
        let checked = verify(&config, &[], Some(&cp)).unwrap();
        assert!(!checked.ok);
        let want = format!(
            "FAILED: {}:2: removed: seq 2 is missing after line {}:1\n",
            path.display(),
            path.display()
        );
        assert!(checked.text.starts_with(&want), "{}", checked.text);
        assert!(
            checked
                .text
                .contains("(1 record, seq 1..1 verified before it)"),
            "{}",
            checked.text
        );
        assert!(
            checked
                .text
                .contains("FAILED: checkpoint seq 4: no such record"),
            "{}",
            checked.text
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
