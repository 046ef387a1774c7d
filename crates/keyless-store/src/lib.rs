//! `Store` implementations: SQLite (embedded default) and PostgreSQL (several nodes).
//!
//! SQLite runs in WAL mode with `synchronous=FULL`, because an acknowledged IAM
//! change or audit record must survive a crash; batching audit records into one transaction keeps
//! that affordable.
//!
//! PostgreSQL is for several `keyless serve` nodes sharing state. The `Store` trait is synchronous
//! and is called from inside tokio handlers, so [`PgStore`] keeps its connections on a dedicated
//! worker thread and callers block on a channel with a bounded wait, never on a runtime.

mod pg;
mod sqlite;

pub use pg::{PgOptions, PgStore};
pub use sqlite::SqliteStore;

#[doc(hidden)]
pub mod testing;

#[cfg(test)]
mod contract;
