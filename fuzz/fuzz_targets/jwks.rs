//! Fuzz what an issuer serves: arbitrary bytes as a JWKS document and as an OpenID discovery
//! document. Errors are fine, panics are not.
#![no_main]

use keyless_oidc::{KeySet, jwks_uri_from_discovery};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = KeySet::from_jwks_json(data) {
        assert_eq!(set.len(), set.kids().len());
        for kid in set.kids() {
            assert!(set.contains(&kid));
        }
        let _ = set.skipped();
    }
    let _ = jwks_uri_from_discovery(data, "https://token.actions.githubusercontent.com");
});
