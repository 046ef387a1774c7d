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
#![warn(missing_docs)]

pub mod discovery;
pub mod error;
pub mod github;
pub mod issuer;
mod json;
pub mod jwks;
pub mod session;
pub mod verify;

pub use discovery::{MAX_DOCUMENT_BYTES, jwks_uri_from_discovery};
pub use error::{OidcError, VerifyError};
pub use github::{
    GITHUB_ISSUER, JobContext, RequestToken, SubjectTemplate, claims, discovery_document, subject,
};
pub use issuer::{SigningKey, jwks_document};
pub use jwks::{Algorithm, CacheLookup, CachePolicy, JwksCache, KeySet};
pub use session::{SessionClaims, session_claims};
pub use verify::{
    DEFAULT_LEEWAY, Expectations, MAX_TOKEN_LEN, VerifiedToken, danger_peek_issuer,
    danger_peek_kid, verify,
};
