//! The embedded SQLite store.

use std::path::Path;
use std::sync::{Arc, Mutex};

use keyless_core::store::{
    AuditFilter, AuditRow, CHANGE_PAGE, CHANGES_KEPT, Change, ChangePage, Kind, Snapshot, Store,
    StoreError,
};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
pub(crate) const MIGRATIONS: &[&str] = &[
    "CREATE TABLE entities (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time INTEGER NOT NULL,
        session_name TEXT,
        subject TEXT,
        denied INTEGER NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX audit_time ON audit (time);
    CREATE INDEX audit_session ON audit (session_name);
    CREATE INDEX audit_subject ON audit (subject);",
    // The change feed other nodes follow. AUTOINCREMENT never reuses a position, and SQLite
    // serialises writers, so positions become visible in increasing order.
    "CREATE TABLE changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        key TEXT NOT NULL
    );
    CREATE TABLE changes_pruned (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        through INTEGER NOT NULL
    );
    INSERT INTO changes_pruned (id, through) VALUES (1, 0);",
    // Cheaper audit inserts: every call commits a record, and the table's indexes and its
    // AUTOINCREMENT counter were a sixth to a third of SQLite's work per record, yet the query
    // used none of them (its `?1 IS NULL OR session_name = ?1` terms cannot use an index). Per
    // record, in batches of ten (`sqlite_audit_row_cost`, BENCHMARKS.md session F): 23.9 →
    // 19.9 µs with a session and subject, 20.9 → 14.0 µs without.
    // - Plain INTEGER PRIMARY KEY: audit rows are never deleted, so a new row's id is still one
    //   past the largest, without updating `sqlite_sequence` in every commit.
    // - No index on `time`: records are appended in the order they happen, so `--since` finds
    //   its first id by a binary search over the ids (see `first_id_since`).
    // - Records without a session name or subject (GetCallerIdentity, IAM calls) skip those
    //   indexes; `= value` implies `IS NOT NULL`, so a query by value still uses them.
    "CREATE TABLE audit_v3 (
        id INTEGER PRIMARY KEY,
        time INTEGER NOT NULL,
        session_name TEXT,
        subject TEXT,
        denied INTEGER NOT NULL,
        record TEXT NOT NULL
    );
    INSERT INTO audit_v3 (id, time, session_name, subject, denied, record)
        SELECT id, time, session_name, subject, denied, record FROM audit ORDER BY id;
    DROP TABLE audit;
    ALTER TABLE audit_v3 RENAME TO audit;
    DELETE FROM sqlite_sequence WHERE name = 'audit';
    CREATE INDEX audit_session ON audit (session_name) WHERE session_name IS NOT NULL;
    CREATE INDEX audit_subject ON audit (subject) WHERE subject IS NOT NULL;",
];

/// How far out of order records may be stored: a record's time is taken when its call starts,
/// and it is stored when the call ends, behind records of calls that ended sooner. No call
/// lasts this long (the server's request timeout is far shorter), and a clock stepped back by
/// less than this is covered too.
const OUT_OF_ORDER: i64 = 15 * 60;

/// Pruning runs on every this many feed positions.
const PRUNE_EVERY: u64 = 100;

/// A SQLite database file holding every entity and the audit log.
pub struct SqliteStore {
    // INVARIANT: one connection, serialised by the mutex; IAM writes are rare and audit writes are
    // batched, so one writer is enough and avoids SQLITE_BUSY handling.
    // Shared with the checkpointer, which holds it while the WAL starts over.
    conn: Arc<Mutex<Connection>>,
    /// Moves WAL frames into the database file off the request path (file databases only).
    _checkpointer: Option<Checkpointer>,
}

/// How often the checkpointer copies committed WAL frames into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// WAL size (4 KiB frames, so 32 MiB) past which the checkpointer makes writers wait once so
/// the WAL can start over: a sustained load never leaves a quiet moment for a passive checkpoint
/// to catch up, and the WAL must stay bounded. The wait stalls the audit commits, and so the
/// requests, for as long as the restart's copy of the last frames and its two `fsync`s take:
/// about 2–4 ms on this project's test machine once the passes before it have done the rest
/// (see [`Checkpoints::restart`]), however large the WAL. A larger cap makes those stalls rarer
/// (one every half second or so under `bench/load.sh`); `journal_size_limit` (64 MiB) stays
/// above it, so a restart never truncates the file either.
const WAL_FRAMES_CAP: i64 = 8_192;

