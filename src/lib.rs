//! credvend: a local AWS credential-vending daemon.
//!
//! # Layout
//!
//! Data flows one way: files -> profiles -> signer/STS -> cache -> HTTP handlers -> clients,
//! with the audit log beside the cache and the handlers.
//!
//! - [`config`]: credvend's TOML file, environment overrides and defaults -> [`config::Config`].
//! - [`env`], [`clock`], [`random`]: the process environment, time and randomness, injected.
//! - [`secret`]: redacting secret types and [`secret::Credentials`].
//! - [`profile`]: `~/.aws` parsing and resolution into a chain of base credentials and role hops.
//! - [`sigv4`]: the request signer, pure functions.
//! - [`sts`]: the STS client and the [`sts::Sts`] seam.
//! - [`cache`]: the per-profile credential cache the servers read.
//! - [`server`]: the IMDS and ECS HTTP endpoints, with their guards.
//! - [`audit`]: audit events, their sink and the log writer.

pub mod audit;
pub mod cache;
pub mod causes;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod env;
pub mod hex;
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
