//! The PostgreSQL store, for several `keyless serve` nodes sharing one database.
//!
//! The [`Store`] trait is synchronous and is called from plain threads and from inside tokio
//! handlers alike, so no caller may drive a runtime itself (a `block_on` inside tokio panics).
//! Instead one dedicated worker thread owns a current-thread tokio runtime and a small set of
//! `tokio-postgres` connections; callers hand it a job over a bounded queue and block on a std
//! channel for the answer. Every job carries a deadline, so a caller never waits longer than
//! `connect_timeout + statement_timeout` (plus a small grace), whether the database is down, slow or
//! silently gone; a connection that failed or timed out is dropped and a fresh one is opened by the
//! next job, which is how the store recovers by itself when the database comes back.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use keyless_core::store::{
    AuditFilter, AuditRow, CHANGE_PAGE, CHANGES_KEPT, Change, ChangePage, Kind, Snapshot, Store,
    StoreError,
};
use tokio::sync::{Mutex as AsyncMutex, mpsc};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Statement};

/// Schema migrations, applied in order inside one transaction that holds an advisory lock; the
/// `schema_version` table records which ran.
pub(crate) const MIGRATIONS: &[&str] = &[
    "CREATE TABLE entities (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    );
    CREATE TABLE audit (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        time BIGINT NOT NULL,
        session_name TEXT,
        subject TEXT,
        denied BOOLEAN NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX audit_time ON audit (time);
    CREATE INDEX audit_session ON audit (session_name);
    CREATE INDEX audit_subject ON audit (subject);",
    // The change feed other nodes follow. Writers take FEED_LOCK_CLASS before appending, so
    // positions are handed out and committed in the same order.
    "CREATE TABLE changes (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind TEXT NOT NULL,
        key TEXT NOT NULL
    );
    CREATE TABLE changes_pruned (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        through BIGINT NOT NULL
    );
    INSERT INTO changes_pruned (id, through) VALUES (1, 0);",
    // One record per request: a node that spooled a batch while PostgreSQL was unreachable (or
    // gave up waiting for a commit that went through after all) moves it again later, and the
    // copy already here wins. NULLs (records without a request id) are never equal.
    "ALTER TABLE audit ADD COLUMN request_id TEXT;
    CREATE UNIQUE INDEX audit_request_id ON audit (request_id);",
    // Cheaper audit inserts: every call commits a record, so the table's indexes are most of
    // PostgreSQL's work per request (BENCHMARKS.md, "PostgreSQL's cost per audit record").
    // - `time` grows with `id` (records are inserted as they happen), so a BRIN index of a few
    //   pages answers `--since` instead of a btree holding every row.
    // - Records without a session name or subject (GetCallerIdentity, IAM calls) skip those
    //   indexes; a lookup `= value` implies `IS NOT NULL`, so it still uses them.
    // - `COLLATE "C"` compares bytes instead of calling the locale's collation for every key
    //   compared on the way down. Equality is the same in every deterministic collation, so the
    //   same rows match; only the order inside the index differs, and nothing reads that order.
    // The unique index keeps its name and column, so `ON CONFLICT (request_id)` still finds it
    // (a collation need not be named to match), for nodes of the previous version too.
    "DROP INDEX audit_time;
    CREATE INDEX audit_time ON audit USING brin (time) WITH (autosummarize = on);
    DROP INDEX audit_session;
    CREATE INDEX audit_session ON audit (session_name COLLATE \"C\")
        WHERE session_name IS NOT NULL;
    DROP INDEX audit_subject;
    CREATE INDEX audit_subject ON audit (subject COLLATE \"C\") WHERE subject IS NOT NULL;
    DROP INDEX audit_request_id;
    CREATE UNIQUE INDEX audit_request_id ON audit (request_id COLLATE \"C\");",
    // A busy node fills a 128-page BRIN range every second or two, far faster than autovacuum
    // works through summarisation requests (its queue holds 256): with `autosummarize` every
    // range past that logged "request for BRIN range summarization … was not recorded" from the
    // inserting statement. The VACUUM that autovacuum runs on an insert-only table anyway
    // summarises the new ranges, and until then a `--since` query reads them as they are.
    "ALTER INDEX audit_time SET (autosummarize = off);",
];

/// Longest a node waits for migrations, its own or another node's: building the indexes of an
/// audit table of tens of millions of rows takes minutes, far beyond the per-operation bound.
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// First key of the advisory lock every entity write holds until it commits (`km`), the second
/// being the schema's hash as for migrations.
///
/// Why: an identity column hands out positions when rows are inserted, not when they commit, so
/// without it a reader could see position 11 committed, move past it, and miss 10 committing a
/// moment later. Serialising entity writes (rare: IAM changes and key rotations, never audit
/// records) makes commit order equal position order. PostgreSQL makes a transaction visible
/// before it releases its locks, so the next writer's position is always the larger one.
const FEED_LOCK_CLASS: i32 = 0x6b6d;

/// Pruning runs on every this many feed positions.
const PRUNE_EVERY: u64 = 100;

/// First key of the two-part advisory lock taken while migrating (`kl` in ASCII); the second part
/// is a hash of the schema name, so different schemas migrate independently.
const MIGRATION_LOCK_CLASS: i32 = 0x6b6c;

/// Extra time a caller waits beyond the job's deadline, so that the worker's own timeout (which
/// carries the better message) normally answers first.
const GRACE: Duration = Duration::from_millis(500);

/// Tuning of a [`PgStore`]. The defaults suit a database on the same network.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Longest wait to establish one connection (TCP and PostgreSQL start-up). Default 5 s.
    pub connect_timeout: Duration,
    /// Longest one operation may run once connected; enforced both by the server
    /// (`statement_timeout`, `lock_timeout`) and by the client. Default 10 s.
    pub statement_timeout: Duration,
    /// Number of connections, each running one operation at a time. Default 4; at least 1.
    pub connections: usize,
    /// Most operations waiting for a connection; beyond that, calls fail at once with
    /// [`StoreError::Unavailable`] rather than pile up. Default 1024.
    pub queue: usize,
    /// Schema holding keyless's tables, created if absent. Default `None`: the first schema of the
    /// server's `search_path` (normally `public`). Only ASCII letters, digits and `_`.
    pub schema: Option<String>,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            connections: 4,
            queue: 1024,
            schema: None,
        }
    }
}

