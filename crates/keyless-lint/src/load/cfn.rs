//! CloudFormation templates (JSON and YAML) with `AWS::IAM::Role` resources.
//!
//! Intrinsic functions become strings that keep their meaning for the rules: `!Sub "x"` is `x`,
//! `!Ref P` is `${P}`, `!GetAtt A.B` is `${A.B}`, `!Join` joins, `!If` takes the first branch.
//! That keeps ARNs like `arn:aws:iam::${AWS::AccountId}:oidc-provider/token.actions…` readable.

use std::sync::{Arc, mpsc};
use std::time::Duration;

use serde_json::{Map, Value};

use super::{Locator, Unit, grants_admin, jsonpos, policy_value};
use crate::error::LintError;
use crate::rules::RoleMeta;

fn join(v: &Value) -> String {
    match v {
        Value::Array(a) => {
            let sep = a.first().and_then(Value::as_str).unwrap_or("");
            let parts = a.get(1).and_then(Value::as_array).map_or(Vec::new(), |p| {
                p.iter().map(|x| stringy(&normalize(x))).collect()
            });
            parts.join(sep)
        }
        other => stringy(other),
    }
}

fn stringy(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn intrinsic(name: &str, arg: &Value) -> Option<Value> {
    let s = match name {
        "Ref" => format!("${{{}}}", stringy(arg)),
        "Fn::Sub" => match arg {
            Value::Array(a) => a.first().map(stringy).unwrap_or_default(),
            other => stringy(other),
        },
        "Fn::GetAtt" => match arg {
            Value::Array(a) => format!(
                "${{{}}}",
                a.iter().map(stringy).collect::<Vec<_>>().join(".")
            ),
            other => format!("${{{}}}", stringy(other)),
        },
        "Fn::Join" => join(arg),
        "Fn::If" => return arg.as_array().and_then(|a| a.get(1)).map(normalize),
        "Fn::ImportValue" | "Fn::FindInMap" | "Fn::Select" | "Fn::GetAZs" | "Fn::Base64" => {
            format!("${{{name}}}")
        }
        _ => return None,
    };
    Some(Value::String(s))
}

/// Replaces CloudFormation intrinsic objects by strings.
pub fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            if m.len() == 1
                && let Some((k, arg)) = m.iter().next()
                && let Some(r) = intrinsic(k, arg)
            {
                return r;
            }
            Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), normalize(v)))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

fn yaml_to_json(y: &serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match y {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64().map_or(Value::Null, Value::from)
            }
        }
        Y::String(s) => Value::String(s.clone()),
        Y::Sequence(s) => Value::Array(s.iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                out.insert(key, yaml_to_json(v));
            }
            Value::Object(out)
        }
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = yaml_to_json(&t.value);
            let long = match name {
                "Ref" => "Ref".to_string(),
                "Condition" => "Condition".to_string(),
                other => format!("Fn::{other}"),
            };
            // `!GetAtt A.B` is a plain string in short form.
            intrinsic(&long, &inner).unwrap_or(inner)
        }
    }
}

/// Longest a YAML document may take to parse.
///
/// Why: the YAML parser (libyaml, under serde_yaml) looks at every open flow collection for
/// each token it reads, and its nesting limit applies only once the whole document has been
/// read, so a document of nested `[` takes time quadratic in its size: 100,000 levels (200 KB)
/// took 19 s, a megabyte would take minutes. Real templates parse in milliseconds. No scan of
/// the text can bound the nesting beforehand without parsing YAML itself (a `]` inside a quoted
/// string closes nothing), so the parse runs on a thread of its own and is given up on after
/// this long; that thread finishes in the background and its result is dropped.
const YAML_PARSE_BUDGET: Duration = Duration::from_secs(5);

/// Parses `text` as YAML within `budget`.
fn parse_yaml(name: &str, text: &str, budget: Duration) -> Result<serde_yaml::Value, LintError> {
    let (tx, rx) = mpsc::sync_channel(1);
    let owned = text.to_owned();
    let parser = std::thread::Builder::new()
        .name("keyless-lint-yaml".into())
        .spawn(move || {
            // The receiver is gone if the budget ran out: nothing to report to.
            let _ = tx.send(serde_yaml::from_str::<serde_yaml::Value>(&owned));
        })
        .map_err(|e| LintError::TooComplex {
            file: name.to_string(),
            format: "YAML",
            reason: format!("cannot start the parser's thread: {e}"),
        })?;
    let parsed = match rx.recv_timeout(budget) {
        Ok(parsed) => {
            // It is past its last step: waiting for it to end leaves no thread behind.
            let _ = parser.join();
            parsed
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            return Err(LintError::TooComplex {
                file: name.to_string(),
                format: "YAML",
                reason: format!(
                    "not parsed within {} s (flow collections `[` or `{{` nested too deeply?)",
                    budget.as_secs_f64()
                ),
            });
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            return Err(LintError::TooComplex {
                file: name.to_string(),
                format: "YAML",
                reason: "the parser stopped without an answer".into(),
            });
        }
    };
    parsed.map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        LintError::Syntax {
            file: name.to_string(),
            format: "YAML",
            line,
            column,
            message: e.to_string(),
        }
    })
}

