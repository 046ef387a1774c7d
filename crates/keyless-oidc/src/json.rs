//! Strict JSON parsing: like `serde_json::from_slice::<Value>` but a duplicate member name at any
//! depth is an error.
//!
//! Why: `serde_json` keeps the last of two equal keys, another library may keep the first, so a
//! token with `{"sub":"a","sub":"b"}` could be read differently by two verifiers. RFC 7515 §5.2
//! allows refusing such input, and we do.

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};
use std::fmt;

/// A JSON value parsed with duplicate-member detection.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(StrictVisitor { capacity: 0 })
            .map(Strict)
    }
}

/// Top-level parse with room for `capacity` members up front: a token's claims object has
/// about 35 members, and growing the map from empty rehashes it five times.
struct TopLevel {
    capacity: usize,
}

impl<'de> DeserializeSeed<'de> for TopLevel {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(StrictVisitor {
            capacity: self.capacity,
        })
    }
}

struct StrictVisitor {
    capacity: usize,
}

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict::deserialize(d).map(|s| s.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::with_capacity(self.capacity);
        while let Some(key) = map.next_key::<String>()? {
            match out.entry(key) {
                Entry::Occupied(o) => {
                    return Err(de::Error::custom(format_args!(
                        "duplicate member `{}`",
                        o.key()
                    )));
                }
                Entry::Vacant(slot) => {
                    let Strict(v) = map.next_value()?;
                    slot.insert(v);
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// Parses `bytes` as one JSON value, refusing duplicate object members at any depth.
pub(crate) fn parse_strict(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    parse_with_capacity(bytes, 0)
}

fn parse_with_capacity(bytes: &[u8], capacity: usize) -> Result<Value, serde_json::Error> {
    // Validating UTF-8 once for the whole input is cheaper than per string, which is what
    // parsing from a byte slice does.
    let text = std::str::from_utf8(bytes).map_err(|e| {
        <serde_json::Error as de::Error>::custom(format_args!("invalid UTF-8: {e}"))
    })?;
    let mut de = serde_json::Deserializer::from_str(text);
    let v = TopLevel { capacity }.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// Parses `bytes` as a JSON object, refusing duplicates; the error is a human message.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    // Sized from the input: about one member per 30 bytes, capped so a hostile document cannot
    // make us reserve much.
    let capacity = (bytes.len() / 30).min(64);
    match parse_with_capacity(bytes, capacity) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("is not a JSON object".to_owned()),
        Err(e) => Err(format!("is not valid JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_top_level_member_is_refused() {
        assert!(parse_strict(br#"{"a":1,"a":2}"#).is_err());
    }

    #[test]
    fn duplicate_nested_member_is_refused() {
        assert!(parse_strict(br#"{"a":{"b":1,"b":1}}"#).is_err());
        assert!(parse_strict(br#"{"a":[{"b":1,"b":1}]}"#).is_err());
    }

    #[test]
    fn escaped_duplicate_is_refused() {
        // "\u0061" is "a": the same member name spelled differently.
        assert!(parse_strict(br#"{"a":1,"\u0061":2}"#).is_err());
    }

    #[test]
    fn ordinary_json_round_trips_in_order() {
        let v = parse_strict(br#"{"z":1,"a":[true,null,"x",1.5,-3]}"#).unwrap();
        assert_eq!(v.to_string(), r#"{"z":1,"a":[true,null,"x",1.5,-3]}"#);
    }

    #[test]
    fn trailing_garbage_is_refused() {
        assert!(parse_strict(br#"{"a":1} x"#).is_err());
        assert!(parse_object(b"[1]").is_err());
    }
}
