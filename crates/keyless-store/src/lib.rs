//! `Store` implementations: SQLite (embedded default).
//!
//! SQLite runs in WAL mode with `synchronous=FULL`, because an acknowledged IAM
//! change or audit record must survive a crash; batching audit records into one transaction keeps
//! that affordable.

mod sqlite;

pub use sqlite::SqliteStore;

#[cfg(test)]
mod contract;
