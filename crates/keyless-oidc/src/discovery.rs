//! OpenID Connect discovery documents: finding the `jwks_uri` of an issuer.
//!
//! The fetcher (in the server) gets `<issuer>/.well-known/openid-configuration`, applies
//! [`MAX_DOCUMENT_BYTES`] while reading, and hands the bytes here.

use crate::error::OidcError;
use crate::json::parse_object;
use serde_json::Value;

/// Largest discovery or JWKS document accepted, in bytes (512 KiB). Real documents are a few
/// kilobytes; a JWKS of [`crate::jwks::MAX_KEYS`] RSA keys with certificates stays well under
/// this. The fetcher must stop reading past it.
pub const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// The discovery URL of an issuer: `<issuer>/.well-known/openid-configuration` (a trailing
/// slash of the issuer is not doubled).
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// True for hosts that are this machine, where plain `http` is tolerated (local test issuers).
fn is_loopback_host(authority: &str) -> bool {
    let host = match authority.rsplit_once('@') {
        Some((_, h)) => h,
        None => authority,
    };
    let host = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks a URL found in a document: absolute `https` (or `http` to a loopback host), with a
/// host, no fragment, no user info, no whitespace.
pub(crate) fn check_fetch_url(url: &str) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("`{url}` is not an absolute URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    if authority.contains('@') {
        return Err(format!("`{url}` carries user information"));
    }
    if url.contains('#') || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{url}` has a fragment or whitespace"));
    }
    match scheme {
        "https" => Ok(()),
        "http" if is_loopback_host(authority) => Ok(()),
        _ => Err(format!(
            "`{url}` is not https (plain http is allowed only to loopback hosts)"
        )),
    }
}

/// Parses a discovery document and returns its `jwks_uri`.
///
/// The document's `issuer` must equal `expected_issuer` exactly (OpenID Connect Discovery §4.3:
/// otherwise one issuer could publish keys for another), and `jwks_uri` must be an `https` URL
/// (`http` only to loopback hosts).
pub fn jwks_uri_from_discovery(bytes: &[u8], expected_issuer: &str) -> Result<String, OidcError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(OidcError::DocumentTooLarge {
            len: bytes.len(),
            max: MAX_DOCUMENT_BYTES,
        });
    }
    let doc = parse_object(bytes).map_err(|e| OidcError::discovery(format!("document {e}")))?;
    let issuer = match doc.get("issuer") {
        Some(Value::String(s)) => s,
        _ => {
            return Err(OidcError::discovery(
                "member `issuer` is missing or not a string",
            ));
        }
    };
    if issuer != expected_issuer {
        return Err(OidcError::IssuerMismatch {
            expected: expected_issuer.to_owned(),
            found: issuer.clone(),
        });
    }
    let uri = match doc.get("jwks_uri") {
        Some(Value::String(s)) => s,
        _ => {
            return Err(OidcError::discovery(
                "member `jwks_uri` is missing or not a string",
            ));
        }
    };
    check_fetch_url(uri).map_err(|e| OidcError::discovery(format!("jwks_uri {e}")))?;
    Ok(uri.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://token.actions.githubusercontent.com";

    #[test]
    fn github_document_gives_its_jwks_uri() {
        let doc = crate::github::discovery_document(ISS).to_string();
        assert_eq!(
            jwks_uri_from_discovery(doc.as_bytes(), ISS).unwrap(),
            "https://token.actions.githubusercontent.com/.well-known/jwks"
        );
    }

    #[test]
    fn issuer_must_match_exactly() {
        let doc = crate::github::discovery_document(ISS).to_string();
        let err = jwks_uri_from_discovery(
            doc.as_bytes(),
            "https://token.actions.githubusercontent.com/",
        )
        .unwrap_err();
        assert!(matches!(err, OidcError::IssuerMismatch { .. }), "{err}");
    }

    #[test]
    fn plain_http_only_to_loopback() {
        let mk = |u: &str| format!(r#"{{"issuer":"{ISS}","jwks_uri":"{u}"}}"#);
        assert!(jwks_uri_from_discovery(mk("http://evil.example/jwks").as_bytes(), ISS).is_err());
        assert!(jwks_uri_from_discovery(mk("http://127.0.0.1:4566/jwks").as_bytes(), ISS).is_ok());
        assert!(jwks_uri_from_discovery(mk("http://[::1]:80/jwks").as_bytes(), ISS).is_ok());
        assert!(jwks_uri_from_discovery(mk("http://localhost/jwks").as_bytes(), ISS).is_ok());
        assert!(
            jwks_uri_from_discovery(mk("http://127.evil.example/jwks").as_bytes(), ISS).is_err()
        );
        assert!(jwks_uri_from_discovery(mk("file:///etc/passwd").as_bytes(), ISS).is_err());
        assert!(jwks_uri_from_discovery(mk("https://a@b.example/jwks").as_bytes(), ISS).is_err());
        assert!(jwks_uri_from_discovery(mk("/relative").as_bytes(), ISS).is_err());
    }

    #[test]
    fn oversize_and_garbage_are_refused() {
        let big = vec![b' '; MAX_DOCUMENT_BYTES + 1];
        assert!(matches!(
            jwks_uri_from_discovery(&big, ISS),
            Err(OidcError::DocumentTooLarge { .. })
        ));
        assert!(jwks_uri_from_discovery(b"<html>", ISS).is_err());
        assert!(jwks_uri_from_discovery(br#"{"issuer":1}"#, ISS).is_err());
    }

    #[test]
    fn discovery_url_does_not_double_slash() {
        assert_eq!(
            discovery_url("https://a.example/"),
            "https://a.example/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://a.example/x"),
            "https://a.example/x/.well-known/openid-configuration"
        );
    }
}
