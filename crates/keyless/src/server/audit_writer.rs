//! Group commit for audit records: handlers hand a record over and wait until it is committed;
//! a writer thread commits everything that queued up meanwhile in a single transaction, so
//! durability costs one commit per batch, not per request.
//!
//! One writer, on either store: the records that arrive while a commit is under way make the
//! next batch, and batches are committed (and written as JSON lines) in order. On PostgreSQL two
//! writers taking turns, so that one batch is sent while the other waits for its commit, gained
//! nothing measurable (BENCHMARKS.md, sessions E and F: the batches halve, the commits double).
//! On PostgreSQL the writer drives a connection of its own ([`PgAuditConnection`]) rather than
//! handing each batch to the store's worker thread: every request waits for its batch's commit,
//! and on busy cores the two extra thread wake-ups cost more than the commit.
//!
//! # The spool (nodes on PostgreSQL)
//!
//! A call is acknowledged only once its record is durable, so with the shared database down every
//! call would fail. A node on PostgreSQL therefore has a local spool (`<--data>/audit-spool.db`,
//! SQLite with `synchronous=FULL`, see [`keyless_store::AuditSpool`]):
//!
//! - While the spool is empty, a batch goes to PostgreSQL, waiting at most [`PRIMARY_WAIT`] —
//!   exactly as without a spool, one round trip per batch. If PostgreSQL fails or does not answer
//!   in time, the batch is committed to the spool instead and acknowledged.
//! - While the spool holds anything, every new batch goes to the spool too (behind the older
//!   records, so each node's records reach PostgreSQL in the order they were acknowledged, and a
//!   down database costs no wait per batch).
//! - A drain thread moves spooled records to PostgreSQL, oldest first, up to [`MAX_BATCH`] per
//!   transaction, and deletes a moved chunk from the spool only after PostgreSQL committed it;
//!   while PostgreSQL fails it tries again every [`DRAIN_RETRY`]. When it finds the spool empty
//!   (checked under the same lock the writer spools under), new batches go to PostgreSQL again.
//! - A node starting with a non-empty spool (left by a crash or an outage at shutdown) drains it
//!   first.
//! - A record PostgreSQL refuses for good (an error other than "unavailable", which no retry
//!   cures) must not wedge the drain: the chunk is then moved record by record and a refused
//!   record is set aside in the spool file's `rejected` table, logged at error level. None is
//!   known (values PostgreSQL text cannot hold are replaced by the store); this is the fuse.
//!
//! **Exactly once.** Two windows could store a record twice: a crash after PostgreSQL committed a
//! moved chunk but before the spool deleted it, and a batch given up on after [`PRIMARY_WAIT`]
//! whose commit went through anyway. PostgreSQL has a unique index on the record's `requestID`,
//! and a batch that meets a stored one is inserted again with `ON CONFLICT DO NOTHING`, so the
//! second copy is dropped, whichever comes first. Every acknowledged record is therefore in PostgreSQL exactly once once the spool is
//! drained. If the spool cannot be written either, the batch's calls get `ServiceUnavailable`.

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicIsize, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use keyless_core::Store;
use keyless_core::store::{AuditRow, StoreError};
use keyless_store::{AuditSpool, PgAuditConnection};
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{mpsc, oneshot};

use super::connections::OpenConnections;

/// A record count as a gauge step.
fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Longest wait for PostgreSQL to commit one batch before it goes to the spool.
pub const PRIMARY_WAIT: Duration = Duration::from_secs(2);

/// Pause between attempts to move spooled records while PostgreSQL keeps failing.
pub const DRAIN_RETRY: Duration = Duration::from_millis(500);

type Ack = oneshot::Sender<Result<(), String>>;

/// Largest batch committed at once.
const MAX_BATCH: usize = 1024;

/// Longest a writer gathers records for one commit. A commit writes whole pages (table,
/// indexes) whatever the number of rows in it — with a few rows per commit that is several
/// kilobytes of WAL per request — so under load gathering for up to a millisecond makes each
/// commit serve tens of requests.
///
/// The writer gathers while some call is still being computed (it will hand over a record
/// soon, see [`AuditWriter::begin`]), and a busy writer also while a connection could still
/// send one (see [`GATHER_TO`]): once every call that can come waits for this commit,
/// waiting longer only leaves the cores idle, so the commit starts at once. A single client
/// therefore never waits, and a server whose clients all wait on audit commits runs commit
/// after commit instead of sleeping out a fixed delay.
const LINGER: Duration = Duration::from_millis(1);

