//! The command line, as clap definitions only; `main` turns it into actions.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// credvend: serves short-lived AWS credentials from your ~/.aws profiles on the EC2 metadata
/// (IMDS) and ECS container-credentials endpoints.
#[derive(Debug, Parser)]
#[command(name = "credvend", version, about, long_about = None)]
pub struct Cli {
    /// credvend's own config file (TOML); default: `<config dir>/credvend/config.toml` if present.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon in the foreground until SIGTERM or SIGINT; SIGHUP reloads.
    Serve,
    /// Mint credentials for a profile once through STS and print who they are.
    Check {
        /// The profile (default: $AWS_PROFILE, else "default").
        #[arg(long, value_name = "NAME")]
        profile: Option<String>,
    },
    /// List the profiles found in ~/.aws and how each resolves.
    Profiles,
    /// Print `credential_process` JSON for a profile, fetched from the running daemon.
    CredentialProcess {
        /// The profile the daemon serves.
        #[arg(long, value_name = "NAME")]
        profile: String,
    },
    /// Check the set-up (daemon, files, this shell, endpoints, clock) and explain each problem.
    Doctor,
    /// Copy (with --move: move) long-term keys from the shared credentials file, where SDKs
    /// find them first, into credvend's own credentials file.
    ImportKeys {
        /// Remove the keys from the shared file once copied (a backup is kept beside it).
        #[arg(long = "move")]
        move_keys: bool,
        /// A profile to take (repeatable; default: every profile with keys).
        #[arg(long, value_name = "NAME")]
        profile: Vec<String>,
        /// The file to take keys from (default: $AWS_SHARED_CREDENTIALS_FILE, else
        /// ~/.aws/credentials).
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
    },
    /// Put the link-local metadata addresses on a local interface (up, root), remove them
    /// (down, root), or say what is there (status).
    Network {
        /// up, down or status.
        #[arg(value_enum)]
        action: NetworkArg,
    },
    /// Show the running daemon's state: each profile (source, role, expiry, next refresh,
    /// last error, reads) and each listener. Asks the control socket.
    Status {
        /// Print the daemon's JSON as it sent it.
        #[arg(long)]
        json: bool,
    },
    /// Renew a profile's credentials now, in the running daemon.
    Refresh {
        /// The profile.
        #[arg(value_name = "PROFILE")]
        profile: String,
    },
    /// Hand an MFA code for a profile's device to the running daemon (prompts when CODE is
    /// not given); every profile on that device is renewed from the new MFA session.
    Mfa {
        /// The profile (one with mfa_serial, or built on one).
        #[arg(value_name = "PROFILE")]
        profile: String,
        /// The code the device shows now.
        #[arg(value_name = "CODE")]
        code: Option<String>,
    },
    /// Print the environment a client needs to use the running daemon.
    Env {
        /// The profile to point ECS clients at (default: the first ECS profile).
        #[arg(long, value_name = "NAME")]
        profile: Option<String>,
        /// Print `docker run` flags instead of shell `export` lines: `--network=host` for
        /// loopback listeners; for link-local ones, flags for a container on a bridge
        /// (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI on 169.254.170.2).
        #[arg(long)]
        docker: bool,
        /// With --docker on a bridge: AWS_CONTAINER_CREDENTIALS_FULL_URI on 169.254.170.23,
        /// with the token file mounted read-only, instead of the RELATIVE_URI.
        #[arg(long, requires = "docker")]
        full_uri: bool,
    },
    /// Check the audit log's chain (verify) or print its records (show).
    Audit {
        /// verify or show.
        #[command(subcommand)]
        action: AuditCommand,
    },
}

/// `credvend audit` actions.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the audit log's chain: exit 0 with the count of records, or name the first line
    /// that was edited, removed, reordered or inserted.
    Verify {
        /// Files to check, oldest first (default: the configured log and its rotated files).
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
        /// A checkpoint from the daemon's log (`audit checkpoint seq=SEQ hash=HASH`): the
        /// record with that seq must be there with that hash.
        #[arg(long, value_name = "SEQ:HASH")]
        checkpoint: Option<String>,
    },
    /// Print the audit log's records as lines for people, oldest first.
    Show {
        /// Only records from this time on: RFC 3339, or a duration back from now (30m, 1h, 2d).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only records of this profile.
        #[arg(long, value_name = "NAME")]
        profile: Option<String>,
        /// Only requests of this client: uid, pid, user, container name or id prefix, or IP.
        #[arg(long, value_name = "CLIENT")]
        client: Option<String>,
        /// Files to read, oldest first (default: the configured log and its rotated files).
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

/// `credvend network` actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum NetworkArg {
    /// Add the addresses.
    Up,
    /// Remove them.
    Down,
    /// Report them.
    Status,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn config_is_accepted_before_or_after_the_subcommand() {
        let a = Cli::try_parse_from(["credvend", "--config", "c.toml", "check", "--profile", "p"])
            .unwrap();
        let b = Cli::try_parse_from(["credvend", "check", "--profile", "p", "--config", "c.toml"])
            .unwrap();
        assert_eq!(a.config, b.config);
        assert!(matches!(a.command, Command::Check { profile: Some(ref p) } if p == "p"));
    }

    #[test]
    fn full_uri_is_a_docker_flag() {
        assert!(Cli::try_parse_from(["credvend", "env", "--full-uri"]).is_err());
        let cli = Cli::try_parse_from(["credvend", "env", "--docker", "--full-uri"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Env {
                docker: true,
                full_uri: true,
                ..
            }
        ));
    }
}
