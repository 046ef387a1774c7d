//! Several nodes on one store: the first keys converge, and changes made on one node reach the
//! others through the change feed (`apply_changes`), driven directly with an in-memory store that
//! keeps a feed like the real ones.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier, Mutex};

use keyless_core::iam::{Iam, NewRole};
use keyless_core::keys::{INITIAL_ISSUER_KEY, INITIAL_SEALING_KEY_ID, IssuerKeys, SealingKeys};
use keyless_core::seal::Session;
use keyless_core::store::{
    AuditFilter, AuditRow, CHANGE_PAGE, Change, ChangePage, Kind, Snapshot, Store, StoreError,
};
use keyless_core::{Clock, CoreError};

/// A store with a change feed; one mutex makes every call atomic, like a transaction.
#[derive(Default)]
struct FeedStore {
    inner: Mutex<Inner>,
    /// Held for writing by a test to stall `get` and `put`, as a database that stopped answering.
    gate: std::sync::RwLock<()>,
}

#[derive(Default)]
struct Inner {
    entities: BTreeMap<(String, String), String>,
    feed: Vec<Change>,
    pruned_through: u64,
    /// When set, every call fails as if the database were down.
    down: bool,
}

impl Inner {
    fn check(&self) -> Result<(), StoreError> {
        if self.down {
            Err(StoreError::Unavailable("test: database down".into()))
        } else {
            Ok(())
        }
    }

    fn record(&mut self, kind: Kind, key: &str) {
        let seq = self.feed.last().map_or(self.pruned_through, |c| c.seq) + 1;
        self.feed.push(Change {
            seq,
            kind,
            key: key.to_owned(),
        });
    }
}

impl FeedStore {
    fn set_down(&self, down: bool) {
        self.inner.lock().unwrap().down = down;
    }

    /// Drops every feed entry, as pruning would for a node that fell far behind.
    fn prune_all(&self) {
        let mut inner = self.inner.lock().unwrap();
        if let Some(last) = inner.feed.last() {
            inner.pruned_through = last.seq;
        }
        inner.feed.clear();
    }
}

impl Store for FeedStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        let inner = self.inner.lock().unwrap();
        inner.check()?;
        Ok(Snapshot {
            entities: inner
                .entities
                .iter()
                .map(|((k, key), v)| (Kind::parse(k).unwrap(), key.clone(), v.clone()))
                .collect(),
        })
    }
    fn put(&self, kind: Kind, key: &str, json: &str) -> Result<(), StoreError> {
        let _gate = self.gate.read().unwrap();
        let mut inner = self.inner.lock().unwrap();
        inner.check()?;
        inner
            .entities
            .insert((kind.as_str().into(), key.into()), json.into());
        inner.record(kind, key);
        Ok(())
    }
    fn delete(&self, kind: Kind, key: &str) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().unwrap();
        inner.check()?;
        if inner
            .entities
            .remove(&(kind.as_str().into(), key.into()))
            .is_some()
        {
            inner.record(kind, key);
        }
        Ok(())
    }
    fn append_audit(&self, _: &[AuditRow]) -> Result<(), StoreError> {
        Ok(())
    }
    fn query_audit(&self, _: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
        Ok(Vec::new())
    }
    fn get(&self, kind: Kind, key: &str) -> Result<Option<String>, StoreError> {
        let _gate = self.gate.read().unwrap();
        let inner = self.inner.lock().unwrap();
        inner.check()?;
        Ok(inner
            .entities
            .get(&(kind.as_str().into(), key.into()))
            .cloned())
    }
    fn put_if_absent(&self, kind: Kind, key: &str, json: &str) -> Result<bool, StoreError> {
        let mut inner = self.inner.lock().unwrap();
        inner.check()?;
        let k = (kind.as_str().to_owned(), key.to_owned());
        if inner.entities.contains_key(&k) {
            return Ok(false);
        }
        inner.entities.insert(k, json.into());
        inner.record(kind, key);
        Ok(true)
    }
    fn latest_change(&self) -> Result<u64, StoreError> {
        let inner = self.inner.lock().unwrap();
        inner.check()?;
        Ok(inner.feed.last().map_or(inner.pruned_through, |c| c.seq))
    }
    fn changes_since(&self, since: u64) -> Result<ChangePage, StoreError> {
        let inner = self.inner.lock().unwrap();
        inner.check()?;
        let rest: Vec<Change> = inner
            .feed
            .iter()
            .filter(|c| c.seq > since)
            .cloned()
            .collect();
        let more = rest.len() > CHANGE_PAGE;
        let changes: Vec<Change> = rest.into_iter().take(CHANGE_PAGE).collect();
        Ok(ChangePage {
            next: changes.last().map_or(since, |c| c.seq),
            more,
            gap: since < inner.pruned_through,
            changes,
        })
    }
}

