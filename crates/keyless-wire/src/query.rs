//! awsQuery request decoding: `Action=…&Version=…&Name.member.1=…` from a form body and/or the
//! URL query string.

use std::collections::HashMap;

use crate::error::{WireError, validation_message_nullable};

/// Largest request body accepted, in bytes (1 MiB).
///
/// Why this number: the largest legitimate parameters are a web identity token (≤ 20,000
/// characters), a role trust policy (≤ 4,096), inline role policies (≤ 10,240 in total) and a
/// managed policy (≤ 6,144). Percent-encoding can triple their size, so a real request stays well
/// under 100 KiB. 1 MiB leaves a wide margin for any SDK while bounding the memory an
/// unauthenticated client can make the server hold. Oversize bodies get
/// [`WireError::BodyTooLarge`], which maps to an AWS error document (not a bare 413 page).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Most parameters accepted in one request.
///
/// Why: a 1 MiB body of `a1=&a2=&…` is a quarter of a million parameters, tens of megabytes once
/// decoded and indexed; times the number of concurrent connections that is a cheap memory attack.
/// The largest legitimate requests (100 client ids, 50 tags as two parameters each, simulation
/// calls with long action and context lists) stay in the low hundreds.
pub const MAX_PARAMETERS: usize = 2000;

/// A decoded awsQuery request: its parameters, in the order they arrived.
///
/// INVARIANT: parameter names are unique (duplicates are rejected by [`decode_query`]), so every
/// lookup has one answer.
///
/// `Debug` prints `[redacted]` for the values of credential-bearing parameters
/// ([`SENSITIVE_PARAMETERS`]) so a logged request does not leak a token.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct QueryRequest {
    params: Vec<(String, String)>,
    /// Name → position, built only once there are more than [`LINEAR_LOOKUP`] parameters:
    /// a typical call has a handful, and scanning them costs less than hashing and an
    /// allocation per name; the map keeps calls with long lists from going quadratic.
    index: HashMap<String, usize>,
}

/// Up to this many parameters, lookups scan the list.
const LINEAR_LOOKUP: usize = 16;

/// Parameters whose values are credentials (bearer tokens, MFA codes) and never printed.
pub const SENSITIVE_PARAMETERS: &[&str] = &[
    "WebIdentityToken",
    "X-Amz-Security-Token",
    "SAMLAssertion",
    "TokenCode",
];

impl std::fmt::Debug for QueryRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.params {
            if SENSITIVE_PARAMETERS.contains(&k.as_str()) {
                m.entry(k, &"[redacted]");
            } else {
                m.entry(k, v);
            }
        }
        m.finish()
    }
}

