//! Fuzz the wildcard matchers: no panics, and `*` alone matches everything.
#![no_main]

use keyless_policy::{action_matches, arn_matches, wildcard_match};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str, bool)| {
    let (pattern, value, case_insensitive) = input;
    let _ = wildcard_match(pattern, value, case_insensitive);
    let _ = action_matches(pattern, value);
    let _ = arn_matches(pattern, value);
    assert!(wildcard_match("*", value, case_insensitive));
    assert!(wildcard_match(
        value.replace(['*', '?'], "").as_str(),
        &value.replace(['*', '?'], ""),
        false
    ));
});
