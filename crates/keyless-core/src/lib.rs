//! keyless-core
