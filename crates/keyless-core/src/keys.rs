//! Long-lived server secrets: session sealing keys and the dev GitHub issuer's signing keys.
//!
//! Both are generated on first start, persisted in the store, and rotated on demand; a rotated
//! key stops being used for new tokens but stays usable for verification for an overlap, so
//! credentials and tokens issued before a rotation keep working until they expire.

use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keyless_oidc::{KeySet, SigningKey};

use crate::error::CoreError;
use crate::model::{IssuerKeyRecord, SealingKeyRecord};
use crate::seal::{self, SealingKey, Session};
use crate::store::{Kind, Store};

/// How long a retired key stays: longer than the longest session (12 h) plus skew.
pub const RETIRED_KEY_OVERLAP: u64 = 13 * 3600;

fn internal<E: std::fmt::Display>(e: E) -> CoreError {
    CoreError::Internal(e.to_string())
}

/// The sealing keys; the first is the current one.
pub struct SealingKeys {
    keys: RwLock<Vec<(SealingKeyRecord, Arc<SealingKey>)>>,
    store: Arc<dyn Store>,
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
        };
        if records.iter().all(|r| r.retired.is_some()) {
            records.push(this.new_record(now)?);
        }
        // Current (not retired) first, then newest first.
        records.sort_by_key(|r| (r.retired.is_some(), std::cmp::Reverse(r.created)));
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
    pub fn seal(&self, session: &Session) -> Result<String, CoreError> {
        let keys = self.keys.read().map_err(internal)?;
        let (_, key) = keys
            .first()
            .ok_or_else(|| CoreError::Internal("no sealing key".into()))?;
        seal::seal(key, session).map_err(internal)
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
        let record = self.new_record(now)?;
        let id = record.id.clone();
        let key = Arc::new(Self::key_of(&record)?);
        let mut keys = self.keys.write().map_err(internal)?;
        for (r, _) in keys.iter_mut() {
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
        keys.retain(|(r, _)| {
            let keep = r.retired.is_none_or(|t| now < t + RETIRED_KEY_OVERLAP);
            if !keep {
                expired.push(r.id.clone());
            }
            keep
        });
        for id in expired {
            self.store.delete(Kind::SealingKey, &id)?;
        }
        keys.insert(0, (record, key));
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
}

struct IssuerState {
    keys: Vec<(IssuerKeyRecord, Arc<SigningKey>)>,
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
        let mut records: Vec<IssuerKeyRecord> = Vec::new();
        for (kind, _, json) in store.load()?.entities {
            if kind == Kind::IssuerKey {
                records.push(serde_json::from_str(&json).map_err(internal)?);
            }
        }
        let state = Self::state(Self::keys_of(records)?)?;
        Ok(Self {
            inner: RwLock::new(state),
            store,
        })
    }

    /// Generates the first signing key if there is no current one.
    pub fn ensure_signing_key(&self, now: u64) -> Result<(), CoreError> {
        let has_current = self
            .inner
            .read()
            .map_err(internal)?
            .keys
            .iter()
            .any(|(r, _)| r.retired.is_none());
        if !has_current {
            self.rotate(now)?;
        }
        Ok(())
    }

    fn keys_of(
        mut records: Vec<IssuerKeyRecord>,
    ) -> Result<Vec<(IssuerKeyRecord, Arc<SigningKey>)>, CoreError> {
        records.sort_by_key(|r| (r.retired.is_some(), std::cmp::Reverse(r.created)));
        let mut keys = Vec::new();
        for r in records {
            let der = STANDARD.decode(&r.pkcs8_b64).map_err(internal)?;
            let key = SigningKey::from_pkcs8(&r.kid, &der).map_err(internal)?;
            keys.push((r, Arc::new(key)));
        }
        Ok(keys)
    }

    fn new_record(store: &dyn Store, now: u64) -> Result<IssuerKeyRecord, CoreError> {
        let key = SigningKey::generate().map_err(internal)?;
        let record = IssuerKeyRecord {
            kid: key.kid().to_owned(),
            pkcs8_b64: STANDARD.encode(key.pkcs8()),
            created: now,
            retired: None,
        };
        store.put(
            Kind::IssuerKey,
            &record.kid,
            &serde_json::to_string(&record).map_err(internal)?,
        )?;
        Ok(record)
    }

    fn state(keys: Vec<(IssuerKeyRecord, Arc<SigningKey>)>) -> Result<IssuerState, CoreError> {
        let refs: Vec<&SigningKey> = keys.iter().map(|(_, k)| &**k).collect();
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

    /// The current signing key.
    pub fn signing_key(&self) -> Result<Arc<SigningKey>, CoreError> {
        let s = self.inner.read().map_err(internal)?;
        s.keys
            .first()
            .filter(|(r, _)| r.retired.is_none())
            .map(|(_, k)| k.clone())
            .ok_or_else(|| {
                CoreError::Unavailable(
                    "the issuer's first signing key is still being generated".into(),
                )
            })
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
        let record = Self::new_record(&*self.store, now)?;
        let der = STANDARD.decode(&record.pkcs8_b64).map_err(internal)?;
        let key = Arc::new(SigningKey::from_pkcs8(&record.kid, &der).map_err(internal)?);
        let kid = record.kid.clone();
        let mut s = self.inner.write().map_err(internal)?;
        let mut keys = std::mem::take(&mut s.keys);
        for (r, _) in keys.iter_mut() {
            if r.retired.is_none() {
                r.retired = Some(now);
                self.store.put(
                    Kind::IssuerKey,
                    &r.kid,
                    &serde_json::to_string(&*r).map_err(internal)?,
                )?;
            }
        }
        let mut kept = vec![(record, key)];
        for (r, k) in keys {
            if r.retired.is_none_or(|t| now < t + RETIRED_KEY_OVERLAP) {
                kept.push((r, k));
            } else {
                self.store.delete(Kind::IssuerKey, &r.kid)?;
            }
        }
        *s = Self::state(kept)?;
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
            .min_by_key(|(r, _)| r.created)
            .ok_or_else(|| CoreError::Internal("no sealing key".into()))?;
        let bytes = zeroize::Zeroizing::new(STANDARD.decode(&record.key_b64).map_err(internal)?);
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &bytes);
        Ok(aws_lc_rs::hmac::sign(&key, label.as_bytes())
            .as_ref()
            .to_vec())
    }
}
