//! The one integration-test binary: each module drives credvend against real peers.

// The harness drives real processes, so it reads the real clock and environment, which the
// library itself may not (clippy.toml). Test modules are private; `pub` is for sharing.
#![allow(clippy::disallowed_methods, unreachable_pub)]

mod abuse;
mod audit_chain;
mod audit_disk;
mod callers;
mod check;
mod commands;
mod conformance;
mod control;
mod credential_process;
mod credential_source;
mod docker;
mod faults;
mod host;
mod lifecycle;
mod linklocal;
mod mfa;
mod network;
mod profiles;
mod robustness;
mod server;
mod service_files;
mod sigv4_botocore;
mod sigv4_vectors;
mod sso;
mod support;
mod tls;
