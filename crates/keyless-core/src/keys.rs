//! Long-lived server secrets: session sealing keys and the dev GitHub issuer's signing keys.
//!
//! Both are generated on first start, persisted in the store, and rotated on demand; a rotated
//! key stops being used for new tokens but stays usable for verification for an overlap, so
//! credentials and tokens issued before a rotation keep working until they expire.
//!
//! Several nodes may share one store. Nodes starting together on an empty store must agree on
//! one first key, so the first key of each kind is inserted with [`Store::put_if_absent`] under a
//! well-known store key ([`INITIAL_SEALING_KEY_ID`], [`INITIAL_ISSUER_KEY`]): one node wins and
//! the others adopt its key. Later keys (rotations) reach the other nodes through the change
//! feed and `apply_changes`; when two nodes rotate at once, every node picks the same current key
//! by the same order (newest first, then by id), and all keys stay usable for verification.

use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keyless_oidc::{KeySet, SigningKey};

use crate::error::CoreError;
use crate::model::{IssuerKeyRecord, SealingKeyRecord};
use crate::seal::{self, SealingKey, Session};
use crate::store::{Change, Kind, Store};

/// How long a retired key stays: longer than the longest session (12 h) plus skew.
pub const RETIRED_KEY_OVERLAP: u64 = 13 * 3600;

/// Id (and store key) of the first sealing key of an empty store, the same on every node so that
/// nodes starting together race for one row instead of each creating its own key.
pub const INITIAL_SEALING_KEY_ID: &str = "kinitial";

/// Store key of the issuer's first signing key (its kid is the key's own), for the same reason.
pub const INITIAL_ISSUER_KEY: &str = "initial";

/// Distinct keys of `kind` among `changes`, in first-seen order.
fn changed_keys(changes: &[Change], kind: Kind) -> Vec<&str> {
    let mut keys: Vec<&str> = Vec::new();
    for c in changes {
        if c.kind == kind && !keys.contains(&c.key.as_str()) {
            keys.push(&c.key);
        }
    }
    keys
}

/// The order every node uses: current (not retired) first, then newest first, then by id, so two
/// nodes holding the same keys always pick the same current one.
fn order_key(
    retired: Option<u64>,
    created: u64,
    id: &str,
) -> (bool, std::cmp::Reverse<u64>, String) {
    (retired.is_some(), std::cmp::Reverse(created), id.to_owned())
}

/// Reads of the store [`SealingKeys::apply_changes`] and the like make before giving up when
/// this node keeps rotating meanwhile (the follower then tries again at its next poll).
const APPLY_TRIES: usize = 3;

/// Counts this node's own key changes (bumped under the key lock), so that keys read from the
/// store *before* taking the lock — a slow database must never hold up sealing or signing —
/// are installed only if no local rotation made them stale in between.
#[derive(Default)]
struct Generation(std::sync::atomic::AtomicU64);

impl Generation {
    /// Marks a local change; call with the key lock held.
    fn bump(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Runs `read` (no lock held), then `install` with what it read and a check that no local
    /// change happened since; `install` takes the lock, and answers `false` (installing nothing)
    /// when the check fails, and the read starts over, at most [`APPLY_TRIES`] times.
    fn read_then_install<T>(
        &self,
        mut read: impl FnMut() -> Result<T, CoreError>,
        mut install: impl FnMut(T, &dyn Fn() -> bool) -> Result<bool, CoreError>,
    ) -> Result<(), CoreError> {
        for _ in 0..APPLY_TRIES {
            let seen = self.0.load(std::sync::atomic::Ordering::Acquire);
            let fresh = || self.0.load(std::sync::atomic::Ordering::Acquire) == seen;
            if install(read()?, &fresh)? {
                return Ok(());
            }
        }
        Err(CoreError::Unavailable(
            "the keys changed on this node while applying changes; retrying".into(),
        ))
    }
}

fn internal<E: std::fmt::Display>(e: E) -> CoreError {
    CoreError::Internal(e.to_string())
}

/// The sealing keys; the first is the current one.
pub struct SealingKeys {
    keys: RwLock<Vec<(SealingKeyRecord, Arc<SealingKey>)>>,
    store: Arc<dyn Store>,
    /// Seconds a new key waits before it seals (see [`SealingKeys::set_activation_delay`]).
    activation_delay: std::sync::atomic::AtomicU64,
    /// Bumped by every local rotation, under the write lock (see [`SealingKeys::apply_changes`]).
    generation: Generation,
}

impl std::fmt::Debug for SealingKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKeys")
    }
}

