//! credvend's own configuration: the TOML file, environment overrides and built-in defaults,
//! validated into a [`Config`].
//!
//! Every key has a default (shown in `config.example.toml`, which a test keeps equal to the
//! defaults here); an unknown key or a bad value is an error that names the key and the line.
//! Env names, ports and other constants of the surface live here.
//!
//! Layout: `settings` holds the validated types and constants, `load` reads a file, `raw` is
//! the file as written, `build` applies the environment and defaults, `check` validates values,
//! `control` builds the control socket and metrics keys, `locate` maps errors to lines,
//! `error` and `ipnet` hold the error and network types.

mod build;
mod check;
mod control;
mod error;
mod ipnet;
mod load;
mod locate;
mod mfa;
mod raw;
mod settings;
mod users;

pub use error::{ConfigError, Position};
pub use ipnet::{IpNet, IpNetError};
pub use mfa::MfaSettings;
pub use settings::*;
pub use users::AllowedUsers;
