//! Issuer signing keys (RSA-2048, RS256) and the JWKS that publishes them.
//!
//! The server persists [`SigningKey::pkcs8`] in its store and reloads it with
//! [`SigningKey::from_pkcs8`]; rotation keeps the old key in [`jwks_document`] for an overlap, as
//! GitHub does, so tokens signed just before a rotation still verify.

use crate::error::OidcError;
use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

/// An RSA private key the issuer signs tokens with.
///
/// `Debug` prints only the `kid`; the private key bytes are zeroized on drop and have no
/// `Display`.
pub struct SigningKey {
    kid: String,
    pkcs8: Zeroizing<Vec<u8>>,
    pair: RsaKeyPair,
    n: Vec<u8>,
    e: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

/// Uppercase hex SHA-1 of the public key (PKCS#1 DER): the shape of GitHub's newer `kid`s.
fn thumbprint_kid(public_der: &[u8]) -> String {
    let d = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, public_der);
    d.as_ref().iter().map(|b| format!("{b:02X}")).collect()
}

impl SigningKey {
    fn from_pair(kid: Option<&str>, pair: RsaKeyPair, pkcs8: Vec<u8>) -> Result<Self, OidcError> {
        let bits = pair.public_modulus_len() * 8;
        if !(2048..=8192).contains(&bits) {
            return Err(OidcError::key(format!(
                "RSA modulus of {bits} bits; 2048 to 8192 are accepted"
            )));
        }
        let public = pair.public_key();
        let n = public.modulus().big_endian_without_leading_zero().to_vec();
        let e = public.exponent().big_endian_without_leading_zero().to_vec();
        let kid = match kid {
            Some(k) if !k.is_empty() => k.to_owned(),
            Some(_) => return Err(OidcError::key("empty kid")),
            None => thumbprint_kid(public.as_ref()),
        };
        Ok(Self {
            kid,
            pkcs8: Zeroizing::new(pkcs8),
            pair,
            n,
            e,
        })
    }

    /// Generates a fresh RSA-2048 key; its `kid` is the uppercase hex SHA-1 of the public key.
    pub fn generate() -> Result<Self, OidcError> {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| OidcError::key("RSA key generation failed"))?;
        let der = pair
            .as_der()
            .map_err(|_| OidcError::key("PKCS#8 encoding failed"))?;
        let pkcs8 = der.as_ref().to_vec();
        Self::from_pair(None, pair, pkcs8)
    }

    /// Loads a key persisted with [`SigningKey::pkcs8`] under its `kid`.
    pub fn from_pkcs8(kid: &str, der: &[u8]) -> Result<Self, OidcError> {
        let pair = RsaKeyPair::from_pkcs8(der)
            .map_err(|e| OidcError::key(format!("not an RSA PKCS#8 private key: {e}")))?;
        Self::from_pair(Some(kid), pair, der.to_vec())
    }

    /// The private key, PKCS#8 DER, for the store. Secret.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The key id published in the JWKS and put in token headers.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK: `kty`, `alg` RS256, `use` sig, `kid`, `n`, `e`.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(&self.n),
            "e": URL_SAFE_NO_PAD.encode(&self.e),
        })
    }

    /// Signs `claims` as a compact JWS with header `{"alg":"RS256","kid":…,"typ":"JWT"}`.
    pub fn sign(&self, claims: &Map<String, Value>) -> Result<String, OidcError> {
        let header = json!({"alg": "RS256", "kid": self.kid, "typ": "JWT"});
        let header = serde_json::to_vec(&header)
            .map_err(|e| OidcError::key(format!("header encoding: {e}")))?;
        let payload = serde_json::to_vec(claims)
            .map_err(|e| OidcError::key(format!("claims encoding: {e}")))?;
        let mut out = URL_SAFE_NO_PAD.encode(header);
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(payload));
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                out.as_bytes(),
                &mut sig,
            )
            .map_err(|_| OidcError::key("RSA signing failed"))?;
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(sig));
        Ok(out)
    }
}

/// The JWKS document `{"keys":[…]}` publishing these keys, in the given order (current key
/// first, then keys kept for the rotation overlap).
pub fn jwks_document(keys: &[&SigningKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwks::KeySet;

    #[test]
    fn generated_key_round_trips_through_pkcs8() {
        let k = SigningKey::generate().unwrap();
        assert_eq!(k.kid().len(), 40);
        let again = SigningKey::from_pkcs8(k.kid(), k.pkcs8()).unwrap();
        assert_eq!(again.jwk(), k.jwk());
    }

    #[test]
    fn debug_does_not_print_the_private_key() {
        let k = SigningKey::generate().unwrap();
        let dbg = format!("{k:?}");
        assert!(dbg.contains("[redacted]"));
        assert!(!dbg.contains(&URL_SAFE_NO_PAD.encode(k.pkcs8())));
    }

    #[test]
    fn jwk_has_githubs_members() {
        let k = SigningKey::generate().unwrap();
        let jwk = k.jwk();
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["alg"], "RS256");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["e"], "AQAB");
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(jwk["n"].as_str().unwrap())
                .unwrap()
                .len(),
            256
        );
    }

    #[test]
    fn jwks_document_parses_back_with_every_kid() {
        let a = SigningKey::generate().unwrap();
        let b = SigningKey::generate().unwrap();
        let doc = jwks_document(&[&a, &b]).to_string();
        let set = KeySet::from_jwks_json(doc.as_bytes()).unwrap();
        assert_eq!(set.kids(), vec![a.kid().to_owned(), b.kid().to_owned()]);
    }

    #[test]
    fn garbage_pkcs8_is_refused() {
        assert!(SigningKey::from_pkcs8("k", b"not a key").is_err());
        let k = SigningKey::generate().unwrap();
        assert!(SigningKey::from_pkcs8("", k.pkcs8()).is_err());
    }
}