/// Decodes an awsQuery request from a form body (`application/x-www-form-urlencoded`) and/or a
/// URL query string, merging both.
///
/// Strict on purpose: invalid percent-encoding, invalid UTF-8 after decoding and a parameter
/// given twice (in one part or across both) are errors, never silently repaired, because two
/// readers disagreeing on what a request says is how signature and authorisation bypasses start.
/// Empty pairs (`a=1&&b=2`, a trailing `&`) are skipped; a name without `=` has the empty value.
pub fn decode_query(body: &[u8], uri_query: Option<&str>) -> Result<QueryRequest, WireError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(WireError::BodyTooLarge {
            size: body.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    let mut req = QueryRequest::default();
    if let Some(q) = uri_query {
        if q.len() > MAX_BODY_BYTES {
            return Err(WireError::BodyTooLarge {
                size: q.len(),
                limit: MAX_BODY_BYTES,
            });
        }
        req.add_form(q.as_bytes())?;
    }
    req.add_form(body)?;
    Ok(req)
}

impl QueryRequest {
    fn add_form(&mut self, input: &[u8]) -> Result<(), WireError> {
        for pair in input.split(|&b| b == b'&') {
            if pair.is_empty() {
                continue;
            }
            let (raw_name, raw_value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (
                    pair.get(..i).unwrap_or_default(),
                    pair.get(i + 1..).unwrap_or_default(),
                ),
                None => (pair, &[][..]),
            };
            let name = form_decode(raw_name)?;
            if name.is_empty() {
                continue;
            }
            let value = form_decode(raw_value)?;
            if self.position(&name).is_some() {
                return Err(WireError::DuplicateParameter(name));
            }
            if self.params.len() >= MAX_PARAMETERS {
                return Err(WireError::TooManyParameters {
                    limit: MAX_PARAMETERS,
                });
            }
            if !self.index.is_empty() {
                self.index.insert(name.clone(), self.params.len());
            } else if self.params.len() == LINEAR_LOOKUP {
                self.index = self
                    .params
                    .iter()
                    .enumerate()
                    .map(|(i, (k, _))| (k.clone(), i))
                    .chain(std::iter::once((name.clone(), self.params.len())))
                    .collect();
            }
            self.params.push((name, value));
        }
        Ok(())
    }

    /// Where the parameter `name` is in the list.
    fn position(&self, name: &str) -> Option<usize> {
        if self.index.is_empty() {
            self.params.iter().position(|(k, _)| k == name)
        } else {
            self.index.get(name).copied()
        }
    }

    /// The `Action` parameter.
    pub fn action(&self) -> Option<&str> {
        self.get("Action")
    }

    /// The `Version` parameter.
    pub fn version(&self) -> Option<&str> {
        self.get("Version")
    }

    /// The value of a parameter, if present (exact, case-sensitive name).
    pub fn get(&self, name: &str) -> Option<&str> {
        let i = self.position(name)?;
        self.params.get(i).map(|(_, v)| v.as_str())
    }

    /// The value of a required parameter; absent → `MissingParameter`
    /// (`The request must contain the parameter <name>`).
    pub fn required(&self, name: &str) -> Result<&str, WireError> {
        self.get(name)
            .ok_or_else(|| WireError::MissingParameter(name.to_owned()))
    }

    /// The list `Name.member.1 … Name.member.N`.
    ///
    /// Members are ordered by their numeric index, not by arrival order; gaps are tolerated
    /// (SDKs never send them, and dropping members after a gap would lose data silently).
    /// Indexes that are not positive decimal integers are ignored. `Name=` alone (how SDKs send
    /// an empty list) yields an empty list.
    pub fn list(&self, name: &str) -> Vec<String> {
        let prefix = format!("{name}.member.");
        let mut items: Vec<(u64, &str)> = self
            .params
            .iter()
            .filter_map(|(k, v)| {
                let idx = parse_index(k.strip_prefix(&prefix)?)?;
                Some((idx, v.as_str()))
            })
            .collect();
        items.sort_by_key(|(i, _)| *i);
        items.into_iter().map(|(_, v)| v.to_owned()).collect()
    }

    /// Members of a list of structures, one field each: `Name.member.N.field`
    /// (e.g. `PolicyArns.member.1.arn`), ordered by index like [`QueryRequest::list`].
    pub fn struct_list(&self, name: &str, field: &str) -> Vec<String> {
        self.struct_members(name)
            .into_iter()
            .filter_map(|(_, fields)| fields.get(field).map(|v| (*v).to_owned()))
            .collect()
    }

    /// Tags: `Name.member.N.Key` / `Name.member.N.Value`, ordered by index.
    ///
    /// A member without `Key` or `Value` is a `ValidationError` worded as AWS words a null
    /// member (`Value null at 'tags.1.member.value' failed to satisfy constraint: Member must not
    /// be null`); all such problems are reported at once.
    pub fn tags(&self, name: &str) -> Result<Vec<(String, String)>, WireError> {
        let field_prefix = lower_camel(name);
        let mut out = Vec::new();
        let mut problems: Vec<(String, &'static str)> = Vec::new();
        for (idx, fields) in self.struct_members(name) {
            let key = fields.get("Key");
            let value = fields.get("Value");
            if key.is_none() {
                problems.push((
                    format!("{field_prefix}.{idx}.member.key"),
                    "Member must not be null",
                ));
            }
            if value.is_none() {
                problems.push((
                    format!("{field_prefix}.{idx}.member.value"),
                    "Member must not be null",
                ));
            }
            if let (Some(k), Some(v)) = (key, value) {
                out.push(((*k).to_owned(), (*v).to_owned()));
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            let items: Vec<(Option<&str>, &str, &str)> = problems
                .iter()
                .map(|(f, c)| (None, f.as_str(), *c))
                .collect();
            Err(WireError::Validation(validation_message_nullable(&items)))
        }
    }

    /// `Name.member.N.<field>` grouped by N (sorted), each with its fields.
    fn struct_members(&self, name: &str) -> Vec<(u64, HashMap<&str, &str>)> {
        let prefix = format!("{name}.member.");
        let mut members: Vec<(u64, HashMap<&str, &str>)> = Vec::new();
        for (k, v) in &self.params {
            let Some(rest) = k.strip_prefix(&prefix) else {
                continue;
            };
            let Some((idx, field)) = rest.split_once('.') else {
                continue;
            };
            let Some(idx) = parse_index(idx) else {
                continue;
            };
            match members.iter_mut().find(|(i, _)| *i == idx) {
                Some((_, fields)) => {
                    fields.insert(field, v.as_str());
                }
                None => members.push((idx, HashMap::from([(field, v.as_str())]))),
            }
        }
        members.sort_by_key(|(i, _)| *i);
        members
    }

    /// An integer parameter: absent → `Ok(None)`; not a decimal `i64` → `InvalidParameterValue`.
    pub fn int(&self, name: &str) -> Result<Option<i64>, WireError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| WireError::InvalidInteger {
                    name: name.to_owned(),
                    value: v.to_owned(),
                }),
        }
    }

    /// A boolean parameter: `true`/`false` (any case); absent → `Ok(None)`; anything else →
    /// `InvalidParameterValue`.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, WireError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(WireError::InvalidBoolean {
                name: name.to_owned(),
                value: v.to_owned(),
            }),
        }
    }

    /// All parameters in arrival order (query string first, then body).
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.params.len()
    }

    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }
}

