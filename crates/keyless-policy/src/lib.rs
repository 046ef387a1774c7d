//! keyless-policy