/// Moves every queued record into `batch` (up to [`MAX_BATCH`]).
fn drain<T>(rx: &mut mpsc::Receiver<T>, batch: &mut Vec<T>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
}

/// Records a busy writer gathers before committing (within [`LINGER`]).
///
/// Why: a store's work per record falls steeply with the batch. SQLite rewrites the table's
/// last page and each index's last leaf in every commit, at two syscalls per WAL frame: 12 µs
/// per record in batches of 5, 9 µs in batches of 10, 7.7 µs in batches of 20, 5.6 µs in
/// batches of 50 (BENCHMARKS.md, session I); PostgreSQL flushes its WAL once per commit.
/// Waiting only until no call is being computed gave batches of about 10 under full load: with
/// two workers, that moment comes every few requests. Gathering bounded by the open
/// connections cut the SQLite writer's CPU per request by a quarter and made a node on
/// PostgreSQL 8 % faster (session I), where gathering up to a size regardless of them had made
/// the PostgreSQL node slower (session F).
const GATHER_TO: usize = 32;

/// A writer is busy, and gathers towards [`GATHER_TO`], when its previous batch held at least
/// this many records or this one starts with as many (they queued while the previous batch was
/// being committed). A writer that is not busy never waits for records: a lone client is
/// answered at once. Going by the previous batch too keeps a busy writer busy: after a large
/// batch, whose commit is over sooner per record, few records may have queued.
const BUSY_AT: usize = 4;

/// What the writer thread sleeps for, so that handlers wake it only when that has happened.
const AWAKE: u8 = 0;
/// Until no call is being computed.
const UNTIL_COMPUTED: u8 = 1;
/// Until [`Gather::short`] more records are queued.
const UNTIL_FILLED: u8 = 2;

/// What handlers and the writer thread share about the batch being gathered.
struct Gather {
    /// Calls begun and not yet handed over their record (see [`AuditWriter::begin`]).
    computing: AtomicUsize,
    /// [`AWAKE`], [`UNTIL_COMPUTED`] or [`UNTIL_FILLED`].
    phase: AtomicU8,
    /// While [`UNTIL_FILLED`]: records still wanted (goes below zero when more arrive).
    short: AtomicIsize,
    /// The writer thread, set once it runs.
    writer: OnceLock<std::thread::Thread>,
    /// The server's open connections, which bound how many more records can come (see
    /// [`more_may_come`]).
    connections: OpenConnections,
    /// Each batch's size, and whether gathering it ran out of time while filling.
    #[cfg(test)]
    batches: Mutex<Vec<(usize, bool)>>,
}

impl Gather {
    fn wake(&self) {
        if let Some(writer) = self.writer.get() {
            writer.unpark();
        }
    }
}

/// How many more records a busy writer holding `have` waits for: up to `gather_to`, but no more
/// than the open connections can still send. Each connection has at most one call in flight
/// (HTTP/1.1; an HTTP/2 connection with several only makes the writer stop sooner), and every
/// connection whose call is in the batch waits for its commit, so with `connections` at or below
/// `have` nothing else can come: the batch is committed instead of sleeping out [`LINGER`]
/// (eight clients would otherwise wait a millisecond per call). Idle keep-alive connections
/// count as possible senders, so they can make a busy writer wait, at most until [`LINGER`].
fn more_may_come(gather_to: usize, connections: usize, have: usize) -> usize {
    gather_to.min(connections).saturating_sub(have)
}

