//! AWS-specific claims of a verified token: session tags and source identity (reference
//! §2.6–2.7). STS takes these only from the token, never from request parameters.
//!
//! Validation follows the documented limits; the STS error for a violation is not documented, so
//! it is reported as `InvalidIdentityToken` naming the claim.

use crate::error::{VerifyError, clip};
use serde_json::{Map, Value};

/// Claim carrying session tags.
pub const TAGS_CLAIM: &str = "https://aws.amazon.com/tags";

/// Claim carrying the source identity.
pub const SOURCE_IDENTITY_CLAIM: &str = "https://aws.amazon.com/source_identity";

/// Most session tags per session.
pub const MAX_SESSION_TAGS: usize = 50;

/// Session data a token asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionClaims {
    /// `principal_tags`, key and value, in token order (keys keep their case).
    pub tags: Vec<(String, String)>,
    /// `transitive_tag_keys`, each naming one of `tags`.
    pub transitive_tag_keys: Vec<String>,
    /// The source identity, when the token sets one.
    pub source_identity: Option<String>,
}

impl SessionClaims {
    /// True when the token asks for tags: the trust policy must then allow `sts:TagSession`.
    pub fn has_tags(&self) -> bool {
        !self.tags.is_empty()
    }
}

fn tag_char_ok(c: char) -> bool {
    c.is_alphabetic()
        || c.is_numeric()
        || (c.is_whitespace() && !c.is_control())
        || "_.:/=+-@".contains(c)
}

fn bad(detail: impl Into<String>) -> VerifyError {
    VerifyError::invalid_claim(TAGS_CLAIM, detail)
}

fn check_tag_key(raw: &str) -> Result<(), VerifyError> {
    let k = &clip(raw);
    let n = raw.chars().count();
    if !(1..=128).contains(&n) {
        return Err(bad(format!(
            "has tag key `{k}` of {n} characters; 1 to 128 are allowed"
        )));
    }
    if !raw.chars().all(tag_char_ok) {
        return Err(bad(format!(
            "has tag key `{k}` with a character outside [\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]"
        )));
    }
    if raw.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
        return Err(bad(format!(
            "has tag key `{k}`: the `aws:` prefix is reserved"
        )));
    }
    Ok(())
}

fn check_tag_value(k: &str, v: &str) -> Result<(), VerifyError> {
    let n = v.chars().count();
    if n > 256 {
        return Err(bad(format!(
            "has a value of {n} characters for tag `{k}`; at most 256 are allowed"
        )));
    }
    if !v.chars().all(tag_char_ok) {
        return Err(bad(format!(
            "has a value for tag `{k}` with a character outside [\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]"
        )));
    }
    Ok(())
}

fn parse_tags(v: &Value, out: &mut SessionClaims) -> Result<(), VerifyError> {
    let Value::Object(obj) = v else {
        return Err(bad("is not an object"));
    };
    if let Some(pt) = obj.get("principal_tags") {
        let Value::Object(pt) = pt else {
            return Err(bad("`principal_tags` is not an object"));
        };
        if pt.len() > MAX_SESSION_TAGS {
            return Err(bad(format!(
                "has {} tags; at most {MAX_SESSION_TAGS} are allowed",
                pt.len()
            )));
        }
        for (k, v) in pt {
            check_tag_key(k)?;
            let value = match v {
                Value::Array(items) => match items.as_slice() {
                    [Value::String(s)] => s.clone(),
                    _ => return Err(bad(format!("tag `{k}` must have exactly one string value"))),
                },
                _ => return Err(bad(format!("tag `{k}` is not a one-element array"))),
            };
            check_tag_value(k, &value)?;
            if out.tags.iter().any(|(e, _)| e.eq_ignore_ascii_case(k)) {
                return Err(bad(format!(
                    "repeats tag key `{k}` (tag keys are case-insensitive)"
                )));
            }
            out.tags.push((k.clone(), value));
        }
    }
    if let Some(tk) = obj.get("transitive_tag_keys") {
        let Value::Array(items) = tk else {
            return Err(bad("`transitive_tag_keys` is not an array"));
        };
        for item in items {
            let Value::String(k) = item else {
                return Err(bad("`transitive_tag_keys` has a non-string element"));
            };
            if !out.tags.iter().any(|(t, _)| t.eq_ignore_ascii_case(k)) {
                return Err(bad(format!(
                    "transitive tag key `{}` is not one of the principal tags",
                    clip(k)
                )));
            }
            out.transitive_tag_keys.push(k.clone());
        }
    }
    Ok(())
}

