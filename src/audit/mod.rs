//! The audit log: who got which session, when, written so that a flood cannot drown it.
//!
//! Producers (the cache when STS mints a session, the servers when a client is served or
//! refused) hand an [`AuditEvent`] to an [`AuditSink`]. Events hold no secret by construction:
//! there is no field that could carry a secret key, session token or ECS token.
//!
//! [`AuditLog`] is the file sink (docs/audit.md describes the file for its readers):
//!
//! - `event`, `sink`, `error`: the types producers and the daemon see.
//! - `log`: [`AuditLog`]; the request path only stamps the event and offers it to a bounded
//!   queue; one writer thread does the rest.
//! - `coalesce`: repeated `served` / `denied` events -> one record per key and interval.
//! - `record`: the records and their JSON lines; `caller`: their `caller` object.
//! - `writer`: records onto the file: rotation, failed and short writes, `lost` counts.
//! - `chain`: `seq` and `prev` on every line, and finding the last record again on open.
//! - `verify`: checking files against the chain and a checkpoint (`credvend audit verify`).
//! - `file`, `rotate`: the file behind a small trait (tests make it fail), and renaming.

mod caller;
pub(crate) mod chain;
mod coalesce;
mod error;
mod event;
mod file;
mod log;
mod record;
mod rotate;
mod sink;
mod verify;
mod writer;

pub use error::AuditError;
pub use event::AuditEvent;
pub use log::AuditLog;
pub use rotate::log_files;
pub use sink::{AuditSink, NoAudit};
pub use verify::{CheckpointResult, Kind, Loc, Problem, Verdict, Warning, verify};