/// A catch-up pass before a restart that found fewer new frames than this leaves the restart
/// little to copy and flush, so the passes stop there.
const CATCH_UP_FRAMES: i64 = 256;

/// Most catch-up passes before a restart: under a load that writes frames as fast as a pass
/// copies them, the restart goes ahead anyway, and at once when the WAL has grown to twice its
/// cap meanwhile.
const CATCH_UP_PASSES: usize = 4;

/// A thread with its own connection running checkpoints, so that the copy of the WAL into the
/// database file and its `fsync` — the slow part of SQLite's automatic checkpoint, which runs
/// inside whichever commit crosses the threshold — never run inside an audit commit a request
/// is waiting for. Passive checkpoints do not block writers.
struct Checkpointer {
    stop: Arc<(Mutex<bool>, std::sync::Condvar)>,
    handle: Option<std::thread::JoinHandle<()>>,
}

/// What the checkpointer thread works with.
struct Checkpoints {
    conn: Connection,
    /// The store's own connection, the only writer in the process: held during a restart.
    writer: Arc<Mutex<Connection>>,
    /// The database file, flushed after each pass that copied frames into it.
    db: std::fs::File,
    /// The WAL file, flushed before a restart.
    wal: std::path::PathBuf,
    /// Frames copied into the database file as of the last pass.
    copied: i64,
}

impl Checkpoints {
    /// One passive checkpoint, then a flush of the pages it copied. Returns the WAL's size in
    /// frames.
    ///
    /// Why flush here: SQLite's passive checkpoint flushes the database file only when it has
    /// copied the whole WAL, which under a steady load it never has (frames keep arriving while
    /// it copies). Every page copied since the last restart then waited for the restart's own
    /// flush, taken while writers are blocked: with an 8 MiB WAL that stalled the audit
    /// commits 6–16 ms several times a second, most of AssumeRoleWithWebIdentity's p99. An
    /// extra `fdatasync` outside any lock moves that work off the stall; it never weakens
    /// SQLite's ordering (the file only reaches the disk sooner).
    fn pass(&mut self) -> i64 {
        let (log, copied) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
            })
            .unwrap_or((0, self.copied));
        if copied != self.copied {
            // Best effort: SQLite's own checkpoints flush again before the WAL starts over.
            let _ = self.db.sync_data();
            self.copied = copied;
        }
        log
    }

    /// Starts the WAL over (`log` frames long now). A RESTART checkpoint blocks writers while
    /// it flushes the WAL, copies what the passes have not and flushes the database file, so
    /// first passes copy and flush until few new frames remain, then the WAL's frames are
    /// flushed: the restart itself is left with the last few frames.
    ///
    /// The restart runs holding the store's connection. SQLite's write lock has no queue: a
    /// checkpoint waiting for it polls, and against commits that follow each other with no
    /// gap (a busy audit writer, or several threads) it could poll for seconds while the WAL
    /// grows. Holding the connection, which every write in the process goes through, it gets
    /// the lock at once, and the writers wait on a mutex rather than polling.
    fn restart(&mut self, mut log: i64) {
        for _ in 0..CATCH_UP_PASSES {
            let now = self.pass();
            let new_frames = now - log;
            log = now;
            if new_frames < CATCH_UP_FRAMES || log > 2 * WAL_FRAMES_CAP {
                break;
            }
        }
        // fdatasync works on a descriptor opened for reading.
        if let Ok(wal) = std::fs::File::open(&self.wal) {
            let _ = wal.sync_data();
        }
        let Ok(_writer) = self.writer.lock() else {
            return;
        };
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()));
    }
}

