//! credvend: a local AWS credential-vending daemon.
//!
//! # Layout
//!
//! Data flows one way: files -> profiles -> minting (signer, STS) -> cache -> HTTP handlers ->
//! clients, with the audit log beside the cache and the handlers. No module imports one that
//! imports it back (`scripts/check-layout` checks it).
//!
//! - [`config`]: credvend's TOML file, environment overrides and defaults -> [`config::Config`].
//! - [`env`](mod@env), [`clock`], [`random`]: the process environment, time and randomness, injected.
//! - [`secret`]: redacting secret types, [`secret::Credentials`], constant-time comparison.
//! - [`hex`], [`validate`], [`causes`], [`files`]: small leaves (hex text, checks of names that go
//!   into URLs, errors shown with their causes, bounded reading of the files credvend is given).
//! - [`profile`]: `~/.aws` parsing and resolution into a chain of base credentials and role hops.
//! - [`sigv4`]: the request signer, pure functions.
//! - [`sts`]: the STS client and the [`sts::Sts`] seam.
//! - [`mint`]: a profile chain -> session credentials: its base (keys, environment,
//!   `credential_process`, IAM Identity Center, instance or container metadata, an MFA
//!   session), then STS.
//! - [`cache`]: the per-profile credential cache the servers read.
//! - [`server`]: the IMDS and ECS HTTP endpoints, with their guards.
//! - [`identity`]: who is behind a connection (uid, user, pid, executable, unit).
//! - [`audit`]: audit events, their sink and the log writer.
//! - [`control`]: the control socket (`credvend status`, `refresh`, health) and metrics.
//! - [`daemon`]: `run` wires the above onto listeners; `serve` is `credvend serve`.
//! - [`commands`], [`cli`], [`telemetry`]: the one-shot subcommands, flags, logging;
//!   [`exchange`]: the one HTTP request a command sends the daemon.

pub mod audit;
pub mod cache;
pub mod causes;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod control;
pub mod daemon;
pub mod env;
pub mod exchange;
pub mod files;
#[doc(hidden)]
pub mod fuzzing;
pub mod hex;
pub mod identity;
pub mod mint;
pub mod profile;
pub mod random;
pub mod secret;
pub mod server;
pub mod sigv4;
pub mod sts;
pub mod telemetry;
#[cfg(test)]
pub(crate) mod test_util;
pub mod validate;
