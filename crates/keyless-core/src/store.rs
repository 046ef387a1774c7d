//! The storage boundary: one object-safe trait, implemented on SQLite and PostgreSQL by
//! `keyless-store`.
//!
//! Entities are stored as JSON documents under (kind, key): every IAM change rewrites exactly one
//! entity, so each change is one atomic write and the trait stays small enough to implement
//! faithfully on any database.

use serde::{Deserialize, Serialize};

/// Kinds of stored entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// [`crate::model::OidcProvider`], keyed by ARN.
    Provider,
    /// [`crate::model::Role`], keyed by `ACCOUNT/lower-case name`.
    Role,
    /// [`crate::model::ManagedPolicy`], keyed by ARN.
    Policy,
    /// [`crate::model::IssuerKeyRecord`], keyed by kid.
    IssuerKey,
    /// [`crate::model::SealingKeyRecord`], keyed by id.
    SealingKey,
}

impl Kind {
    /// Stable name used as the column value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Provider => "provider",
            Kind::Role => "role",
            Kind::Policy => "policy",
            Kind::IssuerKey => "issuer_key",
            Kind::SealingKey => "sealing_key",
        }
    }

    /// Inverse of [`Kind::as_str`].
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "provider" => Kind::Provider,
            "role" => Kind::Role,
            "policy" => Kind::Policy,
            "issuer_key" => Kind::IssuerKey,
            "sealing_key" => Kind::SealingKey,
            _ => return None,
        })
    }
}

/// Every stored entity: (kind, key, JSON).
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The rows.
    pub entities: Vec<(Kind, String, String)>,
}

/// Which audit records to return.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    /// Only this role session name.
    pub session_name: Option<String>,
    /// Only this web identity subject.
    pub subject: Option<String>,
    /// Only refusals.
    pub denied_only: bool,
    /// Only records at or after this unix time.
    pub since: Option<u64>,
    /// At most this many (newest last).
    pub limit: Option<usize>,
}

/// One audit record with the fields the store indexes.
#[derive(Debug, Clone)]
pub struct AuditRow {
    /// Event time, unix seconds.
    pub time: u64,
    /// Role session name, if any.
    pub session_name: Option<String>,
    /// Web identity subject, if any.
    pub subject: Option<String>,
    /// Whether the call was refused.
    pub denied: bool,
    /// The CloudTrail-format record, JSON.
    pub record: String,
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database cannot be reached.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else the database reported.
    #[error("database error: {0}")]
    Database(String),
    /// A stored document could not be read back.
    #[error("corrupt stored entity {kind}/{key}: {reason}")]
    Corrupt {
        /// Entity kind.
        kind: &'static str,
        /// Entity key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// Persistent state. Implementations must make each call atomic and durable when it returns.
pub trait Store: Send + Sync {
    /// Every entity, for loading the in-memory state at start.
    fn load(&self) -> Result<Snapshot, StoreError>;
    /// Insert or replace one entity.
    fn put(&self, kind: Kind, key: &str, json: &str) -> Result<(), StoreError>;
    /// Remove one entity; absent is fine.
    fn delete(&self, kind: Kind, key: &str) -> Result<(), StoreError>;
    /// Append audit records in one transaction.
    fn append_audit(&self, rows: &[AuditRow]) -> Result<(), StoreError>;
    /// Query audit records, oldest first.
    fn query_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>, StoreError>;
}