impl Checkpointer {
    fn start(
        conn: Connection,
        writer: Arc<Mutex<Connection>>,
        db_path: &Path,
    ) -> std::io::Result<Self> {
        let mut wal = db_path.as_os_str().to_owned();
        wal.push("-wal");
        let mut work = Checkpoints {
            conn,
            writer,
            db: std::fs::File::open(db_path)?,
            wal: wal.into(),
            copied: 0,
        };
        let stop = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("keyless-checkpoint".into())
            .spawn(move || {
                let (lock, wake) = &*flag;
                loop {
                    let stopped = match lock.lock() {
                        Ok(guard) => match wake.wait_timeout(guard, CHECKPOINT_EVERY) {
                            Ok((guard, _)) => *guard,
                            Err(_) => true,
                        },
                        Err(_) => true,
                    };
                    let log = work.pass();
                    if stopped {
                        break;
                    }
                    if log > WAL_FRAMES_CAP {
                        work.restart(log);
                    }
                }
            })?;
        Ok(Self {
            stop,
            handle: Some(handle),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, wake) = &*self.stop;
        if let Ok(mut stopped) = lock.lock() {
            *stopped = true;
        }
        wake.notify_all();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) `keyless.db` inside `dir`, which is created if absent.
    pub fn open_dir(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot create data directory `{}`: {e}",
                dir.display()
            ))
        })?;
        Self::open(&dir.join("keyless.db"))
    }

    /// Opens (creating if needed) the database file at `path` and applies migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open = || {
            Connection::open(path).map_err(|e| {
                StoreError::Unavailable(format!("cannot open database `{}`: {e}", path.display()))
            })
        };
        let mut store = Self::init(open()?)?;
        // Checkpoints move to their own thread; if it cannot start, SQLite's automatic
        // checkpoint (inside commits) stays on.
        let checkpointer = open().ok().and_then(|c| {
            c.busy_handler(Some(wait_for_readers)).ok()?;
            c.pragma_update(None, "synchronous", "FULL").ok()?;
            Checkpointer::start(c, store.conn.clone(), path).ok()
        });
        if let Some(c) = checkpointer {
            let conn = store.conn()?;
            conn.pragma_update(None, "wal_autocheckpoint", 0)
                .map_err(db_err)?;
            // After the WAL starts over, its file shrinks back to this size.
            conn.pragma_update(None, "journal_size_limit", 64 << 20)
                .map_err(db_err)?;
            drop(conn);
            store._checkpointer = Some(c);
        }
        Ok(store)
    }

    /// An in-memory database, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(db_err)?)
    }

    fn init(mut conn: Connection) -> Result<Self, StoreError> {
        conn.busy_handler(Some(wait_briefly)).map_err(db_err)?;
        set_wal(&conn)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err)?;
        // IMMEDIATE: take the write lock before reading the version, so several processes
        // opening one file at once take turns (waiting up to the busy timeout) instead of
        // failing to upgrade a read lock.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db_err)?;
        let applied = usize::try_from(version).unwrap_or(0);
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
            tx.execute_batch(sql).map_err(db_err)?;
            tx.pragma_update(None, "user_version", i + 1)
                .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        // The connection's standing mode is the audit log's (see `append_audit`); the rare
        // entity writes switch to `FULL` for their own transaction (`write`).
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db_err)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            _checkpointer: None,
        })
    }

    pub(crate) fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Database("connection lock poisoned".into()))
    }

    /// Runs `f` in one IMMEDIATE transaction (the file's write lock is taken first, so another
    /// process writing at the same time makes this wait rather than fail), committed with
    /// `synchronous=FULL`: an acknowledged IAM change survives a power cut, not just a killed
    /// process.
    fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, rusqlite::Error>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err)?;
        let out = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })()
        .map_err(db_err);
        // Back to the audit log's mode whatever happened; if even that fails, audit commits
        // stay at `FULL`: slower, never less durable.
        let _ = conn.pragma_update(None, "synchronous", "NORMAL");
        out
    }
}

