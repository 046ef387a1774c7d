//! Strict JSON parsing: like `serde_json::from_slice::<Value>` but a duplicate member name at any
//! depth is an error.
//!
//! Why: `serde_json` keeps the last of two equal keys, another library may keep the first, so a
//! token with `{"sub":"a","sub":"b"}` could be read differently by two verifiers. RFC 7515 §5.2
//! allows refusing such input, and we do.

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::collections::BTreeSet;
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

/// Registered claims captured while the claims object is parsed, so that verification needs
/// no map lookups (each one hashes the name again) for them. `None` means absent *or* not of
/// the expected type: the verifier then reads the map as it always did, which also words the
/// error, so a capture can only ever be a shortcut to the same result.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Known {
    /// `iss`, when a string.
    pub(crate) iss: Option<String>,
    /// `sub`, when a string.
    pub(crate) sub: Option<String>,
    /// `exp`, when an integer that fits a `u64`.
    pub(crate) exp: Option<u64>,
    /// `nbf`, likewise.
    pub(crate) nbf: Option<u64>,
    /// `iat`, likewise.
    pub(crate) iat: Option<u64>,
}

impl Known {
    fn capture(&mut self, name: &[u8], value: &Value) {
        let text = || match value {
            Value::String(s) => Some(s.clone()),
            _ => None,
        };
        let number = || match value {
            Value::Number(n) => n.as_u64(),
            _ => None,
        };
        match name {
            b"iss" => self.iss = text(),
            b"sub" => self.sub = text(),
            b"exp" => self.exp = number(),
            b"nbf" => self.nbf = number(),
            b"iat" => self.iat = number(),
            _ => {}
        }
    }
}

/// The top level of a claims object: [`StrictVisitor`] that also fills a [`Known`].
struct ClaimsVisitor<'k> {
    capacity: usize,
    known: &'k mut Known,
}