impl SealingKeys {
    /// Loads the keys, generating the first one if the store has none.
    pub fn load(store: Arc<dyn Store>, now: u64) -> Result<Self, CoreError> {
        let mut records: Vec<SealingKeyRecord> = Vec::new();
        for (kind, _, json) in store.load()?.entities {
            if kind == Kind::SealingKey {
                records.push(serde_json::from_str(&json).map_err(internal)?);
            }
        }
        let this = Self {
            keys: RwLock::new(Vec::new()),
            store,
            activation_delay: std::sync::atomic::AtomicU64::new(0),
            generation: Generation::default(),
        };
        if records.is_empty() {
            records.push(this.initial_record(now)?);
        } else if records.iter().all(|r| r.retired.is_some()) {
            records.push(this.new_record(now)?);
        }
        records.sort_by_key(|r| order_key(r.retired, r.created, &r.id));
        let mut keys = Vec::new();
        for r in records {
            let key = Self::key_of(&r)?;
            keys.push((r, Arc::new(key)));
        }
        *this.keys.write().map_err(internal)? = keys;
        Ok(this)
    }

    fn key_of(r: &SealingKeyRecord) -> Result<SealingKey, CoreError> {
        let bytes = zeroize::Zeroizing::new(STANDARD.decode(&r.key_b64).map_err(internal)?);
        SealingKey::new(&r.id, &bytes).map_err(internal)
    }

    /// The first key of an empty store: this node's if it wins the insert, else the winner's.
    fn initial_record(&self, now: u64) -> Result<SealingKeyRecord, CoreError> {
        let bytes = SealingKey::generate_bytes().map_err(internal)?;
        let record = SealingKeyRecord {
            id: INITIAL_SEALING_KEY_ID.to_owned(),
            key_b64: STANDARD.encode(&*bytes),
            created: now,
            retired: None,
        };
        let json = serde_json::to_string(&record).map_err(internal)?;
        if self
            .store
            .put_if_absent(Kind::SealingKey, &record.id, &json)?
        {
            return Ok(record);
        }
        let winner = self
            .store
            .get(Kind::SealingKey, INITIAL_SEALING_KEY_ID)?
            .ok_or_else(|| {
                CoreError::Unavailable("the first sealing key vanished while starting".into())
            })?;
        serde_json::from_str(&winner).map_err(internal)
    }

    /// Applies sealing-key changes made by any node (this one included: applying them again is
    /// harmless): a new key becomes usable, a retirement moves the current key, a deletion drops
    /// the key. Other kinds are ignored.
    ///
    /// The changed records are read before the lock is taken, so a slow database never holds up
    /// sealing; if this node rotated meanwhile, they are read again, so a rotation made here at
    /// the same moment is never overwritten by an older copy. Fails (changing nothing) when the
    /// store cannot be read; the caller retries later.
    pub fn apply_changes(&self, changes: &[Change]) -> Result<(), CoreError> {
        let ids = changed_keys(changes, Kind::SealingKey);
        if ids.is_empty() {
            return Ok(());
        }
        let read = || {
            let mut fetched = Vec::new();
            for id in &ids {
                let record = match self.store.get(Kind::SealingKey, id)? {
                    Some(json) => {
                        let record: SealingKeyRecord =
                            serde_json::from_str(&json).map_err(internal)?;
                        let key = Self::key_of(&record)?;
                        Some((record, Arc::new(key)))
                    }
                    None => None,
                };
                fetched.push((*id, record));
            }
            Ok(fetched)
        };
        self.generation.read_then_install(read, |fetched, fresh| {
            let mut keys = self.keys.write().map_err(internal)?;
            if !fresh() {
                return Ok(false);
            }
            let mut next = keys.clone();
            for (id, record) in fetched {
                next.retain(|(r, _)| r.id != id);
                next.extend(record);
            }
            Self::install(&mut keys, next);
            Ok(true)
        })
    }