struct Fixed(u64);
impl Clock for Fixed {
    fn now(&self) -> u64 {
        self.0
    }
}

const NOW: u64 = 1_800_000_000;
const ACCOUNT: &str = "123456789012";
const PROVIDER: &str =
    "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";

fn trust(repo: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"token.actions.githubusercontent.com:sub":"repo:{repo}:ref:refs/heads/main"}}}}}}]}}"#
    )
}

fn role(name: &str) -> NewRole {
    NewRole {
        name: name.into(),
        trust_policy: trust("o/r"),
        ..Default::default()
    }
}

fn session(name: &str) -> Session {
    Session {
        account: ACCOUNT.into(),
        role_name: "deploy".into(),
        role_arn: format!("arn:aws:iam::{ACCOUNT}:role/deploy"),
        role_id: "AROAEXAMPLE".into(),
        session_name: name.into(),
        access_key_id: "ASIAEXAMPLE".into(),
        secret_access_key: "secret".into(),
        issued: NOW,
        expires: NOW + 3600,
        session_policy: None,
        session_policy_arns: vec![],
        tags: vec![],
        transitive_tag_keys: vec![],
        source_identity: None,
        chained: false,
        federated_provider: None,
        web_identity_subject: None,
    }
}

/// A node's view of the feed: where it is, and the pull that `serve`'s sync task does.
struct Follower {
    at: u64,
}

impl Follower {
    fn start(store: &FeedStore) -> Self {
        Self {
            at: store.latest_change().unwrap(),
        }
    }

    fn pull(&mut self, store: &FeedStore) -> ChangePage {
        let page = store.changes_since(self.at).unwrap();
        self.at = page.next;
        page
    }
}

