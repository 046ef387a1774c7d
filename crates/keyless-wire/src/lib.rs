//! keyless-wire