impl<'de> Visitor<'de> for ClaimsVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        StrictVisitor { capacity: 0 }.visit_bool(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        StrictVisitor { capacity: 0 }.visit_i64(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        StrictVisitor { capacity: 0 }.visit_u64(v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        StrictVisitor { capacity: 0 }.visit_f64(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        StrictVisitor { capacity: 0 }.visit_str(v)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        StrictVisitor { capacity: 0 }.visit_string(v)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        StrictVisitor { capacity: 0 }.visit_unit()
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        StrictVisitor { capacity: 0 }.visit_none()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        StrictVisitor { capacity: 0 }.visit_some(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        StrictVisitor { capacity: 0 }.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        // The same loop as `StrictVisitor::visit_map`, so errors and their positions match.
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
                    // Every registered claim we capture has a three-letter name.
                    if slot.key().len() == 3 {
                        self.known.capture(slot.key().as_bytes(), &v);
                    }
                    slot.insert(v);
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// A JSON value parsed for its duplicate-member check only, then dropped: scalars and strings
/// cost nothing, objects are built (to find duplicates) and freed.
struct StrictIgnore;

impl<'de> Deserialize<'de> for StrictIgnore {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(IgnoreVisitor)
            .map(|()| StrictIgnore)
    }
}

struct IgnoreVisitor;

impl<'de> Visitor<'de> for IgnoreVisitor {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        StrictIgnore::deserialize(d).map(|_| ())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<StrictIgnore>()?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        StrictVisitor { capacity: 0 }.visit_map(map).map(drop)
    }
}

/// A string borrowed from the input when it has no escapes, owned otherwise.
struct CowStr;

impl<'de> DeserializeSeed<'de> for CowStr {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for CowStr {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// A header member's value: a string (borrowed from the input when it can be) or any other JSON.
#[derive(Debug)]
pub(crate) enum Member<'de> {
    /// A JSON string.
    Str(Cow<'de, str>),
    /// Anything else, parsed strictly.
    Other(Value),
}

struct MemberVisitor;

impl<'de> DeserializeSeed<'de> for MemberVisitor {
    type Value = Member<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MemberVisitor {
    type Value = Member<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Member::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Member::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Member::Str(Cow::Owned(v)))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Member::Other(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Member::Other(Value::Number(v.into())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Member::Other(Value::Number(v.into())))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Member::Other(
            Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Member::Other(Value::Null))
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Member::Other(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Strict::deserialize(d).map(|s| Member::Other(s.0))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        StrictVisitor { capacity: 0 }
            .visit_seq(seq)
            .map(Member::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        StrictVisitor { capacity: 0 }
            .visit_map(map)
            .map(Member::Other)
    }
}

/// Header member names tracked by one bit each in [`Header::seen`]; any other name goes to
/// [`Header::others`], which then allocates.
const KNOWN_HEADER_NAMES: [&str; 11] = [
    "alg", "kid", "typ", "crit", "jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256", "cty",
];

/// A JOSE header read in one pass without building a map: the members the verifier acts on,
/// and which names are present. Every member is still parsed strictly (a duplicate name, at
/// any depth, is an error), exactly as [`parse_object`] would.
#[derive(Debug, Default)]
pub(crate) struct Header<'de> {
    /// `alg`, when present.
    pub(crate) alg: Option<Member<'de>>,
    /// `kid`, when present.
    pub(crate) kid: Option<Member<'de>>,
    /// `crit`, when present.
    pub(crate) crit: Option<Value>,
    /// Bit `i` set: `KNOWN_HEADER_NAMES[i]` is present.
    seen: u16,
    /// Names outside [`KNOWN_HEADER_NAMES`] that are present (a set, so that a header with
    /// thousands of members cannot make the duplicate check quadratic).
    others: BTreeSet<String>,
}

impl Header<'_> {
    /// Whether the header has a member `name`.
    pub(crate) fn contains(&self, name: &str) -> bool {
        match KNOWN_HEADER_NAMES.iter().position(|k| *k == name) {
            Some(i) => self.seen & (1 << i) != 0,
            None => self.others.contains(name),
        }
    }

    /// Records `name`; false if it was already there.
    fn insert(&mut self, name: &str) -> bool {
        match KNOWN_HEADER_NAMES.iter().position(|k| *k == name) {
            Some(i) => {
                let bit = 1 << i;
                let fresh = self.seen & bit == 0;
                self.seen |= bit;
                fresh
            }
            None => self.others.insert(name.to_owned()),
        }
    }
}

/// Top level of a header: `None` for valid JSON that is not an object.
struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Option<Header<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        StrictIgnore::deserialize(d).map(|_| None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        IgnoreVisitor.visit_seq(seq).map(|()| None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut header = Header::default();
        while let Some(name) = map.next_key_seed(CowStr)? {
            if !header.insert(&name) {
                return Err(de::Error::custom(format_args!("duplicate member `{name}`")));
            }
            match &*name {
                "alg" => header.alg = Some(map.next_value_seed(MemberVisitor)?),
                "kid" => header.kid = Some(map.next_value_seed(MemberVisitor)?),
                "crit" => header.crit = Some(map.next_value::<Strict>()?.0),
                _ => {
                    map.next_value::<StrictIgnore>()?;
                }
            }
        }
        Ok(Some(header))
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, serde_json::Error> {
    // Validating UTF-8 once for the whole input is cheaper than per string, which is what
    // parsing from a byte slice does.
    std::str::from_utf8(bytes)
        .map_err(|e| <serde_json::Error as de::Error>::custom(format_args!("invalid UTF-8: {e}")))
}

/// Parses `bytes` as a JOSE header: the same acceptance and messages as [`parse_object`], but
/// without building a map (a header's strings are borrowed from `bytes`).
pub(crate) fn parse_header(bytes: &[u8]) -> Result<Header<'_>, String> {
    let parsed = utf8(bytes).and_then(|text| {
        let mut de = serde_json::Deserializer::from_str(text);
        let header = de::Deserializer::deserialize_any(&mut de, HeaderVisitor)?;
        de.end()?;
        Ok(header)
    });
    match parsed {
        Ok(Some(header)) => Ok(header),
        Ok(None) => Err(NOT_AN_OBJECT.to_owned()),
        Err(e) => Err(format!("is not valid JSON: {e}")),
    }
}

const NOT_AN_OBJECT: &str = "is not a JSON object";

/// Parses `bytes` as one JSON value, refusing duplicate object members at any depth.
pub(crate) fn parse_strict(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    parse_with_capacity(bytes, 0)
}

fn parse_with_capacity(bytes: &[u8], capacity: usize) -> Result<Value, serde_json::Error> {
    let text = utf8(bytes)?;
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
        Ok(_) => Err(NOT_AN_OBJECT.to_owned()),
        Err(e) => Err(format!("is not valid JSON: {e}")),
    }
}

/// Parses a token's claims like [`parse_object`] (same acceptance, same messages) and
/// captures the registered claims verification reads.
pub(crate) fn parse_claims(bytes: &[u8]) -> Result<(Map<String, Value>, Known), String> {
    let capacity = (bytes.len() / 30).min(64);
    let mut known = Known::default();
    let parsed = utf8(bytes).and_then(|text| {
        let mut de = serde_json::Deserializer::from_str(text);
        let v = de::Deserializer::deserialize_any(
            &mut de,
            ClaimsVisitor {
                capacity,
                known: &mut known,
            },
        )?;
        de.end()?;
        Ok(v)
    });
    match parsed {
        Ok(Value::Object(m)) => Ok((m, known)),
        Ok(_) => Err(NOT_AN_OBJECT.to_owned()),
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

    /// `parse_claims` must agree with `parse_object` (members and order, or the message), and
    /// each captured claim must be what reading the map gives.
    fn assert_claims_agree(bytes: &[u8]) {
        let claims = parse_claims(bytes);
        let map = parse_object(bytes);
        match (&claims, &map) {
            (Err(c), Err(m)) => assert_eq!(c, m),
            (Ok((c, known)), Ok(m)) => {
                let pairs = |m: &Map<String, Value>| m.clone().into_iter().collect::<Vec<_>>();
                assert_eq!(pairs(c), pairs(m));
                let text = |name: &str| m.get(name).and_then(Value::as_str).map(str::to_owned);
                let number = |name: &str| m.get(name).and_then(Value::as_u64);
                let expected = Known {
                    iss: text("iss"),
                    sub: text("sub"),
                    exp: number("exp"),
                    nbf: number("nbf"),
                    iat: number("iat"),
                };
                assert_eq!(known, &expected);
            }
            _ => panic!(
                "{}: claims {claims:?} vs map {map:?}",
                String::from_utf8_lossy(bytes)
            ),
        }
    }

    #[test]
    fn registered_claims_are_captured() {
        let (_, known) = parse_claims(
            br#"{"iss":"https://i","sub":"repo:a/b","exp":10,"nbf":1.5,"iat":-1,"aud":"x"}"#,
        )
        .unwrap();
        assert_eq!(known.iss.as_deref(), Some("https://i"));
        assert_eq!(known.sub.as_deref(), Some("repo:a/b"));
        assert_eq!((known.exp, known.nbf, known.iat), (Some(10), None, None));
        let (_, known) = parse_claims(br#"{"\u0069ss":"e","sub":5,"x":{"iss":"nested"}}"#).unwrap();
        assert_eq!(known.iss.as_deref(), Some("e"));
        assert_eq!(known.sub, None);
        assert!(parse_claims(br#"{"iss":"a","iss":"b"}"#).is_err());
    }

    /// `parse_header` must accept exactly what the map-building parse accepts, with the same
    /// message, and report the same members.
    fn assert_header_agrees(bytes: &[u8]) {
        let header = parse_header(bytes);
        let map = parse_object(bytes);
        match (&header, &map) {
            (Err(h), Err(m)) => assert_eq!(h, m),
            (Ok(h), Ok(m)) => {
                let member = |v: Option<&Member<'_>>| match v {
                    None => None,
                    Some(Member::Str(s)) => Some(Value::String(s.clone().into_owned())),
                    Some(Member::Other(v)) => Some(v.clone()),
                };
                assert_eq!(member(h.alg.as_ref()), m.get("alg").cloned());
                assert_eq!(member(h.kid.as_ref()), m.get("kid").cloned());
                assert_eq!(h.crit, m.get("crit").cloned());
                for name in KNOWN_HEADER_NAMES.iter().chain(&["zip", "b64", "x", ""]) {
                    assert_eq!(h.contains(name), m.contains_key(*name), "{name}");
                }
                for name in m.keys() {
                    assert!(h.contains(name), "{name}");
                }
            }
            _ => panic!(
                "{}: header {header:?} vs map {map:?}",
                String::from_utf8_lossy(bytes)
            ),
        }
    }

    const CORPUS: &[&str] = &[
        r#"{"alg":"RS256","kid":"C256DEF3","typ":"JWT"}"#,
        r#"{"alg":"RS256","x5t":"abc","typ":"JWT","kid":"k"}"#,
        r#" { "alg" : "RS256" , "kid" : "k" } "#,
        "{\n\t\"alg\":\"ES256\"\r}",
        r#"{}"#,
        r#"{"alg":"RS256","alg":"RS256"}"#,
        r#"{"alg":"RS256","\u0061lg":"RS256"}"#,
        r#"{"typ":"JWT","typ":"JWT"}"#,
        r#"{"zip":"DEF","zip":"DEF"}"#,
        r#"{"a":1,"b":2,"a":3}"#,
        r#"{"alg":"RS\u0032\u0035\u0036"}"#,
        r#"{"alg":null}"#,
        r#"{"alg":["RS256"]}"#,
        r#"{"alg":{"a":1,"a":2}}"#,
        r#"{"x":{"a":1,"a":2}}"#,
        r#"{"x":[{"a":1,"a":2}]}"#,
        r#"{"x":[1,2,{"b":[true,false,null]}],"y":-1.5e3}"#,
        r#"{"kid":5}"#,
        r#"{"crit":["exp"]}"#,
        r#"{"crit":[]}"#,
        r#"{"crit":"b64","crit":1}"#,
        r#"{"jwk":{"kty":"RSA"},"jku":"u","x5u":"u","x5c":["a"]}"#,
        r#"{"x5t#S256":"a","cty":"JWT"}"#,
        r#"{"sub":"a\"b","n":0,"m":1234567890123456789}"#,
        r#"{"n":12345678901234567890}"#,
        r#"{"n":123456789012345678901234}"#,
        r#"{"n":01}"#,
        r#"{"n":-0}"#,
        r#"{"n":1.0}"#,
        r#"{"n":1e3}"#,
        r#"{"n":1E+3}"#,
        r#"{"t":true,"f":false,"z":null}"#,
        r#"{"t":tru}"#,
        r#"{"t":truex}"#,
        r#"{"t":nulll}"#,
        "{\"s\":\"\u{e9}t\u{e9}\",\"\u{1f600}\":\"x\"}",
        "{\"s\":\"a\tb\"}",
        "{\"s\":\"a\u{7f}b\"}",
        r#"{"a":1,}"#,
        r#"{,"a":1}"#,
        r#"{"a" 1}"#,
        r#"{"a":1 "b":2}"#,
        r#"{"a":1}}"#,
        r#"{"a":1} x"#,
        r#"{"a":1}  "#,
        r#"{"a":"#,
        r#"{"a"#,
        r#"{"#,
        r#"""#,
        "",
        " ",
        "[1,2]",
        "[{\"a\":1,\"a\":1}]",
        "\"a string\"",
        "5",
        "null",
        "\u{feff}{}",
        r#"{"a":"x\/y"}"#,
        r#"{"":""}"#,
        r#"{"":"","":""}"#,
    ];

    #[test]
    fn header_parse_agrees_with_the_map_parse_on_a_corpus() {
        for doc in CORPUS {
            assert_header_agrees(doc.as_bytes());
            assert_claims_agree(doc.as_bytes());
        }
        for bad in [
            &[0xffu8, 0xfe, 0x7b][..],
            b"{\"a\":\"\xc3\"}",
            b"{\"a\xff\":1}",
        ] {
            assert_header_agrees(bad);
            assert_claims_agree(bad);
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const PIECES: &[&str] = &[
            "{",
            "}",
            "[",
            "]",
            ":",
            ",",
            " ",
            "\n",
            "\"a\"",
            "\"b\"",
            "\"alg\"",
            "\"kid\"",
            "\"crit\"",
            "\"jwk\"",
            "\"RS256\"",
            "\"\\u0061\"",
            "\"x\\\"y\"",
            "\"\t\"",
            "\"\u{e9}\"",
            "\"",
            "1",
            "0",
            "01",
            "-1",
            "1.5",
            "1e3",
            "19",
            "12345678901234567890",
            "true",
            "false",
            "null",
            "nul",
            "\u{7f}",
            "x",
        ];

        const NAMES: &[&str] = &[
            "\"a\"",
            "\"b\"",
            "\"alg\"",
            "\"kid\"",
            "\"\\u0061\"",
            "\"iss\"",
            "\"sub\"",
            "\"exp\"",
            "\"nbf\"",
            "\"iat\"",
            "\"\\u0069at\"",
        ];

        const VALUES: &[&str] = &[
            "-3",
            "18446744073709551615",
            "18446744073709551616",
            "1",
            "0",
            "\"v\"",
            "\"\"",
            "true",
            "null",
            "[1]",
            "{}",
            "1.5",
            "\"\u{e9}\"",
        ];

        fn object(members: &[(&str, &str)]) -> String {
            let body: Vec<String> = members.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("{{{}}}", body.join(","))
        }

        fn doc() -> impl Strategy<Value = String> {
            let piece = proptest::sample::select(PIECES);
            prop_oneof![
                // Free-form: mostly invalid JSON.
                proptest::collection::vec(piece.clone(), 0..24).prop_map(|v| v.concat()),
                // Shaped like an object, so parsing gets far.
                proptest::collection::vec((piece.clone(), piece), 0..8).prop_map(|m| object(&m)),
                // Objects of valid members, with repeated names.
                proptest::collection::vec(
                    (
                        proptest::sample::select(NAMES),
                        proptest::sample::select(VALUES)
                    ),
                    0..6
                )
                .prop_map(|m| object(&m)),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn parse_header_agrees_with_the_map_parse(d in doc()) {
                assert_header_agrees(d.as_bytes());
            }

            #[test]
            fn parse_claims_agrees_with_the_map_parse(d in doc()) {
                assert_claims_agree(d.as_bytes());
            }
        }
    }
}