/// Appends (kind, key) to the change feed inside the writing transaction, and now and then
/// prunes the feed to its last [`CHANGES_KEPT`] entries so it stays bounded.
fn record_change(tx: &Transaction<'_>, kind: Kind, key: &str) -> Result<(), rusqlite::Error> {
    tx.prepare_cached("INSERT INTO changes (kind, key) VALUES (?1, ?2)")?
        .execute(params![kind.as_str(), key])?;
    let seq = u64::try_from(tx.last_insert_rowid()).unwrap_or(0);
    if seq % PRUNE_EVERY == 0 && seq > CHANGES_KEPT {
        let through = i64::try_from(seq - CHANGES_KEPT).unwrap_or(0);
        tx.execute("DELETE FROM changes WHERE seq <= ?1", params![through])?;
        tx.execute(
            "UPDATE changes_pruned SET through = MAX(through, ?1) WHERE id = 1",
            params![through],
        )?;
    }
    Ok(())
}

impl Store for SqliteStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare("SELECT kind, key, value FROM entities ORDER BY kind, key")
            .map_err(db_err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(db_err)?;
        let mut snapshot = Snapshot::default();
        for row in rows {
            let (kind, key, value) = row.map_err(db_err)?;
            let kind = Kind::parse(&kind).ok_or_else(|| StoreError::Corrupt {
                kind: "unknown",
                key: key.clone(),
                reason: format!("unknown kind `{kind}`"),
            })?;
            snapshot.entities.push((kind, key, value));
        }
        Ok(snapshot)
    }

    fn put(&self, kind: Kind, key: &str, json: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO entities (kind, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value",
                params![kind.as_str(), key, json],
            )?;
            record_change(tx, kind, key)
        })
    }

    fn delete(&self, kind: Kind, key: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "DELETE FROM entities WHERE kind = ?1 AND key = ?2",
                params![kind.as_str(), key],
            )?;
            if n > 0 {
                record_change(tx, kind, key)?;
            }
            Ok(())
        })
    }

    fn put_if_absent(&self, kind: Kind, key: &str, json: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "INSERT INTO entities (kind, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (kind, key) DO NOTHING",
                params![kind.as_str(), key, json],
            )?;
            if n > 0 {
                record_change(tx, kind, key)?;
            }
            Ok(n > 0)
        })
    }

    fn get(&self, kind: Kind, key: &str) -> Result<Option<String>, StoreError> {
        self.conn()?
            .query_row(
                "SELECT value FROM entities WHERE kind = ?1 AND key = ?2",
                params![kind.as_str(), key],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)
    }

    fn latest_change(&self) -> Result<u64, StoreError> {
        let conn = self.conn()?;
        let seq: i64 = conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |r| {
                r.get(0)
            })
            .map_err(db_err)?;
        let pruned: i64 = conn
            .query_row("SELECT through FROM changes_pruned WHERE id = 1", [], |r| {
                r.get(0)
            })
            .map_err(db_err)?;
        Ok(u64::try_from(seq.max(pruned)).unwrap_or(0))
    }

    fn changes_since(&self, since: u64) -> Result<ChangePage, StoreError> {
        let mut conn = self.conn()?;
        // One read transaction: the pruning mark and the rows come from the same snapshot.
        let tx = conn.transaction().map_err(db_err)?;
        let pruned: i64 = tx
            .query_row("SELECT through FROM changes_pruned WHERE id = 1", [], |r| {
                r.get(0)
            })
            .map_err(db_err)?;
        let latest: i64 = tx
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |r| {
                r.get(0)
            })
            .map_err(db_err)?;
        let latest = latest.max(pruned);
        let mut since_i = i64::try_from(since).unwrap_or(i64::MAX);
        let mut page = ChangePage {
            next: since,
            gap: since_i < pruned,
            ..ChangePage::default()
        };
        if since_i > latest {
            // The feed went backwards (the database was replaced): start over from its end.
            since_i = latest;
            page.next = u64::try_from(latest).unwrap_or(0);
            page.gap = true;
        }
        let limit = i64::try_from(CHANGE_PAGE).unwrap_or(i64::MAX);
        {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT seq, kind, key FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![since_i, limit + 1], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .map_err(db_err)?;
            for row in rows {
                let (seq, kind, key) = row.map_err(db_err)?;
                if page.changes.len() >= CHANGE_PAGE {
                    page.more = true;
                    break;
                }
                let kind = Kind::parse(&kind).ok_or_else(|| StoreError::Corrupt {
                    kind: "unknown",
                    key: key.clone(),
                    reason: format!("unknown kind `{kind}` in the change feed"),
                })?;
                let seq = u64::try_from(seq).unwrap_or(0);
                page.next = seq;
                page.changes.push(Change { seq, kind, key });
            }
        }
        tx.commit().map_err(db_err)?;
        Ok(page)
    }

    fn append_audit(&self, rows: &[AuditRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        // Audit batches commit with `synchronous=NORMAL`, the connection's standing mode: in
        // WAL mode the commit is written to the WAL file (so the OS holds it and a killed
        // process loses nothing acknowledged) but not fsynced, which would cost an fsync per
        // batch on the request path; the next entity write (`FULL`) or checkpoint makes it
        // durable on disk too.
        append_rows(&*self.conn()?, AuditTable::Audit, rows)
    }

    fn query_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
        let conn = self.conn()?;
        let (sql, args) = audit_query(&conn, filter)?;
        let mut stmt = conn.prepare(&sql).map_err(db_err)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok(AuditRow {
                    time: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                    session_name: r.get(1)?,
                    subject: r.get(2)?,
                    denied: r.get(3)?,
                    record: r.get(4)?,
                })
            })
            .map_err(db_err)?;
        let mut out = rows.collect::<Result<Vec<_>, _>>().map_err(db_err)?;
        out.reverse();
        Ok(out)
    }
}