    /// Replaces every key with what the store holds (after the change feed lost entries).
    pub fn reload(&self) -> Result<(), CoreError> {
        let read = || {
            let mut next = Vec::new();
            for (kind, _, json) in self.store.load()?.entities {
                if kind == Kind::SealingKey {
                    let record: SealingKeyRecord = serde_json::from_str(&json).map_err(internal)?;
                    let key = Self::key_of(&record)?;
                    next.push((record, Arc::new(key)));
                }
            }
            Ok(next)
        };
        self.generation.read_then_install(read, |next, fresh| {
            let mut keys = self.keys.write().map_err(internal)?;
            if !fresh() {
                return Ok(false);
            }
            Self::install(&mut keys, next);
            Ok(true)
        })
    }

    /// Sorts and installs `next`, unless it is empty (a node never stops sealing).
    fn install(
        keys: &mut Vec<(SealingKeyRecord, Arc<SealingKey>)>,
        mut next: Vec<(SealingKeyRecord, Arc<SealingKey>)>,
    ) {
        if next.is_empty() {
            tracing::warn!("the store holds no sealing key; keeping the keys in memory");
            return;
        }
        next.sort_by_key(|(r, _)| order_key(r.retired, r.created, &r.id));
        *keys = next;
    }

    fn new_record(&self, now: u64) -> Result<SealingKeyRecord, CoreError> {
        let bytes = SealingKey::generate_bytes().map_err(internal)?;
        let record = SealingKeyRecord {
            id: format!(
                "k{}",
                keyless_wire::unique_id("")
                    .chars()
                    .take(8)
                    .collect::<String>()
                    .to_ascii_lowercase()
            ),
            key_b64: STANDARD.encode(&*bytes),
            created: now,
            retired: None,
        };
        self.store.put(
            Kind::SealingKey,
            &record.id,
            &serde_json::to_string(&record).map_err(internal)?,
        )?;
        Ok(record)
    }

    /// Seals a session with the current key.
    ///
    /// A key made by a rotation less than the activation delay before the session's issue time
    /// is not used yet: the newest key older than that is (the one just retired, which every
    /// node still opens), or the oldest key if none is that old, so that no node is handed
    /// credentials another node cannot open yet.
    pub fn seal(&self, session: &Session) -> Result<String, CoreError> {
        let keys = self.keys.read().map_err(internal)?;
        let delay = self
            .activation_delay
            .load(std::sync::atomic::Ordering::Relaxed);
        let (_, key) = keys
            .iter()
            .find(|(r, _)| delay == 0 || r.created.saturating_add(delay) <= session.issued)
            // All keys are recent (rotations right after a first start): the oldest is the one
            // every node has had longest to learn. Times are whole seconds, so a rotation in the
            // first key's second ties with it: then the first key (every node starts with it),
            // or a retired key (older than the one that retired it), wins.
            .or_else(|| {
                keys.iter().min_by_key(|(r, _)| {
                    (
                        r.created,
                        r.id != INITIAL_SEALING_KEY_ID,
                        r.retired.is_none(),
                        r.id.clone(),
                    )
                })
            })
            .ok_or_else(|| CoreError::Internal("no sealing key".into()))?;
        seal::seal(key, session).map_err(internal)
    }

