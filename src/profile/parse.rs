//! Reading the two files with rust-ini into a [`ProfileSet`](super::ProfileSet).

use super::{ProfileError, ProfilePaths, ProfileSet};

impl ProfileSet {
    /// Reads and merges both files (a missing file counts as empty).
    pub fn load(paths: &ProfilePaths) -> Result<Self, ProfileError> {
        let _ = paths;
        Err(ProfileError::NotBuilt)
    }
}
