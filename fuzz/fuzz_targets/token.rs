//! Fuzz web identity token verification: arbitrary strings as tokens, and arbitrary bytes as the
//! claims of a token with a well-formed header (so the claims parser, which is written by hand,
//! sees them before the signature check fails). Nothing may panic and nothing may verify.
#![no_main]

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyless_oidc::{
    Expectations, KeySet, SigningKey, danger_decode, danger_peek_issuer, danger_peek_kid,
    jwks_document, verify,
};
use libfuzzer_sys::fuzz_target;

const ISSUER: &str = "https://token.actions.githubusercontent.com";
/// 2026-01-01T00:00:00Z, the verifier's clock.
const NOW: u64 = 1_767_225_600;

/// A key set of one freshly generated key, and a token header naming it.
fn keys() -> &'static (KeySet, String) {
    static KEYS: OnceLock<(KeySet, String)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let key = SigningKey::generate().expect("generate a signing key");
        let jwks = serde_json::to_vec(&jwks_document(&[&key])).expect("serialise the JWKS");
        let set = KeySet::from_jwks_json(&jwks).expect("parse our own JWKS");
        let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": key.kid() });
        let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("header"));
        (set, header)
    })
}

fuzz_target!(|input: (bool, &str, &[u8])| {
    let (raw, text, claims) = input;
    let (set, header) = keys();
    let token = if raw {
        text.to_owned()
    } else {
        // The signature is 256 bytes of zeros: well-formed, never valid.
        format!(
            "{header}.{}.{}",
            URL_SAFE_NO_PAD.encode(claims),
            URL_SAFE_NO_PAD.encode([0u8; 256])
        )
    };
    let audiences = vec!["sts.amazonaws.com".to_owned()];
    let expect = Expectations::new(ISSUER, &audiences, NOW);
    let _ = danger_peek_issuer(&token);
    let _ = danger_peek_kid(&token);
    if let Ok(unverified) = danger_decode(&token) {
        let _ = unverified.danger_issuer();
        let _ = unverified.danger_check_audience(&audiences);
        let _ = unverified.kid();
        assert!(
            unverified.verify(set, &expect).is_err(),
            "a made-up token verified"
        );
    }
    if let Err(e) = verify(&token, set, &expect) {
        let _ = e.to_string();
        let _ = e.sts_code();
    } else {
        panic!("a made-up token verified");
    }
});