    /// Sets how long (seconds) a key made by [`SealingKeys::rotate`] is published before it
    /// seals. Nodes sharing a store learn of a new key within their sync bound; sealing with it
    /// only after that bound means credentials issued by any node right after a rotation open
    /// on every node. Default 0 (one node: use it at once).
    pub fn set_activation_delay(&self, seconds: u64) {
        self.activation_delay
            .store(seconds, std::sync::atomic::Ordering::Relaxed);
    }

    /// Opens a session token sealed by any kept key.
    pub fn open(&self, token: &str) -> Result<Session, seal::SealError> {
        let keys = self.keys.read().map_err(|_| seal::SealError::Crypto)?;
        let mut parts = token.splitn(3, '.');
        let _version = parts.next();
        let id = parts.next().ok_or(seal::SealError::Invalid)?;
        let (_, key) = keys
            .iter()
            .find(|(r, _)| r.id == id)
            .ok_or(seal::SealError::Invalid)?;
        seal::open(std::slice::from_ref(&**key), token)
    }

    /// Makes a new current key; the old one keeps opening tokens for [`RETIRED_KEY_OVERLAP`].
    pub fn rotate(&self, now: u64) -> Result<String, CoreError> {
        // The new key is written under the lock: otherwise this node's change-feed follower
        // could apply it between the write and the retirement below, which would then retire
        // the new key too.
        let mut keys = self.keys.write().map_err(internal)?;
        let record = self.new_record(now)?;
        let id = record.id.clone();
        let key = Arc::new(Self::key_of(&record)?);
        // A copy: if a store write fails half-way, memory keeps the keys it had.
        let mut next = keys.clone();
        next.retain(|(r, _)| r.id != id);
        for (r, _) in next.iter_mut() {
            if r.retired.is_none() {
                r.retired = Some(now);
                self.store.put(
                    Kind::SealingKey,
                    &r.id,
                    &serde_json::to_string(&*r).map_err(internal)?,
                )?;
            }
        }
        let mut expired = Vec::new();
        next.retain(|(r, _)| {
            let keep = r.retired.is_none_or(|t| now < t + RETIRED_KEY_OVERLAP);
            if !keep {
                expired.push(r.id.clone());
            }
            keep
        });
        for id in expired {
            self.store.delete(Kind::SealingKey, &id)?;
        }
        next.push((record, key));
        Self::install(&mut keys, next);
        self.generation.bump();
        Ok(id)
    }

    /// Key ids, current first.
    pub fn ids(&self) -> Vec<String> {
        self.keys
            .read()
            .map(|k| k.iter().map(|(r, _)| r.id.clone()).collect())
            .unwrap_or_default()
    }
}

/// The dev GitHub issuer's RSA keys; the first is the signing key.
pub struct IssuerKeys {
    inner: RwLock<IssuerState>,
    store: Arc<dyn Store>,
    /// Seconds a new key is published before it signs (see [`IssuerKeys::set_activation_delay`]).
    activation_delay: std::sync::atomic::AtomicU64,
    /// Bumped by every local change of the keys, under the write lock (see
    /// [`IssuerKeys::apply_changes`]).
    generation: Generation,
}

/// One issuer key and the store key its record lives under (its kid, except for the first key
/// of a store, which lives under [`INITIAL_ISSUER_KEY`]).
#[derive(Clone)]
struct IssuerEntry {
    store_key: String,
    record: IssuerKeyRecord,
    key: Arc<SigningKey>,
}

struct IssuerState {
    keys: Vec<IssuerEntry>,
    key_set: Option<Arc<KeySet>>,
    jwks: serde_json::Value,
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IssuerKeys")
    }
}

impl IssuerKeys {
    /// Loads the keys, generating an RSA-2048 key on first start.
    pub fn load(store: Arc<dyn Store>, now: u64) -> Result<Self, CoreError> {
        let this = Self::load_deferred(store)?;
        this.ensure_signing_key(now)?;
        Ok(this)
    }