/// Loads a YAML CloudFormation template.
pub fn load_yaml(name: &str, text: &str) -> Result<Vec<Unit>, LintError> {
    let y = parse_yaml(name, text, YAML_PARSE_BUDGET)?;
    let value = yaml_to_json(&y);
    if value.get("Resources").is_none() {
        if value.get("Statement").is_some() {
            return Ok(vec![Unit {
                resource: None,
                doc: value,
                locator: Locator::Search {
                    start: 0,
                    end: text.len(),
                },
                meta: RoleMeta::default(),
            }]);
        }
        return Err(LintError::NoPolicy {
            file: name.to_string(),
        });
    }
    Ok(units(&value, text, None))
}

fn resource_start(text: &str, logical_id: &str) -> Option<usize> {
    for pat in [
        format!("\n  {logical_id}:"),
        format!("\n    {logical_id}:"),
        format!("\n{logical_id}:"),
        format!("\"{logical_id}\""),
    ] {
        if let Some(i) = text.find(&pat) {
            return Some(i + 1);
        }
    }
    text.find(logical_id)
}

/// Trust policies of every `AWS::IAM::Role` in a template; `index` is set for JSON templates.
pub fn units(value: &Value, text: &str, index: Option<&Arc<jsonpos::Index>>) -> Vec<Unit> {
    let Some(Value::Object(resources)) = value.get("Resources") else {
        return Vec::new();
    };
    let mut starts: Vec<usize> = resources
        .keys()
        .filter_map(|k| resource_start(text, k))
        .collect();
    starts.sort_unstable();
    let mut out = Vec::new();
    for (id, r) in resources {
        if r.get("Type").and_then(Value::as_str) != Some("AWS::IAM::Role") {
            continue;
        }
        let props = r.get("Properties").cloned().unwrap_or(Value::Null);
        let Some(doc) = props
            .get("AssumeRolePolicyDocument")
            .map(normalize)
            .and_then(|d| policy_value(&d))
        else {
            continue;
        };
        let start = resource_start(text, id).unwrap_or(0);
        let end = starts
            .iter()
            .copied()
            .find(|s| *s > start)
            .unwrap_or(text.len());
        let locator = match index {
            Some(ix) => Locator::Json {
                index: Arc::clone(ix),
                prefix: format!(
                    "{}.Properties.AssumeRolePolicyDocument",
                    crate::model::path_key("$.Resources", id)
                ),
                base: 0,
            },
            None => Locator::Search { start, end },
        };
        let attached = props
            .get("ManagedPolicyArns")
            .map(normalize)
            .and_then(|v| v.as_array().cloned())
            .map(|a| a.iter().map(stringy).collect())
            .unwrap_or_default();
        let inline_admin = props
            .get("Policies")
            .and_then(Value::as_array)
            .is_some_and(|ps| {
                ps.iter().any(|p| {
                    p.get("PolicyDocument")
                        .map(normalize)
                        .and_then(|d| policy_value(&d))
                        .is_some_and(|d| grants_admin(&d))
                })
            });
        let role_name = props.get("RoleName").map(normalize).map(|v| stringy(&v));
        out.push(Unit {
            resource: Some(id.clone()),
            doc,
            locator,
            meta: RoleMeta {
                name: role_name.or(Some(id.clone())),
                attached_policy_arns: attached,
                inline_admin,
                max_session_duration: props.get("MaxSessionDuration").and_then(|v| {
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                }),
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// A document built to keep the parser busy (time quadratic in its nesting) is given up on
    /// once the budget runs out, with an error naming the file and the likely cause. (15,000
    /// levels take the parser about 0.4 s in a test build, twenty times the budget.)
    #[test]
    fn a_yaml_document_too_slow_to_parse_is_refused_after_the_budget() {
        let depth = 15_000;
        let text = format!("Resources: {}{}\n", "[".repeat(depth), "]".repeat(depth));
        let started = std::time::Instant::now();
        let err = parse_yaml("deep.yaml", &text, Duration::from_millis(20)).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let message = err.to_string();
        assert!(matches!(err, LintError::TooComplex { .. }), "{message}");
        assert!(
            message.starts_with("deep.yaml: cannot parse YAML: not parsed within 0.02 s"),
            "{message}"
        );
    }

    /// Within the budget, the parser's own errors come through with their position.
    #[test]
    fn yaml_syntax_errors_keep_their_position() {
        let err = parse_yaml("bad.yaml", "a: b\n  c: [d\n", YAML_PARSE_BUDGET).unwrap_err();
        match err {
            LintError::Syntax { line, format, .. } => {
                assert_eq!(format, "YAML");
                assert!(line >= 2, "line {line}");
            }
            other => panic!("{other}"),
        }
        let ok = parse_yaml("ok.yaml", "a: [1, {b: c}]\n", YAML_PARSE_BUDGET).unwrap();
        assert_eq!(ok["a"][1]["b"].as_str(), Some("c"));
    }
}
