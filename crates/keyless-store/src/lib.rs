//! keyless-store
