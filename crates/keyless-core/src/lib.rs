//! The keyless domain: STS and IAM as AWS runs them, on top of the pure policy engine
//! (`keyless-policy`) and token verification (`keyless-oidc`).
//!
//! The key design decision: **sessions are not stored**. Every temporary credential carries its
//! whole session (role, policies, tags, expiry, secret) inside an AEAD-sealed session token, so
//! any node holding the sealing keys can verify any credential, and the hot path of STS never
//! touches the database. Configuration (providers, roles, policies, keys) is held in memory and
//! written through to a [`Store`] on every change.
#![warn(missing_docs)]

pub mod audit;
pub mod clock;
pub mod error;
pub mod guardrail;
pub mod iam;
pub mod keys;
pub mod managed;
pub mod model;
pub mod principal;
pub mod seal;
pub mod store;
pub mod sts;

pub use clock::{Clock, SystemClock};
pub use error::CoreError;
pub use store::{AuditFilter, Kind, Snapshot, Store, StoreError};
