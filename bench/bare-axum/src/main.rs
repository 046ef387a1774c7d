//! Two yardsticks for keyless's load figures, on the same HTTP stack (tokio, hyper, axum).
//!
//! Without options every GET and POST of `/` gets the same 600 bytes: the most a Rust HTTP server
//! does here with no work per request.
//!
//! With `--verify JWKS BODY` a POST of `/` is handled as the floor of any STS that really checks
//! an AssumeRoleWithWebIdentity: it takes the `WebIdentityToken` out of the form body, verifies
//! its RS256 signature against the key in the JWKS file (the same aws-lc-rs call keyless makes),
//! and answers the fixed BODY file (a real keyless answer, so the bytes on the wire match) — or
//! 400 when the signature does not verify. No claims, no trust policy, no credentials, no audit
//! record: whatever this reaches, no implementation that verifies the token can pass here.

use std::sync::Arc;

use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The body: 600 bytes, about the size of a small STS answer.
const BODY: &str = concat!(
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz",
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz",
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz",
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz",
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz",
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmn",
);

struct Floor {
    key: ParsedPublicKey,
    answer: Bytes,
}

/// The first RSA key of a JWKS document.
fn rsa_key(jwks: &[u8]) -> Result<ParsedPublicKey, Box<dyn std::error::Error>> {
    let doc: serde_json::Value = serde_json::from_slice(jwks)?;
    let jwk = &doc["keys"][0];
    let part = |name: &str| -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        let text = jwk[name].as_str().ok_or(format!("JWKS key has no `{name}`"))?;
        Ok(URL_SAFE_NO_PAD.decode(text)?)
    };
    let (n, e) = (part("n")?, part("e")?);
    let key = RsaPublicKeyComponents { n: &n[..], e: &e[..] }
        .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
        .map_err(|e| format!("RSA key rejected: {e}"))?;
    Ok(key)
}

/// Verifies the token's signature; `false` for anything malformed.
fn token_verifies(key: &ParsedPublicKey, form: &[u8]) -> bool {
    const FIELD: &[u8] = b"WebIdentityToken=";
    let Some(at) = form.windows(FIELD.len()).position(|w| w == FIELD) else {
        return false;
    };
    let rest = &form[at + FIELD.len()..];
    // A JWT is base64url and dots only, so the form carries it without percent-escapes.
    let token = &rest[..rest.iter().position(|&b| b == b'&').unwrap_or(rest.len())];
    let Some(dot) = token.iter().rposition(|&b| b == b'.') else {
        return false;
    };
    let Ok(sig) = URL_SAFE_NO_PAD.decode(&token[dot + 1..]) else {
        return false;
    };
    key.verify_sig(&token[..dot], &sig).is_ok()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let addr = args.get(1).cloned().unwrap_or_else(|| "127.0.0.1:18777".into());
    let app = match args.get(2).map(String::as_str) {
        None => {
            eprintln!("bare-axum on http://{addr}/ ({} bytes)", BODY.len());
            Router::new().route("/", get(|| async { BODY }).post(|| async { BODY }))
        }
        Some("--verify") if args.len() == 5 => {
            let floor = Arc::new(Floor {
                key: rsa_key(&std::fs::read(&args[3])?)?,
                answer: Bytes::from(std::fs::read(&args[4])?),
            });
            eprintln!("bare-axum --verify on http://{addr}/ ({} bytes)", floor.answer.len());
            Router::new().route(
                "/",
                post(move |body: Bytes| {
                    let floor = floor.clone();
                    async move {
                        if token_verifies(&floor.key, &body) {
                            let head = [(header::CONTENT_TYPE, "text/xml")];
                            (StatusCode::OK, head, floor.answer.clone()).into_response()
                        } else {
                            StatusCode::BAD_REQUEST.into_response()
                        }
                    }
                }),
            )
        }
        Some(_) => return Err("usage: bare-axum [ADDR [--verify JWKS_FILE BODY_FILE]]".into()),
    };
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