/// Gathers for up to [`LINGER`] after `since`: while calls are still being computed, and then,
/// for a `busy` writer (see [`BUSY_AT`]), while more records may come (see [`more_may_come`]).
/// Records queue up in the channel meanwhile; the thread sleeps until a handler wakes it (the
/// last call being computed hands over its record, or the record the batch waits for is queued)
/// or the bound passes. Returns whether filling the batch ran out of time.
fn gather<T>(
    rx: &mut mpsc::Receiver<T>,
    batch: &mut Vec<T>,
    since: std::time::Instant,
    g: &Gather,
    busy: bool,
) -> bool {
    let mut ran_out = false;
    g.phase.store(UNTIL_COMPUTED, Ordering::SeqCst);
    while g.computing.load(Ordering::SeqCst) > 0 {
        let Some(left) = LINGER.checked_sub(since.elapsed()) else {
            break;
        };
        // May return early (an unpark left over from an earlier call): the loop checks again.
        std::thread::park_timeout(left);
    }
    drain(rx, batch);
    if busy {
        loop {
            let wanted = more_may_come(GATHER_TO, g.connections.get(), batch.len());
            if wanted == 0 {
                break;
            }
            let Some(left) = LINGER.checked_sub(since.elapsed()) else {
                ran_out = true;
                break;
            };
            g.short.store(
                isize::try_from(wanted).unwrap_or(isize::MAX),
                Ordering::SeqCst,
            );
            g.phase.store(UNTIL_FILLED, Ordering::SeqCst);
            // Records queued before the phase changed were not counted down: take them first.
            let before = batch.len();
            drain(rx, batch);
            if batch.len() == before {
                std::thread::park_timeout(left);
                drain(rx, batch);
            }
        }
    }
    g.phase.store(AWAKE, Ordering::SeqCst);
    ran_out
}

/// Where audit records are also written as JSON lines.
pub enum JsonLines {
    /// Standard output.
    Stdout,
    /// A file, appended to.
    File(std::fs::File),
}

/// Handle to the writer thread.
#[derive(Clone)]
pub struct AuditWriter {
    tx: mpsc::Sender<(AuditRow, Ack)>,
    waiting: Gauge,
    gather: Arc<Gather>,
}

/// A call that will hand over an audit record (or end without one). While any exists, a busy
/// writer gathers records before committing; see [`LINGER`].
#[must_use = "a call counts as being computed until this is dropped or handed to `append`"]
pub struct Computing {
    gather: Arc<Gather>,
}

impl Drop for Computing {
    fn drop(&mut self) {
        let g = &self.gather;
        if g.computing.fetch_sub(1, Ordering::SeqCst) == 1
            && g.phase.load(Ordering::SeqCst) == UNTIL_COMPUTED
        {
            g.wake();
        }
    }
}

/// What the spooling writer needs of the shared database: a batch append that gives up after a
/// bound (PostgreSQL keeps one record per `requestID`, so appending a batch again adds nothing).
pub trait Primary: Send + Sync {
    /// Appends `rows` in one transaction, failing after at most `within`.
    fn append_within(&self, rows: &[AuditRow], within: Duration) -> Result<(), StoreError>;
}

/// The writer's own connection, shared with the drain thread (which moves records only while
/// the writer spools, so they hardly ever wait for each other).
impl Primary for Mutex<PgAuditConnection> {
    fn append_within(&self, rows: &[AuditRow], within: Duration) -> Result<(), StoreError> {
        self.lock()
            .map_err(|_| StoreError::Unavailable("audit connection lock poisoned".into()))?
            .append_within(rows, within)
    }
}

/// Where the writer commits.
enum Target {
    /// One store, nothing else (SQLite).
    Store(Arc<dyn Store>),
    /// PostgreSQL, with the local spool behind it.
    Spooled(Arc<Spooled>),
}

/// PostgreSQL and the spool, shared by the writer and the drain thread.
struct Spooled {
    primary: Arc<dyn Primary>,
    spool: AuditSpool,
    /// Whether the spool may hold records (new batches then go behind them). Held while
    /// spooling and while deciding the spool is empty, so no batch slips past older records.
    pending: Mutex<bool>,
    /// Wakes the drain thread when `pending` becomes true.
    wake: Condvar,
    /// How many records the spool holds (a metric).
    spooled: Gauge,
}

