//! Integration tests for keyless-oidc: the attack corpus (every case with its exact STS code),
//! GitHub claim sets and subjects, runner request tokens, and the JWKS cache policy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice,
    reason = "test helpers: a failure must fail the test"
)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyless_oidc::{
    Expectations, GITHUB_ISSUER, JobContext, KeySet, SigningKey, VerifyError, claims,
    jwks_document, verify,
};
use serde_json::{Map, Value, json};
use std::sync::OnceLock;

const NOW: u64 = 1_780_000_000;
const AUD: &str = "sts.amazonaws.com";

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Two issuer keys generated once for the whole test binary (RSA generation is slow).
fn keys() -> &'static (SigningKey, SigningKey) {
    static KEYS: OnceLock<(SigningKey, SigningKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        (
            SigningKey::generate().unwrap(),
            SigningKey::generate().unwrap(),
        )
    })
}

fn primary() -> &'static SigningKey {
    &keys().0
}

fn other() -> &'static SigningKey {
    &keys().1
}

fn keyset(ks: &[&SigningKey]) -> KeySet {
    KeySet::from_jwks_json(jwks_document(ks).to_string().as_bytes()).unwrap()
}

fn github_claims() -> Map<String, Value> {
    claims(
        &JobContext::for_repo("acme/deploy-svc"),
        GITHUB_ISSUER,
        Some(AUD),
        NOW,
        "6cf8862b-b832-4372-9998-22026ecd21a1",
    )
    .unwrap()
}

/// Signs raw header and payload text (so tests can write duplicate members) with `key` under
/// RS256/384/512.
fn sign_raw(
    key: &SigningKey,
    alg: &'static signature::RsaSignatureEncoding,
    header: &str,
    payload: &str,
) -> String {
    let pair = RsaKeyPair::from_pkcs8(key.pkcs8()).unwrap();
    let input = format!("{}.{}", b64(header), b64(payload));
    let mut sig = vec![0; pair.public_modulus_len()];
    pair.sign(alg, &SystemRandom::new(), input.as_bytes(), &mut sig)
        .unwrap();
    format!("{input}.{}", b64(sig))
}

fn sign_rs256(key: &SigningKey, header: &Value, claims: &Map<String, Value>) -> String {
    sign_raw(
        key,
        &signature::RSA_PKCS1_SHA256,
        &header.to_string(),
        &Value::Object(claims.clone()).to_string(),
    )
}

fn header(key: &SigningKey) -> Value {
    json!({"alg": "RS256", "kid": key.kid(), "typ": "JWT"})
}

fn audiences() -> Vec<String> {
    vec![AUD.to_owned()]
}

fn check(token: &str, keys: &KeySet) -> Result<keyless_oidc::VerifiedToken, VerifyError> {
    let auds = audiences();
    verify(token, keys, &Expectations::new(GITHUB_ISSUER, &auds, NOW))
}

fn refused(token: &str, keys: &KeySet) -> VerifyError {
    match check(token, keys) {
        Ok(v) => panic!("token was accepted: {v:?}"),
        Err(e) => e,
    }
}

fn with(mut c: Map<String, Value>, name: &str, v: Value) -> Map<String, Value> {
    c.insert(name.to_owned(), v);
    c
}

fn without(mut c: Map<String, Value>, name: &str) -> Map<String, Value> {
    c.remove(name);
    c
}

mod valid {
    use super::*;

    #[test]
    fn issued_token_verifies_with_every_claim() {
        let token = primary().sign(&github_claims()).unwrap();
        let v = check(&token, &keyset(&[primary()])).unwrap();
        assert_eq!(v.issuer, GITHUB_ISSUER);
        assert_eq!(v.subject, "repo:acme/deploy-svc:ref:refs/heads/main");
        assert_eq!(v.audience, AUD);
        assert_eq!(v.expires_at, NOW + 300);
        assert_eq!(v.issued_at, Some(NOW));
        assert_eq!(v.kid.as_deref(), Some(primary().kid()));
        assert_eq!(v.claims, github_claims());
    }

    #[test]
    fn danger_peek_issuer_reads_iss_without_keys() {
        let token = primary()
            .sign(&with(github_claims(), "iss", json!("https://x.example")))
            .unwrap();
        assert_eq!(
            keyless_oidc::danger_peek_issuer(&token).unwrap(),
            "https://x.example"
        );
        let e = keyless_oidc::danger_peek_issuer("not-a-jwt").unwrap_err();
        assert_eq!(e.sts_code(), "InvalidIdentityToken");
        assert!(e.to_string().starts_with(
            "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)"
        ));
    }

    #[test]
    fn token_signed_with_a_rotated_out_key_still_verifies_during_overlap() {
        let token = other().sign(&github_claims()).unwrap();
        assert!(check(&token, &keyset(&[primary(), other()])).is_ok());
    }

    #[test]
    fn no_kid_with_a_single_key_is_accepted() {
        let token = sign_rs256(primary(), &json!({"alg": "RS256"}), &github_claims());
        assert!(check(&token, &keyset(&[primary()])).is_ok());
    }

    #[test]
    fn rs384_and_rs512_verify_with_a_key_without_alg() {
        let mut jwk = primary().jwk();
        jwk.as_object_mut().unwrap().remove("alg");
        let set = KeySet::from_jwks_json(json!({"keys": [jwk]}).to_string().as_bytes()).unwrap();
        let payload = Value::Object(github_claims()).to_string();
        for (alg, enc) in [
            ("RS384", &signature::RSA_PKCS1_SHA384),
            ("RS512", &signature::RSA_PKCS1_SHA512),
        ] {
            let h = json!({"alg": alg, "kid": primary().kid()}).to_string();
            let token = sign_raw(primary(), enc, &h, &payload);
            assert!(check(&token, &set).is_ok(), "{alg}");
        }
    }