/// A 1-based list index: ASCII digits only, no sign, not zero.
fn parse_index(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().filter(|&i| i > 0)
}

/// AWS prints member paths in lowerCamel (`Tags` → `tags`, `PolicyArns` → `policyArns`).
fn lower_camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Decodes one `application/x-www-form-urlencoded` component strictly: `+` is a space, `%XX`
/// must have two hex digits, and the result must be UTF-8.
fn form_decode(input: &[u8]) -> Result<String, WireError> {
    let mut out = Vec::with_capacity(input.len());
    let mut rest = input;
    // Runs without `+` or `%` (all of a JWT, most of any value) are copied whole.
    while let Some(at) = rest.iter().position(|&b| b == b'+' || b == b'%') {
        let (run, special) = rest.split_at(at);
        out.extend_from_slice(run);
        match special {
            [b'+', tail @ ..] => {
                out.push(b' ');
                rest = tail;
            }
            [b'%', hi, lo, tail @ ..] => match (hex_val(*hi), hex_val(*lo)) {
                (Some(hi), Some(lo)) => {
                    out.push((hi << 4) | lo);
                    rest = tail;
                }
                _ => return Err(bad_percent()),
            },
            _ => return Err(bad_percent()),
        }
    }
    out.extend_from_slice(rest);
    String::from_utf8(out).map_err(|_| {
        WireError::MalformedQuery("parameter is not valid UTF-8 after decoding".into())
    })
}

