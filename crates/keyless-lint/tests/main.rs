//! Integration tests for keyless-lint.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod corpus;
mod formats;
mod loaders;
mod vectors;
