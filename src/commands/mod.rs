//! The one-shot subcommands (`check`, `profiles`, `env`, `credential-process`, `doctor`,
//! `import-keys`, `status`, `refresh`, `audit`); `serve` lives in `daemon`.
//!
//! Each returns text for stdout or a [`CommandError`]; `main` prints and picks the exit code.

pub mod audit;
mod check;
mod credential_process;
mod doctor;
mod env;
mod import_keys;
mod local_http;
mod network;
mod profiles;
mod prompt;
mod status;

pub use check::check;
pub use credential_process::{FetchError, credential_process};
pub use doctor::{Finding, Level, Report, doctor};
pub use env::{DockerError, EnvForm, env};
pub use import_keys::{ImportError, ImportOptions, OWN_CREDENTIALS_FILE, import_keys};
pub use local_http::LocalHttpError;
pub use network::{ADDRESSES, Action as NetworkAction, LINK, NetworkError, network};
pub use profiles::profiles;
pub use prompt::prompt_mfa_code;
pub use status::{ControlCommandError, mfa, refresh, status};

use crate::config::ConfigError;
use crate::mint::MintError;
use crate::profile::ProfileError;
use crate::sts::StsError;

/// Why a subcommand failed. Every variant's text is safe to print: no secrets. Each says
/// only its own part; the cause follows through `source()` (see [`crate::causes`]).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// credvend's own config is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A `~/.aws` file or profile is unusable.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// The running daemon gave no credentials.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The link-local addresses could not be changed or read.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// Keys could not be imported.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// Minting the profile's credentials failed.
    #[error(transparent)]
    Mint(#[from] MintError),
    /// The STS client could not be set up (e.g. an unreadable CA file).
    #[error("cannot set up the STS client")]
    Client(#[source] StsError),
    /// The minted credentials could not be identified.
    #[error("profile {profile:?}: GetCallerIdentity failed")]
    Identity {
        /// The profile checked.
        profile: String,
        /// The STS failure.
        source: StsError,
    },
    /// `env --docker` has no flags for the listeners configured.
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// No listener serves the profile asked for.
    #[error("no IMDS or ECS listener serves profile {0:?}; add it to the config")]
    NotServed(String),
    /// The control socket could not be used, or the daemon refused.
    #[error(transparent)]
    Control(#[from] ControlCommandError),
    /// The config has no listener at all.
    /// No code could be read from the terminal.
    #[error("cannot read the MFA code: {0}")]
    Prompt(#[source] std::io::Error),
    #[error("no IMDS or ECS listener is configured")]
    NoListeners,
}