/// A PostgreSQL database holding every entity and the audit log, shared by any number of nodes.
///
/// Each call is one transaction committed with `synchronous_commit = on`, so it is durable when it
/// returns. Plain TCP only (no TLS): use it on a trusted network or through a local TLS proxy.
pub struct PgStore {
    jobs: mpsc::Sender<Job>,
    /// What the worker's connections are opened with, for [`PgStore::audit_connection`].
    shared: Arc<Shared>,
    /// `host:port/dbname`, for messages; never the password.
    target: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

enum Op {
    Migrate,
    Ping,
    Load,
    Put {
        kind: Kind,
        key: String,
        json: String,
    },
    Delete {
        kind: Kind,
        key: String,
    },
    PutIfAbsent {
        kind: Kind,
        key: String,
        json: String,
    },
    Get {
        kind: Kind,
        key: String,
    },
    LatestChange,
    ChangesSince(u64),
    Append(Vec<AuditRow>),
    Query(AuditFilter),
}

enum Reply {
    Done,
    Inserted(bool),
    Value(Option<String>),
    Seq(u64),
    Page(ChangePage),
    Snapshot(Snapshot),
    Audit(Vec<AuditRow>),
}

struct Job {
    op: Op,
    deadline: Instant,
    reply: std_mpsc::SyncSender<Result<Reply, StoreError>>,
}

/// What every connection task needs.
struct Shared {
    config: Config,
    options: PgOptions,
    target: String,
}

impl Shared {
    /// Longest any one operation may take: connecting, then running.
    fn call_timeout(&self) -> Duration {
        self.options.connect_timeout + self.options.statement_timeout
    }
}

impl PgStore {
    /// Connects to the database named by `url` (`postgres://user:pass@host:port/db` or the
    /// `key=value` form), applies migrations, and starts the worker.
    ///
    /// Fails with [`StoreError::Unavailable`] within `connect_timeout + statement_timeout` if the
    /// database cannot be reached; afterwards, calls reconnect by themselves. Migrations alone may
    /// take longer (up to 15 minutes), since one may build indexes over a large audit table.
    pub fn open(url: &str, options: PgOptions) -> Result<Self, StoreError> {
        let mut config: Config = url
            .parse()
            .map_err(|e| StoreError::Database(format!("invalid PostgreSQL URL: {e}")))?;
        if let Some(schema) = &options.schema
            && !valid_schema(schema)
        {
            return Err(StoreError::Database(format!(
                "invalid schema name `{schema}`: use ASCII letters, digits and `_`"
            )));
        }
        config.connect_timeout(options.connect_timeout);
        config.keepalives_idle(Duration::from_secs(30));
        config.tcp_user_timeout(options.statement_timeout);
        if config.get_application_name().is_none() {
            config.application_name("keyless");
        }
        let target = describe(&config);
        let mut options = options;
        options.connections = options.connections.max(1);
        let (jobs, rx) = mpsc::channel(options.queue.max(1));
        let shared = Arc::new(Shared {
            config,
            options,
            target: target.clone(),
        });
        let for_worker = shared.clone();
        std::thread::Builder::new()
            .name("keyless-pg".into())
            .spawn(move || worker(for_worker, rx))
            .map_err(|e| StoreError::Unavailable(format!("cannot start database worker: {e}")))?;
        let store = Self {
            jobs,
            shared,
            target,
        };
        store.call_within(
            Op::Migrate,
            store.shared.call_timeout().max(MIGRATION_TIMEOUT),
        )?;
        Ok(store)
    }

