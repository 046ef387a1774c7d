//! The contract every `Store` must keep; run against each implementation.

use keyless_core::store::{AuditFilter, AuditRow, CHANGE_PAGE, Change, Kind, Store};

use crate::SqliteStore;

fn row(time: u64, session: &str, subject: &str, denied: bool) -> AuditRow {
    AuditRow {
        time,
        session_name: Some(session.into()),
        subject: Some(subject.into()),
        denied,
        record: format!("{{\"t\":{time}}}"),
    }
}

/// The shared contract; `pub(crate)` so the PostgreSQL tests run the very same assertions.
pub(crate) fn contract(store: &dyn Store) {
    store
        .put(Kind::Role, "123456789012/app", "{\"a\":1}")
        .unwrap();
    store
        .put(Kind::Role, "123456789012/app", "{\"a\":2}")
        .unwrap();
    store.put(Kind::Provider, "arn:x", "{}").unwrap();
    let snap = store.load().unwrap();
    assert_eq!(snap.entities.len(), 2);
    assert!(
        snap.entities
            .iter()
            .any(|(k, key, v)| *k == Kind::Role && key == "123456789012/app" && v == "{\"a\":2}")
    );
    store.delete(Kind::Role, "123456789012/app").unwrap();
    store.delete(Kind::Role, "absent").unwrap();
    assert_eq!(store.load().unwrap().entities.len(), 1);

    store
        .append_audit(&[row(10, "s1", "sub1", false), row(20, "s2", "sub2", true)])
        .unwrap();
    store.append_audit(&[row(30, "s1", "sub1", true)]).unwrap();
    let all = store.query_audit(&AuditFilter::default()).unwrap();
    assert_eq!(
        all.iter().map(|r| r.time).collect::<Vec<_>>(),
        vec![10, 20, 30]
    );
    let denied = store
        .query_audit(&AuditFilter {
            denied_only: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(denied.len(), 2);
    let s1 = store
        .query_audit(&AuditFilter {
            session_name: Some("s1".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(s1.len(), 2);
    let since = store
        .query_audit(&AuditFilter {
            since: Some(15),
            subject: Some("sub2".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(since.len(), 1);
    let last = store
        .query_audit(&AuditFilter {
            limit: Some(1),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(last.first().map(|r| r.time), Some(30));
}

/// `get` and `put_if_absent`: the first insert under a key wins, later ones change nothing.
pub(crate) fn conditional_contract(store: &dyn Store) {
    assert_eq!(store.get(Kind::SealingKey, "k-initial").unwrap(), None);
    assert!(
        store
            .put_if_absent(Kind::SealingKey, "k-initial", "{\"n\":1}")
            .unwrap()
    );
    assert!(
        !store
            .put_if_absent(Kind::SealingKey, "k-initial", "{\"n\":2}")
            .unwrap()
    );
    assert_eq!(
        store.get(Kind::SealingKey, "k-initial").unwrap().as_deref(),
        Some("{\"n\":1}")
    );
    // The same key under another kind is another entity.
    assert_eq!(store.get(Kind::IssuerKey, "k-initial").unwrap(), None);
    store.delete(Kind::SealingKey, "k-initial").unwrap();
    assert!(
        store
            .put_if_absent(Kind::SealingKey, "k-initial", "{\"n\":3}")
            .unwrap()
    );
    assert_eq!(
        store.get(Kind::SealingKey, "k-initial").unwrap().as_deref(),
        Some("{\"n\":3}")
    );
}

/// The change feed: every effective write appends one entry, in order; pages are bounded.
pub(crate) fn feed_contract(store: &dyn Store) {
    let start = store.latest_change().unwrap();
    let empty = store.changes_since(start).unwrap();
    assert!(empty.changes.is_empty() && !empty.more && !empty.gap);
    assert_eq!(empty.next, start);

    store.put(Kind::Role, "123456789012/a", "{}").unwrap();
    store.put(Kind::Policy, "arn:p", "{}").unwrap();
    assert!(
        store
            .put_if_absent(Kind::Role, "123456789012/a", "{}")
            .is_ok()
    );
    store.delete(Kind::Role, "123456789012/a").unwrap();
    // Deleting what is absent changes nothing and records nothing.
    store.delete(Kind::Role, "123456789012/absent").unwrap();
    assert!(store.put_if_absent(Kind::Provider, "arn:o", "{}").unwrap());

    let page = store.changes_since(start).unwrap();
    let seen: Vec<(Kind, &str)> = page
        .changes
        .iter()
        .map(|c| (c.kind, c.key.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (Kind::Role, "123456789012/a"),
            (Kind::Policy, "arn:p"),
            (Kind::Role, "123456789012/a"),
            (Kind::Provider, "arn:o"),
        ]
    );
    assert!(page.changes.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(page.changes.iter().all(|c| c.seq > start));
    assert_eq!(page.next, page.changes.last().unwrap().seq);
    assert_eq!(store.latest_change().unwrap(), page.next);
    assert!(!page.more && !page.gap);

    // Asking from the middle returns the rest.
    let second = page.changes[1].seq;
    let rest = store.changes_since(second).unwrap();
    assert_eq!(
        rest.changes.iter().map(|c| c.seq).collect::<Vec<_>>(),
        page.changes[2..].iter().map(|c| c.seq).collect::<Vec<_>>()
    );
    // Nothing new: an empty page that stays where it is.
    let none = store.changes_since(page.next).unwrap();
    assert!(none.changes.is_empty());
    assert_eq!(none.next, page.next);

    // A burst larger than a page comes in several pages, without loss.
    let from = store.latest_change().unwrap();
    let n = CHANGE_PAGE + 5;
    for i in 0..n {
        store
            .put(Kind::Policy, &format!("arn:burst:{i}"), "{}")
            .unwrap();
    }
    let mut got: Vec<Change> = Vec::new();
    let mut at = from;
    loop {
        let p = store.changes_since(at).unwrap();
        assert!(p.changes.len() <= CHANGE_PAGE);
        assert!(!p.gap);
        got.extend(p.changes);
        at = p.next;
        if !p.more {
            break;
        }
    }
    assert_eq!(got.len(), n);
    assert_eq!(got.last().unwrap().key, format!("arn:burst:{}", n - 1));
    assert_eq!(at, store.latest_change().unwrap());

    // A position beyond the feed's end (the database was replaced) is reported as a gap.
    let beyond = store.changes_since(at + 1_000_000).unwrap();
    assert!(beyond.gap);
    assert_eq!(beyond.next, at);
}

#[test]
fn sqlite_in_memory_keeps_the_contract() {
    contract(&SqliteStore::in_memory().unwrap());
}

#[test]
fn sqlite_conditional_insert() {
    conditional_contract(&SqliteStore::in_memory().unwrap());
}

#[test]
fn sqlite_change_feed() {
    feed_contract(&SqliteStore::in_memory().unwrap());
}

#[test]
fn sqlite_feed_is_pruned_and_a_reader_left_behind_sees_a_gap() {
    let store = SqliteStore::in_memory().unwrap();
    let total = keyless_core::store::CHANGES_KEPT + 250;
    for i in 0..total {
        store
            .put(Kind::Role, &format!("123456789012/r{}", i % 7), "{}")
            .unwrap();
    }
    assert_eq!(store.latest_change().unwrap(), total);
    let kept = store.changes_since(total - 100).unwrap();
    assert!(!kept.gap);
    assert_eq!(kept.changes.len(), 100);
    let behind = store.changes_since(1).unwrap();
    assert!(behind.gap, "entries after 1 were pruned");
    let conn = store.conn().unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM changes", [], |r| r.get(0))
        .unwrap();
    assert!(
        rows <= i64::try_from(keyless_core::store::CHANGES_KEPT).unwrap() + 100,
        "{rows}"
    );
}

#[test]
fn sqlite_two_connections_share_the_feed_and_race_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    let a = std::sync::Arc::new(SqliteStore::open(&path).unwrap());
    let b = std::sync::Arc::new(SqliteStore::open(&path).unwrap());
    let start = b.latest_change().unwrap();
    a.put(Kind::Role, "123456789012/x", "{}").unwrap();
    let page = b.changes_since(start).unwrap();
    assert_eq!(page.changes.len(), 1);
    // Eight writers race to insert one key: exactly one wins.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                s.put_if_absent(Kind::SealingKey, "initial", &format!("{{\"w\":{i}}}"))
                    .unwrap()
            })
        })
        .collect();
    let wins = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|w| *w)
        .count();
    assert_eq!(wins, 1);
}

#[test]
fn sqlite_processes_opening_one_new_file_at_once_migrate_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                SqliteStore::open(&path).map(|_| ())
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let version: i64 = store
        .conn()
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        version,
        i64::try_from(crate::sqlite::MIGRATIONS.len()).unwrap()
    );
}

#[test]
fn sqlite_audit_records_of_version_2_survive_the_table_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    {
        // A file as the previous version left it.
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in &crate::sqlite::MIGRATIONS[..2] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 2).unwrap();
        for (t, session) in [(10, "a"), (20, "b"), (30, "a")] {
            conn.execute(
                "INSERT INTO audit (time, session_name, subject, denied, record) \
                 VALUES (?1, ?2, NULL, 0, ?3)",
                rusqlite::params![t, session, format!("{{\"t\":{t}}}")],
            )
            .unwrap();
        }
    }
    let store = SqliteStore::open(&path).unwrap();
    store.append_audit(&[row(40, "a", "s", false)]).unwrap();
    let a = store
        .query_audit(&AuditFilter {
            session_name: Some("a".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(a.iter().map(|r| r.time).collect::<Vec<_>>(), [10, 30, 40]);
    let conn = store.conn().unwrap();
    let ids: Vec<i64> = column(&conn, "SELECT id FROM audit ORDER BY id");
    assert_eq!(ids, [1, 2, 3, 4]);
    let indexes: Vec<String> = column(
        &conn,
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit'",
    );
    assert_eq!(indexes.len(), 2, "{indexes:?}");
    assert!(
        indexes.iter().all(|i| i.contains("IS NOT NULL")),
        "{indexes:?}"
    );
}

/// The first column of every row `sql` returns.
fn column<T: rusqlite::types::FromSql>(conn: &rusqlite::Connection, sql: &str) -> Vec<T> {
    conn.prepare(sql)
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn sqlite_audit_queries_by_session_and_subject_use_their_indexes() {
    let store = SqliteStore::in_memory().unwrap();
    let conn = store.conn().unwrap();
    for (filter, index) in [
        (
            AuditFilter {
                session_name: Some("s".into()),
                ..Default::default()
            },
            "audit_session",
        ),
        (
            AuditFilter {
                subject: Some("repo:a/b:ref:refs/heads/main".into()),
                since: Some(5),
                limit: Some(3),
                ..Default::default()
            },
            "audit_subject",
        ),
    ] {
        let (sql, args) = crate::sqlite::audit_query(&conn, &filter).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(rusqlite::params_from_iter(args), |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(plan.iter().any(|p| p.contains(index)), "{plan:?}");
    }
}

#[test]
fn sqlite_since_finds_records_stored_somewhat_out_of_order() {
    let store = SqliteStore::in_memory().unwrap();
    // Times rise by 10 s per record, each off by up to ±5 minutes (stored behind records of
    // calls that ended sooner).
    let times: Vec<u64> = (0..2_000u64)
        .map(|i| 100_000 + i * 10 + (i * 7_919) % 600 - 300)
        .collect();
    for chunk in times.chunks(64) {
        let rows: Vec<AuditRow> = chunk.iter().map(|&t| row(t, "s", "x", false)).collect();
        store.append_audit(&rows).unwrap();
    }
    for since in [
        0, 99_000, 100_000, 100_301, 105_555, 110_000, 119_000, 119_999, 120_300, 200_000,
    ] {
        let got: Vec<u64> = store
            .query_audit(&AuditFilter {
                since: Some(since),
                ..Default::default()
            })
            .unwrap()
            .iter()
            .map(|r| r.time)
            .collect();
        let want: Vec<u64> = times.iter().copied().filter(|&t| t >= since).collect();
        assert_eq!(got, want, "since {since}");
    }
}

#[test]
fn sqlite_file_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open_dir(dir.path()).unwrap();
        contract(&store);
    }
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    assert_eq!(store.load().unwrap().entities.len(), 1);
    assert_eq!(store.query_audit(&AuditFilter::default()).unwrap().len(), 3);
}

/// Audit batches commit at `synchronous=NORMAL` without switching modes on every batch, so the
/// connection must be back at `NORMAL` after every entity write (committed at `FULL`), even one
/// that failed.
#[test]
fn sqlite_entity_writes_leave_the_audit_mode_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    let mode = |store: &SqliteStore| -> i64 {
        store
            .conn()
            .unwrap()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap()
    };
    const NORMAL: i64 = 1;
    assert_eq!(mode(&store), NORMAL, "after open");
    store.put(Kind::Role, "a", "{}").unwrap();
    assert_eq!(mode(&store), NORMAL, "after an entity write");
    // A write that fails inside its transaction: the change feed's table is gone.
    store
        .conn()
        .unwrap()
        .execute_batch("ALTER TABLE changes RENAME TO changes_gone")
        .unwrap();
    assert!(store.put(Kind::Role, "b", "{}").is_err());
    assert_eq!(mode(&store), NORMAL, "after a failed entity write");
    assert!(
        store.get(Kind::Role, "b").unwrap().is_none(),
        "nothing half-written"
    );
}

#[test]
fn postgres_keeps_the_contract() {
    let Some(schema) = crate::testing::TestSchema::from_env() else {
        eprintln!("skipped: {} is not set", crate::testing::URL_VAR);
        return;
    };
    contract(&schema.open().unwrap());
}

#[test]
fn postgres_conditional_insert() {
    let Some(schema) = crate::testing::TestSchema::from_env() else {
        eprintln!("skipped: {} is not set", crate::testing::URL_VAR);
        return;
    };
    conditional_contract(&schema.open().unwrap());
}

#[test]
fn postgres_change_feed() {
    let Some(schema) = crate::testing::TestSchema::from_env() else {
        eprintln!("skipped: {} is not set", crate::testing::URL_VAR);
        return;
    };
    feed_contract(&schema.open().unwrap());
}

#[test]
fn postgres_survives_reopen() {
    let Some(schema) = crate::testing::TestSchema::from_env() else {
        eprintln!("skipped: {} is not set", crate::testing::URL_VAR);
        return;
    };
    {
        let store = schema.open().unwrap();
        contract(&store);
    }
    let store = schema.open().unwrap();
    assert_eq!(store.load().unwrap().entities.len(), 1);
    assert_eq!(store.query_audit(&AuditFilter::default()).unwrap().len(), 3);
    assert_eq!(
        schema
            .scalar("SELECT count(*) FROM schema_version")
            .unwrap(),
        i64::try_from(crate::pg::MIGRATIONS.len()).unwrap()
    );
}

#[test]
fn postgres_stores_audit_values_holding_nul() {
    let Some(schema) = crate::testing::TestSchema::from_env() else {
        eprintln!("skipped: {} is not set", crate::testing::URL_VAR);
        return;
    };
    let store = schema.open().unwrap();
    let mut r = row(1, "s\0x", "repo:a\0b", false);
    r.record = "{\"x\":\"a\0b\"}".into();
    store
        .append_audit(&[r, row(2, "plain", "sub", false)])
        .unwrap();
    let rows = store.query_audit(&AuditFilter::default()).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].subject.as_deref(), Some("repo:a\u{FFFD}b"));
}

#[test]
fn postgres_keeps_one_record_per_request_id() {
    let Some(schema) = crate::testing::TestSchema::from_env() else {
        eprintln!("skipped: {} is not set", crate::testing::URL_VAR);
        return;
    };
    let store = schema.open().unwrap();
    let row = |id: &str, t: u64| AuditRow {
        time: t,
        session_name: None,
        subject: None,
        denied: false,
        record: format!("{{\"requestID\":\"{id}\",\"eventID\":\"e{t}\"}}"),
    };
    store.append_audit(&[row("a", 1), row("b", 2)]).unwrap();
    // A batch moved again from the spool: the copies already stored win, the new one is added.
    store
        .audit_connection()
        .unwrap()
        .append_within(
            &[row("a", 3), row("b", 4), row("c", 5)],
            std::time::Duration::from_secs(2),
        )
        .unwrap();
    let times: Vec<u64> = store
        .query_audit(&AuditFilter::default())
        .unwrap()
        .iter()
        .map(|r| r.time)
        .collect();
    assert_eq!(times, vec![1, 2, 5]);
}

/// SQLite's time per audit record, the schema of version 2 against the current one, through the
/// statement and transaction the store uses (batches of 10, WAL, `synchronous=NORMAL`, the WAL
/// checkpointed every 2,000 records as the checkpointer does). Figures, not a pass/fail check:
/// `cargo test --release -p keyless-store --lib -- --ignored --nocapture sqlite_audit_row_cost`.
#[test]
#[ignore = "measurement"]
fn sqlite_audit_row_cost() {
    fn per_record(dir: &std::path::Path, migrations: &[&str], named: bool) -> f64 {
        let path = dir.join(format!("cost-{}-{named}.db", migrations.len()));
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
            .unwrap();
        conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        for sql in migrations {
            conn.execute_batch(sql).unwrap();
        }
        let filler = "x".repeat(1_400);
        let (session, subject) = if named {
            (Some("gha-1"), Some("repo:acme/app:ref:refs/heads/main"))
        } else {
            (None, None)
        };
        let rows: Vec<AuditRow> = (0..40_000u64)
            .map(|i| AuditRow {
                time: 1_700_000_000 + i / 1_000,
                session_name: session.map(Into::into),
                subject: subject.map(Into::into),
                denied: false,
                record: format!("{{\"requestID\":\"{i:036}\",\"x\":\"{filler}\"}}"),
            })
            .collect();
        let started = std::time::Instant::now();
        for (n, batch) in rows.chunks(10).enumerate() {
            crate::sqlite::append_rows(&conn, crate::sqlite::AuditTable::Audit, batch).unwrap();
            if n % 200 == 199 {
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                    .unwrap();
            }
        }
        started.elapsed().as_secs_f64() * 1e6 / 40_000.0
    }
    let dir = tempfile::tempdir().unwrap();
    let all = crate::sqlite::MIGRATIONS;
    for round in 1..=3 {
        for named in [true, false] {
            eprintln!(
                "round {round}, session and subject {}: version 2 {:.1} µs, now {:.1} µs per record",
                if named { "set" } else { "absent" },
                per_record(dir.path(), &all[..2], named),
                per_record(dir.path(), all, named),
            );
            for f in std::fs::read_dir(dir.path()).unwrap() {
                std::fs::remove_file(f.unwrap().path()).unwrap();
            }
        }
    }
}

/// SQLite's time and WAL bytes per audit record by batch size (1 to 200 records per commit),
/// through the store's own insert, WAL not checkpointed meanwhile: why the audit writer gathers
/// records under load. Figures, not a pass/fail check:
/// `cargo test --release -p keyless-store --lib -- --ignored --nocapture sqlite_audit_batch_cost`.
#[test]
#[ignore = "measurement"]
fn sqlite_audit_batch_cost() {
    let dir = tempfile::tempdir().unwrap();
    let filler = "x".repeat(1_450);
    let rows: Vec<AuditRow> = (0..40_000u64)
        .map(|i| AuditRow {
            time: 1_700_000_000 + i / 1_000,
            session_name: Some("gha-1".into()),
            subject: Some("repo:acme/app:ref:refs/heads/main".into()),
            denied: false,
            record: format!("{{\"requestID\":\"{i:036}\",\"x\":\"{filler}\"}}"),
        })
        .collect();
    for batch in [1usize, 2, 5, 10, 20, 50, 200] {
        let path = dir.path().join(format!("batch-{batch}.db"));
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
            .unwrap();
        conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        for sql in crate::sqlite::MIGRATIONS {
            conn.execute_batch(sql).unwrap();
        }
        let started = std::time::Instant::now();
        for chunk in rows.chunks(batch) {
            crate::sqlite::append_rows(&conn, crate::sqlite::AuditTable::Audit, chunk).unwrap();
        }
        let micros = started.elapsed().as_secs_f64() * 1e6 / 40_000.0;
        let wal = std::fs::metadata(dir.path().join(format!("batch-{batch}.db-wal")))
            .map_or(0, |m| m.len());
        eprintln!(
            "batches of {batch}: {micros:.1} µs and {:.0} WAL bytes per record",
            wal as f64 / 40_000.0
        );
    }
}