    /// Loads the stored keys without generating one: RSA key generation takes long enough to
    /// delay a first start, so the server listens first and calls
    /// [`IssuerKeys::ensure_signing_key`] in the background.
    pub fn load_deferred(store: Arc<dyn Store>) -> Result<Self, CoreError> {
        let state = Self::state(Self::stored(&*store)?)?;
        Ok(Self {
            inner: RwLock::new(state),
            store,
            activation_delay: std::sync::atomic::AtomicU64::new(0),
            generation: Generation::default(),
        })
    }

    /// Every issuer key in the store.
    fn stored(store: &dyn Store) -> Result<Vec<IssuerEntry>, CoreError> {
        let mut keys = Vec::new();
        for (kind, store_key, json) in store.load()?.entities {
            if kind == Kind::IssuerKey {
                keys.push(Self::entry(store_key, &json)?);
            }
        }
        Ok(keys)
    }

    fn entry(store_key: String, json: &str) -> Result<IssuerEntry, CoreError> {
        let record: IssuerKeyRecord = serde_json::from_str(json).map_err(internal)?;
        let der = STANDARD.decode(&record.pkcs8_b64).map_err(internal)?;
        let key = Arc::new(SigningKey::from_pkcs8(&record.kid, &der).map_err(internal)?);
        Ok(IssuerEntry {
            store_key,
            record,
            key,
        })
    }

    /// Generates the first signing key if there is no current one.
    ///
    /// On a store without any issuer key, nodes starting together race to insert under
    /// [`INITIAL_ISSUER_KEY`]; a node that loses adopts the winner's key.
    pub fn ensure_signing_key(&self, now: u64) -> Result<(), CoreError> {
        let (has_current, has_any) = {
            let s = self.inner.read().map_err(internal)?;
            (
                s.keys.iter().any(|e| e.record.retired.is_none()),
                !s.keys.is_empty(),
            )
        };
        if has_current {
            return Ok(());
        }
        if has_any {
            self.rotate(now)?;
            return Ok(());
        }
        let key = SigningKey::generate().map_err(internal)?;
        let record = IssuerKeyRecord {
            kid: key.kid().to_owned(),
            pkcs8_b64: STANDARD.encode(key.pkcs8()),
            created: now,
            retired: None,
        };
        let json = serde_json::to_string(&record).map_err(internal)?;
        let entry = if self
            .store
            .put_if_absent(Kind::IssuerKey, INITIAL_ISSUER_KEY, &json)?
        {
            IssuerEntry {
                store_key: INITIAL_ISSUER_KEY.to_owned(),
                record,
                key: Arc::new(key),
            }
        } else {
            let winner = self
                .store
                .get(Kind::IssuerKey, INITIAL_ISSUER_KEY)?
                .ok_or_else(|| {
                    CoreError::Unavailable("the first issuer key vanished while starting".into())
                })?;
            Self::entry(INITIAL_ISSUER_KEY.to_owned(), &winner)?
        };
        let mut s = self.inner.write().map_err(internal)?;
        let mut keys = s.keys.clone();
        keys.retain(|e| e.store_key != entry.store_key);
        keys.push(entry);
        *s = Self::state(keys)?;
        self.generation.bump();
        Ok(())
    }

    /// Sorts the keys (signing key first) and builds the JWKS and key set from them.
    fn state(mut keys: Vec<IssuerEntry>) -> Result<IssuerState, CoreError> {
        keys.sort_by_key(|e| order_key(e.record.retired, e.record.created, &e.record.kid));
        let refs: Vec<&SigningKey> = keys.iter().map(|e| &*e.key).collect();
        let jwks = keyless_oidc::jwks_document(&refs);
        let key_set = if keys.is_empty() {
            None
        } else {
            Some(Arc::new(
                KeySet::from_jwks_json(jwks.to_string().as_bytes()).map_err(internal)?,
            ))
        };
        Ok(IssuerState {
            keys,
            key_set,
            jwks,
        })
    }

