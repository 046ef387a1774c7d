//! Where STS gets an issuer's verification keys: the server's own dev issuer directly, any
//! other issuer through its discovery document and JWKS, fetched over HTTPS and cached.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyless_core::CoreError;
use keyless_core::keys::IssuerKeys;
use keyless_core::sts::{BoxFuture, KeySource};
use keyless_core::{Clock, SystemClock};
use keyless_oidc::{CacheLookup, CachePolicy, JwksCache, KeySet};

const NO_KEY: &str = "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements";

/// Keys for the dev issuer and for remote issuers.
pub struct ServerKeySource {
    dev_issuer: Option<String>,
    issuer_keys: Arc<IssuerKeys>,
    cache: Mutex<JwksCache>,
    http: reqwest::Client,
    clock: SystemClock,
}

impl ServerKeySource {
    /// `dev_issuer` is served from `issuer_keys` without HTTP.
    pub fn new(dev_issuer: Option<String>, issuer_keys: Arc<IssuerKeys>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::limited(3))
            .https_only(true)
            .build()?;
        Ok(Self {
            dev_issuer,
            issuer_keys,
            cache: Mutex::new(JwksCache::new(CachePolicy::default())),
            http,
            clock: SystemClock,
        })
    }

    async fn fetch(&self, issuer: &str) -> Result<KeySet, CoreError> {
        let discovery = self
            .get(&keyless_oidc::discovery::discovery_url(issuer))
            .await?;
        let jwks_uri = keyless_oidc::jwks_uri_from_discovery(&discovery, issuer)
            .map_err(|e| CoreError::InvalidIdentityToken(format!("{NO_KEY} ({e})")))?;
        let jwks = self.get(&jwks_uri).await?;
        KeySet::from_jwks_json(&jwks)
            .map_err(|e| CoreError::InvalidIdentityToken(format!("{NO_KEY} ({e})")))
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, CoreError> {
        let comm = |e: String| CoreError::IdpCommunicationError(format!("{NO_KEY} ({url}: {e})"));
        let mut resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| comm(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(CoreError::InvalidIdentityToken(format!(
                "{NO_KEY} ({url} answered {})",
                resp.status()
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| comm(e.to_string()))? {
            body.extend_from_slice(&chunk);
            if body.len() > keyless_oidc::MAX_DOCUMENT_BYTES {
                return Err(CoreError::InvalidIdentityToken(format!(
                    "{NO_KEY} ({url} is larger than {} bytes)",
                    keyless_oidc::MAX_DOCUMENT_BYTES
                )));
            }
        }
        Ok(body)
    }
}

impl KeySource for ServerKeySource {
    fn keys<'a>(
        &'a self,
        issuer: &'a str,
        kid: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Arc<KeySet>, CoreError>> {
        Box::pin(async move {
            if self.dev_issuer.as_deref() == Some(issuer) {
                // On a first start the key is generated in the background: wait briefly for it.
                for _ in 0..500 {
                    if let Ok(keys) = self.issuer_keys.key_set() {
                        return Ok(keys);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                return self.issuer_keys.key_set();
            }
            let now = self.clock.now();
            {
                let mut cache = self
                    .cache
                    .lock()
                    .map_err(|_| CoreError::Internal("jwks cache poisoned".into()))?;
                let cached = match cache.lookup(issuer, now) {
                    CacheLookup::Fresh(k) => Some((k.clone(), false)),
                    CacheLookup::Stale(k) => Some((k.clone(), true)),
                    CacheLookup::Missing => None,
                };
                match cached {
                    Some((k, stale)) => {
                        let unknown_kid = kid.is_some_and(|kid| !k.contains(kid));
                        if !((stale || unknown_kid) && cache.may_refetch(issuer, now)) {
                            return Ok(k);
                        }
                    }
                    None => {
                        if !cache.may_refetch(issuer, now) {
                            return Err(CoreError::IdpCommunicationError(format!(
                                "{NO_KEY} (keys for {issuer} were fetched moments ago and failed; retry shortly)"
                            )));
                        }
                    }
                }
            }
            match self.fetch(issuer).await {
                Ok(keys) => {
                    let mut cache = self
                        .cache
                        .lock()
                        .map_err(|_| CoreError::Internal("jwks cache poisoned".into()))?;
                    cache.store(issuer, keys, now);
                    match cache.lookup(issuer, now) {
                        CacheLookup::Fresh(k) | CacheLookup::Stale(k) => Ok(k.clone()),
                        CacheLookup::Missing => {
                            Err(CoreError::Internal("jwks cache lost a key set".into()))
                        }
                    }
                }
                Err(e) => {
                    let cache = self
                        .cache
                        .lock()
                        .map_err(|_| CoreError::Internal("jwks cache poisoned".into()))?;
                    cache.usable_after_failure(issuer, now).ok_or(e)
                }
            }
        })
    }
}
