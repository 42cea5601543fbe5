//! Who may do what with personal data, and the trace it leaves.
//!
//! - [`role`]: the seven roles, the capabilities each route needs, and the one table that
//!   says which role holds which capability.
//! - [`key`]: API keys, kept only as SHA-256 hashes, each scoped to a role and a party
//!   (a subject's key to that subject).
//! - [`consent`]: a subject's grants to a named relying party for a purpose until a day.
//! - [`inquiry`]: what a third party read and what it was told, kept 12 months.
//! - [`dispute`]: a subject contests an entry; its furnisher upholds, corrects or deletes it.
//! - [`audit`]: the hash chain of the audit log and its verification.
//! - [`state`]: everything above as one value rebuilt from the audit log's operations.
//!
//! Pure: no I/O and no clock. Times and days are arguments; the encoding of the log is
//! `credo-engine`'s.

pub mod audit;
pub mod consent;
pub mod dispute;
pub mod inquiry;
pub mod key;
pub mod role;
pub mod state;

pub use audit::{Chain, ChainBreak, ChainError, GENESIS, Link, link, verify};
pub use consent::{ConsentBook, Grant};
pub use dispute::{Dispute, DisputeBook, DisputeState, Resolution, Tipoff};
pub use inquiry::{Inquiry, InquiryLog, RETENTION_MONTHS, retention_cutoff};
pub use key::{KeyRecord, KeyRing, hash_token};
pub use role::{Capability, Principal, Role, allowed, may_send};
pub use state::{AccessOp, AccessState};

/// Why an access operation is refused. Each has a stable `code()`; the HTTP edge maps it
/// to a status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error(
        "unknown role `{0}` (expected one of: admin, furnisher, court, relying_party, telco, subject)"
    )]
    UnknownRole(String),
    #[error("{field}: {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
    #[error("no {what} with id {id}")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
}

impl AccessError {
    pub fn code(&self) -> &'static str {
        match self {
            AccessError::UnknownRole(_) => "unknown_role",
            AccessError::Invalid { .. } => "invalid_field",
            AccessError::NotFound { .. } => "not_found",
            AccessError::Forbidden(_) => "forbidden",
            AccessError::Conflict(_) => "conflict",
        }
    }
}

/// A party name: 1–64 of `a-z 0-9 - _ .`, so it can stand in logs, offers and URLs.
pub fn check_name(field: &'static str, s: &str) -> Result<(), AccessError> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if ok {
        Ok(())
    } else {
        Err(AccessError::Invalid {
            field,
            problem: format!("`{s}` must be 1–64 characters of a-z, 0-9, '-', '_' and '.'"),
        })
    }
}
