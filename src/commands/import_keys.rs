//! `credvend import-keys [--move] [--profile NAME]... [--from FILE]`: copies long-term keys
//! out of the shared credentials file, where every SDK finds them before it asks credvend,
//! into credvend's own credentials file (written 0600); with `--move` they are then removed
//! from the shared file, after a backup of it is kept beside it.
//!
//! Sections are copied as written, line for line; nothing else in either file changes.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::config::{Config, DefaultPaths};
use crate::env::Env;
use crate::profile::shadow;
use crate::secret::mask_key_id;

/// The name of credvend's own credentials file, beside its config file.
pub const OWN_CREDENTIALS_FILE: &str = "credentials";

/// What to import.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// The file to take keys from (default: the shared credentials file).
    pub from: Option<PathBuf>,
    /// The profiles to take (default: every profile with `aws_access_key_id`).
    pub profiles: Vec<String>,
    /// Remove them from `from` once copied.
    pub move_keys: bool,
}

/// Why nothing was imported. Never carries a key.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file could not be read or written.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// `read`, `write`, ...
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// No home directory to find the shared file or credvend's own file in.
    #[error("cannot tell where the shared credentials file is: $HOME is not set (use --from)")]
    NoHome,
    /// Source and destination are the same file.
    #[error(
        "credvend already reads its keys from {} itself; set `[aws] credentials_file` to a file of its own",
        .0.display()
    )]
    SameFile(PathBuf),
    /// A profile asked for is not in the source, or has no keys.
    #[error("{} has no profile {profile:?} with aws_access_key_id", file.display())]
    NoSuchProfile {
        /// The source file.
        file: PathBuf,
        /// The profile asked for.
        profile: String,
    },
    /// The source has no keys at all.
    #[error("{} holds no aws_access_key_id; nothing to import", .0.display())]
    NothingToImport(PathBuf),
    /// The destination already has the profile, with other keys.
    #[error("{} already has a profile {profile:?} with other keys; remove it there first", file.display())]
    Conflict {
        /// The destination file.
        file: PathBuf,
        /// The profile.
        profile: String,
    },
    /// A backup from an earlier `--move` is in the way.
    #[error("{} exists from an earlier --move; remove it first", .0.display())]
    BackupExists(PathBuf),
}

/// One `[name]` section of a credentials file: its lines, header included.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Section {
    name: String,
    lines: Vec<String>,
}

impl Section {
    fn value(&self, key: &str) -> Option<&str> {
        self.lines.iter().skip(1).find_map(|line| {
            let (k, v) = line.split_once('=')?;
            k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
        })
    }
}

/// A credentials file as lines: what comes before the first section, then each section.
#[derive(Debug, Default)]
struct Sections {
    preamble: Vec<String>,
    sections: Vec<Section>,
}

fn split(text: &str) -> Sections {
    let mut out = Sections::default();
    for line in text.lines() {
        let trimmed = line.trim();
        let header = trimmed
            .strip_prefix('[')
            .and_then(|rest| rest.split_once(']'))
            .map(|(name, _)| name.trim().to_owned());
        match (header, out.sections.last_mut()) {
            (Some(name), _) => out.sections.push(Section {
                name,
                lines: vec![line.to_owned()],
            }),
            (None, Some(section)) => section.lines.push(line.to_owned()),
            (None, None) => out.preamble.push(line.to_owned()),
        }
    }
    out
}