fn parse_source_identity(v: &Value) -> Result<String, VerifyError> {
    let bad = |d: String| VerifyError::invalid_claim(SOURCE_IDENTITY_CLAIM, d);
    let Value::String(s) = v else {
        return Err(bad("is not a string".to_owned()));
    };
    let n = s.chars().count();
    if !(2..=64).contains(&n) {
        return Err(bad(format!(
            "`{}` has {n} characters; 2 to 64 are allowed",
            clip(s)
        )));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        return Err(bad(format!(
            "`{}` has a character outside [\\w+=,.@-]",
            clip(s)
        )));
    }
    if s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
        return Err(bad(format!("`{s}` starts with the reserved `aws:` prefix")));
    }
    Ok(s.clone())
}

/// Reads and validates the session tags and source identity a verified token asks for.
pub fn session_claims(claims: &Map<String, Value>) -> Result<SessionClaims, VerifyError> {
    let mut out = SessionClaims::default();
    if let Some(v) = claims.get(TAGS_CLAIM) {
        parse_tags(v, &mut out)?;
    }
    if let Some(v) = claims.get(SOURCE_IDENTITY_CLAIM) {
        out.source_identity = Some(parse_source_identity(v)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn of(v: Value) -> Result<SessionClaims, VerifyError> {
        let Value::Object(m) = v else { unreachable!() };
        session_claims(&m)
    }

    #[test]
    fn documented_example_parses() {
        let s = of(json!({TAGS_CLAIM: {
            "principal_tags": {"Project": ["Automation"], "CostCenter": ["987654"]},
            "transitive_tag_keys": ["Project"]
        }, SOURCE_IDENTITY_CLAIM: "alice@example.com"}))
        .unwrap();
        assert_eq!(
            s.tags,
            vec![
                ("Project".into(), "Automation".into()),
                ("CostCenter".into(), "987654".into())
            ]
        );
        assert_eq!(s.transitive_tag_keys, vec!["Project".to_owned()]);
        assert_eq!(s.source_identity.as_deref(), Some("alice@example.com"));
        assert!(s.has_tags());
    }

    #[test]
    fn absent_claims_give_nothing() {
        assert_eq!(of(json!({"sub": "x"})).unwrap(), SessionClaims::default());
    }

    #[test]
    fn invalid_tags_are_refused() {
        let many: Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!(["v"]))).collect();
        for bad in [
            json!("x"),
            json!({"principal_tags": {"aws:x": ["v"]}}),
            json!({"principal_tags": {"AWS:x": ["v"]}}),
            json!({"principal_tags": {"k": "v"}}),
            json!({"principal_tags": {"k": ["a", "b"]}}),
            json!({"principal_tags": {"k": [1]}}),
            json!({"principal_tags": {"": ["v"]}}),
            json!({"principal_tags": {"k!": ["v"]}}),
            json!({"principal_tags": {"k": ["v\n"]}}),
            json!({"principal_tags": {"k": ["x".repeat(257)]}}),
            json!({"principal_tags": {"Key": ["a"], "KEY": ["b"]}}),
            json!({"principal_tags": many}),
            json!({"principal_tags": {"k": ["v"]}, "transitive_tag_keys": ["other"]}),
            json!({"transitive_tag_keys": "k"}),
        ] {
            let e = of(json!({TAGS_CLAIM: bad.clone()})).unwrap_err();
            assert_eq!(e.sts_code(), "InvalidIdentityToken", "{bad}");
        }
    }

    #[test]
    fn unicode_letters_and_spaces_are_allowed_in_tags() {
        let s = of(json!({TAGS_CLAIM: {"principal_tags": {"Équipe": ["plate forme 2"]}}})).unwrap();
        assert_eq!(s.tags.len(), 1);
    }

    #[test]
    fn invalid_source_identity_is_refused() {
        for bad in [
            json!("a"),
            json!("aws:x"),
            json!("has space"),
            json!(5),
            json!("x".repeat(65)),
        ] {
            assert!(
                of(json!({SOURCE_IDENTITY_CLAIM: bad.clone()})).is_err(),
                "{bad}"
            );
        }
    }
}
