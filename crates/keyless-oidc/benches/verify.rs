//! Verification throughput with a warm key set, beside the raw aws-lc-rs RS256 verification of
//! the same token (signature check only, key already parsed). Target: `verify` ≥ 80% of raw.
#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "benchmark setup: a failure must stop the run"
)]

use aws_lc_rs::rsa::PublicKeyComponents;
use aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use keyless_oidc::{
    Expectations, GITHUB_ISSUER, JobContext, KeySet, SigningKey, claims, jwks_document, verify,
};
use std::hint::black_box;
use std::time::Instant;

/// The allocator the `keyless` server runs with (`crates/keyless/src/main.rs`), so that the
/// claims map `verify` must build (about 65 small allocations) costs here what it costs in the
/// server. aws-lc allocates through the C library's `malloc` either way, so the raw RSA
/// baseline is the same under both. With glibc's allocator instead, `verify` measures about
/// 0.7 µs slower on this token.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NOW: u64 = 1_780_000_000;

fn bench(c: &mut Criterion) {
    let key = SigningKey::generate().expect("key");
    let other = SigningKey::generate().expect("key");
    let mut ctx = JobContext::for_repo("acme/deploy-svc");
    ctx.environment = Some("production".into());
    let claims =
        claims(&ctx, GITHUB_ISSUER, Some("sts.amazonaws.com"), NOW, "jti").expect("claims");
    let token = key.sign(&claims).expect("sign");
    // A rotation-sized key set: the token's key plus another.
    let keys = KeySet::from_jwks_json(jwks_document(&[&other, &key]).to_string().as_bytes())
        .expect("jwks");
    let auds = vec!["sts.amazonaws.com".to_owned()];
    let expect = Expectations::new(GITHUB_ISSUER, &auds, NOW);
    assert!(verify(&token, &keys, &expect).is_ok());

    let jwk = key.jwk();
    let n = URL_SAFE_NO_PAD
        .decode(jwk["n"].as_str().expect("n"))
        .expect("n");
    let e = URL_SAFE_NO_PAD
        .decode(jwk["e"].as_str().expect("e"))
        .expect("e");
    let raw_key = PublicKeyComponents {
        n: &n[..],
        e: &e[..],
    }
    .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
    .expect("parsed");
    let (signing_input, sig) = token.rsplit_once('.').expect("jws");
    let sig = URL_SAFE_NO_PAD.decode(sig).expect("sig");
    assert!(raw_key.verify_sig(signing_input.as_bytes(), &sig).is_ok());

    let mut g = c.benchmark_group("rs256");
    g.bench_function("raw_aws_lc_rs_verify", |b| {
        b.iter(|| raw_key.verify_sig(black_box(signing_input.as_bytes()), black_box(&sig)))
    });
    g.bench_function("keyless_oidc_verify", |b| {
        b.iter(|| verify(black_box(&token), &keys, &expect).map(|v| v.expires_at))
    });
    g.finish();

    // Where the difference goes: decoding and parsing without a signature check.
    let mut g = c.benchmark_group("parts");
    g.bench_function("danger_peek_issuer", |b| {
        b.iter(|| keyless_oidc::danger_peek_issuer(black_box(&token)))
    });
    let (_, payload) = signing_input.split_once('.').expect("payload");
    let payload = URL_SAFE_NO_PAD.decode(payload).expect("payload");
    g.bench_function("serde_json_map_of_claims", |b| {
        b.iter(|| {
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(black_box(
                &payload,
            ))
        })
    });
    g.finish();
}

/// Raw and full verification timed in alternating batches, so load from other processes on a
/// shared machine hits both alike; prints the medians and their ratio.
fn interleaved(_: &mut Criterion) {
    let key = SigningKey::generate().expect("key");
    let claims = claims(
        &JobContext::for_repo("acme/deploy-svc"),
        GITHUB_ISSUER,
        Some("sts.amazonaws.com"),
        NOW,
        "jti",
    )
    .expect("claims");
    let token = key.sign(&claims).expect("sign");
    let keys = KeySet::from_jwks_json(jwks_document(&[&key]).to_string().as_bytes()).expect("jwks");
    let auds = vec!["sts.amazonaws.com".to_owned()];
    let expect = Expectations::new(GITHUB_ISSUER, &auds, NOW);
    let jwk = key.jwk();
    let n = URL_SAFE_NO_PAD
        .decode(jwk["n"].as_str().expect("n"))
        .expect("n");
    let e = URL_SAFE_NO_PAD
        .decode(jwk["e"].as_str().expect("e"))
        .expect("e");
    let raw_key = PublicKeyComponents {
        n: &n[..],
        e: &e[..],
    }
    .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
    .expect("parsed");
    let (signing_input, sig) = token.rsplit_once('.').expect("jws");
    let sig = URL_SAFE_NO_PAD.decode(sig).expect("sig");
    let (_, payload_b64) = signing_input.split_once('.').expect("payload");
    let payload = URL_SAFE_NO_PAD.decode(payload_b64).expect("payload");
    let pairs: Vec<(&str, &str)> = claims
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("1780000000")))
        .collect();
    // Small batches, many rounds: on a shared machine a short batch often runs undisturbed, so
    // the low percentiles show the uncontended speed of each, measured side by side.
    const BATCH: u32 = 20;
    const ROUNDS: usize = 1500;
    type Case<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let cases: Vec<Case<'_>> = vec![
        (
            "raw aws-lc-rs RS256 verify",
            Box::new(|| {
                assert!(
                    raw_key
                        .verify_sig(black_box(signing_input.as_bytes()), black_box(&sig))
                        .is_ok()
                )
            }),
        ),
        (
            "keyless_oidc::verify",
            Box::new(|| assert!(verify(black_box(&token), &keys, &expect).is_ok())),
        ),
        (
            "  part: danger_peek_issuer (decode only)",
            Box::new(|| assert!(keyless_oidc::danger_peek_issuer(black_box(&token)).is_ok())),
        ),
        (
            "  part: base64url decode of the payload",
            Box::new(|| assert!(URL_SAFE_NO_PAD.decode(black_box(payload_b64)).is_ok())),
        ),
        (
            "  part: serde_json Map of the claims",
            Box::new(|| {
                assert!(
                    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(
                        black_box(&payload)
                    )
                    .is_ok()
                )
            }),
        ),
        (
            "  part: build+drop the same Map from ready strings (no parsing)",
            Box::new(|| {
                let m: serde_json::Map<String, serde_json::Value> = pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String((*v).to_owned())))
                    .collect();
                assert!(black_box(m).len() >= 30);
            }),
        ),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(ROUNDS); cases.len()];
    for _ in 0..ROUNDS {
        for ((_, f), out) in cases.iter().zip(times.iter_mut()) {
            let t = Instant::now();
            for _ in 0..BATCH {
                f();
            }
            out.push(t.elapsed().as_secs_f64() * 1e6 / f64::from(BATCH));
        }
    }
    for t in &mut times {
        t.sort_by(f64::total_cmp);
    }
    for (label, q) in [("p10", ROUNDS / 10), ("median", ROUNDS / 2)] {
        println!("interleaved {label}:");
        for ((name, _), t) in cases.iter().zip(&times) {
            println!("  {name}: {:.2} µs ({:.0}/s)", t[q], 1e6 / t[q]);
        }
        println!(
            "  throughput ratio verify/raw: {:.1}%",
            100.0 * times[0][q] / times[1][q]
        );
    }
}

criterion_group!(benches, bench, interleaved);
criterion_main!(benches);