fn bad_percent() -> WireError {
    WireError::MalformedQuery(
        "invalid percent-encoding (`%` must be followed by two hex digits)".into(),
    )
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(body: &str) -> QueryRequest {
        decode_query(body.as_bytes(), None).unwrap()
    }

    #[test]
    fn decodes_scalars_and_plus() {
        let r = q("Action=AssumeRole&Version=2011-06-15&RoleSessionName=a+b%2Bc%20d");
        assert_eq!(r.action(), Some("AssumeRole"));
        assert_eq!(r.version(), Some("2011-06-15"));
        assert_eq!(r.get("RoleSessionName"), Some("a b+c d"));
        assert_eq!(r.get("rolesessionname"), None);
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn debug_redacts_tokens() {
        let d = format!("{:?}", q("Action=A&WebIdentityToken=eyJSECRET&RoleArn=arn"));
        assert!(!d.contains("eyJSECRET"), "{d}");
        assert!(d.contains("[redacted]") && d.contains("\"arn\""), "{d}");
    }

    #[test]
    fn merges_query_and_body() {
        let r = decode_query(b"RoleArn=x", Some("Action=GetRole&Version=2010-05-08")).unwrap();
        let names: Vec<&str> = r.params().map(|(k, _)| k).collect();
        assert_eq!(names, ["Action", "Version", "RoleArn"]);
    }

    #[test]
    fn duplicates_are_rejected_within_and_across_parts() {
        assert_eq!(
            decode_query(b"A=1&A=2", None).unwrap_err(),
            WireError::DuplicateParameter("A".into())
        );
        assert!(matches!(
            decode_query(b"Action=x", Some("Action=y")),
            Err(WireError::DuplicateParameter(_))
        ));
        // Encoded and plain spellings of one name are the same parameter.
        assert!(decode_query(b"Action=x&Acti%6Fn=y", None).is_err());
    }

    #[test]
    fn lookups_and_duplicates_agree_below_and_above_the_linear_limit() {
        for n in [
            1,
            LINEAR_LOOKUP - 1,
            LINEAR_LOOKUP,
            LINEAR_LOOKUP + 1,
            3 * LINEAR_LOOKUP,
        ] {
            let body: Vec<String> = (0..n).map(|i| format!("P{i}=v{i}")).collect();
            let r = decode_query(body.join("&").as_bytes(), None).unwrap();
            for i in 0..n {
                assert_eq!(
                    r.get(&format!("P{i}")),
                    Some(format!("v{i}").as_str()),
                    "n={n}"
                );
            }
            assert_eq!(r.get("P"), None);
            assert_eq!(r.get(&format!("P{n}")), None);
            // A repeat of the first, a middle and the last name is refused wherever it comes.
            for dup in [0, n / 2, n - 1] {
                let mut with_dup = body.clone();
                with_dup.push(format!("P{dup}=again"));
                assert_eq!(
                    decode_query(with_dup.join("&").as_bytes(), None).unwrap_err(),
                    WireError::DuplicateParameter(format!("P{dup}")),
                    "n={n} dup={dup}"
                );
            }
        }
    }

    #[test]
    fn bad_encoding_is_rejected() {
        assert!(matches!(
            decode_query(b"A=%zz", None),
            Err(WireError::MalformedQuery(_))
        ));
        assert!(matches!(
            decode_query(b"A=%4", None),
            Err(WireError::MalformedQuery(_))
        ));
        assert!(matches!(
            decode_query(b"A=%ff", None),
            Err(WireError::MalformedQuery(_))
        ));
        assert!(matches!(
            decode_query(b"A=\xff", None),
            Err(WireError::MalformedQuery(_))
        ));
        assert_eq!(q("A=%C3%A9").get("A"), Some("é"));
    }

    #[test]
    fn oversize_body_is_an_aws_error() {
        let body = vec![b'a'; MAX_BODY_BYTES + 1];
        let e = decode_query(&body, None).unwrap_err();
        assert!(matches!(e, WireError::BodyTooLarge { .. }));
        assert_eq!(e.to_aws().status, 413);
        assert!(decode_query(&vec![b'a'; MAX_BODY_BYTES], None).is_ok());
    }

    #[test]
    fn parameter_count_is_bounded() {
        let body = |n: usize| {
            (0..n)
                .map(|i| format!("P{i}="))
                .collect::<Vec<_>>()
                .join("&")
        };
        assert_eq!(
            decode_query(body(MAX_PARAMETERS).as_bytes(), None)
                .unwrap()
                .len(),
            MAX_PARAMETERS
        );
        let e = decode_query(body(MAX_PARAMETERS + 1).as_bytes(), None).unwrap_err();
        assert_eq!(
            e,
            WireError::TooManyParameters {
                limit: MAX_PARAMETERS
            }
        );
        assert_eq!(e.to_aws().status, 400);
    }

    #[test]
    fn empty_pairs_and_bare_names() {
        let r = q("&A=1&&B&=x&");
        assert_eq!(r.get("A"), Some("1"));
        assert_eq!(r.get("B"), Some(""));
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn required_names_the_parameter() {
        let r = q("Action=X");
        let e = r.required("RoleArn").unwrap_err();
        assert_eq!(e.to_aws().code, "MissingParameter");
        assert_eq!(
            e.to_aws().message,
            "The request must contain the parameter RoleArn"
        );
        assert_eq!(r.required("Action").unwrap(), "X");
    }

    #[test]
    fn lists_sort_numerically_and_tolerate_gaps() {
        let r = q(
            "L.member.10=j&L.member.2=b&L.member.1=a&L.member.0=zero&L.member.x=bad&L.member.4=d&Other.member.1=o",
        );
        assert_eq!(r.list("L"), ["a", "b", "d", "j"]);
        assert!(r.list("Missing").is_empty());
        assert!(q("L=").list("L").is_empty());
    }

    #[test]
    fn struct_lists() {
        let r = q("PolicyArns.member.2.arn=b&PolicyArns.member.1.arn=a");
        assert_eq!(r.struct_list("PolicyArns", "arn"), ["a", "b"]);
        assert!(r.struct_list("PolicyArns", "Arn").is_empty());
    }

    #[test]
    fn tags_pair_up_and_report_nulls() {
        let r = q(
            "Tags.member.2.Key=k2&Tags.member.2.Value=v2&Tags.member.1.Key=k1&Tags.member.1.Value=",
        );
        assert_eq!(
            r.tags("Tags").unwrap(),
            [
                ("k1".to_owned(), "".to_owned()),
                ("k2".to_owned(), "v2".to_owned())
            ]
        );
        let bad = q("Tags.member.1.Key=k1&Tags.member.2.Value=v")
            .tags("Tags")
            .unwrap_err();
        let aws = bad.to_aws();
        assert_eq!(aws.code, "ValidationError");
        assert_eq!(
            aws.message,
            "3 validation errors detected: Value null at 'tags.1.member.value' failed to satisfy constraint: Member must not be null; \
             Value null at 'tags.2.member.key' failed to satisfy constraint: Member must not be null"
                .replace("3 validation", "2 validation")
        );
    }

    #[test]
    fn ints_and_bools() {
        let r = q("D=3600&N=-5&B=abc&T=true&F=False&X=yes&S=+36");
        assert_eq!(r.int("D").unwrap(), Some(3600));
        assert_eq!(r.int("N").unwrap(), Some(-5));
        assert_eq!(r.int("Absent").unwrap(), None);
        assert!(
            r.int("S").is_err(),
            "a space (decoded `+`) is not part of an integer"
        );
        let e = r.int("B").unwrap_err().to_aws();
        assert_eq!(e.code, "InvalidParameterValue");
        assert!(e.message.contains("abc"));
        assert_eq!(r.bool("T").unwrap(), Some(true));
        assert_eq!(r.bool("F").unwrap(), Some(false));
        assert_eq!(r.bool("Absent").unwrap(), None);
        assert!(r.bool("X").is_err());
    }
}