/// The query for `filter` and its arguments, newest first. Only the filters given become terms,
/// so SQLite can use the session and subject indexes (an `?1 IS NULL OR …` term cannot).
pub(crate) fn audit_query(
    conn: &Connection,
    filter: &AuditFilter,
) -> Result<(String, Vec<rusqlite::types::Value>), StoreError> {
    let mut sql =
        String::from("SELECT time, session_name, subject, denied, record FROM audit WHERE true");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let mut arg = |sql: &mut String, term: &str, value: rusqlite::types::Value| {
        args.push(value);
        sql.push_str(&format!(" AND {term} ?{}", args.len()));
    };
    if let Some(session) = &filter.session_name {
        arg(&mut sql, "session_name =", session.clone().into());
    }
    if let Some(subject) = &filter.subject {
        arg(&mut sql, "subject =", subject.clone().into());
    }
    if filter.denied_only {
        sql.push_str(" AND denied = 1");
    }
    if let Some(since) = filter.since {
        let since = i64::try_from(since).unwrap_or(i64::MAX);
        let from = first_id_since(conn, since.saturating_sub(OUT_OF_ORDER))?;
        arg(&mut sql, "id >=", from.into());
        arg(&mut sql, "time >=", since.into());
    }
    let limit = filter
        .limit
        .map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX));
    args.push(limit.into());
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", args.len()));
    Ok((sql, args))
}

