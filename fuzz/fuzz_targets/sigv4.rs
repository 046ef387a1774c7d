//! Fuzz SigV4: `Authorization` headers, presigned query strings, dates and bodies go through the
//! parser, and whatever parses through the verifier with the dev secret. Besides raw input, the
//! fuzzer fills the fields of a well-formed header or query, so that it gets past the framing
//! into the parts that read credentials, signed headers, dates and signatures. Nothing may
//! panic, and nothing made up may verify.
#![no_main]

use keyless_wire::{HttpRequestParts, SigningKeyCache, parse_sigv4, verify_sigv4};
use libfuzzer_sys::fuzz_target;

/// 2026-01-01T00:00:00Z, the verifier's clock.
const NOW: u64 = 1_767_225_600;

fuzz_target!(|input: (u8, [&str; 5], &[u8])| {
    let (mode, [key, signed, signature, date, token], body) = input;
    let (authorization, query) = match mode % 3 {
        0 => (key.to_owned(), signed.to_owned()),
        1 => (
            format!(
                "AWS4-HMAC-SHA256 Credential={key}/20260101/us-east-1/sts/aws4_request, \
                 SignedHeaders={signed}, Signature={signature}"
            ),
            String::new(),
        ),
        _ => (
            String::new(),
            format!(
                "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256\
                 &X-Amz-Credential={key}%2F20260101%2Fus-east-1%2Fsts%2Faws4_request\
                 &X-Amz-Date={date}&X-Amz-Expires=60&X-Amz-SignedHeaders={signed}\
                 &X-Amz-Signature={signature}"
            ),
        ),
    };
    let mut headers = vec![
        ("host".to_owned(), "127.0.0.1:4566".to_owned()),
        ("x-amz-date".to_owned(), date.to_owned()),
    ];
    if !authorization.is_empty() {
        headers.push(("authorization".to_owned(), authorization));
    }
    if !token.is_empty() {
        headers.push(("x-amz-security-token".to_owned(), token.to_owned()));
    }
    let req = HttpRequestParts {
        method: "POST",
        path: "/",
        query: &query,
        headers: &headers,
        body,
    };
    if let Ok(Some(auth)) = parse_sigv4(&req) {
        let _ = auth.scope();
        let _ = auth.check_service("sts");
        let cache = SigningKeyCache::new();
        assert!(
            verify_sigv4(&req, &auth, "test", NOW, &cache).is_err(),
            "a signature the fuzzer made up verified"
        );
    }
});
