//! `Store` implementations: SQLite (embedded default) and PostgreSQL (several nodes).
//!
//! SQLite runs in WAL mode. IAM changes commit with `synchronous=FULL` (an acknowledged change
//! survives a power cut); audit batches with `NORMAL` (written to the WAL before the call is
//! acknowledged, so a killed process loses none, and made durable on disk by the next checkpoint
//! or entity write), batched so that one commit serves many calls.
//!
//! PostgreSQL is for several `keyless serve` nodes sharing state. The `Store` trait is synchronous
//! and is called from inside tokio handlers, so [`PgStore`] keeps its connections on a dedicated
//! worker thread and callers block on a channel with a bounded wait, never on a runtime.
//!
//! Several nodes (processes on one SQLite file, or servers on one PostgreSQL database) keep all
//! state in memory and follow each other through the *change feed*: every entity write appends
//! (position, kind, key) to a `changes` table in the same transaction, and
//! [`Store::changes_since`](keyless_core::Store::changes_since) returns what a node has not seen
//! yet. Positions must become visible in increasing order, or a reader could skip a write that
//! committed late: SQLite gets that from its single writer; PostgreSQL writers take a
//! transaction-scoped advisory lock before appending (entity writes are rare; audit records do
//! not take it). The feed keeps at least the last
//! [`CHANGES_KEPT`](keyless_core::store::CHANGES_KEPT) entries; a node further behind is told
//! so (`gap`) and reloads everything. The first sealing and issuer keys are inserted with
//! [`Store::put_if_absent`](keyless_core::Store::put_if_absent), so nodes starting together on
//! an empty database agree on one.
//!
//! Audit records on PostgreSQL carry their `requestID` in a uniquely indexed column, and appends
//! skip records whose request is already stored: a node whose database was unreachable keeps
//! acknowledged records in a local [`AuditSpool`] and moves them later, possibly twice after a
//! crash, and each still ends up stored exactly once.
#![warn(missing_docs)]

mod pg;
pub mod spool;
mod sqlite;

pub use pg::{PgAuditConnection, PgOptions, PgStore};
pub use spool::AuditSpool;
pub use sqlite::SqliteStore;

#[doc(hidden)]
pub mod testing;

#[cfg(test)]
mod contract;
