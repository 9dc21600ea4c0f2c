//! The minting stage: a [`ProfileChain`](crate::profile::ProfileChain) becomes session
//! credentials through STS. The one path used by the cache and by `credvend check`.
//!
//! `chain` runs the STS calls, `metadata` asks an instance or container endpoint for base
//! credentials, `process` runs a profile's `credential_process`, `sso` gets IAM Identity
//! Center profiles' credentials from the portal, `minted` holds what they produce, `error` why
//! they failed; `mfa` keeps the MFA sessions that chains with `mfa_serial` are built on.

mod chain;
mod error;
mod metadata;
mod mfa;
mod minted;
pub mod notify;
pub mod process;
pub mod sso;

pub use chain::{CHAINED_HOP_MAX_SECONDS, endpoint, hop_duration, mint, mint_steps};
pub use error::MintError;
pub use metadata::{MetadataError, MetadataErrorKind};
pub use mfa::{Lookup, MfaSessions, session_for_code};
pub use minted::{Minted, MintedStep, Resume, StepKind};
