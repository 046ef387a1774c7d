//! Integration tests of the stores. The PostgreSQL ones run when `KEYLESS_TEST_POSTGRES_URL` names
//! a server (`eval "$(bash scripts/ci-postgres.sh)"` starts one) and are skipped otherwise; the
//! database-down ones need no server and always run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod postgres {
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Barrier, Mutex};
    use std::time::{Duration, Instant};

    use keyless_core::store::{AuditFilter, AuditRow, Kind, Store, StoreError};
    use keyless_store::testing::{Proxy, ProxyMode, TestSchema, URL_VAR};
    use keyless_store::{PgOptions, PgStore};

    fn schema() -> Option<TestSchema> {
        let s = TestSchema::from_env();
        if s.is_none() {
            eprintln!("skipped: {URL_VAR} is not set");
        }
        s
    }

    fn short(connect: u64, statement: u64) -> PgOptions {
        PgOptions {
            connect_timeout: Duration::from_millis(connect),
            statement_timeout: Duration::from_millis(statement),
            connections: 2,
            ..PgOptions::default()
        }
    }

    fn audit(time: u64, session: &str) -> AuditRow {
        AuditRow {
            time,
            session_name: Some(session.into()),
            subject: None,
            denied: false,
            record: format!("{{\"t\":{time}}}"),
        }
    }

    fn assert_unavailable<T: std::fmt::Debug>(r: Result<T, StoreError>) -> String {
        match r {
            Err(StoreError::Unavailable(m)) => m,
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }

    /// A port nothing listens on.
    fn closed_port() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    #[test]
    fn closed_port_fails_fast_with_unavailable() {
        let port = closed_port();
        let started = Instant::now();
        let r = PgStore::open(
            &format!("postgres://keyless:secret-pw@127.0.0.1:{port}/keyless"),
            short(2000, 2000),
        );
        let message = assert_unavailable(r);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
        assert!(!message.contains("secret-pw"), "password leaked: {message}");
    }

    #[test]
    fn closed_port_inside_a_tokio_runtime_neither_panics_nor_hangs() {
        let port = closed_port();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let started = Instant::now();
        let r = rt.block_on(async move {
            PgStore::open(
                &format!("postgres://keyless@127.0.0.1:{port}/keyless"),
                short(1000, 1000),
            )
        });
        assert_unavailable(r);
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn silent_server_times_out_with_unavailable() {
        // Accepts TCP connections and never says a word, like a hung server.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = Arc::new(Mutex::new(Vec::new()));
        let h = held.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                h.lock().unwrap().push(s);
            }
        });
        let started = Instant::now();
        let r = PgStore::open(
            &format!("postgres://keyless@127.0.0.1:{port}/keyless"),
            short(800, 800),
        );
        let message = assert_unavailable(r);
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(700), "{took:?}");
        assert!(took < Duration::from_millis(2500), "{took:?}");
        assert!(message.contains("127.0.0.1"), "{message}");
    }

    #[test]
    fn invalid_schema_name_is_refused() {
        let r = PgStore::open(
            "postgres://keyless@127.0.0.1:1/keyless",
            PgOptions {
                schema: Some("x\"; DROP TABLE y; --".into()),
                ..PgOptions::default()
            },
        );
        assert!(matches!(r, Err(StoreError::Database(_))), "{r:?}");
    }

    #[test]
    fn two_stores_see_each_others_writes() {
        let Some(schema) = schema() else { return };
        let a = schema.open().unwrap();
        let b = schema.open().unwrap();
        a.put(Kind::Role, "123456789012/app", "{\"v\":1}").unwrap();
        let seen = b.load().unwrap();
        assert_eq!(seen.entities.len(), 1);
        assert_eq!(
            seen.entities.first().map(|(_, _, v)| v.as_str()),
            Some("{\"v\":1}")
        );
        b.put(Kind::Role, "123456789012/app", "{\"v\":2}").unwrap();
        assert!(
            a.load()
                .unwrap()
                .entities
                .iter()
                .any(|(_, _, v)| v == "{\"v\":2}")
        );
        b.append_audit(&[audit(1, "from-b"), audit(2, "from-b")])
            .unwrap();
        a.append_audit(&[audit(3, "from-a")]).unwrap();
        let all = a.query_audit(&AuditFilter::default()).unwrap();
        assert_eq!(
            all.iter().map(|r| r.time).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        let from_b = a
            .query_audit(&AuditFilter {
                session_name: Some("from-b".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(from_b.len(), 2);
        a.delete(Kind::Role, "123456789012/app").unwrap();
        assert!(b.load().unwrap().entities.is_empty());
    }

    #[test]
    fn stores_racing_to_insert_one_key_agree_on_one_winner() {
        let Some(schema) = schema() else { return };
        let stores: Vec<Arc<PgStore>> = (0..4).map(|_| Arc::new(schema.open().unwrap())).collect();
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let store = stores[i % 4].clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    store
                        .put_if_absent(Kind::IssuerKey, "initial", &format!("{{\"w\":{i}}}"))
                        .unwrap()
                })
            })
            .collect();
        let wins = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|w| *w)
            .count();
        assert_eq!(wins, 1);
        let value = stores[3].get(Kind::IssuerKey, "initial").unwrap().unwrap();
        for s in &stores {
            assert_eq!(
                s.get(Kind::IssuerKey, "initial").unwrap().as_deref(),
                Some(value.as_str())
            );
        }
        // Only the winner's insert is in the feed.
        let page = stores[0].changes_since(0).unwrap();
        assert_eq!(page.changes.len(), 1);
    }

    /// Writers on several stores commit concurrently while a reader follows the feed: the reader
    /// must see every write exactly once, never skipping one that committed late.
    #[test]
    fn a_reader_following_concurrent_writers_misses_nothing() {
        let Some(schema) = schema() else { return };
        let reader = schema.open().unwrap();
        let writers: Vec<Arc<PgStore>> = (0..3).map(|_| Arc::new(schema.open().unwrap())).collect();
        let done = Arc::new(AtomicBool::new(false));
        let per_writer = 60;
        let start = reader.latest_change().unwrap();
        assert_eq!(start, 0);
        let threads: Vec<_> = writers
            .iter()
            .enumerate()
            .map(|(w, store)| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..per_writer {
                        store
                            .put(Kind::Policy, &format!("arn:{w}:{i}"), "{}")
                            .unwrap();
                    }
                })
            })
            .collect();
        let follower = {
            let done = done.clone();
            std::thread::spawn(move || {
                let mut at = start;
                let mut seen = Vec::new();
                loop {
                    let finished = done.load(Ordering::SeqCst);
                    let page = reader.changes_since(at).unwrap();
                    assert!(!page.gap);
                    for c in &page.changes {
                        assert!(c.seq > at);
                        seen.push(c.key.clone());
                    }
                    at = page.next;
                    if finished && page.changes.is_empty() {
                        return seen;
                    }
                }
            })
        };
        for t in threads {
            t.join().unwrap();
        }
        done.store(true, Ordering::SeqCst);
        let mut seen = follower.join().unwrap();
        seen.sort();
        let mut expected: Vec<String> = (0..3)
            .flat_map(|w| (0..per_writer).map(move |i| format!("arn:{w}:{i}")))
            .collect();
        expected.sort();
        let missed: Vec<&String> = expected.iter().filter(|k| !seen.contains(k)).collect();
        assert!(missed.is_empty(), "the reader missed {missed:?}");
        assert_eq!(seen, expected);
    }

    #[test]
    fn migrations_from_four_threads_at_once() {
        let Some(schema) = schema() else { return };
        let schema = Arc::new(schema);
        let barrier = Arc::new(Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let schema = schema.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    let store = schema.open()?;
                    store.put(Kind::Provider, &format!("arn:{i}"), "{}")?;
                    Ok::<_, StoreError>(store)
                })
            })
            .collect();
        let stores: Vec<PgStore> = threads
            .into_iter()
            .map(|t| t.join().unwrap().unwrap())
            .collect();
        assert_eq!(
            schema
                .scalar("SELECT count(*) FROM schema_version")
                .unwrap(),
            LATEST_SCHEMA
        );
        assert_eq!(schema.scalar("SELECT count(*) FROM changes").unwrap(), 4);
        for store in &stores {
            assert_eq!(store.load().unwrap().entities.len(), 4);
        }
    }

    #[test]
    fn audit_batch_is_one_transaction() {
        let Some(schema) = schema() else { return };
        let store = schema.open().unwrap();
        let batch: Vec<AuditRow> = (0..2000).map(|t| audit(t, "bulk")).collect();
        store.append_audit(&batch).unwrap();
        store.append_audit(&[]).unwrap();
        assert_eq!(schema.scalar("SELECT count(*) FROM audit").unwrap(), 2000);
        let last = store
            .query_audit(&AuditFilter {
                limit: Some(3),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            last.iter().map(|r| r.time).collect::<Vec<_>>(),
            vec![1997, 1998, 1999]
        );
    }

    #[test]
    fn works_when_called_inside_tokio_handlers() {
        let Some(schema) = schema() else { return };
        let store = Arc::new(schema.open().unwrap());
        for flavour in ["current_thread", "multi_thread"] {
            let rt = if flavour == "current_thread" {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
            } else {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap()
            };
            let s = store.clone();
            rt.block_on(async move {
                let handler = tokio::spawn(async move {
                    s.put(Kind::Policy, flavour, "{}")?;
                    s.load()
                });
                let snap = handler.await.unwrap().unwrap();
                assert!(snap.entities.iter().any(|(_, k, _)| k == flavour));
            });
        }
    }

    /// The number of PostgreSQL migrations this version knows.
    const LATEST_SCHEMA: i64 = 5;

    /// The schema as versions before migration 4 created it (migrations 1 to 3, copied here and
    /// frozen): a database made by them must migrate and go on answering with the same rows.
    const SCHEMA_V3: &str = r#"
        CREATE TABLE schema_version (
            version INTEGER PRIMARY KEY,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        );
        INSERT INTO schema_version (version) VALUES (1), (2), (3);
        CREATE TABLE entities (
            kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, key)
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
        CREATE INDEX audit_subject ON audit (subject);
        CREATE TABLE changes (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            kind TEXT NOT NULL,
            key TEXT NOT NULL
        );
        CREATE TABLE changes_pruned (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            through BIGINT NOT NULL
        );
        INSERT INTO changes_pruned (id, through) VALUES (1, 0);
        ALTER TABLE audit ADD COLUMN request_id TEXT;
        CREATE UNIQUE INDEX audit_request_id ON audit (request_id);
    "#;

    /// Values that equal each other under some notion of "the same" but not byte for byte, so
    /// an index or a comparison that folds them would show.
    const NAMES: [Option<&str>; 8] = [
        Some("s1"),
        Some("s1 "),
        Some("S1"),
        Some("s\u{FFFD}x"),
        Some("\u{e9}"),
        Some("e\u{301}"),
        Some(""),
        None,
    ];

    fn sql_text(v: Option<&str>) -> String {
        v.map_or_else(
            || "NULL".to_owned(),
            |v| format!("'{}'", v.replace('\'', "''")),
        )
    }

    /// The rows `filter` must return, worked out from the rows themselves (oldest first).
    fn expected(rows: &[AuditRow], filter: &AuditFilter) -> Vec<AuditRow> {
        let want = |f: &Option<String>, v: &Option<String>| {
            f.as_ref()
                .is_none_or(|f| v.as_deref() == Some(&*f.replace('\0', "\u{FFFD}")))
        };
        let mut out: Vec<AuditRow> = rows
            .iter()
            .filter(|r| {
                want(&filter.session_name, &r.session_name)
                    && want(&filter.subject, &r.subject)
                    && (!filter.denied_only || r.denied)
                    && filter.since.is_none_or(|s| r.time >= s)
            })
            .cloned()
            .collect();
        if let Some(limit) = filter.limit {
            out.drain(..out.len().saturating_sub(limit));
        }
        out
    }

    fn filters() -> Vec<AuditFilter> {
        let mut out = vec![AuditFilter::default()];
        for name in NAMES.iter().flatten() {
            out.push(AuditFilter {
                session_name: Some((*name).to_owned()),
                ..Default::default()
            });
            out.push(AuditFilter {
                subject: Some((*name).to_owned()),
                denied_only: true,
                ..Default::default()
            });
            out.push(AuditFilter {
                session_name: Some((*name).to_owned()),
                subject: Some("s1".into()),
                since: Some(1020),
                limit: Some(3),
                ..Default::default()
            });
        }
        // A value no row holds, and one holding U+0000 (stored with U+FFFD in its place).
        for name in ["absent", "s\0x"] {
            out.push(AuditFilter {
                session_name: Some(name.into()),
                ..Default::default()
            });
        }
        out
    }

    type Key = (u64, Option<String>, Option<String>, bool, String);

    fn keys(rows: Vec<AuditRow>) -> Vec<Key> {
        rows.into_iter()
            .map(|r| (r.time, r.session_name, r.subject, r.denied, r.record))
            .collect()
    }

    fn check_filters(store: &PgStore, rows: &[AuditRow]) {
        for filter in filters() {
            let got = keys(store.query_audit(&filter).unwrap());
            let want = keys(expected(rows, &filter));
            assert_eq!(got, want, "{filter:?}");
        }
        // Every value was asked for, so the filters found every row at least once.
        assert!(rows.len() > 60);
    }

    #[test]
    fn a_version_3_database_migrates_and_its_filters_find_the_same_rows() {
        let Some(schema) = schema() else { return };
        schema
            .scalar(&format!(
                "CREATE SCHEMA \"{0}\"; SET search_path TO \"{0}\"; {SCHEMA_V3}",
                schema.name()
            ))
            .unwrap();
        // Rows as the old version stored them: every pairing of the awkward values.
        let mut rows = Vec::new();
        let mut values = Vec::new();
        for (i, session) in NAMES.iter().enumerate() {
            for (j, subject) in NAMES.iter().enumerate() {
                let time = 1000 + u64::try_from(i * NAMES.len() + j).unwrap();
                let denied = (i + j) % 3 == 0;
                let record = format!("{{\"requestID\":\"old-{time}\",\"n\":{time}}}");
                values.push(format!(
                    "({time}, {}, {}, {denied}, '{record}', 'old-{time}')",
                    sql_text(*session),
                    sql_text(*subject)
                ));
                rows.push(AuditRow {
                    time,
                    session_name: session.map(str::to_owned),
                    subject: subject.map(str::to_owned),
                    denied,
                    record,
                });
            }
        }
        schema
            .scalar(&format!(
                "INSERT INTO audit (time, session_name, subject, denied, record, request_id) \
                 VALUES {}",
                values.join(", ")
            ))
            .unwrap();

        let store = schema.open().unwrap();
        assert_eq!(
            schema
                .scalar("SELECT max(version) FROM schema_version")
                .unwrap(),
            LATEST_SCHEMA
        );
        let indexes = |like: &str| {
            schema
                .scalar(&format!(
                    "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() \
                     AND tablename = 'audit' AND indexdef LIKE '{like}'"
                ))
                .unwrap()
        };
        assert_eq!(indexes("%USING brin (\"time\")%"), 1);
        assert_eq!(indexes("%COLLATE \"C\"%"), 3);
        assert_eq!(indexes("%WHERE (% IS NOT NULL)"), 2);
        assert_eq!(indexes("CREATE UNIQUE INDEX audit_request_id %"), 1);
        // Summarised by VACUUM, not by a request per range (migration 5).
        assert_eq!(
            schema
                .scalar(
                    "SELECT count(*) FROM pg_class WHERE relname = 'audit_time' \
                     AND relnamespace = current_schema()::regnamespace \
                     AND 'autosummarize=off' = ANY(reloptions)"
                )
                .unwrap(),
            1
        );
        check_filters(&store, &rows);

        // New records next to the old ones: one holding U+0000, one a copy of an old record
        // (a batch moved again from the spool), which must not be stored twice.
        let mut fresh = AuditRow {
            time: 2000,
            session_name: Some("s\0x".into()),
            subject: Some("s1".into()),
            denied: true,
            record: "{\"requestID\":\"new-1\"}".into(),
        };
        let copy = rows[5].clone();
        store.append_audit(&[fresh.clone(), copy]).unwrap();
        fresh.session_name = Some("s\u{FFFD}x".into());
        rows.push(fresh);
        assert_eq!(
            schema.scalar("SELECT count(*) FROM audit").unwrap(),
            i64::try_from(rows.len()).unwrap()
        );
        check_filters(&store, &rows);

        // The previous version's insert still finds its arbiter (nodes not yet upgraded).
        for _ in 0..2 {
            schema
                .scalar(
                    "INSERT INTO audit (time, session_name, subject, denied, record, request_id)
                     SELECT * FROM UNNEST('{3000}'::BIGINT[], '{old}'::TEXT[], '{NULL}'::TEXT[],
                         '{f}'::BOOLEAN[], '{\"{}\"}'::TEXT[], '{old-node-1}'::TEXT[])
                     ON CONFLICT (request_id) DO NOTHING",
                )
                .unwrap();
        }
        rows.push(AuditRow {
            time: 3000,
            session_name: Some("old".into()),
            subject: None,
            denied: false,
            record: "{}".into(),
        });
        check_filters(&store, &rows);

        // Opening again changes nothing.
        drop(store);
        let store = schema.open().unwrap();
        assert_eq!(
            schema
                .scalar("SELECT count(*) FROM schema_version")
                .unwrap(),
            LATEST_SCHEMA
        );
        check_filters(&store, &rows);
    }

    /// The plain insert tried first fails on a record already stored; the batch is then redone
    /// with `ON CONFLICT DO NOTHING`, in one transaction, keeping the batch's new records.
    #[test]
    fn a_batch_repeating_stored_records_adds_only_the_new_ones() {
        let Some(schema) = schema() else { return };
        let store = schema.open().unwrap();
        let row = |id: &str, t: u64| AuditRow {
            time: t,
            session_name: Some(format!("s{id}")),
            subject: None,
            denied: false,
            record: format!("{{\"requestID\":\"{id}\"}}"),
        };
        store.append_audit(&[row("a", 1), row("b", 2)]).unwrap();
        // Twice in one batch, and a copy of a stored one.
        store
            .append_audit(&[row("c", 3), row("b", 4), row("d", 5), row("d", 6)])
            .unwrap();
        // Records without a request id are never taken for copies of each other.
        let mut plain = row("x", 7);
        plain.record = "{}".into();
        store.append_audit(&[plain.clone(), plain]).unwrap();
        let got: Vec<(u64, Option<String>)> = store
            .query_audit(&AuditFilter::default())
            .unwrap()
            .into_iter()
            .map(|r| (r.time, r.session_name))
            .collect();
        let want: Vec<(u64, Option<String>)> = [
            (1, "sa"),
            (2, "sb"),
            (3, "sc"),
            (5, "sd"),
            (7, "sx"),
            (7, "sx"),
        ]
        .iter()
        .map(|(t, s)| (*t, Some((*s).to_owned())))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn newer_schema_is_refused() {
        let Some(schema) = schema() else { return };
        drop(schema.open().unwrap());
        schema
            .scalar("INSERT INTO schema_version (version) VALUES (99)")
            .unwrap();
        match schema.open() {
            Err(StoreError::Database(m)) => assert!(m.contains("99"), "{m}"),
            other => panic!("expected a schema-version error, got {other:?}"),
        }
    }

    /// The `time` of every stored audit record, in order.
    fn audit_times(store: &PgStore) -> Vec<u64> {
        store
            .query_audit(&AuditFilter::default())
            .unwrap()
            .iter()
            .map(|r| r.time)
            .collect()
    }

    fn via_proxy(schema: &TestSchema, connect: u64, statement: u64) -> (Proxy, PgStore) {
        let proxy = Proxy::start(schema.host_port().expect("a TCP server URL")).unwrap();
        let url = schema.via("127.0.0.1", proxy.port).unwrap();
        let store = PgStore::open(
            &url,
            PgOptions {
                schema: Some(schema.name().into()),
                ..short(connect, statement)
            },
        )
        .unwrap();
        (proxy, store)
    }

    #[test]
    fn database_outage_gives_unavailable_then_recovers_by_itself() {
        let Some(schema) = schema() else { return };
        let (proxy, store) = via_proxy(&schema, 1000, 2000);
        store.put(Kind::Role, "before", "{}").unwrap();
        store.append_audit(&[audit(1, "before")]).unwrap();

        // A restart while the store is idle: its open connections are dead, and the next call
        // still succeeds (dead connections are noticed and replaced, once, before any effect).
        proxy.set(ProxyMode::Refuse);
        proxy.set(ProxyMode::Forward);
        store.put(Kind::Role, "before", "{\"v\":2}").unwrap();
        proxy.set(ProxyMode::Refuse);
        proxy.set(ProxyMode::Forward);
        store.append_audit(&[audit(1, "before")]).unwrap();
        proxy.set(ProxyMode::Refuse);
        proxy.set(ProxyMode::Forward);
        assert_eq!(store.load().unwrap().entities.len(), 1);

        proxy.set(ProxyMode::Refuse);
        let started = Instant::now();
        assert_unavailable(store.put(Kind::Role, "during", "{}"));
        assert_unavailable(store.append_audit(&[audit(2, "during")]));
        assert_unavailable(store.load());
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
        assert_unavailable(store.ping());

        proxy.set(ProxyMode::Forward);
        // The very first call after the database returns succeeds: the store reconnects itself.
        store.put(Kind::Role, "after", "{}").unwrap();
        store.append_audit(&[audit(3, "after")]).unwrap();
        store.ping().unwrap();
        let keys: Vec<String> = store
            .load()
            .unwrap()
            .entities
            .into_iter()
            .map(|(_, k, _)| k)
            .collect();
        assert_eq!(keys, vec!["after".to_string(), "before".to_string()]);
        assert_eq!(audit_times(&store), vec![1, 1, 3]);
    }

    #[test]
    fn stalled_database_times_out_then_recovers() {
        let Some(schema) = schema() else { return };
        let (proxy, store) = via_proxy(&schema, 800, 800);
        store.put(Kind::Role, "before", "{}").unwrap();
        proxy.set(ProxyMode::Stall);
        let started = Instant::now();
        assert_unavailable(store.load());
        let took = started.elapsed();
        assert!(took < Duration::from_millis(2500), "{took:?}");
        proxy.set(ProxyMode::Forward);
        let mut ok = false;
        for _ in 0..3 {
            if store.load().is_ok() {
                ok = true;
                break;
            }
        }
        assert!(ok, "no recovery after the stall");
        assert_eq!(store.load().unwrap().entities.len(), 1);
    }

    #[test]
    fn audit_connection_rides_out_outages_within_its_bound() {
        let Some(schema) = schema() else { return };
        let (proxy, store) = via_proxy(&schema, 800, 800);
        let mut conn = store.audit_connection().unwrap();
        let wait = Duration::from_secs(2);
        conn.append_within(&[audit(1, "before")], wait).unwrap();

        // Restarted while idle: the dead connection is replaced before anything is sent.
        proxy.set(ProxyMode::Refuse);
        proxy.set(ProxyMode::Forward);
        conn.append_within(&[audit(2, "again")], wait).unwrap();

        proxy.set(ProxyMode::Refuse);
        let started = Instant::now();
        assert_unavailable(conn.append_within(&[audit(3, "down")], wait));
        proxy.set(ProxyMode::Stall);
        assert_unavailable(conn.append_within(&[audit(4, "stalled")], Duration::from_millis(600)));
        let took = started.elapsed();
        assert!(took < Duration::from_millis(2500), "{took:?}");

        proxy.set(ProxyMode::Forward);
        conn.append_within(&[audit(5, "after")], wait).unwrap();
        // A stalled batch never reached the database (the proxy held it); nothing is doubled.
        assert_eq!(audit_times(&store), vec![1, 2, 5]);
    }

    /// Rough figures, not a pass/fail check:
    /// `cargo test -p keyless-store --test main -- --ignored --nocapture throughput`.
    #[test]
    #[ignore = "measurement"]
    fn throughput() {
        fn measure(name: &str, store: &dyn Store) {
            let n = 500u32;
            let t = Instant::now();
            for i in 0..n {
                store
                    .put(Kind::Role, &format!("123456789012/r{i}"), "{\"x\":1}")
                    .unwrap();
            }
            let put = t.elapsed();
            let t = Instant::now();
            for b in 0..50u64 {
                let batch: Vec<AuditRow> = (0..100).map(|i| audit(b * 100 + i, "s")).collect();
                store.append_audit(&batch).unwrap();
            }
            let batches = t.elapsed();
            let t = Instant::now();
            for i in 0..200u64 {
                store.append_audit(&[audit(i, "one")]).unwrap();
            }
            let single = t.elapsed();
            let t = Instant::now();
            for _ in 0..20 {
                assert_eq!(store.load().unwrap().entities.len(), 500);
            }
            let load = t.elapsed();
            eprintln!(
                "{name}: put {:.0}/s; audit batch of 100 {:.0} batches/s; audit single {:.0}/s; load of 500 {:.1} ms",
                f64::from(n) / put.as_secs_f64(),
                50.0 / batches.as_secs_f64(),
                200.0 / single.as_secs_f64(),
                load.as_secs_f64() * 1000.0 / 20.0
            );
        }
        let dir = tempfile::tempdir().unwrap();
        measure(
            "sqlite",
            &keyless_store::SqliteStore::open_dir(dir.path()).unwrap(),
        );
        let Some(schema) = schema() else { return };
        let store = Arc::new(schema.open().unwrap());
        measure("postgres", &*store);
        // Four callers at once share the connections (and the server's group commit).
        let t = Instant::now();
        let threads: Vec<_> = (0..4)
            .map(|th| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..200 {
                        store
                            .put(Kind::Policy, &format!("arn:{th}:{i}"), "{}")
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        eprintln!(
            "postgres: put from 4 threads {:.0}/s",
            800.0 / t.elapsed().as_secs_f64()
        );
    }
    /// CPU of every PostgreSQL process, in nanoseconds (needs read access to their `/proc`).
    fn postgres_cpu_ns() -> u64 {
        let mut total = 0;
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let path = entry.path();
            let is_pg =
                std::fs::read_to_string(path.join("comm")).is_ok_and(|c| c.trim() == "postgres");
            if let (true, Ok(stat)) = (is_pg, std::fs::read_to_string(path.join("schedstat"))) {
                total += stat
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
        total
    }

    /// CloudTrail-sized records (1.5 KB, UUID-form request ids), a session name per four and 97
    /// subjects, as AssumeRoleWithWebIdentity writes them. Request ids are random (version 4, as
    /// nodes sent them before) or `time_ordered` (version 7, as they send them now).
    fn cloudtrail_rows(from: u64, n: u64, time_ordered: bool) -> Vec<AuditRow> {
        let filler = "x".repeat(1350);
        (from..from + n)
            .map(|i| {
                let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let id = if time_ordered {
                    let ms = 1_796_299_547_000 + i / 10;
                    format!(
                        "{:08x}-{:04x}-7{:03x}-a{:03x}-{:012x}",
                        ms >> 16,
                        ms & 0xffff,
                        h & 0xfff,
                        (h >> 20) & 0xfff,
                        h >> 16
                    )
                } else {
                    format!(
                        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                        h >> 32,
                        (h >> 16) & 0xffff,
                        h & 0xfff,
                        (h >> 20) & 0xfff,
                        i
                    )
                };
                AuditRow {
                    time: 1_796_299_547 + i / 10_000,
                    session_name: Some(format!("gha-{}", 7_000_000_000 + i / 4)),
                    subject: Some(format!("repo:acme/service-{}:ref:refs/heads/main", i % 97)),
                    denied: false,
                    record: format!("{{\"f\":\"{filler}\",\"requestID\":\"{id}\"}}"),
                }
            })
            .collect()
    }

    /// Inserts `rows` in batches of `size` with `sql` (an `INSERT … SELECT * FROM UNNEST(…)`),
    /// the way earlier versions of the store did: in `BEGIN` … `COMMIT` when `in_transaction`,
    /// else as one statement per batch.
    fn insert_as_before(
        schema: &TestSchema,
        rows: &[AuditRow],
        size: usize,
        sql: &str,
        in_transaction: bool,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (mut client, connection) =
                tokio_postgres::connect(schema.url(), tokio_postgres::NoTls)
                    .await
                    .unwrap();
            let driver = tokio::spawn(connection);
            client
                .batch_execute(&format!("SET search_path TO \"{}\"", schema.name()))
                .await
                .unwrap();
            let stmt = client.prepare(sql).await.unwrap();
            for batch in rows.chunks(size) {
                let times: Vec<i64> = batch.iter().map(|r| r.time as i64).collect();
                let sessions: Vec<Option<&str>> =
                    batch.iter().map(|r| r.session_name.as_deref()).collect();
                let subjects: Vec<Option<&str>> =
                    batch.iter().map(|r| r.subject.as_deref()).collect();
                let denied: Vec<bool> = batch.iter().map(|r| r.denied).collect();
                let records: Vec<&str> = batch.iter().map(|r| r.record.as_str()).collect();
                let ids: Vec<Option<&str>> = batch
                    .iter()
                    .map(|r| keyless_store::spool::request_id(&r.record))
                    .collect();
                let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
                    [&times, &sessions, &subjects, &denied, &records, &ids];
                if in_transaction {
                    let tx = client.transaction().await.unwrap();
                    tx.execute(&stmt, &params).await.unwrap();
                    tx.commit().await.unwrap();
                } else {
                    client.execute(&stmt, &params).await.unwrap();
                }
            }
            drop(client);
            let _ = driver.await;
        });
    }

    /// PostgreSQL's CPU per audit record through the real client, three ways, interleaved, in
    /// batches of 32 (or `BATCH`) into empty tables:
    /// - v3: the version-3 schema, random (version 4) request ids, `INSERT … ON CONFLICT
    ///   (request_id) DO NOTHING` in `BEGIN` … `COMMIT`;
    /// - v4: migration 4's schema, random request ids, a plain `INSERT` sent as one statement;
    /// - now: the store as it is (migration 5's schema, the same plain `INSERT`), time-ordered
    ///   (version 7) request ids.
    ///
    /// Counts every PostgreSQL process, so run it on an otherwise idle server:
    /// `cargo test -p keyless-store --test main -- --ignored --nocapture audit_row_cost`.
    #[test]
    #[ignore = "measurement"]
    fn audit_row_cost() {
        let n = 20_000u64;
        // Records per batch: the node commits whatever queued up meanwhile, often fewer than 32.
        let size: usize = std::env::var("BATCH")
            .ok()
            .and_then(|b| b.parse().ok())
            .unwrap_or(32);
        let insert = "INSERT INTO audit (time, session_name, subject, denied, record, request_id)
             SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::BOOLEAN[],
                                  $5::TEXT[], $6::TEXT[])";
        let per_record = |ns: u64| ns as f64 / n as f64 / 1000.0;
        for round in 0..2u64 {
            let base = round * 10_000_000;

            let Some(v3) = schema() else { return };
            v3.scalar(&format!(
                "CREATE SCHEMA \"{0}\"; SET search_path TO \"{0}\"; {SCHEMA_V3}",
                v3.name()
            ))
            .unwrap();
            let rows = cloudtrail_rows(base, n, false);
            let before = postgres_cpu_ns();
            let on_conflict = format!("{insert} ON CONFLICT (request_id) DO NOTHING");
            insert_as_before(&v3, &rows, size, &on_conflict, true);
            let v3_ns = postgres_cpu_ns() - before;
            assert_eq!(v3.scalar("SELECT count(*) FROM audit").unwrap(), n as i64);

            let Some(v4) = schema() else { return };
            drop(v4.open().unwrap());
            let rows = cloudtrail_rows(base + 1_000_000, n, false);
            let before = postgres_cpu_ns();
            insert_as_before(&v4, &rows, size, insert, false);
            let v4_ns = postgres_cpu_ns() - before;
            assert_eq!(v4.scalar("SELECT count(*) FROM audit").unwrap(), n as i64);

            let Some(now) = schema() else { return };
            let store = now.open().unwrap();
            let rows = cloudtrail_rows(base + 2_000_000, n, true);
            let before = postgres_cpu_ns();
            for batch in rows.chunks(size) {
                store.append_audit(batch).unwrap();
            }
            let now_ns = postgres_cpu_ns() - before;
            assert_eq!(now.scalar("SELECT count(*) FROM audit").unwrap(), n as i64);
            eprintln!(
                "round {round}, batches of {size}: PostgreSQL CPU per record: v3 {:.1} µs, \
                 v4 {:.1} µs, now {:.1} µs",
                per_record(v3_ns),
                per_record(v4_ns),
                per_record(now_ns)
            );
        }
    }

    /// What one record per `requestID` costs on the audit path: batches of 100 CloudTrail-sized
    /// records with request ids (indexed, deduplicated) against the same without (NULL keys).
    /// `cargo test -p keyless-store --test main -- --ignored --nocapture request_id_cost`.
    #[test]
    #[ignore = "measurement"]
    fn request_id_cost() {
        let Some(schema) = schema() else { return };
        let store = schema.open().unwrap();
        let filler = "x".repeat(1000);
        let batch = |b: u64, with_id: bool| -> Vec<AuditRow> {
            (0..100)
                .map(|i| {
                    let id = if with_id {
                        format!("\"requestID\":\"{:08x}-1111-2222-3333-{:012x}\",", b, i)
                    } else {
                        String::new()
                    };
                    AuditRow {
                        time: b,
                        session_name: Some("s".into()),
                        subject: None,
                        denied: false,
                        record: format!("{{\"f\":\"{filler}\",{id}\"eventID\":\"e\"}}"),
                    }
                })
                .collect()
        };
        for round in 0..2 {
            for with_id in [false, true] {
                let t = Instant::now();
                for b in 0..100u64 {
                    store
                        .append_audit(&batch(
                            b + 1000 * round + if with_id { 500 } else { 0 },
                            with_id,
                        ))
                        .unwrap();
                }
                eprintln!(
                    "round {round}, request ids {with_id}: {:.0} batches of 100/s",
                    100.0 / t.elapsed().as_secs_f64()
                );
            }
        }
    }
}

mod sqlite_checkpoints {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use keyless_core::store::{AuditRow, Store};
    use keyless_store::SqliteStore;

    /// A record at `time` whose JSON carries `pad` bytes of padding, with session name `s`.
    fn padded(time: u64, subject: Option<&str>, pad: usize) -> AuditRow {
        AuditRow {
            time,
            session_name: Some("s".into()),
            subject: subject.map(Into::into),
            denied: false,
            record: format!("{{\"t\":{time},\"pad\":\"{}\"}}", "x".repeat(pad)),
        }
    }

    /// Audit commits never copy the WAL into the database file themselves (no automatic
    /// checkpoint inside a commit a request waits for); the checkpointer thread does, shortly
    /// after.
    #[test]
    fn the_checkpointer_thread_moves_the_wal_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_dir(dir.path()).unwrap();
        let db = dir.path().join("keyless.db");
        let before = std::fs::metadata(&db).unwrap().len();
        let rows: Vec<AuditRow> = (0..2000).map(|t| padded(t, None, 500)).collect();
        for chunk in rows.chunks(100) {
            store.append_audit(chunk).unwrap();
        }
        // Over 1 MB was committed, all of it to the WAL first.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = std::fs::metadata(&db).unwrap().len();
            if now > before + 1_000_000 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the database file did not grow past {before} bytes within 10 s (now {now}): no checkpoint ran"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(store);
        // Reopened, everything is there.
        let store = SqliteStore::open_dir(dir.path()).unwrap();
        let back = store
            .query_audit(&keyless_core::store::AuditFilter::default())
            .unwrap();
        assert_eq!(back.len(), 2000);
    }

    /// The checkpoint sequence number in a WAL file's header (bytes 12..16, big-endian), which
    /// SQLite increments each time the WAL starts over.
    fn wal_generation(wal: &std::path::Path) -> Option<u32> {
        let mut head = [0u8; 16];
        let mut file = std::fs::File::open(wal).ok()?;
        std::io::Read::read_exact(&mut file, &mut head).ok()?;
        Some(u32::from_be_bytes([head[12], head[13], head[14], head[15]]))
    }

    /// Writes that never pause leave no quiet moment for a passive checkpoint to catch up and
    /// the WAL to start over by itself; the checkpointer must restart it once past its cap
    /// (32 MiB), or the WAL would grow without bound. Two threads keep the store's connection
    /// busy, commit after commit, until the WAL starts over after passing the cap, or up to
    /// about 600 MB of records, which fails.
    #[test]
    fn the_wal_starts_over_under_writes_that_never_pause() {
        const WRITERS: u64 = 2;
        const BATCHES: u64 = 2_000;
        const CAP: u64 = 32 << 20;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_dir(dir.path()).unwrap();
        let wal = dir.path().join("keyless.db-wal");
        let done = AtomicU64::new(0);
        let stop = AtomicBool::new(false);
        let written = AtomicU64::new(0);
        // The WAL's generation when its file first passed the cap, and the last one seen.
        let (mut past_cap, mut last) = (None, None);
        std::thread::scope(|s| {
            for w in 0..WRITERS {
                let (store, done, stop, written) = (&store, &done, &stop, &written);
                s.spawn(move || {
                    for b in 0..BATCHES {
                        if stop.load(Ordering::Acquire) {
                            break;
                        }
                        let rows: Vec<AuditRow> = (0..100)
                            .map(|i| {
                                let subject = "repo:acme/app:ref:refs/heads/main";
                                padded((w * BATCHES + b) * 100 + i, Some(subject), 1500)
                            })
                            .collect();
                        store.append_audit(&rows).unwrap();
                        written.fetch_add(100, Ordering::Release);
                    }
                    done.fetch_add(1, Ordering::Release);
                });
            }
            while done.load(Ordering::Acquire) < WRITERS {
                let len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
                last = wal_generation(&wal);
                if past_cap.is_none() && len > CAP {
                    past_cap = last;
                }
                if past_cap.is_some() && last != past_cap {
                    stop.store(true, Ordering::Release);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        let past_cap = past_cap.expect("the WAL never passed its cap: the test wrote too little");
        assert_ne!(
            last,
            Some(past_cap),
            "the WAL did not start over after passing its cap while writes went on"
        );
        let back = store
            .query_audit(&keyless_core::store::AuditFilter::default())
            .unwrap();
        assert_eq!(back.len() as u64, written.load(Ordering::Acquire));
    }
}
