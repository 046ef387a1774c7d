//! JSON Web Key Sets: parsing into ready-to-verify public keys, and the per-issuer cache policy.
//!
//! A [`KeySet`] is parsed once, when the JWKS is fetched: every RSA modulus and EC point is turned
//! into an `aws-lc-rs` parsed public key, so verifying a token costs one signature check and no
//! key decoding. Keys we cannot use (encryption keys, `oct` secrets, unknown curves, RSA moduli
//! under 2048 bits) are skipped, never guessed at; the reasons are kept in
//! [`KeySet::skipped`] for diagnostics.
//!
//! [`JwksCache`] holds no I/O: it tells the fetching caller whether cached keys are fresh, stale
//! or gone, rate-limits refetches per issuer (so a stream of tokens with random `kid`s cannot make
//! us hammer an issuer), and keeps serving cached keys for a bounded time when the issuer is down.

use crate::discovery::MAX_DOCUMENT_BYTES;
use crate::error::{OidcError, VerifyError, clip};
use crate::json::parse_object;
use aws_lc_rs::rsa::PublicKeyComponents;
use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Most keys a JWKS may hold. AWS lookups have been seen to break above about 100 keys; a larger
/// set is refused rather than truncated, so the failure is visible.
pub const MAX_KEYS: usize = 100;

/// The JWS algorithms accepted (AWS STS's list for OIDC tokens, reference §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// ECDSA P-384 with SHA-384.
    ES384,
    /// ECDSA P-521 with SHA-512.
    ES512,
}

impl Algorithm {
    /// Every accepted algorithm.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
    ];

    /// Parses a JWS `alg` value; `None` for anything outside the allow-list (`none`, `HS256`, …).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The JWS `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::ES512 => "ES512",
        }
    }

    fn verification(self) -> &'static dyn VerificationAlgorithm {
        match self {
            Self::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Self::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Self::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Self::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            Self::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
            Self::ES512 => &signature::ECDSA_P521_SHA512_FIXED,
        }
    }

    fn rsa_params(self) -> Option<&'static signature::RsaParameters> {
        match self {
            Self::RS256 => Some(&signature::RSA_PKCS1_2048_8192_SHA256),
            Self::RS384 => Some(&signature::RSA_PKCS1_2048_8192_SHA384),
            Self::RS512 => Some(&signature::RSA_PKCS1_2048_8192_SHA512),
            Self::ES256 | Self::ES384 | Self::ES512 => None,
        }
    }
}

/// One usable public key: its `kid` and one parsed verifier per algorithm it may verify.
struct Key {
    kid: Option<String>,
    // INVARIANT: non-empty; at most one entry per algorithm.
    verifiers: Vec<(Algorithm, ParsedPublicKey)>,
}

/// A parsed JWKS: public keys ready to verify signatures.
#[derive(Default)]
pub struct KeySet {
    keys: Vec<Key>,
    skipped: Vec<String>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("kids", &self.kids())
            .field("skipped", &self.skipped)
            .finish()
    }
}

fn b64(field: &str, v: Option<&Value>) -> Result<Vec<u8>, String> {
    let s = v
        .and_then(Value::as_str)
        .ok_or_else(|| format!("member `{field}` is missing or not a string"))?;
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| format!("member `{field}` is not base64url without padding"))
}

fn strip_leading_zeros(mut b: &[u8]) -> &[u8] {
    while let Some((&0, rest)) = b.split_first() {
        b = rest;
    }
    b
}

