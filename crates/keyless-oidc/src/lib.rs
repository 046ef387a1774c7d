//! keyless-oidc: verify OpenID Connect ID tokens the way AWS STS does, and issue tokens the way
//! GitHub Actions does.
//!
//! The key design decision: this crate is **pure**. It performs no network I/O, has no async, and
//! never reads the clock: every time-dependent function takes `now` (unix seconds) as a parameter.
//! The server fetches discovery documents and JWKS over HTTPS and feeds the bytes in here; this
//! crate parses them ([`discovery`], [`jwks`]), decides the caching *policy* ([`JwksCache`]) and
//! verifies tokens ([`verify()`]). That keeps every security decision testable with an injected
//! clock and a fixed corpus of hostile tokens.
//!
//! On the issuing side, [`issuer`] holds RSA-2048 signing keys and builds the JWKS, and [`github`]
//! renders GitHub Actions' claim set, `sub` formats, discovery document and the runner's
//! request token. [`session`] reads the AWS session tags and source identity a token carries.
//!
//! Crypto comes only from `aws-lc-rs`.
//!
//! ```
//! use keyless_oidc::{Expectations, JobContext, KeySet, SigningKey, GITHUB_ISSUER};
//!
//! let now = 1_780_000_000;
//! // Issuer side: a GitHub-shaped token for a push to main.
//! let key = SigningKey::generate()?;
//! let ctx = JobContext::for_repo("acme/app");
//! let claims = keyless_oidc::claims(&ctx, GITHUB_ISSUER, Some("sts.amazonaws.com"), now, "jti-1")?;
//! let token = key.sign(&claims)?;
//!
//! // STS side: the server fetched the JWKS bytes (here: built them) and verifies.
//! let jwks = keyless_oidc::jwks_document(&[&key]).to_string();
//! let keys = KeySet::from_jwks_json(jwks.as_bytes())?;
//! assert_eq!(keyless_oidc::danger_peek_issuer(&token)?, GITHUB_ISSUER);
//! let audiences = vec!["sts.amazonaws.com".to_owned()];
//! let verified = keyless_oidc::verify(&token, &keys, &Expectations::new(GITHUB_ISSUER, &audiences, now))?;
//! assert_eq!(verified.subject, "repo:acme/app:ref:refs/heads/main");
//!
//! // Five minutes and a leeway later STS says:
//! let late = Expectations::new(GITHUB_ISSUER, &audiences, now + 360);
//! let err = keyless_oidc::verify(&token, &keys, &late).unwrap_err();
//! assert_eq!(err.sts_code(), "ExpiredTokenException");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod discovery;
pub mod error;
pub mod github;
pub mod issuer;
mod json;
pub mod jwks;
pub mod session;
pub mod verify;

pub use discovery::{MAX_DOCUMENT_BYTES, discovery_url, jwks_uri_from_discovery};
pub use error::{OidcError, VerifyError};
pub use github::{
    GITHUB_ISSUER, JobContext, RequestToken, SubjectTemplate, claims, discovery_document, subject,
};
pub use issuer::{SigningKey, jwks_document};
pub use jwks::{Algorithm, CacheLookup, CachePolicy, JwksCache, KeySet};
pub use session::{SessionClaims, session_claims};
pub use verify::{
    DEFAULT_LEEWAY, Expectations, MAX_TOKEN_LEN, UnverifiedToken, VerifiedToken, danger_decode,
    danger_peek_issuer, danger_peek_kid, verify,
};

#[cfg(test)]
mod tests {
    /// The server keeps these behind locks shared across async tasks.
    #[test]
    fn shared_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<crate::KeySet>();
        check::<crate::JwksCache>();
        check::<crate::SigningKey>();
        check::<crate::VerifyError>();
        check::<crate::OidcError>();
        check::<crate::VerifiedToken>();
        check::<crate::JobContext>();
    }
}
