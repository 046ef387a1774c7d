//! keyless-oidc
