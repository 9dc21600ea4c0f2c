//! The one-shot subcommands (`check`, `profiles`, `env`); `serve` lives in `daemon`.
//!
//! Each returns text for stdout or a [`CommandError`]; `main` prints and picks the exit code.

mod check;
mod env;
mod profiles;

pub use check::check;
pub use env::env;
pub use profiles::profiles;

use crate::config::ConfigError;
use crate::profile::ProfileError;

/// Why a subcommand failed. Every variant's text is safe to print: no secrets.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// credvend's own config is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A `~/.aws` file or profile is unusable.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// Minting or identifying failed at STS.
    #[error("{0}")]
    Sts(String),
    /// Something else, already phrased for the user.
    #[error("{0}")]
    Other(String),
}
