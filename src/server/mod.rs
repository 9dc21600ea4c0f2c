//! The HTTP endpoints: an IMDS router per `[[imds]]` listener, one ECS router, and [`serve`],
//! credvend's accept loop that runs a router on a listener under [`Limits`]. See `routers.rs`
//! for how the layers stack and `accept.rs` for the connection limits.

mod accept;
mod audit_path;
mod client;
pub mod ecs;
mod error;
mod guard;
pub mod imds;
mod limit;
mod routers;
mod services;
mod tenant;
mod wire;

pub use accept::{Limits, serve};
pub use client::Client;
pub use ecs::{
    CapabilityIds, EcsConfig, EcsFileError, EcsState, load_or_create_capabilities,
    load_or_create_token,
};
pub use imds::{ImdsConfig, ImdsState, Labels, PublicKey};
pub use routers::{Endpoint, ecs_router, imds_router};
pub use services::Services;