fn parse_key(jwk: &Map<String, Value>) -> Result<Key, String> {
    let kid = match jwk.get("kid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("`kid` is not a string".to_owned()),
    };
    let name = kid.as_deref().unwrap_or("-");
    if let Some(u) = jwk.get("use")
        && u.as_str() != Some("sig")
    {
        return Err(format!("key `{name}`: `use` is {u}, not \"sig\""));
    }
    if let Some(ops) = jwk.get("key_ops") {
        let verify = ops
            .as_array()
            .is_some_and(|a| a.iter().any(|o| o.as_str() == Some("verify")));
        if !verify {
            return Err(format!("key `{name}`: `key_ops` does not allow \"verify\""));
        }
    }
    let declared = match jwk.get("alg") {
        None => None,
        Some(Value::String(a)) => Some(
            Algorithm::from_name(a)
                .ok_or_else(|| format!("key `{name}`: algorithm `{a}` is not accepted"))?,
        ),
        Some(_) => return Err(format!("key `{name}`: `alg` is not a string")),
    };
    let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or("");
    let verifiers = match kty {
        "RSA" => {
            let n = b64("n", jwk.get("n")).map_err(|e| format!("key `{name}`: {e}"))?;
            let e = b64("e", jwk.get("e")).map_err(|e| format!("key `{name}`: {e}"))?;
            let n = strip_leading_zeros(&n);
            let e = strip_leading_zeros(&e);
            if n.len() < 256 || n.len() > 1024 {
                return Err(format!(
                    "key `{name}`: RSA modulus of {} bits is outside 2048..=8192",
                    n.len() * 8
                ));
            }
            let algs: Vec<Algorithm> = match declared {
                Some(a) => vec![a],
                None => vec![Algorithm::RS256, Algorithm::RS384, Algorithm::RS512],
            };
            let mut out = Vec::with_capacity(algs.len());
            for alg in algs {
                let params = alg
                    .rsa_params()
                    .ok_or_else(|| format!("key `{name}`: RSA key declares `{}`", alg.name()))?;
                let parsed = PublicKeyComponents { n, e }
                    .to_parsed_public_key(params)
                    .map_err(|e| format!("key `{name}`: RSA key rejected: {e}"))?;
                out.push((alg, parsed));
            }
            out
        }
        "EC" => {
            let crv = jwk.get("crv").and_then(Value::as_str).unwrap_or("");
            let (alg, len) = match crv {
                "P-256" => (Algorithm::ES256, 32),
                "P-384" => (Algorithm::ES384, 48),
                "P-521" => (Algorithm::ES512, 66),
                other => return Err(format!("key `{name}`: curve `{other}` is not accepted")),
            };
            if declared.is_some_and(|d| d != alg) {
                return Err(format!("key `{name}`: `alg` does not match curve `{crv}`"));
            }
            let x = b64("x", jwk.get("x")).map_err(|e| format!("key `{name}`: {e}"))?;
            let y = b64("y", jwk.get("y")).map_err(|e| format!("key `{name}`: {e}"))?;
            if x.len() != len || y.len() != len {
                return Err(format!("key `{name}`: EC coordinates are not {len} bytes"));
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let parsed = ParsedPublicKey::new(alg.verification(), point)
                .map_err(|e| format!("key `{name}`: EC key rejected: {e}"))?;
            vec![(alg, parsed)]
        }
        other => return Err(format!("key `{name}`: key type `{other}` is not accepted")),
    };
    Ok(Key { kid, verifiers })
}

impl KeySet {
    /// Parses a JWKS document (`{"keys":[…]}`).
    ///
    /// Refuses documents over [`MAX_DOCUMENT_BYTES`], non-JSON, duplicate members, a missing
    /// `keys` array and more than [`MAX_KEYS`] keys. Individual keys we cannot use are skipped
    /// (see [`KeySet::skipped`]); an empty result is allowed (the caller then fails with "no
    /// key").
    pub fn from_jwks_json(bytes: &[u8]) -> Result<KeySet, OidcError> {
        if bytes.len() > MAX_DOCUMENT_BYTES {
            return Err(OidcError::DocumentTooLarge {
                len: bytes.len(),
                max: MAX_DOCUMENT_BYTES,
            });
        }
        let doc = parse_object(bytes).map_err(|e| OidcError::jwks(format!("document {e}")))?;
        let Some(Value::Array(entries)) = doc.get("keys") else {
            return Err(OidcError::jwks("member `keys` is missing or not an array"));
        };
        if entries.len() > MAX_KEYS {
            return Err(OidcError::jwks(format!(
                "{} keys, more than the {MAX_KEYS} accepted",
                entries.len()
            )));
        }
        let mut set = KeySet::default();
        for (i, entry) in entries.iter().enumerate() {
            let parsed = match entry {
                Value::Object(jwk) => parse_key(jwk),
                _ => Err(format!("keys[{i}] is not an object")),
            };
            match parsed {
                Ok(k) => set.keys.push(k),
                Err(why) => set.skipped.push(why),
            }
        }
        Ok(set)
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The `kid`s of the usable keys, in document order (keys without a `kid` are left out).
    pub fn kids(&self) -> Vec<String> {
        self.keys.iter().filter_map(|k| k.kid.clone()).collect()
    }

    /// True when a usable key has this `kid`.
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// Why keys of the document were not used, one line per skipped key.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// Keys that may have signed a token with this `kid`: with a `kid`, every key carrying it
    /// (a JWKS may repeat a `kid` during rotation); without one, the set's only key. A token
    /// without `kid` against several keys is refused rather than tried against each.
    fn matching<'s>(
        &'s self,
        kid: Option<&'s str>,
    ) -> Result<impl Iterator<Item = &'s Key> + 's, VerifyError> {
        match kid {
            Some(kid) => {
                if !self.contains(kid) {
                    return Err(VerifyError::KeyNotFound {
                        detail: format!(
                            "no key with kid `{}` in the issuer's JWKS; it has {}",
                            clip(kid),
                            describe_kids(&self.kids())
                        ),
                    });
                }
            }
            None => match self.keys.len() {
                1 => {}
                0 => {
                    return Err(VerifyError::KeyNotFound {
                        detail: "the issuer's JWKS has no usable key".to_owned(),
                    });
                }
                n => {
                    return Err(VerifyError::KeyNotFound {
                        detail: format!(
                            "the token has no `kid` and the issuer's JWKS has {n} keys"
                        ),
                    });
                }
            },
        }
        Ok(self
            .keys
            .iter()
            .filter(move |k| kid.is_none() || k.kid.as_deref() == kid))
    }

    /// Checks `signature` over `message` with the keys selected by `kid` that verify `alg`.
    /// Allocation-free on the success path: this is the hot loop of token verification.
    pub(crate) fn verify_signature(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), VerifyError> {
        let mut tried: Option<&str> = None;
        let mut any = false;
        for key in self.matching(kid)? {
            for (a, parsed) in &key.verifiers {
                if *a != alg {
                    continue;
                }
                any = true;
                if parsed.verify_sig(message, signature).is_ok() {
                    return Ok(());
                }
                tried = key.kid.as_deref();
            }
        }
        if !any {
            return Err(VerifyError::KeyNotFound {
                detail: format!(
                    "key `{}` cannot verify `{}` signatures",
                    clip(kid.unwrap_or("-")),
                    alg.name()
                ),
            });
        }
        Err(VerifyError::BadSignature {
            kid: tried.unwrap_or("-").to_owned(),
        })
    }

    /// How many (key, algorithm) verifiers would be tried for this `kid` and `alg`.
    #[cfg(test)]
    fn candidate_count(&self, kid: Option<&str>, alg: Algorithm) -> Result<usize, VerifyError> {
        let n = self
            .matching(kid)?
            .flat_map(|k| k.verifiers.iter())
            .filter(|(a, _)| *a == alg)
            .count();
        if n == 0 {
            Err(VerifyError::KeyNotFound {
                detail: "no verifier".to_owned(),
            })
        } else {
            Ok(n)
        }
    }
}

fn describe_kids(kids: &[String]) -> String {
    if kids.is_empty() {
        "no key ids".to_owned()
    } else {
        let list: Vec<String> = kids.iter().map(|k| format!("`{}`", clip(k))).collect();
        list.join(", ")
    }
}

/// How long fetched keys are trusted, how often an issuer may be refetched, and how long keys
/// may be used while the issuer is unreachable. All values are seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// Keys younger than this are fresh: used without refetching. Default 3600 (one hour).
    /// Risk: a key the issuer revoked stays trusted this long.
    pub ttl: u64,
    /// At most one fetch attempt per issuer per this many seconds, whatever triggers it
    /// (expiry, unknown `kid`, failure). Default 5. Risk if 0: a stream of tokens with random
    /// `kid`s makes us fetch the issuer's JWKS once per token.
    pub min_refetch_interval: u64,
    /// Keys younger than this (counted from their fetch, so effectively at least `ttl`) stay
    /// usable when a refresh fails; past it the issuer's tokens fail with
    /// `IDPCommunicationError`. Default 86400 (one day). Risk: an outage of the issuer hides
    /// a key revocation this long.
    pub max_stale: u64,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            ttl: 3600,
            min_refetch_interval: 5,
            max_stale: 86_400,
        }
    }
}

