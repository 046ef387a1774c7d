//! Where STS gets an issuer's verification keys: the server's own dev issuer directly, any
//! other issuer through its discovery document and JWKS, fetched over HTTPS and cached.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyless_core::CoreError;
use keyless_core::keys::IssuerKeys;
use keyless_core::sts::{BoxFuture, KeySource};
use keyless_core::{Clock, SystemClock};
use keyless_oidc::{CacheLookup, CachePolicy, JwksCache, KeySet};

use super::metrics::JwksCounters;

const NO_KEY: &str = "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements";

/// Keys for the dev issuer and for remote issuers.
pub struct ServerKeySource {
    dev_issuer: Option<String>,
    issuer_keys: Arc<IssuerKeys>,
    cache: Mutex<JwksCache>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    counters: JwksCounters,
}

impl ServerKeySource {
    /// `dev_issuer` is served from `issuer_keys` without HTTP.
    pub fn new(dev_issuer: Option<String>, issuer_keys: Arc<IssuerKeys>) -> anyhow::Result<Self> {
        Self::with_policy(
            dev_issuer,
            issuer_keys,
            CachePolicy::default(),
            Arc::new(SystemClock),
        )
    }

    /// With an explicit cache policy and clock (tests move the clock past TTLs).
    pub fn with_policy(
        dev_issuer: Option<String>,
        issuer_keys: Arc<IssuerKeys>,
        policy: CachePolicy,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        // Redirects are not followed: a discovery document or JWKS must be served where the
        // issuer says, and a redirect could lead off HTTPS.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            dev_issuer,
            issuer_keys,
            cache: Mutex::new(JwksCache::new(policy)),
            http,
            clock,
            counters: JwksCounters::default(),
        })
    }

    /// Counts cache hits and fetches into `counters` (the server's metrics).
    pub fn with_counters(mut self, counters: JwksCounters) -> Self {
        self.counters = counters;
        self
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
        if !allowed_url(url) {
            return Err(CoreError::InvalidIdentityToken(format!(
                "{NO_KEY} ({url}: keys are fetched over https only, plain http only from this machine)"
            )));
        }
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

/// HTTPS anywhere; plain HTTP only to loopback (local test issuers).
fn allowed_url(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl KeySource for ServerKeySource {
    fn keys<'a>(
        &'a self,
        issuer: &'a str,
        kid: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Arc<KeySet>, CoreError>> {
        Box::pin(async move {
            if self.dev_issuer.as_deref() == Some(issuer) {
                self.counters.hits.inc();
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
                            self.counters.hits.inc();
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
            self.counters.fetches.inc();
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
                    self.counters.fetch_errors.inc();
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use axum::routing::get;
    use keyless_oidc::SigningKey;

    use super::*;

    struct TestClock(AtomicU64);
    impl Clock for TestClock {
        fn now(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// A real HTTP issuer on loopback serving discovery and a JWKS we can rotate, counting fetches.
    struct Issuer {
        url: String,
        keys: Arc<Mutex<Vec<Arc<SigningKey>>>>,
        fetches: Arc<AtomicUsize>,
        task: tokio::task::JoinHandle<()>,
    }

    async fn issuer() -> Issuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let keys = Arc::new(Mutex::new(vec![Arc::new(SigningKey::generate().unwrap())]));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (k, f, u) = (keys.clone(), fetches.clone(), url.clone());
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || {
                    let u = u.clone();
                    async move { axum::Json(keyless_oidc::discovery_document(&u)) }
                }),
            )
            .route(
                "/.well-known/jwks",
                get(move || {
                    f.fetch_add(1, Ordering::SeqCst);
                    let keys: Vec<Arc<SigningKey>> = k.lock().unwrap().clone();
                    async move {
                        let refs: Vec<&SigningKey> = keys.iter().map(|k| &**k).collect();
                        axum::Json(keyless_oidc::jwks_document(&refs))
                    }
                }),
            );
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Issuer {
            url,
            keys,
            fetches,
            task,
        }
    }

    fn source(clock: Arc<TestClock>) -> ServerKeySource {
        let store: Arc<dyn keyless_core::Store> =
            Arc::new(keyless_store::SqliteStore::in_memory().unwrap());
        let dev = Arc::new(IssuerKeys::load_deferred(store).unwrap());
        let policy = CachePolicy {
            ttl: 3600,
            min_refetch_interval: 5,
            max_stale: 86400,
        };
        ServerKeySource::with_policy(None, dev, policy, clock).unwrap()
    }

    #[tokio::test]
    async fn jwks_cache_against_a_real_issuer() {
        let iss = issuer().await;
        let clock = Arc::new(TestClock(AtomicU64::new(1_000_000)));
        let src = source(clock.clone());
        let kid1 = iss.keys.lock().unwrap()[0].kid().to_owned();

        // First use fetches discovery and JWKS; the second is served from the cache.
        assert!(
            src.keys(&iss.url, Some(&kid1))
                .await
                .unwrap()
                .contains(&kid1)
        );
        assert!(
            src.keys(&iss.url, Some(&kid1))
                .await
                .unwrap()
                .contains(&kid1)
        );
        assert_eq!(iss.fetches.load(Ordering::SeqCst), 1);

        // Rotation: a token with the new kid makes one refetch once the rate limit allows it.
        let new = Arc::new(SigningKey::generate().unwrap());
        let kid2 = new.kid().to_owned();
        iss.keys.lock().unwrap().push(new);
        clock.0.fetch_add(6, Ordering::SeqCst);
        assert!(
            src.keys(&iss.url, Some(&kid2))
                .await
                .unwrap()
                .contains(&kid2)
        );
        assert_eq!(iss.fetches.load(Ordering::SeqCst), 2);

        // An attacker's random kids do not make us hammer the issuer.
        for i in 0..20 {
            let _ = src.keys(&iss.url, Some(&format!("random-{i}"))).await;
        }
        assert_eq!(iss.fetches.load(Ordering::SeqCst), 2);

        // Issuer down: past the TTL the cached keys keep working…
        iss.task.abort();
        let _ = iss.task.await;
        clock.0.fetch_add(4000, Ordering::SeqCst);
        assert!(
            src.keys(&iss.url, Some(&kid1))
                .await
                .unwrap()
                .contains(&kid1)
        );
        // …until the stale bound, then a clear IDPCommunicationError.
        clock.0.fetch_add(90_000, Ordering::SeqCst);
        let err = src.keys(&iss.url, Some(&kid1)).await.unwrap_err();
        assert_eq!(err.code(), "IDPCommunicationError", "{err}");
    }

    #[tokio::test]
    async fn plain_http_is_refused_off_loopback() {
        assert!(allowed_url(
            "https://token.actions.githubusercontent.com/.well-known/jwks"
        ));
        assert!(allowed_url("http://127.0.0.1:8080/jwks"));
        assert!(allowed_url("http://[::1]:8080/jwks"));
        assert!(allowed_url("http://localhost/jwks"));
        assert!(!allowed_url("http://example.com/jwks"));
        assert!(!allowed_url("http://127.0.0.1.example.com/jwks"));
        assert!(!allowed_url("ftp://127.0.0.1/jwks"));
        let clock = Arc::new(TestClock(AtomicU64::new(1)));
        let err = source(clock)
            .keys("http://issuer.example", None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "InvalidIdentityToken", "{err}");
    }
}