#[test]
fn iam_changes_on_one_node_reach_another() {
    let store = Arc::new(FeedStore::default());
    let clock = Arc::new(Fixed(NOW));
    let a = Iam::load(store.clone(), clock.clone()).unwrap();
    let b = Iam::load(store.clone(), clock.clone()).unwrap();
    let mut fa = Follower::start(&store);
    let mut fb = Follower::start(&store);

    a.create_provider(
        ACCOUNT,
        "https://token.actions.githubusercontent.com",
        vec!["sts.amazonaws.com".into()],
        vec![],
        vec![],
    )
    .unwrap();
    a.create_role(ACCOUNT, role("deploy")).unwrap();
    let policy = a
        .create_policy(
            ACCOUNT,
            "read",
            None,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#
                .into(),
            None,
            vec![],
        )
        .unwrap();
    assert_eq!(
        b.role(ACCOUNT, "deploy").unwrap_err().code(),
        "NoSuchEntity"
    );

    let page = fb.pull(&store);
    assert_eq!(b.apply_changes(&page.changes).unwrap(), 3);
    assert_eq!(
        b.role(ACCOUNT, "DEPLOY").unwrap().role.trust_policy,
        trust("o/r")
    );
    assert!(b.provider(ACCOUNT, PROVIDER).is_ok());
    assert!(b.policy(ACCOUNT, &policy.policy.arn).is_ok());
    assert!(
        b.provider_for_issuer(ACCOUNT, "https://token.actions.githubusercontent.com")
            .unwrap()
            .is_some()
    );

    // Applying the same changes again, and a node applying its own, is harmless.
    b.apply_changes(&page.changes).unwrap();
    let own = fa.pull(&store);
    a.apply_changes(&own.changes).unwrap();
    assert_eq!(
        a.role(ACCOUNT, "deploy").unwrap().role.role_id,
        b.role(ACCOUNT, "deploy").unwrap().role.role_id
    );

    // An update and an attachment.
    a.update_trust_policy(ACCOUNT, "deploy", trust("o/other"))
        .unwrap();
    a.attach_role_policy(ACCOUNT, "deploy", &policy.policy.arn)
        .unwrap();
    b.apply_changes(&fb.pull(&store).changes).unwrap();
    let seen = b.role(ACCOUNT, "deploy").unwrap();
    assert_eq!(seen.role.trust_policy, trust("o/other"));
    assert_eq!(seen.role.attached, vec![policy.policy.arn.clone()]);
    assert_eq!(
        b.policy_usage(&policy.policy.account, &policy.policy.arn)
            .unwrap()
            .0,
        1
    );

    // A change made on B reaches A too.
    b.create_role(ACCOUNT, role("other")).unwrap();
    a.apply_changes(&fa.pull(&store).changes).unwrap();
    assert!(a.role(ACCOUNT, "other").is_ok());

    // Deletions.
    a.detach_role_policy(ACCOUNT, "deploy", &policy.policy.arn)
        .unwrap();
    a.delete_role(ACCOUNT, "deploy").unwrap();
    a.delete_policy(ACCOUNT, &policy.policy.arn).unwrap();
    a.delete_provider(ACCOUNT, PROVIDER).unwrap();
    b.apply_changes(&fb.pull(&store).changes).unwrap();
    assert_eq!(
        b.role(ACCOUNT, "deploy").unwrap_err().code(),
        "NoSuchEntity"
    );
    assert!(b.policy(ACCOUNT, &policy.policy.arn).is_err());
    assert!(b.provider(ACCOUNT, PROVIDER).is_err());
    assert!(b.role(ACCOUNT, "other").is_ok());
    // AWS managed policies are not in the store and stay.
    assert!(
        b.policy("aws", "arn:aws:iam::aws:policy/ReadOnlyAccess")
            .is_ok()
    );
}

#[test]
fn a_node_that_missed_changes_reloads_everything() {
    let store = Arc::new(FeedStore::default());
    let clock = Arc::new(Fixed(NOW));
    let a = Iam::load(store.clone(), clock.clone()).unwrap();
    let b = Iam::load(store.clone(), clock.clone()).unwrap();
    let mut fb = Follower::start(&store);
    b.create_role(ACCOUNT, role("gone")).unwrap();
    b.apply_changes(&fb.pull(&store).changes).unwrap();
    a.apply_changes(&store.changes_since(0).unwrap().changes)
        .unwrap();
    a.delete_role(ACCOUNT, "gone").unwrap();
    a.create_role(ACCOUNT, role("new")).unwrap();
    store.prune_all();
    let page = fb.pull(&store);
    assert!(page.gap);
    assert!(page.changes.is_empty());
    b.reload().unwrap();
    assert!(b.role(ACCOUNT, "new").is_ok());
    assert!(b.role(ACCOUNT, "gone").is_err());
}

/// Whether `f` returns within a second on another thread.
fn returns_promptly<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(1)).ok()
}

