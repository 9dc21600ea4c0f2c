//! Errors of profile parsing and resolution; each names file, profile and line.

/// A profile file or profile that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Placeholder until the parser lands.
    #[error("profile parsing is not built yet")]
    NotBuilt,
}
