//! Benchmark: verify_sigv4 with a warm signing-key cache.
fn main() {}