    /// A connection of the audit writer's own (see [`PgAuditConnection`]); it connects on
    /// first use, so this does not touch the database.
    pub fn audit_connection(&self) -> Result<PgAuditConnection, StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start a PostgreSQL runtime: {e}"))
            })?;
        Ok(PgAuditConnection {
            conn: None,
            shared: self.shared.clone(),
            runtime,
        })
    }

    /// Checks that the database answers, for readiness probes.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.call(Op::Ping).map(|_| ())
    }

    fn call(&self, op: Op) -> Result<Reply, StoreError> {
        self.call_within(op, self.shared.call_timeout())
    }

    fn call_within(&self, op: Op, timeout: Duration) -> Result<Reply, StoreError> {
        let deadline = Instant::now() + timeout;
        let (reply, answer) = std_mpsc::sync_channel(1);
        self.jobs
            .try_send(Job {
                op,
                deadline,
                reply,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => StoreError::Unavailable(format!(
                    "too many operations waiting for PostgreSQL at {}",
                    self.target
                )),
                mpsc::error::TrySendError::Closed(_) => {
                    StoreError::Unavailable("the PostgreSQL worker has stopped".into())
                }
            })?;
        answer.recv_timeout(timeout + GRACE).map_err(|_| {
            StoreError::Unavailable(format!(
                "PostgreSQL at {} did not answer within {timeout:?}",
                self.target
            ))
        })?
    }
}

impl Store for PgStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        match self.call(Op::Load)? {
            Reply::Snapshot(s) => Ok(s),
            _ => Err(unexpected()),
        }
    }

    fn put(&self, kind: Kind, key: &str, json: &str) -> Result<(), StoreError> {
        self.call(Op::Put {
            kind,
            key: key.to_owned(),
            json: json.to_owned(),
        })
        .map(|_| ())
    }

    fn delete(&self, kind: Kind, key: &str) -> Result<(), StoreError> {
        self.call(Op::Delete {
            kind,
            key: key.to_owned(),
        })
        .map(|_| ())
    }

    fn append_audit(&self, rows: &[AuditRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        self.call(Op::Append(rows.to_vec())).map(|_| ())
    }

    fn put_if_absent(&self, kind: Kind, key: &str, json: &str) -> Result<bool, StoreError> {
        match self.call(Op::PutIfAbsent {
            kind,
            key: key.to_owned(),
            json: json.to_owned(),
        })? {
            Reply::Inserted(b) => Ok(b),
            _ => Err(unexpected()),
        }
    }

    fn get(&self, kind: Kind, key: &str) -> Result<Option<String>, StoreError> {
        match self.call(Op::Get {
            kind,
            key: key.to_owned(),
        })? {
            Reply::Value(v) => Ok(v),
            _ => Err(unexpected()),
        }
    }

    fn latest_change(&self) -> Result<u64, StoreError> {
        match self.call(Op::LatestChange)? {
            Reply::Seq(s) => Ok(s),
            _ => Err(unexpected()),
        }
    }

    fn changes_since(&self, since: u64) -> Result<ChangePage, StoreError> {
        match self.call(Op::ChangesSince(since))? {
            Reply::Page(p) => Ok(p),
            _ => Err(unexpected()),
        }
    }

    fn query_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
        match self.call(Op::Query(filter.clone()))? {
            Reply::Audit(rows) => Ok(rows),
            _ => Err(unexpected()),
        }
    }
}

/// PostgreSQL text cannot hold U+0000, which a caller-chosen value (a token's `sub`) may carry:
/// it becomes U+FFFD, so one odd value can never make a batch of audit records unstorable.
fn no_nul(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

fn unexpected() -> StoreError {
    StoreError::Database("internal error in the PostgreSQL worker".into())
}

fn valid_schema(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !s.as_bytes().first().is_some_and(u8::is_ascii_digit)
}

/// `host:port/dbname` without credentials.
fn describe(config: &Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{db}")
}

/// The worker thread: one current-thread runtime driving `connections` tasks that share the queue.
fn worker(shared: Arc<Shared>, rx: mpsc::Receiver<Job>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let mut rx = rx;
            while let Some(job) = rx.blocking_recv() {
                let _ = job.reply.try_send(Err(StoreError::Unavailable(format!(
                    "cannot start the PostgreSQL runtime: {e}"
                ))));
            }
            return;
        }
    };
    let rx = Arc::new(AsyncMutex::new(rx));
    runtime.block_on(async move {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..shared.options.connections {
            tasks.spawn(connection_task(shared.clone(), rx.clone()));
        }
        while tasks.join_next().await.is_some() {}
    });
}

