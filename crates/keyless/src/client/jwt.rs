//! Reading a token's claims WITHOUT verifying it, only to explain a refusal to the user.
//!
//! Nothing here decides anything: STS verifies the token. The function is named `danger_…` so no
//! one mistakes it for validation.

use base64::Engine as _;

/// The few claims a refusal message names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeekedClaims {
    /// `iss`.
    pub iss: Option<String>,
    /// `sub`.
    pub sub: Option<String>,
    /// `aud` (an array is joined with `, `).
    pub aud: Option<String>,
    /// `exp`, seconds since the epoch.
    pub exp: Option<i64>,
}

/// Decodes the payload of a compact JWT without checking its signature. `None` when it is not a
/// JWT with a JSON object payload.
pub fn danger_peek_claims(token: &str) -> Option<PeekedClaims> {
    let mut parts = token.trim().split('.');
    let _header = parts.next()?;
    let payload = parts.next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let obj = value.as_object()?;
    let text = |k: &str| obj.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let aud = match obj.get("aud") {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => None,
    };
    Some(PeekedClaims {
        iss: text("iss"),
        sub: text("sub"),
        aud,
        exp: obj.get("exp").and_then(serde_json::Value::as_i64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", b(r#"{"alg":"RS256"}"#), b(payload))
    }

    #[test]
    fn peeks_sub_aud_exp() {
        let c = danger_peek_claims(&jwt(
            r#"{"sub":"repo:acme/app:ref:refs/heads/main","aud":"sts.amazonaws.com","exp":5}"#,
        ))
        .unwrap();
        assert_eq!(c.sub.as_deref(), Some("repo:acme/app:ref:refs/heads/main"));
        assert_eq!(c.aud.as_deref(), Some("sts.amazonaws.com"));
        assert_eq!(c.exp, Some(5));
    }

    #[test]
    fn array_audience_is_joined() {
        let c = danger_peek_claims(&jwt(r#"{"aud":["a","b"]}"#)).unwrap();
        assert_eq!(c.aud.as_deref(), Some("a, b"));
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(danger_peek_claims("not a token"), None);
        assert_eq!(danger_peek_claims("a.!!!.c"), None);
    }
}
