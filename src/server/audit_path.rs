//! How request paths appear in the audit log. ECS capability paths carry their credential in
//! the path, so the id is cut to its last four characters; every other path is kept as is.

use crate::secret::mask_key_id;

/// The relative URI prefix of ECS capability paths (the form ECS itself uses).
pub(crate) const CAPABILITY_PREFIX: &str = "/v2/credentials/";

/// The request path as the audit log may show it.
pub(crate) fn audit_path(path: &str) -> String {
    match path.strip_prefix(CAPABILITY_PREFIX) {
        Some(id) => format!(
            "{CAPABILITY_PREFIX}{}",
            mask_key_id(id.trim_end_matches('/'))
        ),
        None => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_paths_hide_capability_ids() {
        let p = audit_path("/v2/credentials/0123456789abcdef0123456789abcdef");
        assert_eq!(p, "/v2/credentials/****cdef");
        assert_eq!(audit_path("/role/dev"), "/role/dev");
    }
}