/// One open connection and the task that drives it; dropping it closes the socket.
struct Conn {
    client: Client,
    driver: tokio::task::JoinHandle<()>,
    stmts: Option<Stmts>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Statements prepared once per connection (after migrations, since they name the tables).
struct Stmts {
    load: Statement,
    put: Statement,
    delete: Statement,
    /// Plain insert of a batch: the common case, no record of it stored yet.
    append: Statement,
    /// The same, skipping records already stored (by `requestID`): for a batch whose plain insert
    /// hit one.
    append_once: Statement,
    put_if_absent: Statement,
    get: Statement,
    feed_lock: Statement,
    record: Statement,
    changes: Statement,
    mark: Statement,
}

async fn connection_task(shared: Arc<Shared>, rx: Arc<AsyncMutex<mpsc::Receiver<Job>>>) {
    let mut conn: Option<Conn> = None;
    loop {
        let job = {
            let mut guard = rx.lock().await;
            guard.recv().await
        };
        let Some(job) = job else { break };
        let result = if Instant::now() >= job.deadline {
            Err(StoreError::Unavailable(format!(
                "no PostgreSQL connection to {} became free in time",
                shared.target
            )))
        } else {
            run_by(&shared, &mut conn, &job.op, job.deadline).await
        };
        let _ = job.reply.try_send(result);
    }
}

/// [`run`], giving up at `deadline`.
async fn run_by(
    shared: &Shared,
    slot: &mut Option<Conn>,
    op: &Op,
    deadline: Instant,
) -> Result<Reply, StoreError> {
    let deadline = tokio::time::Instant::from_std(deadline);
    match tokio::time::timeout_at(deadline, run(shared, slot, op)).await {
        Ok(r) => r,
        Err(_) => {
            // The connection may be stuck mid-statement: never reuse it.
            *slot = None;
            Err(StoreError::Unavailable(format!(
                "PostgreSQL at {} did not answer in time",
                shared.target
            )))
        }
    }
}

/// A connection of its own for the audit writer, driven by the calling thread.
///
/// Why: a batch handed to the store's worker thread costs two more thread wake-ups on the way
/// to the database and back, and on busy cores each wake-up waited 0.4 ms on average for a core
/// (`perf sched` under load), a large part of a commit's 1–1.5 ms. Every request waits for its
/// batch's commit, so that wait bounds the node's throughput (BENCHMARKS.md, session F).
pub struct PgAuditConnection {
    // Dropped before the runtime, which drives its socket.
    conn: Option<Conn>,
    shared: Arc<Shared>,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for PgAuditConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgAuditConnection")
            .field("target", &self.shared.target)
            .finish_non_exhaustive()
    }
}

impl PgAuditConnection {
    /// [`Store::append_audit`] on this connection, opened (again) when needed, giving up after
    /// `within` (at most the store's usual bound): the audit writer spools a batch PostgreSQL
    /// cannot take quickly instead of holding every waiting request. A batch given up on may
    /// still commit; moving its spooled copy later adds nothing, since PostgreSQL keeps one
    /// record per `requestID`. Blocks the calling thread, which must not be a tokio worker.
    pub fn append_within(&mut self, rows: &[AuditRow], within: Duration) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let deadline = Instant::now() + within.min(self.shared.call_timeout());
        let op = Op::Append(rows.to_vec());
        let (shared, slot) = (&self.shared, &mut self.conn);
        self.runtime
            .block_on(async {
                // The runtime runs only inside these calls, so a connection the server closed
                // meanwhile is not known to be closed yet. Yielding lets the runtime poll its
                // sockets and the connection's driver see the end, so `run` opens a new one
                // instead of sending the batch into a dead socket (which leaves its fate
                // unknown and fails the batch).
                tokio::task::yield_now().await;
                tokio::task::yield_now().await;
                run_by(shared, slot, &op, deadline).await
            })
            .map(|_| ())
    }
}

/// A failed attempt.
enum Failure {
    /// The database or the connection failed.
    Pg {
        error: tokio_postgres::Error,
        /// Whether the operation may have taken effect anyway (a failed COMMIT).
        maybe_applied: bool,
    },
    /// Something keyless itself rejects (a corrupt row, a newer schema).
    Store(StoreError),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(error: tokio_postgres::Error) -> Self {
        Failure::Pg {
            error,
            maybe_applied: false,
        }
    }
}

/// Whether the error means the connection is unusable (so it is dropped and reopened).
fn connection_lost(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        return code.code().starts_with("08")
            || *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CRASH_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW;
    }
    std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

/// Maps a database failure to the store's error: anything meaning "not reachable or not now" is
/// `Unavailable`, so callers can answer `ServiceUnavailable` and retry later.
fn classify(shared: &Shared, error: &tokio_postgres::Error, maybe_applied: bool) -> StoreError {
    let unknown = if maybe_applied {
        " (the write may or may not have been committed)"
    } else {
        ""
    };
    if connection_lost(error) {
        return StoreError::Unavailable(format!(
            "lost the connection to PostgreSQL at {}: {error}{unknown}",
            shared.target
        ));
    }
    match error.as_db_error() {
        Some(db) => {
            let code = db.code();
            let text = format!("{} ({}){unknown}", db.message(), code.code());
            if *code == SqlState::QUERY_CANCELED || *code == SqlState::LOCK_NOT_AVAILABLE {
                StoreError::Unavailable(format!(
                    "PostgreSQL at {} did not finish in time: {text}",
                    shared.target
                ))
            } else if code.code().starts_with("53") || code.code().starts_with("57") {
                StoreError::Unavailable(format!("PostgreSQL at {}: {text}", shared.target))
            } else {
                StoreError::Database(text)
            }
        }
        None => StoreError::Database(format!("{error}{unknown}")),
    }
}