fn join<'a>(preamble: &[String], sections: impl Iterator<Item = &'a Section>) -> String {
    let mut text = String::new();
    for line in preamble.iter().chain(sections.flat_map(|s| s.lines.iter())) {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// Runs the import; what it did, for the user. `defaults` says where credvend's own config
/// (and so its own credentials file) lives when its config names no file.
pub fn import_keys(
    config: &Config,
    env: &Env,
    defaults: &DefaultPaths,
    options: &ImportOptions,
) -> Result<String, ImportError> {
    let from = match &options.from {
        Some(path) => path.clone(),
        // A shell that ran `credvend env` points the variable at /dev/null.
        None => match shadow::client_paths(env) {
            Some(paths) if paths.credentials_file != Path::new("/dev/null") => {
                paths.credentials_file
            }
            _ => PathBuf::from(env.home().ok_or(ImportError::NoHome)?).join(".aws/credentials"),
        },
    };
    let own_default = defaults
        .config_file
        .clone()
        .and_then(|f| f.parent().map(|dir| dir.join(OWN_CREDENTIALS_FILE)));
    let (to, configured) = if config.aws.credentials_file == from {
        (own_default.ok_or(ImportError::NoHome)?, false)
    } else {
        (config.aws.credentials_file.clone(), true)
    };
    if to == from {
        return Err(ImportError::SameFile(to));
    }

    let source = split(&read(&from)?);
    let chosen = choose(&source, &from, &options.profiles)?;
    let existing = match crate::files::read_text(&to) {
        Ok(text) => split(&text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Sections::default(),
        Err(source) => return Err(io_error("read", &to, source)),
    };
    let mut report = String::new();
    let mut added = Vec::new();
    for section in &chosen {
        let key = section.value("aws_access_key_id").unwrap_or_default();
        match existing.sections.iter().find(|s| s.name == section.name) {
            Some(there)
                if there.value("aws_access_key_id") == Some(key)
                    && there.value("aws_secret_access_key")
                        == section.value("aws_secret_access_key") =>
            {
                let _ = writeln!(
                    report,
                    "profile {} (key {}) is already in {}",
                    section.name,
                    mask_key_id(key),
                    to.display()
                );
            }
            Some(_) => {
                return Err(ImportError::Conflict {
                    file: to.clone(),
                    profile: section.name.clone(),
                });
            }
            None => {
                let _ = writeln!(
                    report,
                    "copied profile {} (key {}) to {}",
                    section.name,
                    mask_key_id(key),
                    to.display()
                );
                added.push(section.clone());
            }
        }
    }
    if !added.is_empty() {
        let mut kept = existing.sections.clone();
        // A blank line between the file's last section and the first one added.
        if let Some(last) = kept.last_mut()
            && last.lines.last().is_some_and(|l| !l.trim().is_empty())
        {
            last.lines.push(String::new());
        }
        kept.extend(added);
        write_private(&to, &join(&existing.preamble, kept.iter()))?;
    }
    if options.move_keys {
        let backup = PathBuf::from(format!("{}.credvend-backup", from.display()));
        if backup.exists() {
            return Err(ImportError::BackupExists(backup));
        }
        write_private(&backup, &read(&from)?)?;
        let names: Vec<&str> = chosen.iter().map(|s| s.name.as_str()).collect();
        let rest = source
            .sections
            .iter()
            .filter(|s| !names.contains(&s.name.as_str()));
        replace_keeping_mode(&from, &join(&source.preamble, rest))?;
        let _ = writeln!(
            report,
            "removed them from {} (the old file is kept as {})",
            from.display(),
            backup.display()
        );
    }
    if !configured {
        report.push_str(&point_config_at(config, defaults, &to)?);
    }
    report.push_str("reload a running daemon to use the new file: SIGHUP, or `systemctl --user reload credvend`\n");
    Ok(report)
}

/// The sections to import: the named ones, else every one with keys.
fn choose(source: &Sections, from: &Path, names: &[String]) -> Result<Vec<Section>, ImportError> {
    let has_keys = |s: &&Section| s.value("aws_access_key_id").is_some_and(|v| !v.is_empty());
    if names.is_empty() {
        let all: Vec<Section> = source.sections.iter().filter(has_keys).cloned().collect();
        if all.is_empty() {
            return Err(ImportError::NothingToImport(from.to_path_buf()));
        }
        return Ok(all);
    }
    names
        .iter()
        .map(|name| {
            source
                .sections
                .iter()
                .filter(has_keys)
                .find(|s| &s.name == name)
                .cloned()
                .ok_or_else(|| ImportError::NoSuchProfile {
                    file: from.to_path_buf(),
                    profile: name.clone(),
                })
        })
        .collect()
}

/// Makes credvend's config name `to`: a new config file when there is none, else a line to add.
fn point_config_at(
    config: &Config,
    defaults: &DefaultPaths,
    to: &Path,
) -> Result<String, ImportError> {
    let line = format!("[aws]\ncredentials_file = {:?}\n", to.display().to_string());
    let target = match &config.file {
        Some(file) => {
            return Ok(format!(
                "credvend's config {} does not name the new file yet; add:\n{line}",
                file.display()
            ));
        }
        None => defaults.config_file.clone(),
    };
    let Some(file) = target else {
        return Ok(format!("add to credvend's config:\n{line}"));
    };
    write_private(&file, &line)?;
    Ok(format!("wrote {} naming the new file\n", file.display()))
}

fn read(path: &Path) -> Result<String, ImportError> {
    crate::files::read_text(path).map_err(|source| io_error("read", path, source))
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> ImportError {
    ImportError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `text` to `path` through a temporary file and a rename, mode 0600, creating the
/// directory (0700) if needed.
fn write_private(path: &Path, text: &str) -> Result<(), ImportError> {
    write_atomically(path, text, 0o600)
}

/// Rewrites `path` with `text`, keeping its mode.
fn replace_keeping_mode(path: &Path, text: &str) -> Result<(), ImportError> {
    let mode = fs::metadata(path)
        .map_err(|source| io_error("read", path, source))?
        .permissions()
        .mode()
        & 0o777;
    write_atomically(path, text, mode)
}

fn write_atomically(path: &Path, text: &str, mode: u32) -> Result<(), ImportError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| io_error("create the directory of", path, source))?;
    }
    let tmp = PathBuf::from(format!("{}.credvend-tmp", path.display()));
    let written = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .and_then(|mut f| {
            f.set_permissions(fs::Permissions::from_mode(mode))?;
            f.write_all(text.as_bytes())?;
            f.sync_all()
        });
    if let Err(source) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(io_error("write", path, source));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::temp_dir;

    const SHARED: &str = "# my keys\n[default]\naws_access_key_id = AKIADEFAULT00001\n\
                          aws_secret_access_key = default/secret\n\n[other]\n\
                          aws_access_key_id = AKIAOTHER0000002\naws_secret_access_key = other-secret\n\
                          region = eu-west-1\n\n[empty]\nregion = us-east-1\n";

    struct Home {
        dir: PathBuf,
        env: Env,
        defaults: DefaultPaths,
    }

    fn home() -> Home {
        let dir = temp_dir("import");
        fs::create_dir_all(dir.join(".aws")).unwrap();
        fs::write(dir.join(".aws/credentials"), SHARED).unwrap();
        fs::set_permissions(
            dir.join(".aws/credentials"),
            fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        let env = Env::from_pairs([("HOME", dir.display().to_string())]);
        let defaults = DefaultPaths {
            config_file: Some(dir.join(".config/credvend/config.toml")),
            state_dir: Some(dir.join("state")),
        };
        Home { dir, env, defaults }
    }

    impl Home {
        fn config(&self) -> Config {
            Config::load_with(None, &self.defaults, &self.env).unwrap()
        }

        fn run(&self, options: &ImportOptions) -> Result<String, ImportError> {
            import_keys(&self.config(), &self.env, &self.defaults, options)
        }

        fn own(&self) -> PathBuf {
            self.dir.join(".config/credvend/credentials")
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn keys_move_to_a_private_file_of_credvends_and_the_config_names_it() {
        let h = home();
        let report = h
            .run(&ImportOptions {
                move_keys: true,
                ..ImportOptions::default()
            })
            .unwrap();
        assert!(
            !report.contains("default/secret") && !report.contains("AKIADEFAULT00001"),
            "{report}"
        );
        assert!(
            report.contains("copied profile default (key ****0001)"),
            "{report}"
        );
        let own = fs::read_to_string(h.own()).unwrap();
        assert_eq!(
            own,
            "[default]\naws_access_key_id = AKIADEFAULT00001\naws_secret_access_key = default/secret\n\n\
             [other]\naws_access_key_id = AKIAOTHER0000002\naws_secret_access_key = other-secret\n\
             region = eu-west-1\n\n"
        );
        assert_eq!(mode(&h.own()), 0o600);
        // The shared file keeps everything else, and its mode.
        let shared = h.dir.join(".aws/credentials");
        assert_eq!(
            fs::read_to_string(&shared).unwrap(),
            "# my keys\n[empty]\nregion = us-east-1\n"
        );
        assert_eq!(mode(&shared), 0o640);
        let backup = h.dir.join(".aws/credentials.credvend-backup");
        assert_eq!(fs::read_to_string(&backup).unwrap(), SHARED);
        assert_eq!(mode(&backup), 0o600);
        // credvend's new config names the file, so it reads the keys from there.
        let config = h.config();
        assert_eq!(config.aws.credentials_file, h.own());
        // Running it again finds nothing left to move.
        let again = h.run(&ImportOptions::default()).unwrap_err();
        assert!(matches!(again, ImportError::NothingToImport(_)), "{again}");
    }

    #[test]
    fn a_copy_of_one_profile_leaves_the_shared_file_alone() {
        let h = home();
        h.run(&ImportOptions {
            profiles: vec!["other".into()],
            ..ImportOptions::default()
        })
        .unwrap();
        assert_eq!(
            fs::read_to_string(h.dir.join(".aws/credentials")).unwrap(),
            SHARED
        );
        assert!(
            fs::read_to_string(h.own())
                .unwrap()
                .starts_with("[other]\n")
        );
        assert!(!h.dir.join(".aws/credentials.credvend-backup").exists());
        // The same keys again: nothing to do; other keys under that name: refused.
        let report = h.run(&ImportOptions {
            profiles: vec!["other".into()],
            ..ImportOptions::default()
        });
        assert!(report.unwrap().contains("already in"));
        let changed = SHARED.replace("other-secret", "rotated-secret");
        fs::write(h.dir.join(".aws/credentials"), changed).unwrap();
        let err = h
            .run(&ImportOptions {
                profiles: vec!["other".into()],
                ..ImportOptions::default()
            })
            .unwrap_err();
        assert!(matches!(err, ImportError::Conflict { .. }), "{err}");
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn a_profile_without_keys_is_refused_by_name() {
        let h = home();
        let err = h
            .run(&ImportOptions {
                profiles: vec!["empty".into()],
                ..ImportOptions::default()
            })
            .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("has no profile \"empty\" with aws_access_key_id"),
            "{err}"
        );
        assert!(!h.own().exists());
    }
}
