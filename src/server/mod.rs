//! The HTTP endpoints: an IMDS router per `[[imds]]` listener, one ECS router, and [`serve`],
//! which runs a router on a listener. See `routers.rs` for how the layers stack.

mod audit_path;
pub mod ecs;
mod error;
mod guard;
pub mod imds;
mod routers;
mod services;
mod wire;

pub use ecs::{
    CapabilityIds, EcsConfig, EcsFileError, EcsState, load_or_create_capabilities,
    load_or_create_token,
};
pub use imds::{ImdsConfig, ImdsState, PublicKey};
pub use routers::{ecs_router, imds_router, serve};
pub use services::Services;