    #[test]
    fn a_key_declaring_rs256_does_not_verify_rs512() {
        let h = json!({"alg": "RS512", "kid": primary().kid()}).to_string();
        let token = sign_raw(
            primary(),
            &signature::RSA_PKCS1_SHA512,
            &h,
            &Value::Object(github_claims()).to_string(),
        );
        let e = refused(&token, &keyset(&[primary()]));
        assert!(matches!(e, VerifyError::KeyNotFound { .. }), "{e}");
        assert_eq!(e.sts_code(), "InvalidIdentityToken");
    }

    fn ec_case(
        signing: &'static signature::EcdsaSigningAlgorithm,
        alg: &str,
        crv: &str,
        len: usize,
    ) {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::generate(signing).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        assert_eq!(point.len(), 1 + 2 * len);
        let jwk = json!({
            "kty": "EC", "crv": crv, "kid": "ec1", "use": "sig",
            "x": b64(&point[1..=len]), "y": b64(&point[len + 1..]),
        });
        let set = KeySet::from_jwks_json(json!({"keys": [jwk]}).to_string().as_bytes()).unwrap();
        assert_eq!(set.len(), 1, "{:?}", set.skipped());
        let input = format!(
            "{}.{}",
            b64(json!({"alg": alg, "kid": "ec1"}).to_string()),
            b64(Value::Object(github_claims()).to_string())
        );
        let sig = pair.sign(&rng, input.as_bytes()).unwrap();
        let token = format!("{input}.{}", b64(sig.as_ref()));
        assert!(check(&token, &set).is_ok(), "{alg}");
        // The same signature over other claims must fail.
        let forged = format!(
            "{}.{}.{}",
            b64(json!({"alg": alg, "kid": "ec1"}).to_string()),
            b64(Value::Object(with(
                github_claims(),
                "sub",
                json!("repo:evil/x:ref:refs/heads/main")
            ))
            .to_string()),
            b64(sig.as_ref())
        );
        let e = refused(&forged, &set);
        assert!(matches!(e, VerifyError::BadSignature { .. }), "{e}");
    }

    #[test]
    fn es256_es384_es512_verify() {
        ec_case(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            "ES256",
            "P-256",
            32,
        );
        ec_case(
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            "ES384",
            "P-384",
            48,
        );
        ec_case(
            &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
            "ES512",
            "P-521",
            66,
        );
    }

    #[test]
    fn leeway_boundaries() {
        let set = keyset(&[primary()]);
        let auds = audiences();
        let c = with(github_claims(), "exp", json!(NOW - 59));
        let t = primary().sign(&c).unwrap();
        assert!(verify(&t, &set, &Expectations::new(GITHUB_ISSUER, &auds, NOW)).is_ok());
        let c = with(github_claims(), "exp", json!(NOW - 60));
        let t = primary().sign(&c).unwrap();
        let e = verify(&t, &set, &Expectations::new(GITHUB_ISSUER, &auds, NOW)).unwrap_err();
        assert_eq!(e.sts_code(), "ExpiredTokenException");
        let zero = Expectations {
            leeway: 0,
            ..Expectations::new(GITHUB_ISSUER, &auds, NOW)
        };
        let c = with(github_claims(), "exp", json!(NOW));
        let t = primary().sign(&c).unwrap();
        assert!(verify(&t, &set, &zero).is_err());
        let c = with(github_claims(), "nbf", json!(NOW + 60));
        assert!(check(&primary().sign(&c).unwrap(), &set).is_ok());
        let c = with(github_claims(), "nbf", json!(NOW + 61));
        assert!(check(&primary().sign(&c).unwrap(), &set).is_err());
    }

    #[test]
    fn aud_array_containing_ours_is_accepted_and_reports_the_match() {
        let c = with(
            github_claims(),
            "aud",
            json!(["https://github.com/acme", AUD]),
        );
        let v = check(&primary().sign(&c).unwrap(), &keyset(&[primary()])).unwrap();
        assert_eq!(v.audience, AUD);
    }

    #[test]
    fn every_single_character_change_is_refused() {
        let token = primary().sign(&github_claims()).unwrap();
        let set = keyset(&[primary()]);
        let bytes = token.as_bytes();
        for i in (0..bytes.len()).step_by(7) {
            let mut m = bytes.to_vec();
            m[i] = if m[i] == b'A' { b'B' } else { b'A' };
            let Ok(s) = String::from_utf8(m) else {
                continue;
            };
            if s == token {
                continue;
            }
            assert!(check(&s, &set).is_err(), "mutation at {i} accepted");
        }
    }
}

/// The attack corpus of issue 3: each token refused with the exact STS code.
mod attacks {
    use super::*;

    fn expect(token: &str, keys: &KeySet, code: &str) -> VerifyError {
        let e = refused(token, keys);
        assert_eq!(e.sts_code(), code, "{e}");
        e
    }

    fn set() -> KeySet {
        keyset(&[primary()])
    }

    fn claims_b64() -> String {
        b64(Value::Object(github_claims()).to_string())
    }

    #[test]
    fn alg_none() {
        for alg in ["none", "None", "NONE"] {
            let t = format!("{}.{}.", b64(json!({"alg": alg}).to_string()), claims_b64());
            let e = expect(&t, &set(), "InvalidIdentityToken");
            assert!(matches!(e, VerifyError::UnsupportedAlgorithm { .. }), "{e}");
            assert!(e.to_string().contains(alg));
        }
    }

    #[test]
    fn hs256_signed_with_the_rsa_public_key() {
        let jwk = primary().jwk();
        let h = b64(json!({"alg": "HS256", "kid": primary().kid()}).to_string());
        let input = format!("{h}.{}", claims_b64());
        for secret in [
            jwk.to_string().into_bytes(),
            URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap(),
        ] {
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
            let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
            let t = format!("{input}.{}", b64(tag.as_ref()));
            let e = expect(&t, &set(), "InvalidIdentityToken");
            assert!(matches!(e, VerifyError::UnsupportedAlgorithm { .. }), "{e}");
        }
        for alg in ["HS384", "HS512", "PS256", "EdDSA", "RS1"] {
            let t = format!(
                "{}.{}.AAAA",
                b64(json!({"alg": alg}).to_string()),
                claims_b64()
            );
            expect(&t, &set(), "InvalidIdentityToken");
        }
    }

