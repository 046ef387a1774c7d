//! Integration tests for keyless-wire.