/// What the cache holds for an issuer at a given time.
#[derive(Debug)]
pub enum CacheLookup<'a> {
    /// Younger than the TTL: use these keys.
    Fresh(&'a Arc<KeySet>),
    /// Older than the TTL but within `max_stale`: refetch (if [`JwksCache::may_refetch`]
    /// allows) and fall back to these keys if the refetch fails.
    Stale(&'a Arc<KeySet>),
    /// Nothing usable: fetch, and fail with `IDPCommunicationError` if that fails.
    Missing,
}

#[derive(Default)]
struct Entry {
    keys: Option<(Arc<KeySet>, u64)>,
    last_attempt: Option<u64>,
}

/// Most issuers the cache tracks; the least recently touched is evicted beyond it. Issuers come
/// from IAM providers (at most 100 per account), so this only bounds memory against misuse.
pub const MAX_ISSUERS: usize = 4096;

/// Per-issuer JWKS cache *policy*; the caller fetches, and wraps the cache in a lock.
///
/// The intended flow for one token (all under the caller's lock, fetching outside it):
/// 1. [`lookup`](Self::lookup): `Fresh` → verify; `Stale`/`Missing` → if
///    [`may_refetch`](Self::may_refetch), fetch discovery + JWKS and [`store`](Self::store).
/// 2. If the fetch failed, use [`usable_after_failure`](Self::usable_after_failure); `None` →
///    `IDPCommunicationError`.
/// 3. If verification fails with [`VerifyError::is_key_not_found`] (unknown `kid`, e.g. after a
///    rotation) and `may_refetch` allows, fetch, store and verify once more.
#[derive(Default)]
pub struct JwksCache {
    policy: CachePolicy,
    entries: HashMap<String, Entry>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("policy", &self.policy)
            .field("issuers", &self.entries.len())
            .finish()
    }
}