    #[test]
    fn unknown_kid() {
        let t = other().sign(&github_claims()).unwrap();
        let e = expect(&t, &set(), "InvalidIdentityToken");
        assert!(e.is_key_not_found());
        assert!(e.to_string().starts_with(
            "Couldn't retrieve verification key from your identity provider,  please reference"
        ));
        assert!(e.to_string().contains(other().kid()));
    }

    #[test]
    fn no_kid_with_several_keys() {
        let t = sign_rs256(primary(), &json!({"alg": "RS256"}), &github_claims());
        let e = expect(&t, &keyset(&[primary(), other()]), "InvalidIdentityToken");
        assert!(matches!(e, VerifyError::KeyNotFound { .. }), "{e}");
        assert!(e.to_string().contains("no `kid`"), "{e}");
    }

    #[test]
    fn embedded_key_headers() {
        let attacker = other();
        for (name, v) in [
            ("jwk", attacker.jwk()),
            ("jku", json!("https://evil.example/jwks")),
            ("x5u", json!("https://evil.example/cert.pem")),
            ("x5c", json!(["MIIB"])),
        ] {
            let mut h = header(primary());
            h[name] = v;
            // Validly signed by our own key, still refused: the header alone disqualifies.
            let t = sign_rs256(primary(), &h, &github_claims());
            let e = expect(&t, &set(), "InvalidIdentityToken");
            assert_eq!(
                e,
                VerifyError::ForbiddenHeader {
                    name: name.to_owned()
                }
            );
        }
    }

    #[test]
    fn unknown_crit() {
        for crit in [json!(["exp"]), json!([]), json!("b64")] {
            let mut h = header(primary());
            h["crit"] = crit;
            let t = sign_rs256(primary(), &h, &github_claims());
            let e = expect(&t, &set(), "InvalidIdentityToken");
            assert!(matches!(e, VerifyError::UnsupportedCritical { .. }), "{e}");
        }
    }

    #[test]
    fn expired() {
        let t = primary()
            .sign(&with(github_claims(), "exp", json!(NOW - 1000)))
            .unwrap();
        let e = expect(&t, &set(), "ExpiredTokenException");
        assert_eq!(
            e.to_string(),
            format!(
                "Token expired: current date/time {NOW} must be before the expiration date/time{}",
                NOW - 1000
            )
        );
    }

    #[test]
    fn nbf_in_the_future() {
        let t = primary()
            .sign(&with(github_claims(), "nbf", json!(NOW + 600)))
            .unwrap();
        let e = expect(&t, &set(), "InvalidIdentityToken");
        assert!(matches!(e, VerifyError::NotYetValid { .. }), "{e}");
    }

    #[test]
    fn iat_far_in_the_future() {
        let t = primary()
            .sign(&with(github_claims(), "iat", json!(NOW + 86_400)))
            .unwrap();
        let e = expect(&t, &set(), "InvalidIdentityToken");
        assert!(matches!(e, VerifyError::IssuedInFuture { .. }), "{e}");
    }

    #[test]
    fn numeric_dates_must_be_integers() {
        for (claim, v) in [
            ("exp", json!(1.78e9)),
            ("exp", json!((NOW + 100) as f64 + 0.5)),
            ("exp", json!("1780000300")),
            ("exp", json!(-1)),
            ("nbf", json!(1.0)),
            ("iat", json!(null)),
        ] {
            let t = primary()
                .sign(&with(github_claims(), claim, v.clone()))
                .unwrap();
            let e = expect(&t, &set(), "InvalidIdentityToken");
            assert!(
                matches!(e, VerifyError::InvalidClaim { .. }),
                "{claim}={v}: {e}"
            );
        }
        let t = primary().sign(&without(github_claims(), "exp")).unwrap();
        let e = expect(&t, &set(), "InvalidIdentityToken");
        assert_eq!(e.to_string(), "Missing a required claim: exp");
    }

    #[test]
    fn iss_variants() {
        for iss in [
            "https://token.actions.githubusercontent.com/",
            "http://token.actions.githubusercontent.com",
            "https://Token.Actions.GitHubUserContent.com",
            "https://token.actions.githubusercontent.com.evil.example",
            " https://token.actions.githubusercontent.com",
        ] {
            let t = primary()
                .sign(&with(github_claims(), "iss", json!(iss)))
                .unwrap();
            let e = expect(&t, &set(), "InvalidIdentityToken");
            assert_eq!(
                e.to_string(),
                format!("No OpenIDConnect provider found in your account for {iss}")
            );
        }
        let t = primary()
            .sign(&with(github_claims(), "iss", json!(["x"])))
            .unwrap();
        expect(&t, &set(), "InvalidIdentityToken");
    }

    #[test]
    fn aud_missing_wrong_or_list_without_ours() {
        let t = primary().sign(&without(github_claims(), "aud")).unwrap();
        let e = expect(&t, &set(), "InvalidIdentityToken");
        assert_eq!(e.to_string(), "Missing a required claim: aud");
        for aud in [
            json!("https://github.com/acme"),
            json!("STS.amazonaws.com"),
            json!(["https://github.com/acme", "other"]),
            json!([]),
        ] {
            let t = primary().sign(&with(github_claims(), "aud", aud)).unwrap();
            let e = expect(&t, &set(), "InvalidIdentityToken");
            assert_eq!(e.to_string(), "Incorrect token audience");
        }
        for aud in [json!(7), json!([AUD, 7]), json!({"a": AUD})] {
            let t = primary().sign(&with(github_claims(), "aud", aud)).unwrap();
            expect(&t, &set(), "InvalidIdentityToken");
        }
    }

