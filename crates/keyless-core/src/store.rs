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

/// One entry of the change feed: the entity (kind, key) was written or deleted.
///
/// The feed says *which* entity changed, not its new value: a reader fetches the current value
/// with [`Store::get`], so applying an old entry again, or several entries for one entity, always
/// ends with the latest state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Position in the feed; increases with every write, in commit order.
    pub seq: u64,
    /// Entity kind.
    pub kind: Kind,
    /// Entity key.
    pub key: String,
}

/// One page of the change feed, as returned by [`Store::changes_since`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangePage {
    /// Changes after the requested position, oldest first.
    pub changes: Vec<Change>,
    /// The position to ask from next time (the last returned `seq`, or the requested one).
    pub next: u64,
    /// More changes are waiting beyond this page: ask again from `next` at once.
    pub more: bool,
    /// Changes after the requested position were already pruned from the feed: the reader has
    /// missed some and must reload everything (then continue from [`Store::latest_change`]
    /// read *before* that reload).
    pub gap: bool,
}

/// Most changes one [`Store::changes_since`] call returns.
pub const CHANGE_PAGE: usize = 1000;

/// How many feed entries a store keeps at least; older ones may be pruned. A node that falls
/// further behind than this sees [`ChangePage::gap`] and reloads everything.
pub const CHANGES_KEPT: u64 = 10_000;

/// Persistent state. Implementations must make each call atomic and durable when it returns.
///
/// Several nodes may share one store: each keeps the state in memory and follows the others'
/// writes through the change feed ([`Store::changes_since`]), so every write must append to the
/// feed in the same transaction, and feed positions must become visible in increasing order (a
/// reader that has seen position `n` never later sees a smaller one appear).
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

    /// One entity's current JSON, or `None` when absent.
    ///
    /// The default reads everything with [`Store::load`]; real stores answer with one lookup.
    fn get(&self, kind: Kind, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .load()?
            .entities
            .into_iter()
            .find(|(k, name, _)| *k == kind && name == key)
            .map(|(_, _, json)| json))
    }

    /// Inserts one entity only if (kind, key) is absent, atomically; returns whether it inserted.
    ///
    /// This is how nodes starting together on an empty store agree on one first sealing key and
    /// one first issuer key: each tries to insert under the same well-known key and the losers
    /// adopt the winner's.
    ///
    /// The default (read, then write) is NOT atomic and only suits a store with one writer.
    fn put_if_absent(&self, kind: Kind, key: &str, json: &str) -> Result<bool, StoreError> {
        if self.get(kind, key)?.is_some() {
            return Ok(false);
        }
        self.put(kind, key, json)?;
        Ok(true)
    }

    /// The feed's latest position (0 when empty): where a node that just loaded its state starts
    /// following. Read it *before* [`Store::load`] so no write falls between the two.
    ///
    /// The default is a store without a feed (one node only): always 0.
    fn latest_change(&self) -> Result<u64, StoreError> {
        Ok(0)
    }

    /// Up to [`CHANGE_PAGE`] changes with a position greater than `since`, oldest first.
    ///
    /// The default is a store without a feed: never any change.
    fn changes_since(&self, since: u64) -> Result<ChangePage, StoreError> {
        Ok(ChangePage {
            next: since,
            ..ChangePage::default()
        })
    }
}
