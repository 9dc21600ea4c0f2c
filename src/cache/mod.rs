//! The per-profile credential cache: what the servers read.
//!
//! Reads never wait on STS once a profile is warm; a background refresher renews ahead of
//! expiry; STS failures keep the last good credentials serving until they really expire.
//!
//! - `store`: [`CredentialCache`], the profiles' slots and the read path.
//! - `served`: what a read returns, and the [`CredentialProvider`] seam the servers use.
//! - `entry`: one profile's slot (served credentials, kept hops, single flight, failures).
//! - `policy`: refresh margin, jitter and retry backoff.
//! - `refresher`: fetch tasks and the background loop.
//! - `mfa`: `credvend mfa`: a code becomes an MFA session, and its profiles are renewed.

mod entry;
mod mfa;
pub mod policy;
mod refresher;
mod served;
mod status;
mod store;

pub use mfa::{MfaError, MfaOutcome};
pub use served::{CacheError, CredentialProvider, Served};
pub use status::{ErrorInfo, ProfileStatus, RefreshError};
pub use store::{CredentialCache, Reload};
