//! Tenant IDs: validated so that no tenant can escape its key prefix.

use crate::{Error, Result};

/// The longest tenant ID Loki accepts.
pub const MAX_TENANT_LEN: usize = 150;

/// Checks a tenant ID against Loki's rules: 1 to 150 characters, each an
/// ASCII letter or digit or one of `!-_.*'()`, and not `.` or `..`.
///
/// ```
/// use loki_store::validate_tenant;
///
/// assert!(validate_tenant("team-a_prod").is_ok());
/// assert!(validate_tenant("../etc").is_err());
/// assert!(validate_tenant("a/b").is_err());
/// assert!(validate_tenant("").is_err());
/// ```
///
/// # Errors
/// [`Error::InvalidTenant`] saying what is wrong.
pub fn validate_tenant(tenant: &str) -> Result<()> {
    let invalid = |reason| {
        Err(Error::InvalidTenant {
            tenant: tenant.chars().take(MAX_TENANT_LEN + 1).collect(),
            reason,
        })
    };
    if tenant.is_empty() {
        return invalid("tenant ID is empty");
    }
    if tenant.len() > MAX_TENANT_LEN {
        return invalid("tenant ID is longer than 150 characters");
    }
    if tenant == "." || tenant == ".." {
        return invalid("tenant ID may not be '.' or '..'");
    }
    if !tenant
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!-_.*'()".contains(&b))
    {
        return invalid("tenant ID may hold only letters, digits and !-_.*'()");
    }
    Ok(())
}