/// Runs `op`, reconnecting first if needed, and retrying once on a fresh connection when a
/// reused connection turned out to be dead and the operation surely did not take effect.
async fn run(shared: &Shared, slot: &mut Option<Conn>, op: &Op) -> Result<Reply, StoreError> {
    let mut retried = false;
    loop {
        let reused = slot.as_ref().is_some_and(|c| !c.client.is_closed());
        if !reused {
            *slot = None;
            *slot = Some(connect(shared).await?);
        }
        let Some(conn) = slot.as_mut() else {
            return Err(unexpected());
        };
        match execute(shared, conn, op).await {
            Ok(reply) => return Ok(reply),
            Err(Failure::Store(e)) => return Err(e),
            Err(Failure::Pg {
                error,
                maybe_applied,
            }) => {
                let lost = connection_lost(&error);
                if lost {
                    *slot = None;
                }
                if lost && reused && !retried && !maybe_applied {
                    retried = true;
                    continue;
                }
                return Err(classify(shared, &error, maybe_applied));
            }
        }
    }
}

async fn connect(shared: &Shared) -> Result<Conn, StoreError> {
    let unavailable = |e: &dyn std::fmt::Display| {
        StoreError::Unavailable(format!(
            "cannot connect to PostgreSQL at {}: {e}",
            shared.target
        ))
    };
    let connecting = shared.config.connect(NoTls);
    let (client, connection) =
        match tokio::time::timeout(shared.options.connect_timeout, connecting).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => return Err(unavailable(&e)),
            Err(_) => {
                return Err(unavailable(&format_args!(
                    "no answer within {:?}",
                    shared.options.connect_timeout
                )));
            }
        };
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let conn = Conn {
        client,
        driver,
        stmts: None,
    };
    let ms = shared.options.statement_timeout.as_millis().max(1);
    let mut setup = format!(
        "SET statement_timeout = {ms}; SET lock_timeout = {ms}; \
         SET idle_in_transaction_session_timeout = {ms}; SET synchronous_commit = on;"
    );
    if let Some(schema) = &shared.options.schema {
        setup.push_str(&format!(" SET search_path TO \"{schema}\";"));
    }
    conn.client
        .batch_execute(&setup)
        .await
        .map_err(|e| unavailable(&e))?;
    Ok(conn)
}

/// The audit columns a node writes (`id` is generated), and the rows of a batch for them: one
/// array per column, so a batch of any size is one prepared statement.
const AUDIT_COLUMNS: &str = "time, session_name, subject, denied, record, request_id";
const AUDIT_ROWS: &str = "SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], \
                          $4::BOOLEAN[], $5::TEXT[], $6::TEXT[])";

