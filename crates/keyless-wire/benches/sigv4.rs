//! Benchmark: parsing and verifying a SigV4-signed `GetCallerIdentity` POST, as the AWS CLI
//! sends it, with a warm signing-key cache (the server's hot path).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use keyless_wire::{HttpRequestParts, SigningKeyCache, decode_query, parse_sigv4, verify_sigv4};

/// A request from key `test` at 2015-08-30T12:36:00Z (unsigned yet: see [`signature`]).
fn request() -> (Vec<(String, String)>, &'static [u8]) {
    let body: &'static [u8] = b"Action=GetCallerIdentity&Version=2011-06-15";
    let headers = vec![
        ("host".to_owned(), "127.0.0.1:4566".to_owned()),
        (
            "content-type".to_owned(),
            "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
        ),
        (
            "user-agent".to_owned(),
            "aws-cli/2.15.0 Python/3.11 Linux/6.1 md/arch#x86_64".to_owned(),
        ),
        ("x-amz-date".to_owned(), "20150830T123600Z".to_owned()),
        ("content-length".to_owned(), body.len().to_string()),
    ];
    (headers, body)
}

const NOW: u64 = 1_440_938_160; // 20150830T123600Z

/// The request's signature with secret `test`, computed by a minimal independent SigV4 signer
/// (the crate has no public signer; the integration tests use the official `aws-sigv4`).
#[allow(clippy::indexing_slicing, reason = "fixed request built just above")]
fn signature(headers: &[(String, String)], body: &[u8]) -> String {
    use aws_lc_rs::{digest, hmac};
    let sha = |b: &[u8]| hex::encode(digest::digest(&digest::SHA256, b));
    let signed = "content-type;host;x-amz-date";
    let creq = format!(
        "POST\n/\n\ncontent-type:{}\nhost:{}\nx-amz-date:{}\n\n{signed}\n{}",
        headers[1].1,
        headers[0].1,
        headers[3].1,
        sha(body)
    );
    let sts = format!(
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/sts/aws4_request\n{}",
        sha(creq.as_bytes())
    );
    let mut k = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, b"AWS4test"), b"20150830");
    for part in [&b"us-east-1"[..], b"sts", b"aws4_request"] {
        k = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, k.as_ref()), part);
    }
    hex::encode(hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, k.as_ref()),
        sts.as_bytes(),
    ))
}

fn bench(c: &mut Criterion) {
    let (mut headers, body) = request();
    let sig = signature(&headers, body);
    headers.push((
        "authorization".to_owned(),
        format!(
            "AWS4-HMAC-SHA256 Credential=test/20150830/us-east-1/sts/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, Signature={sig}"
        ),
    ));
    let req = HttpRequestParts {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body,
    };
    let cache = SigningKeyCache::new();
    let auth = parse_sigv4(&req)
        .ok()
        .flatten()
        .unwrap_or_else(|| unreachable!("signed"));
    verify_sigv4(&req, &auth, "test", NOW, &cache).unwrap_or_else(|e| unreachable!("{e}"));

    c.bench_function("verify_sigv4 (warm cache)", |b| {
        b.iter(|| verify_sigv4(black_box(&req), black_box(&auth), "test", NOW, &cache))
    });
    c.bench_function("parse_sigv4 + verify_sigv4 (warm cache)", |b| {
        b.iter(|| {
            let auth = parse_sigv4(black_box(&req)).ok().flatten();
            auth.map(|a| verify_sigv4(&req, &a, "test", NOW, &cache))
        })
    });
    c.bench_function("decode_query (GetCallerIdentity body)", |b| {
        b.iter(|| decode_query(black_box(body), None))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