impl Spooled {
    fn pending(&self) -> Result<std::sync::MutexGuard<'_, bool>, String> {
        self.pending
            .lock()
            .map_err(|_| "audit spool lock poisoned".to_owned())
    }

    /// Commits one batch: to PostgreSQL when nothing is spooled and it answers in time, else
    /// to the spool.
    fn commit(&self, rows: &[AuditRow]) -> Result<(), String> {
        if !*self.pending()? {
            match self.primary.append_within(rows, PRIMARY_WAIT) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, records = rows.len(), "PostgreSQL did not take audit records; spooling them locally until it does");
                }
            }
        }
        let mut pending = self.pending()?;
        self.spool.push(rows).map_err(|e| {
            tracing::error!(error = %e, "the audit spool cannot take records either");
            e.to_string()
        })?;
        self.spooled.inc_by(count(rows.len()));
        if !*pending {
            *pending = true;
            self.wake.notify_one();
        }
        Ok(())
    }

    /// The drain thread: moves spooled records to PostgreSQL whenever there are any.
    fn drain_forever(&self) {
        loop {
            {
                let Ok(mut pending) = self.pending() else {
                    return;
                };
                while !*pending {
                    pending = match self.wake.wait(pending) {
                        Ok(g) => g,
                        Err(_) => return,
                    };
                }
            }
            match self.move_chunk() {
                Ok(0) => {
                    // Empty: decide under the lock the writer spools under.
                    if let Ok(mut pending) = self.pending()
                        && self.spool.is_empty().unwrap_or(false)
                    {
                        *pending = false;
                        tracing::info!("every spooled audit record is in PostgreSQL");
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "cannot move spooled audit records yet; retrying");
                    std::thread::sleep(DRAIN_RETRY);
                }
            }
        }
    }

    /// Moves the oldest chunk; returns how many records moved (0: the spool is empty).
    fn move_chunk(&self) -> Result<usize, StoreError> {
        let chunk = self.spool.peek(MAX_BATCH)?;
        let Some(last) = chunk.last().map(|(id, _)| *id) else {
            return Ok(0);
        };
        let rows: Vec<AuditRow> = chunk.iter().map(|(_, r)| r.clone()).collect();
        match self.primary.append_within(&rows, PRIMARY_WAIT) {
            Ok(()) => {}
            Err(StoreError::Unavailable(e)) => return Err(StoreError::Unavailable(e)),
            // Refused, not unreachable: one record the database will never take must not hold
            // up the others. Move them one by one and set the refused ones aside.
            Err(_) => return self.move_one_by_one(&chunk),
        }
        // A failure here leaves the chunk to be moved again: PostgreSQL drops the copies.
        self.spool.remove_through(last)?;
        self.spooled.dec_by(count(rows.len()));
        Ok(rows.len())
    }

    fn move_one_by_one(&self, chunk: &[(i64, AuditRow)]) -> Result<usize, StoreError> {
        for (id, row) in chunk {
            match self
                .primary
                .append_within(std::slice::from_ref(row), PRIMARY_WAIT)
            {
                Ok(()) => self.spool.remove_through(*id)?,
                Err(StoreError::Unavailable(e)) => return Err(StoreError::Unavailable(e)),
                Err(e) => {
                    tracing::error!(error = %e, record = %row.record, "PostgreSQL refuses an audit record; it stays in the spool file's `rejected` table");
                    self.spool.reject(*id, &e.to_string())?;
                }
            }
            self.spooled.dec();
        }
        Ok(chunk.len())
    }
}

impl Target {
    fn commit(&self, rows: &[AuditRow]) -> Result<(), String> {
        match self {
            Target::Store(store) => store.append_audit(rows).map_err(|e| e.to_string()),
            Target::Spooled(s) => s.commit(rows),
        }
    }
}

impl AuditWriter {
    /// Starts the writer thread.
    /// `waiting` counts the records handed over and not yet committed (a metric).
    /// `connections` counts the server's open connections (see [`more_may_come`]).
    pub fn start(
        store: Arc<dyn Store>,
        sink: Option<JsonLines>,
        waiting: Gauge,
        connections: OpenConnections,
    ) -> Self {
        Self::start_on(Target::Store(store), sink, waiting, connections)
    }

