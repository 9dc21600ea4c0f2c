//! The minting stage: a [`ProfileChain`](crate::profile::ProfileChain) becomes session
//! credentials through STS. The one path used by the cache and by `credvend check`.
//!
//! `chain` runs the STS calls, `minted` holds what they produce, `error` why they failed;
//! `sso` gets the base credentials of IAM Identity Center profiles from the portal.

mod chain;
mod error;
mod minted;
pub mod sso;

pub use chain::{CHAINED_HOP_MAX_SECONDS, endpoint, hop_duration, mint, mint_steps};
pub use error::MintError;
pub use minted::{Minted, MintedStep, Resume, StepKind};
