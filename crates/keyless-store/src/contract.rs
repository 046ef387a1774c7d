//! The contract every `Store` must keep; run against each implementation.

use keyless_core::store::{AuditFilter, AuditRow, Kind, Store};

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

#[test]
fn sqlite_in_memory_keeps_the_contract() {
    contract(&SqliteStore::in_memory().unwrap());
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

#[test]
fn postgres_keeps_the_contract() {
    let Some(schema) = crate::testing::TestSchema::from_env() else {
        eprintln!("skipped: {} is not set", crate::testing::URL_VAR);
        return;
    };
    contract(&schema.open().unwrap());
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
        1
    );
}