/// An id below which every record is before `time` (one past the largest if all are): a binary
/// search over the ids, each step one lookup by id. Valid because records are appended in time
/// order up to [`OUT_OF_ORDER`], which the caller subtracts first.
fn first_id_since(conn: &Connection, time: i64) -> Result<i64, StoreError> {
    let bounds: (Option<i64>, Option<i64>) = conn
        .query_row("SELECT min(id), max(id) FROM audit", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(db_err)?;
    let (Some(mut lo), Some(max)) = bounds else {
        return Ok(0);
    };
    // INVARIANT: every id below `lo` is before `time`; the answer is in lo..=hi.
    let mut hi = max.saturating_add(1);
    let mut probe = conn
        .prepare_cached("SELECT id, time FROM audit WHERE id >= ?1 ORDER BY id LIMIT 1")
        .map_err(db_err)?;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let found: Option<(i64, i64)> = probe
            .query_row([mid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(db_err)?;
        match found {
            Some((id, t)) if t < time => lo = id.saturating_add(1),
            _ => hi = mid,
        }
    }
    Ok(lo)
}

/// Retries of [`wait_briefly`] at [`BUSY_FIRST_STEP`] before it sleeps [`BUSY_STEP`].
const BUSY_FIRST_TRIES: i32 = 50;
/// The first sleeps while the database is locked.
const BUSY_FIRST_STEP: std::time::Duration = std::time::Duration::from_micros(100);
/// Later sleeps.
const BUSY_STEP: std::time::Duration = std::time::Duration::from_millis(1);
/// Retries in all: about 5 s.
const BUSY_TRIES: i32 = BUSY_FIRST_TRIES + 4_995;

/// Busy handler of the store's connection, in place of SQLite's `busy_timeout`. The lock
/// holder it waits for is another process (the checkpointer's restarts hold the store's mutex
/// instead), usually for a few milliseconds; SQLite's own handler sleeps 1, 2, 5, 10… ms
/// between tries, so a 3 ms hold would keep the audit commit — and every request waiting for
/// it — blocked 8 ms, or 18. Trying every 0.1 ms for the first 5 ms ends the wait when the lock
/// is free; after that, every millisecond up to about 5 s.
fn wait_briefly(tries: i32) -> bool {
    if tries >= BUSY_TRIES {
        return false;
    }
    std::thread::sleep(if tries < BUSY_FIRST_TRIES {
        BUSY_FIRST_STEP
    } else {
        BUSY_STEP
    });
    true
}

/// Busy handler of the checkpointer's connection. It only waits during a restart, which holds
/// the store's connection (see [`Checkpoints::restart`]), so for another process's reader or
/// writer (`keyless audit` reading the same file); every request waits meanwhile, so the restart
/// gives up after 500 tries 0.1 ms apart (50–80 ms) and is tried again at the next checkpoint.
fn wait_for_readers(tries: i32) -> bool {
    if tries >= 500 {
        return false;
    }
    std::thread::sleep(BUSY_FIRST_STEP);
    true
}

/// Puts the database in WAL mode. Switching the mode needs an exclusive lock and SQLite answers
/// "database is locked" at once, without its busy handler, while another connection holds the
/// file (several nodes or stores opening one new file together): retry within the busy timeout.
fn set_wal(conn: &Connection) -> Result<(), StoreError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let mode: Result<String, _> = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0));
        match mode {
            // An in-memory database (tests) has no WAL and says `memory`.
            Ok(m) if m.eq_ignore_ascii_case("wal") || m.eq_ignore_ascii_case("memory") => {
                return Ok(());
            }
            Ok(m) => {
                return Err(StoreError::Database(format!(
                    "the database stays in journal mode `{m}`; keyless needs WAL"
                )));
            }
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(db_err(e)),
        }
    }
}

/// A table holding audit rows: the store's own log, or the spool of a node on PostgreSQL.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AuditTable {
    /// `audit` in the store's database.
    Audit,
    /// `spool` in the audit spool's database.
    Spool,
}

/// One transaction inserting every row into `table`.
pub(crate) fn append_rows(
    conn: &Connection,
    table: AuditTable,
    rows: &[AuditRow],
) -> Result<(), StoreError> {
    let sql = match table {
        AuditTable::Audit => {
            "INSERT INTO audit (time, session_name, subject, denied, record) VALUES (?1, ?2, ?3, ?4, ?5)"
        }
        AuditTable::Spool => {
            "INSERT INTO spool (time, session_name, subject, denied, record) VALUES (?1, ?2, ?3, ?4, ?5)"
        }
    };
    // BEGIN and COMMIT as cached statements rather than a `Transaction` (which parses both
    // again on every batch): this runs once per audit batch, on the path requests wait on.
    conn.prepare_cached("BEGIN")
        .and_then(|mut s| s.execute([]))
        .map_err(db_err)?;
    let inserted = (|| {
        let mut stmt = conn.prepare_cached(sql)?;
        for row in rows {
            stmt.execute(params![
                i64::try_from(row.time).unwrap_or(i64::MAX),
                row.session_name,
                row.subject,
                row.denied,
                row.record
            ])?;
        }
        conn.prepare_cached("COMMIT")?.execute([])
    })();
    if let Err(e) = inserted {
        // All or nothing: a failed insert or COMMIT leaves the transaction open.
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        return Err(db_err(e));
    }
    Ok(())
}