    /// Applies issuer-key changes made by any node (this one included: applying them again is
    /// harmless): a key created by a rotation elsewhere becomes the signing key here, and the
    /// retired one stays in the JWKS until it is deleted. Other kinds are ignored.
    ///
    /// The changed records are read before the lock is taken, so a slow database never holds up
    /// signing or verifying; if this node changed its keys meanwhile, they are read again, so a
    /// rotation made here at the same moment is never overwritten by an older copy. Fails
    /// (changing nothing) when the store cannot be read.
    pub fn apply_changes(&self, changes: &[Change]) -> Result<(), CoreError> {
        let store_keys = changed_keys(changes, Kind::IssuerKey);
        if store_keys.is_empty() {
            return Ok(());
        }
        let read = || {
            let mut fetched = Vec::new();
            for store_key in &store_keys {
                let record = match self.store.get(Kind::IssuerKey, store_key)? {
                    Some(json) => {
                        let record: IssuerKeyRecord =
                            serde_json::from_str(&json).map_err(internal)?;
                        Some((record, json))
                    }
                    None => None,
                };
                fetched.push((*store_key, record));
            }
            Ok(fetched)
        };
        self.generation.read_then_install(read, |fetched, fresh| {
            let mut s = self.inner.write().map_err(internal)?;
            if !fresh() {
                return Ok(false);
            }
            let mut keys = s.keys.clone();
            for (store_key, fetched) in fetched {
                let old = keys
                    .iter()
                    .position(|e| e.store_key == store_key)
                    .map(|i| keys.remove(i));
                let Some((record, json)) = fetched else {
                    continue;
                };
                // The RSA key itself never changes: only its retirement does.
                let entry = match old {
                    Some(old) if old.record.kid == record.kid => IssuerEntry { record, ..old },
                    _ => Self::entry(store_key.to_owned(), &json)?,
                };
                keys.push(entry);
            }
            *s = Self::state(keys)?;
            Ok(true)
        })
    }

    /// Replaces every key with what the store holds (after the change feed lost entries).
    pub fn reload(&self) -> Result<(), CoreError> {
        self.generation.read_then_install(
            || Self::stored(&*self.store),
            |keys, fresh| {
                let mut s = self.inner.write().map_err(internal)?;
                if !fresh() {
                    return Ok(false);
                }
                *s = Self::state(keys)?;
                Ok(true)
            },
        )
    }

    /// The current signing key.
    pub fn signing_key(&self) -> Result<Arc<SigningKey>, CoreError> {
        let s = self.inner.read().map_err(internal)?;
        s.keys
            .first()
            .filter(|e| e.record.retired.is_none())
            .map(|e| e.key.clone())
            .ok_or_else(|| {
                CoreError::Unavailable(
                    "the issuer's first signing key is still being generated".into(),
                )
            })
    }

    /// The key that signs tokens issued at `now`: the current key once it is older than the
    /// activation delay, until then the newest key that is (the one just retired, which every
    /// node still has in its key set), or the oldest key if none is that old. Like
    /// [`SealingKeys::seal`]: a token signed right after a rotation verifies on every node,
    /// including those that have not synced the new key yet.
    pub fn signing_key_at(&self, now: u64) -> Result<Arc<SigningKey>, CoreError> {
        let delay = self
            .activation_delay
            .load(std::sync::atomic::Ordering::Relaxed);
        let current = self.signing_key()?;
        if delay == 0 {
            return Ok(current);
        }
        let s = self.inner.read().map_err(internal)?;
        // Sorted current first, then retired keys, most recently retired first.
        Ok(s.keys
            .iter()
            .find(|e| e.record.created.saturating_add(delay) <= now)
            .or_else(|| {
                s.keys.iter().min_by_key(|e| {
                    (
                        e.record.created,
                        e.store_key != INITIAL_ISSUER_KEY,
                        e.record.retired.is_none(),
                        e.record.kid.clone(),
                    )
                })
            })
            .map_or(current, |e| e.key.clone()))
    }