async fn prepare(client: &Client) -> Result<Stmts, tokio_postgres::Error> {
    Ok(Stmts {
        load: client
            .prepare("SELECT kind, key, value FROM entities ORDER BY kind, key")
            .await?,
        put: client
            .prepare(
                "INSERT INTO entities (kind, key, value) VALUES ($1, $2, $3)
                 ON CONFLICT (kind, key) DO UPDATE SET value = EXCLUDED.value",
            )
            .await?,
        delete: client
            .prepare("DELETE FROM entities WHERE kind = $1 AND key = $2")
            .await?,
        append: client
            .prepare(&format!("INSERT INTO audit ({AUDIT_COLUMNS}) {AUDIT_ROWS}"))
            .await?,
        append_once: client
            .prepare(&format!(
                "INSERT INTO audit ({AUDIT_COLUMNS}) {AUDIT_ROWS}
                 ON CONFLICT (request_id) DO NOTHING"
            ))
            .await?,
        put_if_absent: client
            .prepare(
                "INSERT INTO entities (kind, key, value) VALUES ($1, $2, $3)
                 ON CONFLICT (kind, key) DO NOTHING",
            )
            .await?,
        get: client
            .prepare("SELECT value FROM entities WHERE kind = $1 AND key = $2")
            .await?,
        feed_lock: client
            .prepare("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .await?,
        record: client
            .prepare("INSERT INTO changes (kind, key) VALUES ($1, $2) RETURNING seq")
            .await?,
        changes: client
            .prepare("SELECT seq, kind, key FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2")
            .await?,
        // Read after the rows: a pruning in between then shows as a (harmless) gap rather than
        // hiding lost rows.
        mark: client
            .prepare(
                "SELECT through, (SELECT COALESCE(MAX(seq), 0) FROM changes)
                 FROM changes_pruned WHERE id = 1",
            )
            .await?,
    })
}

async fn execute(shared: &Shared, conn: &mut Conn, op: &Op) -> Result<Reply, Failure> {
    if let Op::Migrate = op {
        return migrate(shared, &mut conn.client)
            .await
            .map(|()| Reply::Done);
    }
    if let Op::Ping = op {
        conn.client.simple_query("SELECT 1").await?;
        return Ok(Reply::Done);
    }
    if conn.stmts.is_none() {
        conn.stmts = Some(prepare(&conn.client).await?);
    }
    let (Some(stmts), client) = (conn.stmts.as_ref(), &mut conn.client) else {
        return Err(Failure::Store(unexpected()));
    };
    match op {
        Op::Migrate | Op::Ping => Ok(Reply::Done),
        Op::Load => {
            let rows = client.query(&stmts.load, &[]).await?;
            let mut snapshot = Snapshot::default();
            for row in rows {
                let kind: String = row.try_get(0)?;
                let key: String = row.try_get(1)?;
                let value: String = row.try_get(2)?;
                let Some(parsed) = Kind::parse(&kind) else {
                    return Err(Failure::Store(StoreError::Corrupt {
                        kind: "unknown",
                        reason: format!("unknown kind `{kind}`"),
                        key,
                    }));
                };
                snapshot.entities.push((parsed, key, value));
            }
            Ok(Reply::Snapshot(snapshot))
        }
        Op::Put { kind, key, json } => {
            let schema = lock_name(shared);
            let tx = client.transaction().await?;
            tx.execute(&stmts.feed_lock, &[&FEED_LOCK_CLASS, &schema])
                .await?;
            tx.execute(&stmts.put, &[&kind.as_str(), key, json]).await?;
            record_change(&tx, stmts, *kind, key).await?;
            commit(tx).await?;
            Ok(Reply::Done)
        }
        Op::Delete { kind, key } => {
            let schema = lock_name(shared);
            let tx = client.transaction().await?;
            tx.execute(&stmts.feed_lock, &[&FEED_LOCK_CLASS, &schema])
                .await?;
            let n = tx.execute(&stmts.delete, &[&kind.as_str(), key]).await?;
            if n > 0 {
                record_change(&tx, stmts, *kind, key).await?;
            }
            commit(tx).await?;
            Ok(Reply::Done)
        }
        Op::PutIfAbsent { kind, key, json } => {
            let schema = lock_name(shared);
            let tx = client.transaction().await?;
            tx.execute(&stmts.feed_lock, &[&FEED_LOCK_CLASS, &schema])
                .await?;
            let n = tx
                .execute(&stmts.put_if_absent, &[&kind.as_str(), key, json])
                .await?;
            if n > 0 {
                record_change(&tx, stmts, *kind, key).await?;
            }
            commit(tx).await?;
            Ok(Reply::Inserted(n > 0))
        }
        Op::Get { kind, key } => {
            let row = client.query_opt(&stmts.get, &[&kind.as_str(), key]).await?;
            Ok(Reply::Value(match row {
                Some(r) => Some(r.try_get(0)?),
                None => None,
            }))
        }
        Op::LatestChange => {
            let row = client.query_one(&stmts.mark, &[]).await?;
            let through: i64 = row.try_get(0)?;
            let latest: i64 = row.try_get(1)?;
            Ok(Reply::Seq(u64::try_from(through.max(latest)).unwrap_or(0)))
        }
        Op::ChangesSince(since) => changes_since(client, stmts, *since).await,
        Op::Append(rows) => {
            // INVARIANT: a record is stored at most once per `requestID`; the unique index
            // guarantees it either way. The batch is first inserted plainly, and redone with
            // `ON CONFLICT DO NOTHING` only when it meets a stored record (rare: a batch moved
            // again from the spool), since that clause costs PostgreSQL about as much per row as
            // the insert itself (it probes the index, inserts speculatively, then confirms).
            //
            // Either is a single statement outside any explicit transaction, so PostgreSQL runs
            // it as a transaction of its own and commits it (synchronously) before it answers:
            // all or nothing. An error PostgreSQL reports means the statement was rolled back;
            // a lost connection leaves the outcome unknown.
            let unknown_if_lost = |error: tokio_postgres::Error| Failure::Pg {
                maybe_applied: error.as_db_error().is_none(),
                error,
            };
            match insert_audit(client, &stmts.append, rows).await {
                Ok(()) => {}
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    insert_audit(client, &stmts.append_once, rows)
                        .await
                        .map_err(unknown_if_lost)?;
                }
                Err(e) => return Err(unknown_if_lost(e)),
            }
            Ok(Reply::Done)
        }
        Op::Query(filter) => query_audit(client, filter).await,
    }
}

/// Inserts a batch with `insert` ([`Stmts::append`] or [`Stmts::append_once`]).
///
/// A binary `COPY` of the batch was measured against this (BENCHMARKS.md, "Session E"):
/// PostgreSQL's CPU per record came out the same, and `COPY` takes a second round trip.
async fn insert_audit(
    client: &Client,
    insert: &Statement,
    rows: &[AuditRow],
) -> Result<(), tokio_postgres::Error> {
    let times: Vec<i64> = rows
        .iter()
        .map(|r| i64::try_from(r.time).unwrap_or(i64::MAX))
        .collect();
    let sessions: Vec<Option<Cow<'_, str>>> = rows
        .iter()
        .map(|r| r.session_name.as_deref().map(no_nul))
        .collect();
    let subjects: Vec<Option<Cow<'_, str>>> = rows
        .iter()
        .map(|r| r.subject.as_deref().map(no_nul))
        .collect();
    let denied: Vec<bool> = rows.iter().map(|r| r.denied).collect();
    let records: Vec<Cow<'_, str>> = rows.iter().map(|r| no_nul(&r.record)).collect();
    let request_ids: Vec<Option<&str>> = rows
        .iter()
        .map(|r| crate::spool::request_id(&r.record))
        .collect();
    let params: [&(dyn ToSql + Sync); 6] = [
        &times,
        &sessions,
        &subjects,
        &denied,
        &records,
        &request_ids,
    ];
    client.execute(insert, &params).await.map(|_| ())
}