impl JwksCache {
    /// An empty cache with this policy.
    pub fn new(policy: CachePolicy) -> Self {
        Self {
            policy,
            entries: HashMap::new(),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> CachePolicy {
        self.policy
    }

    fn age(fetched_at: u64, now: u64) -> u64 {
        // A clock that went backwards makes keys look new rather than old.
        now.saturating_sub(fetched_at)
    }

    /// Whether cached keys for `issuer` are fresh, stale-but-usable, or missing at `now`.
    pub fn lookup(&self, issuer: &str, now: u64) -> CacheLookup<'_> {
        let Some((keys, fetched_at)) = self.entries.get(issuer).and_then(|e| e.keys.as_ref())
        else {
            return CacheLookup::Missing;
        };
        let age = Self::age(*fetched_at, now);
        if age < self.policy.ttl {
            CacheLookup::Fresh(keys)
        } else if age <= self.policy.max_stale {
            CacheLookup::Stale(keys)
        } else {
            CacheLookup::Missing
        }
    }

    /// Rate limit: true when a fetch for `issuer` may start now, and then records the attempt,
    /// so it is true at most once per `min_refetch_interval` per issuer.
    pub fn may_refetch(&mut self, issuer: &str, now: u64) -> bool {
        let interval = self.policy.min_refetch_interval;
        if !self.entries.contains_key(issuer) {
            self.make_room();
        }
        let entry = self.entries.entry(issuer.to_owned()).or_default();
        let allowed = match entry.last_attempt {
            None => true,
            // A clock that went backwards must not block fetching for the size of the jump.
            Some(last) if now < last => true,
            Some(last) => now - last >= interval,
        };
        if allowed {
            entry.last_attempt = Some(now);
        }
        allowed
    }

    /// Records freshly fetched keys for `issuer`, replacing the previous set (a JWKS during
    /// rotation lists old and new keys, so replacing is what keeps both).
    pub fn store(&mut self, issuer: &str, keys: KeySet, now: u64) {
        if !self.entries.contains_key(issuer) {
            self.make_room();
        }
        let entry = self.entries.entry(issuer.to_owned()).or_default();
        entry.keys = Some((Arc::new(keys), now));
    }

    /// Cached keys still within `max_stale`, to use when a refetch failed.
    pub fn usable_after_failure(&self, issuer: &str, now: u64) -> Option<Arc<KeySet>> {
        let (keys, fetched_at) = self.entries.get(issuer)?.keys.as_ref()?;
        (Self::age(*fetched_at, now) <= self.policy.max_stale.max(self.policy.ttl))
            .then(|| Arc::clone(keys))
    }

    /// Forgets an issuer (e.g. when its IAM provider is deleted).
    pub fn remove(&mut self, issuer: &str) {
        self.entries.remove(issuer);
    }

    fn make_room(&mut self) {
        if self.entries.len() < MAX_ISSUERS {
            return;
        }
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, e)| {
                let fetched = e.keys.as_ref().map_or(0, |(_, t)| *t);
                fetched.max(e.last_attempt.unwrap_or(0))
            })
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            self.entries.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issuer::{SigningKey, jwks_document};

