//! Integration tests for keyless-policy: the decision corpus, the subvectors suites, validation
//! diagnostics, explanations and properties.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod common;
mod corpus;
mod explain;
mod properties;
mod subvectors;
mod validation;