/// The second part of the feed lock: the schema, as for migrations.
fn lock_name(shared: &Shared) -> String {
    shared.options.schema.clone().unwrap_or_default()
}

/// Commits; only a failed COMMIT leaves the outcome unknown.
async fn commit(tx: tokio_postgres::Transaction<'_>) -> Result<(), Failure> {
    tx.commit().await.map_err(|error| Failure::Pg {
        error,
        maybe_applied: true,
    })
}

/// Appends (kind, key) to the feed inside the writing transaction (which holds the feed lock),
/// and now and then prunes the feed to its last [`CHANGES_KEPT`] entries.
async fn record_change(
    tx: &tokio_postgres::Transaction<'_>,
    stmts: &Stmts,
    kind: Kind,
    key: &str,
) -> Result<(), Failure> {
    let seq: i64 = tx
        .query_one(&stmts.record, &[&kind.as_str(), &key])
        .await?
        .try_get(0)?;
    let seq = u64::try_from(seq).unwrap_or(0);
    if seq % PRUNE_EVERY == 0 && seq > CHANGES_KEPT {
        let through = i64::try_from(seq - CHANGES_KEPT).unwrap_or(0);
        tx.execute("DELETE FROM changes WHERE seq <= $1", &[&through])
            .await?;
        tx.execute(
            "UPDATE changes_pruned SET through = GREATEST(through, $1) WHERE id = 1",
            &[&through],
        )
        .await?;
    }
    Ok(())
}

async fn changes_since(client: &Client, stmts: &Stmts, since: u64) -> Result<Reply, Failure> {
    let since_i = i64::try_from(since).unwrap_or(i64::MAX);
    let limit = i64::try_from(CHANGE_PAGE).unwrap_or(i64::MAX);
    let rows = client
        .query(&stmts.changes, &[&since_i, &(limit + 1)])
        .await?;
    let mark = client.query_one(&stmts.mark, &[]).await?;
    let through: i64 = mark.try_get(0)?;
    let latest: i64 = mark.try_get::<_, i64>(1)?.max(through);
    let mut page = ChangePage {
        next: since,
        gap: since_i < through,
        ..ChangePage::default()
    };
    if since_i > latest {
        // The feed went backwards (the database was replaced): start over from its end.
        page.next = u64::try_from(latest).unwrap_or(0);
        page.gap = true;
        return Ok(Reply::Page(page));
    }
    for row in rows {
        if page.changes.len() >= CHANGE_PAGE {
            page.more = true;
            break;
        }
        let seq: i64 = row.try_get(0)?;
        let kind: String = row.try_get(1)?;
        let key: String = row.try_get(2)?;
        let Some(kind) = Kind::parse(&kind) else {
            return Err(Failure::Store(StoreError::Corrupt {
                kind: "unknown",
                reason: format!("unknown kind `{kind}` in the change feed"),
                key,
            }));
        };
        let seq = u64::try_from(seq).unwrap_or(0);
        page.next = seq;
        page.changes.push(Change { seq, kind, key });
    }
    Ok(Reply::Page(page))
}

/// The statement behind `query_audit` and its parameters, apart so tests can check its plan.
struct AuditQuery<'a> {
    sql: String,
    session_name: Option<Cow<'a, str>>,
    subject: Option<Cow<'a, str>>,
    since: Option<i64>,
    limit: i64,
}

impl<'a> AuditQuery<'a> {
    fn new(filter: &'a AuditFilter) -> Self {
        // Stored values had U+0000 replaced (see `no_nul`); a filter naming one finds them.
        let mut q = AuditQuery {
            sql: String::from(
                "SELECT time, session_name, subject, denied, record FROM audit WHERE TRUE",
            ),
            session_name: filter.session_name.as_deref().map(no_nul),
            subject: filter.subject.as_deref().map(no_nul),
            since: filter.since.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
            limit: filter
                .limit
                .map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX)),
        };
        // Placeholders are numbered in the order `params` lists the values.
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        // `COLLATE "C"` as in the indexes (migration 4), or the planner cannot use them; the
        // same rows match, equality being byte equality in any deterministic collation.
        if q.session_name.is_some() {
            q.sql
                .push_str(&format!(" AND session_name COLLATE \"C\" = ${}", next()));
        }
        if q.subject.is_some() {
            q.sql
                .push_str(&format!(" AND subject COLLATE \"C\" = ${}", next()));
        }
        if filter.denied_only {
            q.sql.push_str(" AND denied");
        }
        if q.since.is_some() {
            q.sql.push_str(&format!(" AND time >= ${}", next()));
        }
        q.sql
            .push_str(&format!(" ORDER BY id DESC LIMIT ${}", next()));
        q
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
        if let Some(s) = &self.session_name {
            params.push(s);
        }
        if let Some(s) = &self.subject {
            params.push(s);
        }
        if let Some(s) = &self.since {
            params.push(s);
        }
        params.push(&self.limit);
        params
    }
}