    #[test]
    fn algorithm_names_round_trip_and_refuse_others() {
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(a.name()), Some(a));
        }
        for bad in ["none", "HS256", "rs256", "PS256", "EdDSA", ""] {
            assert_eq!(Algorithm::from_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn candidates_by_kid_and_alg() {
        let a = SigningKey::generate().unwrap();
        let set = KeySet::from_jwks_json(jwks_document(&[&a]).to_string().as_bytes()).unwrap();
        assert_eq!(
            set.candidate_count(Some(a.kid()), Algorithm::RS256)
                .unwrap(),
            1
        );
        assert_eq!(set.candidate_count(None, Algorithm::RS256).unwrap(), 1);
        assert!(set.candidate_count(Some("nope"), Algorithm::RS256).is_err());
        // The JWK says RS256: no RS512 and no ES256 with it.
        assert!(
            set.candidate_count(Some(a.kid()), Algorithm::RS512)
                .is_err()
        );
        assert!(
            set.candidate_count(Some(a.kid()), Algorithm::ES256)
                .is_err()
        );
        assert!(
            KeySet::default()
                .candidate_count(None, Algorithm::RS256)
                .is_err()
        );
    }

    #[test]
    fn repeated_kid_gives_every_candidate() {
        let a = SigningKey::generate().unwrap();
        let b = SigningKey::from_pkcs8(a.kid(), SigningKey::generate().unwrap().pkcs8()).unwrap();
        let set = KeySet::from_jwks_json(jwks_document(&[&a, &b]).to_string().as_bytes()).unwrap();
        assert_eq!(
            set.candidate_count(Some(a.kid()), Algorithm::RS256)
                .unwrap(),
            2
        );
    }

    #[test]
    fn leading_zero_in_modulus_is_tolerated() {
        let a = SigningKey::generate().unwrap();
        let mut jwk = a.jwk();
        let mut n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        n.insert(0, 0);
        jwk["n"] = URL_SAFE_NO_PAD.encode(n).into();
        let doc = serde_json::json!({"keys": [jwk]}).to_string();
        assert_eq!(KeySet::from_jwks_json(doc.as_bytes()).unwrap().len(), 1);
    }

    #[test]
    fn cache_memory_is_bounded() {
        let mut c = JwksCache::new(CachePolicy::default());
        for i in 0..(MAX_ISSUERS + 10) {
            assert!(c.may_refetch(&format!("https://i{i}.example"), i as u64));
        }
        assert_eq!(c.entries.len(), MAX_ISSUERS);
        // The oldest went first.
        assert!(!c.entries.contains_key("https://i0.example"));
        assert!(
            c.entries
                .contains_key(&format!("https://i{}.example", MAX_ISSUERS + 9))
        );
    }

    #[test]
    fn remove_forgets_an_issuer() {
        let mut c = JwksCache::new(CachePolicy::default());
        c.store("i", KeySet::default(), 0);
        assert!(matches!(c.lookup("i", 0), CacheLookup::Fresh(_)));
        c.remove("i");
        assert!(matches!(c.lookup("i", 0), CacheLookup::Missing));
    }
}