    /// Starts the writer thread for a node on PostgreSQL, with the local `spool` taking batches
    /// PostgreSQL cannot (see the module documentation), and the thread that drains it —
    /// at once if a previous run left records in it. `connections` as for [`AuditWriter::start`].
    pub fn start_spooled(
        primary: Arc<dyn Primary>,
        spool: AuditSpool,
        sink: Option<JsonLines>,
        waiting: Gauge,
        spooled: Gauge,
        connections: OpenConnections,
    ) -> Self {
        let left = spool.len().unwrap_or(1);
        spooled.set(i64::try_from(left).unwrap_or(i64::MAX));
        if left > 0 {
            tracing::info!(
                records = left,
                "moving audit records spooled by a previous run to PostgreSQL"
            );
        }
        let spooled = Arc::new(Spooled {
            primary,
            spool,
            pending: Mutex::new(left > 0),
            wake: Condvar::new(),
            spooled,
        });
        let drainer = spooled.clone();
        if let Err(e) = std::thread::Builder::new()
            .name("keyless-audit-drain".into())
            .spawn(move || drainer.drain_forever())
        {
            tracing::error!(error = %e, "cannot start the audit spool's drain thread");
        }
        Self::start_on(Target::Spooled(spooled), sink, waiting, connections)
    }

    fn start_on(
        target: Target,
        sink: Option<JsonLines>,
        waiting: Gauge,
        connections: OpenConnections,
    ) -> Self {
        let (tx, rx) = mpsc::channel::<(AuditRow, Ack)>(8192);
        let gather = Arc::new(Gather {
            computing: AtomicUsize::new(0),
            phase: AtomicU8::new(AWAKE),
            short: AtomicIsize::new(0),
            writer: OnceLock::new(),
            connections,
            #[cfg(test)]
            batches: Mutex::default(),
        });
        let g = gather.clone();
        match std::thread::Builder::new()
            .name("keyless-audit".into())
            .spawn(move || write_batches(rx, &target, sink, &g))
        {
            Ok(h) => {
                let _ = gather.writer.set(h.thread().clone());
            }
            Err(e) => tracing::error!(error = %e, "cannot start the audit writer thread"),
        }
        Self {
            tx,
            waiting,
            gather,
        }
    }

    /// Marks the start of a call that will hand over a record; hand the result to
    /// [`AuditWriter::append`] (dropping it instead is fine for a call ending without one).
    pub fn begin(&self) -> Computing {
        self.gather.computing.fetch_add(1, Ordering::SeqCst);
        Computing {
            gather: self.gather.clone(),
        }
    }

    /// Queues a record and waits for its commit; `call` (from [`AuditWriter::begin`]) stops
    /// counting as being computed once the record is queued.
    pub async fn append(&self, row: AuditRow, call: Computing) -> Result<(), String> {
        let (ack, done) = oneshot::channel();
        // Decremented on drop: the request's future may be dropped mid-wait.
        struct Waiting<'a>(&'a Gauge);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.dec();
            }
        }
        self.waiting.inc();
        let _waiting = Waiting(&self.waiting);
        let queued = self.tx.send((row, ack)).await;
        drop(call);
        queued.map_err(|_| "audit writer stopped".to_owned())?;
        let g = &self.gather;
        if g.phase.load(Ordering::SeqCst) == UNTIL_FILLED
            && g.short.fetch_sub(1, Ordering::SeqCst) == 1
        {
            g.wake();
        }
        done.await.map_err(|_| "audit writer stopped".to_owned())?
    }
}

/// The writer thread: gathers a batch, commits it, and acknowledges every record in it, until
/// the channel closes.
fn write_batches(
    mut rx: mpsc::Receiver<(AuditRow, Ack)>,
    target: &Target,
    mut sink: Option<JsonLines>,
    g: &Gather,
) {
    let mut previous = 0;
    while let Some(first) = rx.blocking_recv() {
        let since = std::time::Instant::now();
        let mut batch = vec![first];
        drain(&mut rx, &mut batch);
        let busy = batch.len().max(previous) >= BUSY_AT;
        let _ran_out = gather(&mut rx, &mut batch, since, g, busy);
        previous = batch.len();
        #[cfg(test)]
        if let Ok(mut b) = g.batches.lock() {
            b.push((batch.len(), _ran_out));
        }
        let (rows, acks): (Vec<AuditRow>, Vec<Ack>) = batch.into_iter().unzip();
        let result = target.commit(&rows);
        if result.is_ok()
            && let Some(sink) = sink.as_mut()
        {
            write_lines(sink, &rows);
        }
        for ack in acks {
            let _ = ack.send(result.clone());
        }
    }
}