    /// Sets how long (seconds) a key made by [`IssuerKeys::rotate`] is published before it
    /// signs: nodes sharing a store learn of it within their sync bound, so until then tokens
    /// are signed with the key every node has. Default 0 (one node: sign with it at once).
    pub fn set_activation_delay(&self, seconds: u64) {
        self.activation_delay
            .store(seconds, std::sync::atomic::Ordering::Relaxed);
    }

    /// Kids, signing key first.
    pub fn kids(&self) -> Vec<String> {
        self.inner
            .read()
            .map(|s| s.keys.iter().map(|e| e.record.kid.clone()).collect())
            .unwrap_or_default()
    }

    /// The published JWKS document.
    pub fn jwks(&self) -> serde_json::Value {
        self.inner
            .read()
            .map(|s| s.jwks.clone())
            .unwrap_or_else(|_| serde_json::json!({"keys": []}))
    }

    /// The parsed key set, for verifying our own tokens without HTTP.
    pub fn key_set(&self) -> Result<Arc<KeySet>, CoreError> {
        self.inner
            .read()
            .map_err(internal)?
            .key_set
            .clone()
            .ok_or_else(|| CoreError::Unavailable("the issuer has no keys yet".into()))
    }

    /// Generates a new signing key; the previous one stays in the JWKS for
    /// [`RETIRED_KEY_OVERLAP`] so tokens it signed still verify.
    pub fn rotate(&self, now: u64) -> Result<String, CoreError> {
        // RSA generation is slow: outside the lock.
        let key = SigningKey::generate().map_err(internal)?;
        let record = IssuerKeyRecord {
            kid: key.kid().to_owned(),
            pkcs8_b64: STANDARD.encode(key.pkcs8()),
            created: now,
            retired: None,
        };
        let key = Arc::new(key);
        let kid = record.kid.clone();
        let mut s = self.inner.write().map_err(internal)?;
        // Written under the lock, so this node's change-feed follower cannot apply the new key
        // before the retirement below (which would then retire it too).
        self.store.put(
            Kind::IssuerKey,
            &kid,
            &serde_json::to_string(&record).map_err(internal)?,
        )?;
        // A copy: if a store write fails half-way, memory keeps the keys it had.
        let mut keys = s.keys.clone();
        keys.retain(|e| e.store_key != kid);
        for e in keys.iter_mut() {
            if e.record.retired.is_none() {
                e.record.retired = Some(now);
                self.store.put(
                    Kind::IssuerKey,
                    &e.store_key,
                    &serde_json::to_string(&e.record).map_err(internal)?,
                )?;
            }
        }
        let mut kept = vec![IssuerEntry {
            store_key: kid.clone(),
            record,
            key,
        }];
        for e in keys {
            if e.record
                .retired
                .is_none_or(|t| now < t + RETIRED_KEY_OVERLAP)
            {
                kept.push(e);
            } else {
                self.store.delete(Kind::IssuerKey, &e.store_key)?;
            }
        }
        *s = Self::state(kept)?;
        self.generation.bump();
        Ok(kid)
    }
}

impl SealingKeys {
    /// A key for another purpose derived from the oldest kept sealing key (HMAC-SHA256 of
    /// `label`), so it survives restarts and is the same on every node.
    pub fn derive_key(&self, label: &str) -> Result<Vec<u8>, CoreError> {
        let keys = self.keys.read().map_err(internal)?;
        let (record, _) = keys
            .iter()
            .min_by_key(|(r, _)| (r.created, r.id.clone()))
            .ok_or_else(|| CoreError::Internal("no sealing key".into()))?;
        let bytes = zeroize::Zeroizing::new(STANDARD.decode(&record.key_b64).map_err(internal)?);
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &bytes);
        Ok(aws_lc_rs::hmac::sign(&key, label.as_bytes())
            .as_ref()
            .to_vec())
    }
}
