//! A durable local queue of audit records, for a node whose shared database is unreachable.
//!
//! A `keyless serve` node on PostgreSQL acknowledges a call only once its audit record is
//! durable. When PostgreSQL cannot take a batch in time, the node commits the batch here instead
//! (one SQLite transaction, `synchronous=FULL`: durable when [`AuditSpool::push`] returns) and
//! later moves the records to PostgreSQL, oldest first, deleting each moved batch from the spool
//! only after PostgreSQL committed it. A crash between the two commits leaves the batch in both;
//! moving it again is harmless because PostgreSQL keeps at most one record per `requestID` (see
//! [`request_id`]), so every record ends up there exactly once.

use std::path::Path;
use std::sync::Mutex;

use keyless_core::store::{AuditRow, StoreError};
use rusqlite::{Connection, params};

/// A spool file: a FIFO of audit records, each with a position.
pub struct AuditSpool {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for AuditSpool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditSpool")
    }
}

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(format!("audit spool: {e}"))
}

impl AuditSpool {
    /// Opens (creating if needed) the spool file at `path`; records left by a previous run are
    /// kept, to be moved by the caller.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot open the audit spool `{}`: {e}",
                path.display()
            ))
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err)?;
        // Durable at commit: the spool is where acknowledged records live during an outage.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS spool (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                time INTEGER NOT NULL,
                session_name TEXT,
                subject TEXT,
                denied INTEGER NOT NULL,
                record TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS rejected (
                id INTEGER PRIMARY KEY,
                time INTEGER NOT NULL,
                session_name TEXT,
                subject TEXT,
                denied INTEGER NOT NULL,
                record TEXT NOT NULL,
                reason TEXT NOT NULL
            );",
        )
        .map_err(db_err)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Database("audit spool lock poisoned".into()))
    }

    /// Appends `rows` in one durable transaction.
    pub fn push(&self, rows: &[AuditRow]) -> Result<(), StoreError> {
        crate::sqlite::append_rows(&*self.conn()?, crate::sqlite::AuditTable::Spool, rows)
    }

    /// The oldest `limit` records with their positions, oldest first.
    pub fn peek(&self, limit: usize) -> Result<Vec<(i64, AuditRow)>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, time, session_name, subject, denied, record FROM spool
                 ORDER BY id LIMIT ?1",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    AuditRow {
                        time: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                        session_name: r.get(2)?,
                        subject: r.get(3)?,
                        denied: r.get(4)?,
                        record: r.get(5)?,
                    },
                ))
            })
            .map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }

    /// Removes every record up to and including position `id` (after they were moved).
    pub fn remove_through(&self, id: i64) -> Result<(), StoreError> {
        self.conn()?
            .execute("DELETE FROM spool WHERE id <= ?1", [id])
            .map(|_| ())
            .map_err(db_err)
    }

    /// Sets the record at position `id` aside (in the `rejected` table of the same file) because
    /// the database refuses it for good, so the records behind it can move on; `reason` says why.
    pub fn reject(&self, id: i64, reason: &str) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(db_err)?;
        tx.execute(
            "INSERT OR REPLACE INTO rejected (id, time, session_name, subject, denied, record, reason)
             SELECT id, time, session_name, subject, denied, record, ?2 FROM spool WHERE id = ?1",
            params![id, reason],
        )
        .map_err(db_err)?;
        tx.execute("DELETE FROM spool WHERE id = ?1", [id])
            .map_err(db_err)?;
        tx.commit().map_err(db_err)
    }

    /// How many records were set aside by [`AuditSpool::reject`].
    pub fn rejected(&self) -> Result<u64, StoreError> {
        self.conn()?
            .query_row("SELECT COUNT(*) FROM rejected", [], |r| r.get::<_, i64>(0))
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(db_err)
    }

    /// How many records wait in the spool.
    pub fn len(&self) -> Result<u64, StoreError> {
        self.conn()?
            .query_row("SELECT COUNT(*) FROM spool", [], |r| r.get::<_, i64>(0))
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(db_err)
    }

    /// Whether the spool is empty.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        self.len().map(|n| n == 0)
    }
}

/// The `requestID` of a CloudTrail record, as PostgreSQL's unique key for deduplication.
///
/// Found without parsing: the record is compact JSON whose top-level `requestID` comes after
/// every field that may hold caller-chosen object keys (`requestParameters`, …), and a string
/// value can never contain an unescaped `"`, so the *last* `"requestID":"` is the top-level one.
/// Values with escapes are not request ids: `None`, and the record is then stored without a key
/// (never deduplicated, never refused).
pub fn request_id(record: &str) -> Option<&str> {
    const MARK: &str = "\"requestID\":\"";
    let start = record.rfind(MARK)? + MARK.len();
    let rest = record.get(start..)?;
    let end = rest.find('"')?;
    let id = rest.get(..end)?;
    (!id.is_empty() && !id.contains('\\')).then_some(id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn row(n: u64) -> AuditRow {
        AuditRow {
            time: n,
            session_name: Some(format!("s{n}")),
            subject: None,
            denied: n.is_multiple_of(2),
            record: format!("{{\"requestID\":\"r{n}\"}}"),
        }
    }

    #[test]
    fn records_survive_reopening_and_leave_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit-spool.db");
        {
            let spool = AuditSpool::open(&path).unwrap();
            assert!(spool.is_empty().unwrap());
            spool.push(&[row(1), row(2)]).unwrap();
            spool.push(&[row(3)]).unwrap();
        }
        let spool = AuditSpool::open(&path).unwrap();
        assert_eq!(spool.len().unwrap(), 3);
        let first = spool.peek(2).unwrap();
        let times: Vec<u64> = first.iter().map(|(_, r)| r.time).collect();
        assert_eq!(times, vec![1, 2]);
        assert!(first[1].1.denied);
        spool.remove_through(first[1].0).unwrap();
        let rest = spool.peek(10).unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].1.record, "{\"requestID\":\"r3\"}");
        spool.reject(rest[0].0, "refused").unwrap();
        assert!(spool.is_empty().unwrap());
        assert_eq!(spool.rejected().unwrap(), 1);
    }

    #[test]
    fn the_request_id_is_the_top_level_one() {
        let rec = r#"{"requestParameters":{"tags":{"requestID":"forged"}},"requestID":"abc-1","eventID":"e"}"#;
        assert_eq!(request_id(rec), Some("abc-1"));
        assert_eq!(request_id(r#"{"requestID":"a\"b"}"#), None);
        assert_eq!(request_id(r#"{"requestID":""}"#), None);
        assert_eq!(request_id(r#"{"t":1}"#), None);
    }
}
