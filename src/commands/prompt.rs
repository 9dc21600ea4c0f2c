//! Asking for an MFA code on the terminal (`credvend mfa PROFILE` without CODE, and
//! `credvend check` of a profile with `mfa_serial`).

use std::io::{self, BufRead, Write};

use super::CommandError;

/// Prints a prompt on stderr and reads one line from stdin: the code, trimmed.
pub fn prompt_mfa_code(profile: &str) -> Result<String, CommandError> {
    let mut stderr = io::stderr();
    let _ = write!(stderr, "MFA code for profile {profile}: ");
    let _ = stderr.flush();
    let mut line = String::new();
    let read = io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(CommandError::Prompt)?;
    let code = line.trim();
    if read == 0 || code.is_empty() {
        return Err(CommandError::Prompt(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "no code given",
        )));
    }
    Ok(code.to_owned())
}
