//! Resolving a profile name into a [`ProfileChain`](super::ProfileChain).

use super::{ProfileChain, ProfileError, ProfileSet};
use crate::env::Env;

impl ProfileSet {
    /// Resolves `name` into base credentials plus role hops. `env` supplies
    /// `credential_source = Environment`.
    pub fn resolve(&self, name: &str, env: &Env) -> Result<ProfileChain, ProfileError> {
        let _ = (name, env);
        Err(ProfileError::NotBuilt)
    }
}