async fn query_audit(client: &Client, filter: &AuditFilter) -> Result<Reply, Failure> {
    let q = AuditQuery::new(filter);
    let rows = client.query(&q.sql, &q.params()).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows.iter().rev() {
        out.push(AuditRow {
            time: u64::try_from(row.try_get::<_, i64>(0)?).unwrap_or(0),
            session_name: row.try_get(1)?,
            subject: row.try_get(2)?,
            denied: row.try_get(3)?,
            record: row.try_get(4)?,
        });
    }
    Ok(Reply::Audit(out))
}

/// Applies missing migrations. Several nodes may start at once: the transaction-scoped advisory
/// lock makes them take turns, and each sees what the previous one committed.
async fn migrate(shared: &Shared, client: &mut Client) -> Result<(), Failure> {
    let schema = shared.options.schema.as_deref();
    let tx = client.transaction().await?;
    // Waiting for another node's migration, or building an index, may take longer than one
    // operation may; the job's deadline is MIGRATION_TIMEOUT too.
    let ms = MIGRATION_TIMEOUT
        .max(shared.options.statement_timeout)
        .as_millis();
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = {ms}; SET LOCAL lock_timeout = {ms};"
    ))
    .await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&MIGRATION_LOCK_CLASS, &schema.unwrap_or("")],
    )
    .await?;
    if let Some(schema) = schema {
        let exists = tx
            .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
            .await?
            .is_some();
        if !exists {
            tx.batch_execute(&format!("CREATE SCHEMA \"{schema}\""))
                .await?;
        }
        // Re-resolve the search path now that the schema exists.
        tx.batch_execute(&format!("SET LOCAL search_path TO \"{schema}\""))
            .await?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
            version INTEGER PRIMARY KEY,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )
    .await?;
    let current: i32 = tx
        .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
        .await?
        .try_get(0)?;
    let known = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
    if current > known {
        return Err(Failure::Store(StoreError::Database(format!(
            "the database schema is at version {current}, newer than this keyless knows ({known}): \
             upgrade keyless"
        ))));
    }
    for (version, sql) in (1..)
        .zip(MIGRATIONS.iter())
        .skip(usize::try_from(current).unwrap_or(0))
    {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&version],
        )
        .await?;
    }
    tx.commit().await.map_err(|error| Failure::Pg {
        error,
        maybe_applied: true,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::testing::{TestSchema, URL_VAR};

    /// The plan PostgreSQL picks for `query_audit`'s statement on `schema`.
    fn plan(schema: &TestSchema, filter: &AuditFilter) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, connection) = tokio_postgres::connect(schema.url(), NoTls).await.unwrap();
            let driver = tokio::spawn(connection);
            client
                .batch_execute(&format!("SET search_path TO \"{}\"", schema.name()))
                .await
                .unwrap();
            let q = AuditQuery::new(filter);
            let rows = client
                .query(&format!("EXPLAIN {}", q.sql), &q.params())
                .await
                .unwrap();
            drop(client);
            let _ = driver.await;
            rows.iter()
                .map(|r| r.get::<_, String>(0))
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    /// Each `keyless audit` filter can use its index on a large table (the query has to name the
    /// indexes' collation for that), so none reads the whole table.
    #[test]
    fn audit_filters_use_the_indexes() {
        let Some(schema) = TestSchema::from_env() else {
            eprintln!("skipped: {URL_VAR} is not set");
            return;
        };
        drop(schema.open().unwrap());
        // 200,000 records, one session per four, 97 subjects, one in a hundred refused; the
        // last second's are about one in a thousand.
        schema
            .scalar(
                "INSERT INTO audit (time, session_name, subject, denied, record, request_id)
                 SELECT 1000000 + g / 200, 'gha-' || g / 4, 'repo:acme/app-' || g % 97,
                        g % 100 = 0, '{}', 'r-' || g
                 FROM generate_series(1, 200000) g;
                 ANALYZE audit",
            )
            .unwrap();
        let cases = [
            (
                AuditFilter {
                    session_name: Some("gha-4242".into()),
                    ..Default::default()
                },
                "audit_session",
            ),
            (
                AuditFilter {
                    subject: Some("repo:acme/app-7".into()),
                    denied_only: true,
                    ..Default::default()
                },
                "audit_subject",
            ),
            (
                AuditFilter {
                    since: Some(1000999),
                    ..Default::default()
                },
                "audit_time",
            ),
        ];
        for (filter, index) in cases {
            let plan = plan(&schema, &filter);
            assert!(plan.contains(index), "{filter:?}:\n{plan}");
            assert!(!plan.contains("Seq Scan"), "{filter:?}:\n{plan}");
        }
        // The newest few: the primary key, read backwards.
        let plan = plan(
            &schema,
            &AuditFilter {
                limit: Some(20),
                ..Default::default()
            },
        );
        assert!(plan.contains("Index Scan Backward"), "{plan}");
    }
}
