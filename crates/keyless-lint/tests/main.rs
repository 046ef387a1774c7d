//! Integration tests for keyless-lint.

mod corpus;
mod formats;
mod loaders;
mod vectors;
