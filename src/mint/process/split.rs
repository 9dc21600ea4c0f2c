//! Splitting a `credential_process` value into a program and its arguments, as botocore does
//! on every platform but Windows: Python's `shlex.split` in POSIX mode (no comments, no shell).
//!
//! The rules (<https://docs.python.org/3/library/shlex.html#parsing-rules>): words are separated
//! by space, tab, CR and LF; outside quotes a backslash takes the next character literally;
//! inside `'…'` nothing is special; inside `"…"` a backslash escapes only `"` and `\` (and is
//! kept before anything else); quoted parts join the word around them, so `a"b c"d` is one
//! word `ab cd`, and `''` alone is an empty word. No variables, globs or `~` are expanded.

/// Why a command line cannot be split. The messages are Python's, without the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// A quote that is never closed.
    #[error("no closing quotation")]
    NoClosingQuotation,
    /// A backslash at the very end.
    #[error("no escaped character after the final backslash")]
    NoEscapedCharacter,
    /// Nothing but whitespace.
    #[error("no program to run")]
    Empty,
}

/// How a command line is shown: its program, and `...` when it has arguments (which may
/// carry a secret, so they are never shown). `None` when it cannot be split.
#[must_use]
pub fn describe(line: &str) -> Option<String> {
    let words = split(line).ok()?;
    let more = if words.len() > 1 { " ..." } else { "" };
    Some(format!("{}{more}", words[0]))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Between,
    Word,
    Single,
    Double,
}

/// The words of `line`, the first being the program; never empty on success.
pub fn split(line: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut state = State::Between;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match state {
            State::Between | State::Word => match c {
                ' ' | '\t' | '\r' | '\n' => {
                    if state == State::Word {
                        words.push(std::mem::take(&mut word));
                    }
                    state = State::Between;
                }
                '\\' => {
                    word.push(chars.next().ok_or(SplitError::NoEscapedCharacter)?);
                    state = State::Word;
                }
                '\'' => state = State::Single,
                '"' => state = State::Double,
                other => {
                    word.push(other);
                    state = State::Word;
                }
            },
            State::Single => match c {
                '\'' => state = State::Word,
                other => word.push(other),
            },
            State::Double => match c {
                '"' => state = State::Word,
                '\\' => {
                    let next = chars.next().ok_or(SplitError::NoEscapedCharacter)?;
                    if next != '"' && next != '\\' {
                        word.push('\\');
                    }
                    word.push(next);
                }
                other => word.push(other),
            },
        }
    }
    match state {
        State::Single | State::Double => return Err(SplitError::NoClosingQuotation),
        State::Word => words.push(word),
        State::Between => {}
    }
    if words.is_empty() {
        return Err(SplitError::Empty);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tricky lines; `botocore_splits_them_the_same` asks the test venv's Python for each.
    const LINES: &[&str] = &[
        "/usr/bin/helper --profile dev",
        "  leading   and\ttabs\r\nand newlines  ",
        "'/path with spaces/helper' arg",
        "\"/path with spaces/helper\" \"a b\" c",
        "a\"b c\"d",
        "a'b c'd",
        "one '' two \"\" three",
        "esc\\ aped \\\"quote\\\" \\\\slash \\x",
        "\"in \\\"double\\\" \\\\ \\n \\$HOME\"",
        "'in single \\ \" $HOME'",
        "$HOME ~/bin/x *.json ; | & > < # not a comment",
        "mixed'single'\"double\"plain",
        "unicode café naïve ünïcödé",
        "\"\"",
        "x \\\n y",
    ];

    #[test]
    fn words_quotes_and_escapes_follow_shlex() {
        let cases: &[(&str, &[&str])] = &[
            (
                "/usr/bin/helper --profile dev",
                &["/usr/bin/helper", "--profile", "dev"],
            ),
            ("'/a b/c' d", &["/a b/c", "d"]),
            ("a\"b c\"d", &["ab cd"]),
            ("one '' two", &["one", "", "two"]),
            ("esc\\ aped \\x", &["esc aped", "x"]),
            ("\"\\\" \\\\ \\n\"", &["\" \\ \\n"]),
            ("'\\ \"'", &["\\ \""]),
            ("# not a comment", &["#", "not", "a", "comment"]),
            ("x \\\n y", &["x", "\n", "y"]),
        ];
        for (line, want) in cases {
            assert_eq!(split(line).unwrap(), *want, "{line:?}");
        }
    }

    #[test]
    fn unbalanced_quotes_a_final_backslash_and_blank_lines_are_errors() {
        assert_eq!(split("a 'b"), Err(SplitError::NoClosingQuotation));
        assert_eq!(split("a \"b\\\""), Err(SplitError::NoClosingQuotation));
        assert_eq!(split("a b\\"), Err(SplitError::NoEscapedCharacter));
        assert_eq!(split("\"a\\"), Err(SplitError::NoEscapedCharacter));
        assert_eq!(split(" \t "), Err(SplitError::Empty));
        assert_eq!(split(""), Err(SplitError::Empty));
    }

    /// The test venv's Python, when `scripts/test` has installed it.
    #[allow(clippy::disallowed_methods)] // tests may read where the peers are
    fn venv_python() -> Option<std::path::PathBuf> {
        let peers = std::env::var_os("CREDVEND_PEERS_DIR").map_or_else(
            || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".peers"),
            std::path::PathBuf::from,
        );
        let python = peers.join("venv/bin/python");
        python.exists().then_some(python)
    }

    #[test]
    fn botocore_splits_them_the_same() {
        let Some(python) = venv_python() else {
            eprintln!("SKIP: no test venv (run scripts/test once)");
            return;
        };
        // botocore.compat.compat_shell_split is what its ProcessProvider calls.
        let script = "import json, sys\nfrom botocore.compat import compat_shell_split as s\n\
                      out = []\nfor line in json.load(sys.stdin):\n    try:\n        out.append(s(line, 'linux'))\n    except ValueError as e:\n        out.append(str(e))\nprint(json.dumps(out))\n";
        let mut lines: Vec<&str> = LINES.to_vec();
        lines.extend(["a 'b", "a b\\", "\"a\\"]);
        let mut child = std::process::Command::new(python)
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let input = serde_json::to_vec(&lines).unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), &input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let want: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        for (line, want) in lines.iter().zip(want) {
            match (split(line), want) {
                (Ok(words), serde_json::Value::Array(expected)) => {
                    let expected: Vec<&str> =
                        expected.iter().map(|w| w.as_str().unwrap()).collect();
                    assert_eq!(words, expected, "{line:?}");
                }
                (Err(e), serde_json::Value::String(message)) => {
                    let python_says = match e {
                        SplitError::NoClosingQuotation => "No closing quotation",
                        SplitError::NoEscapedCharacter => "No escaped character",
                        SplitError::Empty => unreachable!(),
                    };
                    assert_eq!(message, python_says, "{line:?}");
                }
                (ours, theirs) => panic!("{line:?}: we say {ours:?}, botocore {theirs}"),
            }
        }
    }
}
