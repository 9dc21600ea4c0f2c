//! Desktop notifications for what needs a person: an MFA code, an `aws sso login`. Raised with
//! `notify-send` (Linux) or `osascript` (macOS) when one is on the daemon's PATH, and never
//! waited for on the caller's thread; without one, the log line the caller writes is all.

use std::path::PathBuf;

use crate::env::Env;

/// Shows `message` on the desktop, if this host can.
pub fn desktop(env: &Env, message: &str) {
    let Some((program, args)) = notifier(env, message) else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    // Waited for on a blocking thread, so the notifier never lingers as a zombie.
    runtime.spawn_blocking(move || {
        let status = std::process::Command::new(&program)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if let Err(e) = status {
            tracing::debug!(program = %program.display(), error = %e, "no desktop notification");
        }
    });
}

/// The desktop notifier on `env`'s PATH, with its arguments for `message`.
fn notifier(env: &Env, message: &str) -> Option<(PathBuf, Vec<String>)> {
    let path = env.get("PATH")?;
    let find = |name: &str| {
        std::env::split_paths(path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    };
    if let Some(p) = find("notify-send") {
        return Some((p, vec!["credvend".to_owned(), message.to_owned()]));
    }
    let p = find("osascript")?;
    // AppleScript string: the message has no quotes of its own (profile names cannot).
    let script = format!(
        "display notification \"{}\" with title \"credvend\"",
        message.replace('"', "'")
    );
    Some((p, vec!["-e".to_owned(), script]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notifier_is_found_on_path_or_not_at_all() {
        let dir = crate::test_util::temp_dir("notify-path");
        let bin = dir.join("notify-send");
        std::fs::write(&bin, "#!/bin/sh\n").unwrap();
        let env = Env::default().with("PATH", dir.display().to_string());
        let (program, args) = notifier(&env, "profile app needs a code").unwrap();
        assert_eq!(program, bin);
        assert_eq!(args, ["credvend", "profile app needs a code"]);
        let empty = Env::default().with("PATH", "/nonexistent");
        assert!(notifier(&empty, "x").is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