#[test]
fn a_stalled_database_never_holds_up_sealing_or_signing() {
    let store = Arc::new(FeedStore::default());
    let a = SealingKeys::load(store.clone(), NOW).unwrap();
    let b = Arc::new(SealingKeys::load(store.clone(), NOW).unwrap());
    let ia = IssuerKeys::load(store.clone(), NOW).unwrap();
    let ib = Arc::new(IssuerKeys::load(store.clone(), NOW).unwrap());
    let before = store.latest_change().unwrap();
    a.rotate(NOW + 10).unwrap();
    ia.rotate(NOW + 10).unwrap();
    let changes = store.changes_since(before).unwrap().changes;

    let stall = store.gate.write().unwrap();
    // B's followers wait for the database...
    let sealing = {
        let (b, changes) = (b.clone(), changes.clone());
        std::thread::spawn(move || b.apply_changes(&changes))
    };
    let issuer = {
        let (ib, changes) = (ib.clone(), changes.clone());
        std::thread::spawn(move || ib.apply_changes(&changes))
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    // ...while B seals, opens and signs from memory at once.
    let (b2, ib2) = (b.clone(), ib.clone());
    let served = returns_promptly(move || {
        let token = b2.seal(&session("s")).is_ok_and(|t| b2.open(&t).is_ok());
        (token, ib2.signing_key_at(NOW + 11).is_ok())
    });
    drop(stall);
    assert_eq!(
        served,
        Some((true, true)),
        "B waited for the stalled database"
    );
    sealing.join().unwrap().unwrap();
    issuer.join().unwrap().unwrap();
    // And the changes arrived once the database answered.
    assert_eq!(b.ids(), a.ids());
    assert_eq!(ib.kids(), ia.kids());
}

#[test]
fn a_stalled_database_never_holds_up_readers() {
    let store = Arc::new(FeedStore::default());
    let clock = Arc::new(Fixed(NOW));
    let a = Iam::load(store.clone(), clock.clone()).unwrap();
    let b = Arc::new(Iam::load(store.clone(), clock.clone()).unwrap());
    a.create_role(ACCOUNT, role("deploy")).unwrap();
    b.create_role(ACCOUNT, role("local")).unwrap();
    let page = store.changes_since(0).unwrap();

    let stall = store.gate.write().unwrap();
    // B's follower and a write on B both wait for the database...
    let follower = {
        let b = b.clone();
        let changes = page.changes.clone();
        std::thread::spawn(move || b.apply_changes(&changes))
    };
    let writer = {
        let b = b.clone();
        std::thread::spawn(move || b.create_role(ACCOUNT, role("during")).map(|_| ()))
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    // ...while B's readers answer from memory at once.
    let reader = b.clone();
    let read = returns_promptly(move || {
        (
            reader.role(ACCOUNT, "local").is_ok(),
            reader.role(ACCOUNT, "deploy").is_ok(),
        )
    });
    drop(stall);
    assert_eq!(
        read,
        Some((true, false)),
        "a reader waited for the stalled database"
    );
    assert_eq!(follower.join().unwrap().unwrap(), 2);
    writer.join().unwrap().unwrap();
    for name in ["deploy", "local", "during"] {
        assert!(b.role(ACCOUNT, name).is_ok(), "{name}");
    }
}

#[test]
fn a_failed_read_changes_nothing_and_can_be_retried() {
    let store = Arc::new(FeedStore::default());
    let clock = Arc::new(Fixed(NOW));
    let a = Iam::load(store.clone(), clock.clone()).unwrap();
    let b = Iam::load(store.clone(), clock.clone()).unwrap();
    a.create_role(ACCOUNT, role("deploy")).unwrap();
    let page = store.changes_since(0).unwrap();
    store.set_down(true);
    let e = b.apply_changes(&page.changes).unwrap_err();
    assert!(matches!(e, CoreError::Unavailable(_)), "{e:?}");
    store.set_down(false);
    b.apply_changes(&page.changes).unwrap();
    assert!(b.role(ACCOUNT, "deploy").is_ok());
}

#[test]
fn nodes_starting_together_on_an_empty_store_share_one_first_sealing_key() {
    for _ in 0..20 {
        let store = Arc::new(FeedStore::default());
        let barrier = Arc::new(Barrier::new(4));
        let nodes: Vec<SealingKeys> = (0..4)
            .map(|_| {
                let store = store.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    SealingKeys::load(store, NOW).unwrap()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        for n in &nodes {
            assert_eq!(n.ids(), vec![INITIAL_SEALING_KEY_ID.to_owned()]);
        }
        let token = nodes[0].seal(&session("from-0")).unwrap();
        for n in &nodes {
            assert_eq!(n.open(&token).unwrap().session_name, "from-0");
            let own = n.seal(&session("back")).unwrap();
            assert_eq!(nodes[0].open(&own).unwrap().session_name, "back");
        }
        let derived: Vec<Vec<u8>> = nodes
            .iter()
            .map(|n| n.derive_key("runner-request-token").unwrap())
            .collect();
        assert!(derived.windows(2).all(|w| w[0] == w[1]));
    }
}

#[test]
fn nodes_starting_together_on_an_empty_store_share_one_first_issuer_key() {
    let store = Arc::new(FeedStore::default());
    let barrier = Arc::new(Barrier::new(3));
    let nodes: Vec<IssuerKeys> = (0..3)
        .map(|_| {
            let store = store.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let keys = IssuerKeys::load_deferred(store).unwrap();
                barrier.wait();
                keys.ensure_signing_key(NOW).unwrap();
                keys
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let kid = nodes[0].signing_key().unwrap().kid().to_owned();
    for n in &nodes {
        assert_eq!(n.signing_key().unwrap().kid(), kid);
        assert_eq!(n.kids(), vec![kid.clone()]);
        assert!(n.key_set().unwrap().kids().contains(&kid));
    }
    // One row, under the well-known store key.
    let rows: Vec<String> = store
        .load()
        .unwrap()
        .entities
        .into_iter()
        .filter(|(k, _, _)| *k == Kind::IssuerKey)
        .map(|(_, key, _)| key)
        .collect();
    assert_eq!(rows, vec![INITIAL_ISSUER_KEY.to_owned()]);
}

#[test]
fn a_sealing_key_rotation_on_one_node_reaches_the_others() {
    let store = Arc::new(FeedStore::default());
    let a = SealingKeys::load(store.clone(), NOW).unwrap();
    let b = SealingKeys::load(store.clone(), NOW).unwrap();
    let mut fb = Follower::start(&store);
    let mut fa = Follower::start(&store);
    let before = a.seal(&session("before")).unwrap();

    let new_id = a.rotate(NOW + 10).unwrap();
    // Until B applies the change it cannot open tokens sealed with the new key...
    let after = a.seal(&session("after")).unwrap();
    assert!(b.open(&after).is_err());
    b.apply_changes(&fb.pull(&store).changes).unwrap();
    // ...and then it can, seals with the new key itself, and still opens the old tokens.
    assert_eq!(b.open(&after).unwrap().session_name, "after");
    assert_eq!(b.ids().first(), Some(&new_id));
    assert_eq!(b.ids(), a.ids());
    let from_b = b.seal(&session("from-b")).unwrap();
    assert!(from_b.contains(&format!(".{new_id}.")));
    assert_eq!(a.open(&from_b).unwrap().session_name, "from-b");
    assert_eq!(b.open(&before).unwrap().session_name, "before");
    // A applying its own rotation changes nothing.
    a.apply_changes(&fa.pull(&store).changes).unwrap();
    assert_eq!(a.ids().first(), Some(&new_id));

    // Two rotations at once on two nodes: both keys open everywhere, and every node seals with
    // the same one.
    let x = a.rotate(NOW + 20).unwrap();
    let y = b.rotate(NOW + 20).unwrap();
    a.apply_changes(&fa.pull(&store).changes).unwrap();
    b.apply_changes(&fb.pull(&store).changes).unwrap();
    assert_eq!(a.ids(), b.ids());
    let current = a.ids()[0].clone();
    assert!(current == x || current == y);
    let t = a.seal(&session("t")).unwrap();
    assert!(b.open(&t).is_ok());
    assert!(b.open(&before).is_ok());

    // A full reload gives the same keys.
    let c = SealingKeys::load(store.clone(), NOW).unwrap();
    c.reload().unwrap();
    assert_eq!(c.ids(), a.ids());
}

#[test]
fn a_rotation_in_the_first_keys_second_still_seals_with_the_first_key() {
    let store = Arc::new(FeedStore::default());
    let a = SealingKeys::load(store.clone(), NOW).unwrap();
    let b = SealingKeys::load(store.clone(), NOW).unwrap();
    a.set_activation_delay(3);
    let first = a.ids()[0].clone();
    // Rotated twice within the second the first key was made: times tie, ids decide nothing.
    a.rotate(NOW).unwrap();
    a.rotate(NOW).unwrap();
    let token = a
        .seal(&Session {
            issued: NOW,
            expires: NOW + 3600,
            ..session("s")
        })
        .unwrap();
    assert!(token.contains(&format!(".{first}.")), "{token}");
    assert!(b.open(&token).is_ok(), "B, not synced yet, must open it");
}

#[test]
fn with_an_activation_delay_a_new_sealing_key_seals_only_once_every_node_knows_it() {
    let store = Arc::new(FeedStore::default());
    let a = SealingKeys::load(store.clone(), NOW).unwrap();
    let b = SealingKeys::load(store.clone(), NOW).unwrap();
    a.set_activation_delay(5);
    b.set_activation_delay(5);
    let mut fb = Follower::start(&store);
    let first = a.ids()[0].clone();
    let at = |t: u64| Session {
        issued: t,
        expires: t + 3600,
        ..session("s")
    };
    // The only key seals at once, delay or not.
    assert!(a.seal(&at(NOW)).unwrap().contains(&format!(".{first}.")));
    let new_id = a.rotate(NOW + 10).unwrap();
    // Right after the rotation A still seals with the key B knows, before B has synced.
    let early = a.seal(&at(NOW + 11)).unwrap();
    assert!(early.contains(&format!(".{first}.")));
    assert!(b.open(&early).is_ok());
    // Once the delay has passed, the new key seals.
    b.apply_changes(&fb.pull(&store).changes).unwrap();
    let late = a.seal(&at(NOW + 15)).unwrap();
    assert!(late.contains(&format!(".{new_id}.")));
    assert!(b.open(&late).is_ok());
    assert!(
        b.seal(&at(NOW + 15))
            .unwrap()
            .contains(&format!(".{new_id}."))
    );
}

#[test]
fn with_an_activation_delay_a_new_issuer_key_signs_only_once_every_node_knows_it() {
    let store = Arc::new(FeedStore::default());
    let a = IssuerKeys::load(store.clone(), NOW).unwrap();
    let b = IssuerKeys::load(store.clone(), NOW).unwrap();
    a.set_activation_delay(5);
    let mut fb = Follower::start(&store);
    let first = a.signing_key().unwrap().kid().to_owned();
    // The only key signs at once, delay or not.
    assert_eq!(a.signing_key_at(NOW).unwrap().kid(), first);
    let second = a.rotate(NOW + 10).unwrap();
    // Published at once (first in the JWKS), but A signs with the key B has until the delay
    // has passed.
    assert_eq!(a.kids()[0], second);
    assert_eq!(a.signing_key_at(NOW + 11).unwrap().kid(), first);
    assert!(b.key_set().unwrap().kids().contains(&first));
    assert!(!b.key_set().unwrap().kids().contains(&second));
    assert_eq!(a.signing_key_at(NOW + 15).unwrap().kid(), second);
    b.apply_changes(&fb.pull(&store).changes).unwrap();
    assert!(b.key_set().unwrap().kids().contains(&second));
    // Without a delay (one node) the new key signs at once.
    let c = IssuerKeys::load(store.clone(), NOW + 20).unwrap();
    let third = c.rotate(NOW + 20).unwrap();
    assert_eq!(c.signing_key_at(NOW + 20).unwrap().kid(), third);
}

#[test]
fn an_issuer_key_rotation_on_one_node_reaches_the_others() {
    let store = Arc::new(FeedStore::default());
    let a = IssuerKeys::load(store.clone(), NOW).unwrap();
    let b = IssuerKeys::load(store.clone(), NOW).unwrap();
    let mut fb = Follower::start(&store);
    let first = a.signing_key().unwrap().kid().to_owned();
    assert_eq!(b.signing_key().unwrap().kid(), first);

    let second = a.rotate(NOW + 10).unwrap();
    b.apply_changes(&fb.pull(&store).changes).unwrap();
    assert_eq!(b.signing_key().unwrap().kid(), second);
    assert_eq!(b.kids(), vec![second.clone(), first.clone()]);
    let jwks = b.jwks().to_string();
    assert!(jwks.contains(&first) && jwks.contains(&second));
    assert!(b.key_set().unwrap().kids().contains(&second));

    // Rotating again on B retires the key A made; the first key (stored under the well-known
    // key) is retired once and stays until its overlap ends, then is deleted everywhere.
    let third = b.rotate(NOW + 20).unwrap();
    let mut fa = Follower { at: 0 };
    a.apply_changes(&fa.pull(&store).changes).unwrap();
    assert_eq!(a.signing_key().unwrap().kid(), third);
    assert_eq!(a.kids().len(), 3);
    let fourth = a
        .rotate(NOW + 20 + keyless_core::keys::RETIRED_KEY_OVERLAP + 1)
        .unwrap();
    // The key just retired stays; the two retired long ago are gone.
    assert_eq!(a.kids(), vec![fourth.clone(), third.clone()]);
    b.apply_changes(&fb.pull(&store).changes).unwrap();
    assert_eq!(b.kids(), vec![fourth, third]);
    assert!(
        store
            .load()
            .unwrap()
            .entities
            .iter()
            .all(|(k, key, _)| *k != Kind::IssuerKey || key != INITIAL_ISSUER_KEY)
    );
}

/// Un-retired records of `kind` in the store.
fn current_in_store(store: &FeedStore, kind: Kind) -> usize {
    store
        .load()
        .unwrap()
        .entities
        .into_iter()
        .filter(|(k, _, json)| {
            *k == kind
                && serde_json::from_str::<serde_json::Value>(json).unwrap()["retired"].is_null()
        })
        .count()
}

#[test]
fn a_rotation_racing_with_the_nodes_own_follower_keeps_one_current_key() {
    let store = Arc::new(FeedStore::default());
    let sealing = Arc::new(SealingKeys::load(store.clone(), NOW).unwrap());
    let mut follower = Follower::start(&store);
    for i in 0..200u64 {
        let rotating = {
            let sealing = sealing.clone();
            std::thread::spawn(move || sealing.rotate(NOW + i).unwrap())
        };
        while !rotating.is_finished() {
            sealing
                .apply_changes(&follower.pull(&store).changes)
                .unwrap();
        }
        let id = rotating.join().unwrap();
        sealing
            .apply_changes(&follower.pull(&store).changes)
            .unwrap();
        assert_eq!(current_in_store(&store, Kind::SealingKey), 1, "round {i}");
        let ids = sealing.ids();
        assert_eq!(ids.first(), Some(&id));
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "no key twice: {ids:?}");
    }

    let issuer = Arc::new(IssuerKeys::load(store.clone(), NOW).unwrap());
    for i in 0..3u64 {
        let rotating = {
            let issuer = issuer.clone();
            std::thread::spawn(move || issuer.rotate(NOW + i).unwrap())
        };
        while !rotating.is_finished() {
            issuer
                .apply_changes(&follower.pull(&store).changes)
                .unwrap();
        }
        let kid = rotating.join().unwrap();
        issuer
            .apply_changes(&follower.pull(&store).changes)
            .unwrap();
        assert_eq!(current_in_store(&store, Kind::IssuerKey), 1);
        assert_eq!(issuer.signing_key().unwrap().kid(), kid);
        assert_eq!(issuer.kids().len(), usize::try_from(i).unwrap() + 2);
    }
}

#[test]
fn an_assume_notes_the_role_use_and_a_background_flush_records_it() {
    let store = Arc::new(FeedStore::default());
    let iam = Iam::load(store.clone(), Arc::new(Fixed(NOW))).unwrap();
    iam.create_role(ACCOUNT, role("deploy")).unwrap();
    let before = store.latest_change().unwrap();
    // The database is stalled: noting a use returns at once and writes nothing.
    let stall = store.gate.write().unwrap();
    iam.touch_role(ACCOUNT, "deploy");
    drop(stall);
    assert_eq!(store.latest_change().unwrap(), before);
    assert_eq!(iam.role(ACCOUNT, "deploy").unwrap().role.last_used, None);
    // Down at flush time: nothing recorded, nothing lost for good (the next use notes it again).
    store.set_down(true);
    iam.flush_touches();
    store.set_down(false);
    assert_eq!(iam.role(ACCOUNT, "deploy").unwrap().role.last_used, None);
    iam.touch_role(ACCOUNT, "deploy");
    iam.flush_touches();
    assert_eq!(
        iam.role(ACCOUNT, "deploy").unwrap().role.last_used,
        Some(NOW)
    );
    assert_eq!(store.latest_change().unwrap(), before + 1);
    // Within the hour, no further write.
    iam.touch_role(ACCOUNT, "deploy");
    iam.flush_touches();
    assert_eq!(store.latest_change().unwrap(), before + 1);
}