fn write_lines(sink: &mut JsonLines, rows: &[AuditRow]) {
    let mut buf = String::new();
    for r in rows {
        buf.push_str(&r.record);
        buf.push('\n');
    }
    let res = match sink {
        JsonLines::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(buf.as_bytes()).and_then(|()| out.flush())
        }
        JsonLines::File(f) => f.write_all(buf.as_bytes()),
    };
    if let Err(e) = res {
        tracing::warn!(error = %e, "could not write the audit log");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// A shared database that can be down, keeping one record per request id like PostgreSQL,
    /// and refusing for good any batch holding a record with `poison` in it.
    #[derive(Default)]
    struct FakePrimary {
        down: AtomicBool,
        rows: Mutex<Vec<String>>,
    }

    impl Primary for FakePrimary {
        fn append_within(&self, rows: &[AuditRow], _: Duration) -> Result<(), StoreError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable("test: down".into()));
            }
            if rows.iter().any(|r| r.record.contains("poison")) {
                return Err(StoreError::Database("test: refused".into()));
            }
            let mut stored = self.rows.lock().unwrap();
            for r in rows {
                if !stored.contains(&r.record) {
                    stored.push(r.record.clone());
                }
            }
            Ok(())
        }
    }

    fn row(id: &str) -> AuditRow {
        AuditRow {
            time: 1,
            session_name: None,
            subject: None,
            denied: false,
            record: format!("{{\"requestID\":\"{id}\"}}"),
        }
    }

    fn ids(primary: &FakePrimary) -> Vec<String> {
        primary
            .rows
            .lock()
            .unwrap()
            .iter()
            .map(|r| keyless_store::spool::request_id(r).unwrap().to_owned())
            .collect()
    }

    async fn eventually(what: &str, check: impl Fn() -> bool) {
        let started = std::time::Instant::now();
        while !check() {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{what}: not within 5 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The writer, and its gauge of spooled records.
    fn writer(primary: &Arc<FakePrimary>, spool_path: &std::path::Path) -> (AuditWriter, Gauge) {
        let spooled = Gauge::default();
        let w = AuditWriter::start_spooled(
            primary.clone(),
            AuditSpool::open(spool_path).unwrap(),
            None,
            Default::default(),
            spooled.clone(),
            OpenConnections::default(),
        );
        (w, spooled)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_stop_counting_as_computed_once_their_record_is_queued_or_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(keyless_store::SqliteStore::open_dir(dir.path()).unwrap());
        let w = AuditWriter::start(
            store.clone(),
            None,
            Default::default(),
            OpenConnections::default(),
        );
        let (a, b) = (w.begin(), w.begin());
        assert_eq!(w.gather.computing.load(Ordering::SeqCst), 2);
        drop(b); // a call that ends without a record
        assert_eq!(w.gather.computing.load(Ordering::SeqCst), 1);
        w.append(row("a"), a).await.unwrap();
        assert_eq!(w.gather.computing.load(Ordering::SeqCst), 0);
        let stored = store.query_audit(&Default::default()).unwrap();
        assert_eq!(stored.len(), 1);
    }

    #[test]
    fn a_busy_writer_waits_only_for_records_open_connections_can_send() {
        assert_eq!(more_may_come(32, 64, 10), 22);
        assert_eq!(more_may_come(32, 8, 5), 3);
        assert_eq!(more_may_come(32, 8, 8), 0);
        // An HTTP/2 connection may have sent several: never a negative wait.
        assert_eq!(more_may_come(32, 2, 8), 0);
        assert_eq!(more_may_come(0, 64, 1), 0);
    }

    /// `clients` calls in a closed loop (each sends its next record once the last is committed),
    /// each on a connection of its own, beside `idle` open connections that send nothing;
    /// returns the writer's batches.
    async fn closed_loop(clients: usize, idle: usize, rounds: usize) -> Vec<(usize, bool)> {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(keyless_store::SqliteStore::open_dir(dir.path()).unwrap());
        let connections = OpenConnections::default();
        let w = AuditWriter::start(store.clone(), None, Default::default(), connections.clone());
        let idle: Vec<_> = (0..idle).map(|_| connections.open()).collect();
        let calls: Vec<_> = (0..clients)
            .map(|c| {
                let w = w.clone();
                let connection = connections.open();
                tokio::spawn(async move {
                    for r in 0..rounds {
                        w.append(row(&format!("{c}-{r}")), w.begin()).await.unwrap();
                    }
                    drop(connection);
                })
            })
            .collect();
        for c in calls {
            c.await.unwrap();
        }
        drop(idle);
        let stored = store.query_audit(&Default::default()).unwrap();
        assert_eq!(
            stored.len(),
            clients * rounds,
            "every record committed once"
        );
        w.gather.batches.lock().unwrap().clone()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_busy_writer_commits_once_every_connections_call_is_in_the_batch() {
        let batches = closed_loop(8, 0, 60).await;
        assert!(
            batches.iter().any(|(n, _)| *n >= BUSY_AT),
            "the writer never got busy: {batches:?}"
        );
        // Without the bound every busy batch would run out the linger. A client task that
        // waited more than the linger for a core (other tests share the machine) makes one run
        // out now and then.
        let ran_out = batches.iter().filter(|(_, ran_out)| *ran_out).count();
        assert!(
            ran_out * 4 <= batches.len(),
            "eight clients were held for the linger ({ran_out} of {} batches): {batches:?}",
            batches.len()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_connections_hold_a_busy_batch_at_most_for_the_linger() {
        let batches = closed_loop(8, 56, 30).await;
        assert!(
            batches.iter().any(|(_, ran_out)| *ran_out),
            "a busy writer never waited for the idle connections: {batches:?}"
        );
        assert!(batches.iter().all(|(n, _)| *n <= 8));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_taken_while_the_database_is_down_reach_it_in_order_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit-spool.db");
        let primary = Arc::new(FakePrimary::default());
        let (w, spooled) = writer(&primary, &path);
        w.append(row("a"), w.begin()).await.unwrap();
        assert_eq!(ids(&primary), ["a"]);
        assert!(AuditSpool::open(&path).unwrap().is_empty().unwrap());
        assert_eq!(spooled.get(), 0);

        primary.down.store(true, Ordering::SeqCst);
        for id in ["b", "c", "d"] {
            // Acknowledged although the database is down: durable in the spool.
            w.append(row(id), w.begin()).await.unwrap();
        }
        assert_eq!(ids(&primary), ["a"]);
        assert_eq!(AuditSpool::open(&path).unwrap().len().unwrap(), 3);
        assert_eq!(spooled.get(), 3);

        primary.down.store(false, Ordering::SeqCst);
        // A record taken while the drain has not finished lands behind the spooled ones.
        w.append(row("e"), w.begin()).await.unwrap();
        eventually("the spool drained", || ids(&primary).len() == 5).await;
        assert_eq!(ids(&primary), ["a", "b", "c", "d", "e"]);
        eventually("the spool emptied", || {
            AuditSpool::open(&path).unwrap().is_empty().unwrap()
        })
        .await;
        eventually("the gauge at zero", || spooled.get() == 0).await;
        // Drained: straight to the database again.
        w.append(row("f"), w.begin()).await.unwrap();
        assert_eq!(ids(&primary).last().map(String::as_str), Some("f"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_record_the_database_refuses_for_good_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit-spool.db");
        let primary = Arc::new(FakePrimary::default());
        let (w, spooled) = writer(&primary, &path);
        // Refused on the direct path: spooled, acknowledged.
        w.append(row("poison"), w.begin()).await.unwrap();
        w.append(row("after"), w.begin()).await.unwrap();
        eventually("the good record moved", || ids(&primary) == ["after"]).await;
        let spool = AuditSpool::open(&path).unwrap();
        eventually("the spool emptied", || spool.is_empty().unwrap()).await;
        assert_eq!(spool.rejected().unwrap(), 1);
        eventually("the gauge at zero", || spooled.get() == 0).await;
        w.append(row("later"), w.begin()).await.unwrap();
        assert_eq!(ids(&primary), ["after", "later"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_spool_left_by_a_previous_run_is_drained_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit-spool.db");
        // A crash after the database committed "x" but before the spool let go of it.
        AuditSpool::open(&path)
            .unwrap()
            .push(&[row("x"), row("y")])
            .unwrap();
        let primary = Arc::new(FakePrimary::default());
        primary.append_within(&[row("x")], PRIMARY_WAIT).unwrap();
        let (_w, spooled) = writer(&primary, &path);
        eventually("the old spool drained", || ids(&primary).len() == 2).await;
        assert_eq!(ids(&primary), ["x", "y"]);
        eventually("the gauge at zero", || spooled.get() == 0).await;
    }
}
