//! Integration tests of `keyless serve`: the real binary on a free loopback port, driven by the
//! `aws-sdk-sts` and `aws-sdk-iam` crates, raw HTTP for bad input, and `keyless audit`.

#![allow(deprecated)] // PackedPolicySize is deprecated in the SDK model but still what STS returns.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

#[path = "serve/harness.rs"]
mod harness;

#[path = "serve/audit.rs"]
mod audit;
#[path = "serve/bad_input.rs"]
mod bad_input;
#[path = "serve/claims.rs"]
mod claims;
#[path = "serve/iam.rs"]
mod iam;
#[path = "serve/ops.rs"]
mod ops;
#[path = "serve/refusals.rs"]
mod refusals;
#[path = "serve/sessions.rs"]
mod sessions;
#[path = "serve/sigv4.rs"]
mod sigv4;
#[path = "serve/state.rs"]
mod state;
#[path = "serve/tutorial.rs"]
mod tutorial;
#[path = "serve/wire.rs"]
mod wire;
