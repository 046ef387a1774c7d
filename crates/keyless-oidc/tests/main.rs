//! Integration tests for keyless-oidc.