    #[test]
    fn truncated_or_extra_segments() {
        let t = primary().sign(&github_claims()).unwrap();
        let (hp, _sig) = t.rsplit_once('.').unwrap();
        for bad in [
            hp.to_owned(),
            format!("{t}."),
            format!("{t}.AAAA"),
            format!("{t}.AAAA.BBBB"),
            t[..t.len() - 10].to_owned(),
            format!("{hp}."),
            String::new(),
            ".".to_owned(),
            "..".to_owned(),
        ] {
            let e = expect(&bad, &set(), "InvalidIdentityToken");
            assert!(
                matches!(
                    e,
                    VerifyError::Malformed { .. } | VerifyError::BadSignature { .. }
                ),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn bad_base64url() {
        let t = primary().sign(&github_claims()).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let std_b64 = base64::engine::general_purpose::STANDARD
            .encode(Value::Object(github_claims()).to_string());
        for bad in [
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
            format!("{}.{}=.{}", parts[0], parts[1], parts[2]),
            format!("{}.{std_b64}.{}", parts[0], parts[2]),
            format!("{}.{}.{}==", parts[0], parts[1], parts[2]),
            format!(
                "{}.{}.{}",
                parts[0],
                parts[1],
                parts[2].replace('-', "+").replace('_', "/") + "*"
            ),
            format!("{}.{} .{}", parts[0], parts[1], parts[2]),
            format!("{}.{}.{}", parts[0], parts[1], "é"),
        ] {
            let e = expect(&bad, &set(), "InvalidIdentityToken");
            assert!(matches!(e, VerifyError::Malformed { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn non_json() {
        let sig = "AAAA";
        for (h, p) in [
            (b64("not json"), claims_b64()),
            (b64(header(primary()).to_string()), b64("not json")),
            (b64("[1,2]"), claims_b64()),
            (b64(header(primary()).to_string()), b64("\"a string\"")),
            (
                b64(header(primary()).to_string()),
                b64("{\"a\":1} trailing"),
            ),
            (b64(header(primary()).to_string()), b64([0xff, 0xfe, 0x7b])),
        ] {
            let e = expect(&format!("{h}.{p}.{sig}"), &set(), "InvalidIdentityToken");
            assert!(matches!(e, VerifyError::Malformed { .. }), "{e}");
        }
    }

    #[test]
    fn duplicate_claims_and_header_members() {
        let payload = Value::Object(github_claims()).to_string();
        // Append a second `sub` at the end: a last-wins parser would read the attacker's value.
        let dup = format!(
            "{},\"sub\":\"repo:evil/x:ref:refs/heads/main\"}}",
            &payload[..payload.len() - 1]
        );
        let t = sign_raw(
            primary(),
            &signature::RSA_PKCS1_SHA256,
            &header(primary()).to_string(),
            &dup,
        );
        let e = expect(&t, &set(), "InvalidIdentityToken");
        assert!(e.to_string().contains("duplicate member `sub`"), "{e}");
        let h = format!(
            r#"{{"alg":"RS256","kid":"{}","alg":"RS256"}}"#,
            primary().kid()
        );
        let t = sign_raw(primary(), &signature::RSA_PKCS1_SHA256, &h, &payload);
        expect(&t, &set(), "InvalidIdentityToken");
    }

    #[test]
    fn one_megabyte_token() {
        let big = "A".repeat(1 << 20);
        let t = format!("{}.{big}.AAAA", b64(header(primary()).to_string()));
        let e = expect(&t, &set(), "ValidationError");
        assert!(e.to_string().contains("less than or equal to 20000"), "{e}");
        let e = keyless_oidc::danger_peek_issuer(&t).unwrap_err();
        assert!(matches!(e, VerifyError::TooLong { .. }));
        // Exactly at the limit is parsed (and then fails for its content).
        let pad = "A".repeat(keyless_oidc::MAX_TOKEN_LEN - 10);
        let e = refused(
            &format!("{}.{}", &pad[..pad.len() - 1], "A.AAAAAAAA"),
            &set(),
        );
        assert!(!matches!(e, VerifyError::TooLong { .. }));
    }

    #[test]
    fn signature_of_another_token() {
        let mine = primary().sign(&github_claims()).unwrap();
        let theirs = primary()
            .sign(&with(
                github_claims(),
                "sub",
                json!("repo:acme/deploy-svc:environment:production"),
            ))
            .unwrap();
        let (hp, _) = theirs.rsplit_once('.').unwrap();
        let (_, sig) = mine.rsplit_once('.').unwrap();
        let e = expect(&format!("{hp}.{sig}"), &set(), "InvalidIdentityToken");
        assert!(matches!(e, VerifyError::BadSignature { .. }), "{e}");
    }

    #[test]
    fn validly_signed_by_an_attacker_key_with_our_kid() {
        let h = header(primary());
        let t = sign_rs256(other(), &h, &github_claims());
        let e = expect(&t, &set(), "InvalidIdentityToken");
        assert!(matches!(e, VerifyError::BadSignature { .. }), "{e}");
    }

    #[test]
    fn sub_missing_or_not_a_string() {
        let t = primary().sign(&without(github_claims(), "sub")).unwrap();
        let e = expect(&t, &set(), "InvalidIdentityToken");
        assert_eq!(e.to_string(), "Missing a required claim: sub");
        let t = primary()
            .sign(&with(github_claims(), "sub", json!(5)))
            .unwrap();
        expect(&t, &set(), "InvalidIdentityToken");
    }

    #[test]
    fn jwks_refuses_secret_and_weak_keys() {
        let doc = json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "h", "alg": "HS256"},
            {"kty": "RSA", "kid": "small", "n": b64([0xc1u8; 128]), "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": primary().jwk()["n"], "e": "AQAB"},
            {"kty": "EC", "kid": "k1", "crv": "secp256k1", "x": "AA", "y": "AA"},
            "not an object"
        ]});
        let set = KeySet::from_jwks_json(doc.to_string().as_bytes()).unwrap();
        assert_eq!(set.len(), 0);
        assert_eq!(set.skipped().len(), 5);
        let t = sign_rs256(
            primary(),
            &json!({"alg": "RS256", "kid": "enc"}),
            &github_claims(),
        );
        expect(&t, &set, "InvalidIdentityToken");
        assert!(KeySet::from_jwks_json(b"{\"keys\": 1}").is_err());
        assert!(KeySet::from_jwks_json(b"{\"keys\": [], \"keys\": []}").is_err());
        let many: Vec<Value> = (0..101).map(|_| json!({})).collect();
        assert!(KeySet::from_jwks_json(json!({"keys": many}).to_string().as_bytes()).is_err());
    }
}

mod github {
    use super::*;
    use keyless_oidc::github::{default_audience, new_jti};
    use keyless_oidc::{SubjectTemplate, discovery_document, subject};

    fn ctx() -> JobContext {
        JobContext::for_repo("acme/deploy-svc")
    }

    #[test]
    fn sub_for_each_event() {
        let mut c = ctx();
        assert_eq!(
            subject(&c).unwrap(),
            "repo:acme/deploy-svc:ref:refs/heads/main"
        );
        c.ref_ = "refs/tags/v1.4.0".into();
        assert_eq!(
            subject(&c).unwrap(),
            "repo:acme/deploy-svc:ref:refs/tags/v1.4.0"
        );
        c.event_name = "pull_request".into();
        c.ref_ = "refs/pull/42/merge".into();
        assert_eq!(subject(&c).unwrap(), "repo:acme/deploy-svc:pull_request");
        c.environment = Some("production".into());
        assert_eq!(
            subject(&c).unwrap(),
            "repo:acme/deploy-svc:environment:production"
        );
        c.event_name = "workflow_dispatch".into();
        c.ref_ = "refs/heads/release".into();
        assert_eq!(
            subject(&c).unwrap(),
            "repo:acme/deploy-svc:environment:production"
        );
        c.environment = None;
        assert_eq!(
            subject(&c).unwrap(),
            "repo:acme/deploy-svc:ref:refs/heads/release"
        );
        c.event_name = "pull_request_target".into();
        assert_eq!(
            subject(&c).unwrap(),
            "repo:acme/deploy-svc:ref:refs/heads/release"
        );
    }

    #[test]
    fn colon_in_a_value_is_escaped() {
        let mut c = ctx();
        c.environment = Some("Production:V1".into());
        assert_eq!(
            subject(&c).unwrap(),
            "repo:acme/deploy-svc:environment:Production%3AV1"
        );
    }

    #[test]
    fn immutable_subject() {
        let mut c = ctx();
        c.repository_owner_id = "1234567".into();
        c.repository_id = "890123456".into();
        c.immutable_subject = true;
        assert_eq!(
            subject(&c).unwrap(),
            "repo:acme@1234567/deploy-svc@890123456:ref:refs/heads/main"
        );
        c.subject_template = Some(SubjectTemplate {
            use_default: false,
            include_claim_keys: vec!["repo".into(), "context".into()],
            org_template: None,
        });
        assert_eq!(
            subject(&c).unwrap(),
            "repo:acme@1234567/deploy-svc@890123456:ref:refs/heads/main"
        );
    }

    #[test]
    fn customised_templates() {
        let mut c = ctx();
        c.environment = Some("prod".into());
        c.job_workflow_ref = "acme/ci/.github/workflows/deploy.yml@refs/heads/main".into();
        let t = |use_default: bool, keys: &[&str], org: Option<&[&str]>| SubjectTemplate {
            use_default,
            include_claim_keys: keys.iter().map(|s| s.to_string()).collect(),
            org_template: org.map(|o| o.iter().map(|s| s.to_string()).collect()),
        };
        c.subject_template = Some(t(false, &["repo", "context", "job_workflow_ref"], None));
        assert_eq!(
            subject(&c).unwrap(),
            "repo:acme/deploy-svc:environment:prod:job_workflow_ref:acme/ci/.github/workflows/deploy.yml@refs/heads/main"
        );
        c.subject_template = Some(t(false, &["repo", "context"], None));
        assert_eq!(
            subject(&c).unwrap(),
            "repo:acme/deploy-svc:environment:prod"
        );
        // use_default wins over keys and over the org template.
        c.subject_template = Some(t(true, &["actor"], Some(&["repository_owner"])));
        assert_eq!(
            subject(&c).unwrap(),
            "repo:acme/deploy-svc:environment:prod"
        );
        // Opted out without keys: the org template applies.
        c.subject_template = Some(t(false, &[], Some(&["repository_owner", "environment"])));
        assert_eq!(
            subject(&c).unwrap(),
            "repository_owner:acme:environment:prod"
        );
        // Opted out without keys and no org template: default.
        c.subject_template = Some(t(false, &[], None));
        assert_eq!(
            subject(&c).unwrap(),
            "repo:acme/deploy-svc:environment:prod"
        );
        // Repo keys win over the org template.
        c.subject_template = Some(t(
            false,
            &["actor", "workflow"],
            Some(&["repository_owner"]),
        ));
        assert_eq!(subject(&c).unwrap(), "actor:acme:workflow:CI");
        // A `:` in a claim value is escaped; values like ref keep their slashes.
        c.subject_template = Some(t(false, &["workflow", "ref"], None));
        c.workflow = "Deploy: prod".into();
        assert_eq!(
            subject(&c).unwrap(),
            "workflow:Deploy%3A prod:ref:refs/heads/main"
        );
        // A key with no value for this job fails the request, as on GitHub.
        c.environment = None;
        c.subject_template = Some(t(false, &["repo", "environment"], None));
        assert!(subject(&c).is_err());
        for bad in [
            &["repo", "repo"][..],
            &["sha"],
            &["aud"],
            &["bad-key"],
            &[""],
        ] {
            c.subject_template = Some(t(false, bad, None));
            assert!(subject(&c).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn claims_follow_githubs_order_and_types() {
        let mut c = ctx();
        c.environment = Some("production".into());
        c.enterprise = Some("acme-corp".into());
        c.enterprise_id = Some("2".into());
        c.ref_protected = true;
        let m = claims(&c, GITHUB_ISSUER, Some(AUD), NOW, "j").unwrap();
        let order: Vec<&str> = m.keys().map(String::as_str).collect();
        assert_eq!(
            order,
            [
                "jti",
                "sub",
                "aud",
                "ref",
                "sha",
                "repository",
                "repository_owner",
                "repository_owner_id",
                "enterprise",
                "enterprise_id",
                "run_id",
                "run_number",
                "run_attempt",
                "repository_visibility",
                "repository_id",
                "actor_id",
                "actor",
                "workflow",
                "head_ref",
                "base_ref",
                "event_name",
                "ref_protected",
                "ref_type",
                "workflow_ref",
                "workflow_sha",
                "environment",
                "environment_node_id",
                "job_workflow_ref",
                "job_workflow_sha",
                "runner_environment",
                "iss",
                "nbf",
                "exp",
                "iat",
            ]
        );
        for (k, v) in &m {
            match k.as_str() {
                "iat" | "nbf" | "exp" => assert!(v.is_u64(), "{k}"),
                _ => assert!(v.is_string(), "{k} is {v}"),
            }
        }
        assert_eq!(m["ref_protected"], "true");
        assert_eq!(m["ref_type"], "branch");
        assert_eq!(m["iat"], NOW);
        assert_eq!(m["nbf"], NOW - 300);
        assert_eq!(m["exp"], NOW + 300);
        assert_eq!(
            m["workflow_ref"],
            "acme/deploy-svc/.github/workflows/ci.yml@refs/heads/main"
        );
        assert_eq!(m["job_workflow_ref"], m["workflow_ref"]);
        assert_eq!(m["sha"].as_str().unwrap().len(), 40);
        assert!(
            m["environment_node_id"]
                .as_str()
                .unwrap()
                .starts_with("EN_")
        );
        assert!(
            m["repository_id"]
                .as_str()
                .unwrap()
                .chars()
                .all(|c| c.is_ascii_digit())
        );
    }

    #[test]
    fn env_only_claims_are_absent_without_environment() {
        let m = claims(&ctx(), GITHUB_ISSUER, None, NOW, "j").unwrap();
        assert!(!m.contains_key("environment"));
        assert!(!m.contains_key("environment_node_id"));
        assert!(!m.contains_key("enterprise"));
        assert_eq!(m["head_ref"], "");
        assert_eq!(m["base_ref"], "");
    }

    #[test]
    fn default_audience_is_the_owner_url() {
        let m = claims(&ctx(), GITHUB_ISSUER, None, NOW, "j").unwrap();
        assert_eq!(m["aud"], "https://github.com/acme");
        let m = claims(&ctx(), GITHUB_ISSUER, Some(""), NOW, "j").unwrap();
        assert_eq!(m["aud"], "https://github.com/acme");
        assert_eq!(
            default_audience("https://ghes.example/_services/token", "acme"),
            "https://ghes.example/acme"
        );
    }

    #[test]
    fn tag_ref_type_and_ids_are_deterministic() {
        let mut c = ctx();
        c.ref_ = "refs/tags/v1".into();
        let m = claims(&c, GITHUB_ISSUER, None, NOW, "j").unwrap();
        assert_eq!(m["ref_type"], "tag");
        assert_eq!(
            JobContext::for_repo("acme/x"),
            JobContext::for_repo("acme/x")
        );
        assert_ne!(
            JobContext::for_repo("acme/x").repository_id,
            JobContext::for_repo("acme/y").repository_id
        );
        assert_eq!(
            JobContext::for_repo("acme/x").repository_owner_id,
            JobContext::for_repo("acme/y").repository_owner_id
        );
    }

    #[test]
    fn bad_repository_is_refused() {
        for r in ["acme", "acme/", "/x", "a/b/c", "a:b/c"] {
            assert!(subject(&JobContext::for_repo(r)).is_err(), "{r}");
        }
    }

    #[test]
    fn context_round_trips_through_json() {
        let mut c = ctx();
        c.environment = Some("prod".into());
        let s = serde_json::to_string(&c).unwrap();
        assert!(s.contains("\"ref\":\"refs/heads/main\""));
        assert_eq!(serde_json::from_str::<JobContext>(&s).unwrap(), c);
        let partial: JobContext =
            serde_json::from_str(r#"{"repository":"a/b","ref":"refs/heads/x"}"#).unwrap();
        assert_eq!(partial.ref_, "refs/heads/x");
    }

    #[test]
    fn discovery_document_has_githubs_seven_members() {
        let d = discovery_document(GITHUB_ISSUER);
        let keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "issuer",
                "jwks_uri",
                "subject_types_supported",
                "response_types_supported",
                "claims_supported",
                "id_token_signing_alg_values_supported",
                "scopes_supported",
            ]
        );
        assert_eq!(
            d["jwks_uri"],
            "https://token.actions.githubusercontent.com/.well-known/jwks"
        );
        assert_eq!(d["id_token_signing_alg_values_supported"], json!(["RS256"]));
        assert_eq!(d["subject_types_supported"], json!(["public", "pairwise"]));
    }

    #[test]
    fn jti_is_new_per_call() {
        assert_ne!(new_jti(), new_jti());
        assert_eq!(new_jti().len(), 36);
    }
}

mod request_token {
    use super::*;
    use keyless_oidc::{OidcError, RequestToken};

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn round_trip_binds_the_context() {
        let mut c = JobContext::for_repo("acme/app");
        c.environment = Some("prod".into());
        let t = RequestToken::issue(&c, &KEY, NOW, 3600).unwrap();
        assert_eq!(RequestToken::open(&t, &KEY, NOW + 3599).unwrap(), c);
    }

    #[test]
    fn expired_is_refused() {
        let t = RequestToken::issue(&JobContext::for_repo("acme/app"), &KEY, NOW, 60).unwrap();
        assert!(matches!(
            RequestToken::open(&t, &KEY, NOW + 60),
            Err(OidcError::RequestTokenExpired { .. })
        ));
    }

    #[test]
    fn altered_or_foreign_is_refused() {
        let t = RequestToken::issue(&JobContext::for_repo("acme/app"), &KEY, NOW, 60).unwrap();
        assert!(RequestToken::open(&t, &[8; 32], NOW).is_err());
        // Swap in another context with the original MAC.
        let other = RequestToken::issue(&JobContext::for_repo("evil/app"), &KEY, NOW, 60).unwrap();
        let (body, _) = other.rsplit_once('.').unwrap();
        let (_, mac) = t.rsplit_once('.').unwrap();
        assert!(RequestToken::open(&format!("{body}.{mac}"), &KEY, NOW).is_err());
        for bad in [
            "",
            "krt1.",
            "krt1..",
            "abc.def",
            &t[..t.len() - 2],
            &format!("{t}A"),
        ] {
            assert!(RequestToken::open(bad, &KEY, NOW).is_err(), "{bad}");
        }
        let bytes = t.as_bytes();
        for i in (0..bytes.len()).step_by(5) {
            let mut m = bytes.to_vec();
            m[i] = if m[i] == b'x' { b'y' } else { b'x' };
            let s = String::from_utf8(m).unwrap();
            if s != t {
                assert!(
                    RequestToken::open(&s, &KEY, NOW).is_err(),
                    "mutation at {i}"
                );
            }
        }
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(RequestToken::issue(&JobContext::for_repo("a/b"), &[1; 16], NOW, 60).is_err());
        let k = RequestToken::new_key().unwrap();
        assert_ne!(k, RequestToken::new_key().unwrap());
    }
}

mod cache {
    use super::*;
    use keyless_oidc::{CacheLookup, CachePolicy, JwksCache};
    use std::cell::Cell;

    const ISS: &str = GITHUB_ISSUER;

    fn policy() -> CachePolicy {
        CachePolicy {
            ttl: 100,
            min_refetch_interval: 5,
            max_stale: 1000,
        }
    }

    #[test]
    fn fresh_stale_missing() {
        let mut c = JwksCache::new(policy());
        assert!(matches!(c.lookup(ISS, NOW), CacheLookup::Missing));
        c.store(ISS, keyset(&[primary()]), NOW);
        assert!(matches!(c.lookup(ISS, NOW + 99), CacheLookup::Fresh(_)));
        assert!(matches!(c.lookup(ISS, NOW + 100), CacheLookup::Stale(_)));
        assert!(matches!(c.lookup(ISS, NOW + 1000), CacheLookup::Stale(_)));
        assert!(matches!(c.lookup(ISS, NOW + 1001), CacheLookup::Missing));
        assert!(c.usable_after_failure(ISS, NOW + 1000).is_some());
        assert!(c.usable_after_failure(ISS, NOW + 1001).is_none());
        assert!(matches!(
            c.lookup("https://other.example", NOW),
            CacheLookup::Missing
        ));
    }

    #[test]
    fn refetch_is_rate_limited_per_issuer() {
        let mut c = JwksCache::new(policy());
        assert!(c.may_refetch(ISS, NOW));
        assert!(!c.may_refetch(ISS, NOW));
        assert!(!c.may_refetch(ISS, NOW + 4));
        assert!(c.may_refetch("https://other.example", NOW + 4));
        assert!(c.may_refetch(ISS, NOW + 5));
        assert!(!c.may_refetch(ISS, NOW + 9));
        // A clock that went backwards does not lock fetching out.
        assert!(c.may_refetch(ISS, NOW - 100));
    }

    #[test]
    fn defaults_are_documented_values() {
        let p = CachePolicy::default();
        assert_eq!(
            (p.ttl, p.min_refetch_interval, p.max_stale),
            (3600, 5, 86_400)
        );
    }

    /// The caller's flow from the `JwksCache` docs, with a fake issuer that counts fetches.
    struct Issuer<'a> {
        published: Vec<&'a SigningKey>,
        up: bool,
        fetches: Cell<u32>,
    }

    impl Issuer<'_> {
        fn fetch(&self) -> Result<KeySet, VerifyError> {
            self.fetches.set(self.fetches.get() + 1);
            if !self.up {
                return Err(VerifyError::IdpCommunication {
                    issuer: ISS.into(),
                    detail: "timeout".into(),
                });
            }
            Ok(keyset(&self.published))
        }
    }

    fn verify_via_cache(
        c: &mut JwksCache,
        issuer: &Issuer<'_>,
        token: &str,
        now: u64,
    ) -> Result<(), VerifyError> {
        let auds = audiences();
        let expect = Expectations::new(ISS, &auds, now);
        let keys = match c.lookup(ISS, now) {
            CacheLookup::Fresh(k) => Some(k.clone()),
            CacheLookup::Stale(_) | CacheLookup::Missing => None,
        };
        let keys = match keys {
            Some(k) => k,
            None => {
                let fetched = if c.may_refetch(ISS, now) {
                    Some(issuer.fetch())
                } else {
                    None
                };
                match fetched {
                    Some(Ok(k)) => {
                        c.store(ISS, k, now);
                        c.usable_after_failure(ISS, now).unwrap()
                    }
                    Some(Err(e)) => c.usable_after_failure(ISS, now).ok_or(e)?,
                    None => {
                        c.usable_after_failure(ISS, now)
                            .ok_or(VerifyError::IdpCommunication {
                                issuer: ISS.into(),
                                detail: "refetch rate-limited".into(),
                            })?
                    }
                }
            }
        };
        match verify(token, &keys, &expect) {
            Err(e) if e.is_key_not_found() && c.may_refetch(ISS, now) => {
                let k = issuer.fetch()?;
                c.store(ISS, k, now);
                let keys = c.usable_after_failure(ISS, now).unwrap();
                verify(token, &keys, &expect).map(|_| ())
            }
            other => other.map(|_| ()),
        }
    }

    fn token_at(key: &SigningKey, now: u64) -> String {
        key.sign(&claims(&JobContext::for_repo("acme/app"), ISS, Some(AUD), now, "j").unwrap())
            .unwrap()
    }

    #[test]
    fn rotation_is_picked_up_on_unknown_kid() {
        let mut c = JwksCache::new(policy());
        let mut issuer = Issuer {
            published: vec![primary()],
            up: true,
            fetches: Cell::new(0),
        };
        verify_via_cache(&mut c, &issuer, &token_at(primary(), NOW), NOW).unwrap();
        assert_eq!(issuer.fetches.get(), 1);
        // The issuer rotates: new key first, old kept for the overlap.
        issuer.published = vec![other(), primary()];
        verify_via_cache(&mut c, &issuer, &token_at(other(), NOW + 10), NOW + 10).unwrap();
        assert_eq!(issuer.fetches.get(), 2);
        // Old-key tokens still verify from the cache, without a fetch.
        verify_via_cache(&mut c, &issuer, &token_at(primary(), NOW + 11), NOW + 11).unwrap();
        assert_eq!(issuer.fetches.get(), 2);
    }

    #[test]
    fn random_kids_cannot_make_us_hammer_the_issuer() {
        let mut c = JwksCache::new(policy());
        let issuer = Issuer {
            published: vec![primary()],
            up: true,
            fetches: Cell::new(0),
        };
        verify_via_cache(&mut c, &issuer, &token_at(primary(), NOW), NOW).unwrap();
        let attacker = token_at(other(), NOW);
        for i in 0..50 {
            let e = verify_via_cache(&mut c, &issuer, &attacker, NOW + 5 + i / 10).unwrap_err();
            assert_eq!(e.sts_code(), "InvalidIdentityToken");
        }
        // 50 tokens over 5 seconds: one refetch.
        assert_eq!(issuer.fetches.get(), 2);
    }

    #[test]
    fn issuer_down_serves_cached_keys_then_fails_with_idp_communication_error() {
        let mut c = JwksCache::new(policy());
        let mut issuer = Issuer {
            published: vec![primary()],
            up: true,
            fetches: Cell::new(0),
        };
        verify_via_cache(&mut c, &issuer, &token_at(primary(), NOW), NOW).unwrap();
        issuer.up = false;
        // Past the TTL, within max_stale: the refetch fails, cached keys still work.
        let t = NOW + 500;
        verify_via_cache(&mut c, &issuer, &token_at(primary(), t), t).unwrap();
        assert_eq!(issuer.fetches.get(), 2);
        // Past max_stale: a clear IDPCommunicationError.
        let t = NOW + 1001;
        let e = verify_via_cache(&mut c, &issuer, &token_at(primary(), t), t).unwrap_err();
        assert_eq!(e.sts_code(), "IDPCommunicationError");
        // The issuer comes back: fresh keys again.
        issuer.up = true;
        let t = NOW + 1010;
        verify_via_cache(&mut c, &issuer, &token_at(primary(), t), t).unwrap();
    }
}

/// No input makes the parsers panic, and nothing unsigned ever verifies.
mod no_panic {
    use super::*;
    use keyless_oidc::{RequestToken, jwks_uri_from_discovery};
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[a-z:/._ -]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("alg".to_owned()),
                        Just("kid".to_owned()),
                        Just("crit".to_owned()),
                        Just("iss".to_owned()),
                        Just("aud".to_owned()),
                        Just("exp".to_owned()),
                        "[a-z]{1,4}"
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_strings(s in "\\PC{0,300}") {
            let set = keyset(&[primary()]);
            prop_assert!(check(&s, &set).is_err());
            let _ = keyless_oidc::danger_peek_issuer(&s);
            let _ = RequestToken::open(&s, &[1; 32], NOW);
        }

        #[test]
        fn arbitrary_dotted_base64(a in "[A-Za-z0-9_-]{0,80}", b in "[A-Za-z0-9_-]{0,80}", c in "[A-Za-z0-9_-]{0,400}") {
            let set = keyset(&[primary()]);
            let t = format!("{a}.{b}.{c}");
            prop_assert!(check(&t, &set).is_err());
        }

        #[test]
        fn arbitrary_json_header_and_claims(h in json_value(), p in json_value(), sig in prop::collection::vec(any::<u8>(), 0..300)) {
            let set = keyset(&[primary()]);
            let t = format!("{}.{}.{}", b64(h.to_string()), b64(p.to_string()), b64(sig));
            prop_assert!(check(&t, &set).is_err());
        }

        #[test]
        fn arbitrary_documents(bytes in prop::collection::vec(any::<u8>(), 0..400), v in json_value()) {
            let _ = KeySet::from_jwks_json(&bytes);
            let _ = jwks_uri_from_discovery(&bytes, GITHUB_ISSUER);
            let doc = json!({"keys": [v.clone()]}).to_string();
            let _ = KeySet::from_jwks_json(doc.as_bytes());
            let _ = jwks_uri_from_discovery(v.to_string().as_bytes(), GITHUB_ISSUER);
            let _ = keyless_oidc::session_claims(&with(Map::new(), keyless_oidc::session::TAGS_CLAIM, v));
        }
    }
}

mod messages {
    use super::*;

    #[test]
    fn token_supplied_text_in_messages_is_bounded() {
        let set = keyset(&[primary()]);
        let huge = "A".repeat(5000);
        for h in [
            json!({"alg": huge}),
            json!({"alg": [huge.clone(), huge.clone()]}),
            json!({"alg": "RS256", "kid": huge, "crit": [huge.clone()]}),
            json!({"alg": "RS256", "kid": huge}),
        ] {
            let t = sign_rs256(primary(), &h, &github_claims());
            let e = refused(&t, &set);
            assert!(
                e.to_string().len() < 600,
                "{} bytes: {e}",
                e.to_string().len()
            );
        }
        for (claim, v) in [
            ("iss", json!(huge)),
            ("exp", json!([huge.clone()])),
            ("iss", json!(format!("{GITHUB_ISSUER}\nforged log line"))),
        ] {
            let t = primary().sign(&with(github_claims(), claim, v)).unwrap();
            let e = refused(&t, &set);
            assert!(e.to_string().len() < 600, "{claim}: {e}");
            assert!(!e.to_string().contains('\n'), "{claim}: {e}");
        }
    }
}
