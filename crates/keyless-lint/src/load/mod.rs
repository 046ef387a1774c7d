//! Loaders: every supported input becomes a list of trust policies ([`Unit`]) with what is known
//! about their role and a way to turn a JSON path back into a position in the source file.

pub mod cfn;
pub mod jsonpos;
pub mod terraform;

use std::sync::Arc;

use serde_json::Value;

use crate::error::LintError;
use crate::rules::RoleMeta;

/// Maps a policy JSON path (and a literal to look for) to a byte offset in the source text.
#[derive(Debug, Clone)]
pub enum Locator {
    /// The policy is JSON text inside the source: exact positions.
    Json {
        /// Index of the JSON text.
        index: Arc<jsonpos::Index>,
        /// Path of the policy document inside the indexed JSON (`$` for a bare policy).
        prefix: String,
        /// Byte offset of the indexed JSON inside the source.
        base: usize,
    },
    /// The policy was built from YAML or HCL: search for the literal inside a byte range.
    Search {
        /// Start of the range (the resource).
        start: usize,
        /// End of the range.
        end: usize,
    },
    /// The policy is an opaque string in the source: everything points at it.
    Fixed(usize),
}

impl Locator {
    /// Byte offset for `json_path` (policy-relative, starting with `$`), using `needle` if the
    /// source is not JSON.
    pub fn offset(&self, text: &str, json_path: &str, needle: Option<&str>) -> usize {
        match self {
            Locator::Json {
                index,
                prefix,
                base,
            } => {
                let mut path = format!(
                    "{prefix}{}",
                    json_path.strip_prefix('$').unwrap_or(json_path)
                );
                loop {
                    if let Some(&o) = index.get(&path) {
                        return base + o;
                    }
                    match path.rfind(['.', '[']) {
                        Some(cut) if cut > 0 => path.truncate(cut),
                        _ => return *base,
                    }
                }
            }
            Locator::Search { start, end } => {
                let hay = text.get(*start..*end).unwrap_or("");
                needle
                    .filter(|n| !n.is_empty())
                    .and_then(|n| hay.find(n))
                    .map_or(*start, |o| start + o)
            }
            Locator::Fixed(o) => *o,
        }
    }
}

/// One trust policy found in an input.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Role or resource name, when known.
    pub resource: Option<String>,
    /// The policy document.
    pub doc: Value,
    /// Position mapping.
    pub locator: Locator,
    /// What is known about the role.
    pub meta: RoleMeta,
}

/// How an input is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    Yaml,
    Hcl,
}

fn kind_of(name: &str, text: &str) -> Kind {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".tf") || lower.ends_with(".hcl") {
        Kind::Hcl
    } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        Kind::Yaml
    } else if lower.ends_with(".json") || text.trim_start().starts_with(['{', '[']) {
        Kind::Json
    } else {
        Kind::Yaml
    }
}

/// Whether a path looks like something this linter reads (used when walking directories).
pub fn is_candidate(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".json", ".yaml", ".yml", ".tf", ".template"]
        .iter()
        .any(|e| lower.ends_with(e))
}

/// Whether a text can hold something this linter reads (checked before parsing walked files).
pub fn may_hold_policy(text: &str) -> bool {
    [
        "Statement",
        "AssumeRolePolicyDocument",
        "assume_role_policy",
        "aws_iam_policy_document",
        "%22Statement%22",
    ]
    .iter()
    .any(|m| text.contains(m))
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// 1-based line and column of a byte offset.
pub fn position(text: &str, offset: usize) -> (usize, usize) {
    line_col(text, offset)
}

/// Parses one input into its trust policies.
pub fn load(name: &str, text: &str) -> Result<Vec<Unit>, LintError> {
    match kind_of(name, text) {
        Kind::Hcl => terraform::load(name, text),
        Kind::Yaml => cfn::load_yaml(name, text),
        Kind::Json => {
            let value: Value = serde_json::from_str(text).map_err(|e| LintError::Syntax {
                file: name.to_string(),
                format: "JSON",
                line: e.line().max(1),
                column: e.column().max(1),
                message: e.to_string(),
            })?;
            load_json(name, text, &value)
        }
    }
}

fn load_json(name: &str, text: &str, value: &Value) -> Result<Vec<Unit>, LintError> {
    let index = Arc::new(jsonpos::index(text));
    let json = |prefix: &str| Locator::Json {
        index: Arc::clone(&index),
        prefix: prefix.to_string(),
        base: 0,
    };
    if value.get("Statement").is_some() {
        return Ok(vec![Unit {
            resource: None,
            doc: value.clone(),
            locator: json("$"),
            meta: RoleMeta::default(),
        }]);
    }
    if let Some(role) = value.get("Role") {
        return Ok(get_role(role, "$.Role", &index).into_iter().collect());
    }
    if let Some(Value::Array(roles)) = value.get("Roles") {
        return Ok(roles
            .iter()
            .enumerate()
            .filter_map(|(i, r)| get_role(r, &format!("$.Roles[{i}]"), &index))
            .collect());
    }
    if value.get("Resources").is_some() {
        return Ok(cfn::units(value, text, Some(&index)));
    }
    if value.get("planned_values").is_some()
        || value.get("resource_changes").is_some()
        || value.get("terraform_version").is_some()
    {
        return Ok(plan(value, &index));
    }
    Err(LintError::NoPolicy {
        file: name.to_string(),
    })
}

/// Decodes a policy that may be a JSON object or a (possibly URL-encoded) JSON string.
pub fn policy_value(v: &Value) -> Option<Value> {
    match v {
        Value::Object(_) => Some(v.clone()),
        Value::String(s) => {
            let t = s.trim();
            if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(t) {
                return Some(v);
            }
            let decoded = percent_encoding::percent_decode_str(t).decode_utf8().ok()?;
            serde_json::from_str::<Value>(&decoded)
                .ok()
                .filter(Value::is_object)
        }
        _ => None,
    }
}

fn get_role(role: &Value, path: &str, index: &Arc<jsonpos::Index>) -> Option<Unit> {
    let doc_v = role.get("AssumeRolePolicyDocument")?;
    let doc = policy_value(doc_v)?;
    let doc_path = format!("{path}.AssumeRolePolicyDocument");
    let locator = if doc_v.is_object() {
        Locator::Json {
            index: Arc::clone(index),
            prefix: doc_path,
            base: 0,
        }
    } else {
        Locator::Fixed(index.get(&doc_path).copied().unwrap_or(0))
    };
    Some(Unit {
        resource: role
            .get("RoleName")
            .and_then(Value::as_str)
            .map(str::to_string),
        doc,
        locator,
        meta: RoleMeta {
            name: role
                .get("RoleName")
                .and_then(Value::as_str)
                .map(str::to_string),
            max_session_duration: role.get("MaxSessionDuration").and_then(Value::as_u64),
            ..RoleMeta::default()
        },
    })
}

/// Terraform plan JSON (`terraform show -json`).
fn plan(value: &Value, index: &Arc<jsonpos::Index>) -> Vec<Unit> {
    let mut resources: Vec<(String, &Value)> = Vec::new();
    fn walk<'a>(m: &'a Value, path: String, out: &mut Vec<(String, &'a Value)>) {
        if let Some(Value::Array(rs)) = m.get("resources") {
            for (i, r) in rs.iter().enumerate() {
                out.push((format!("{path}.resources[{i}]"), r));
            }
        }
        if let Some(Value::Array(cs)) = m.get("child_modules") {
            for (i, c) in cs.iter().enumerate() {
                walk(c, format!("{path}.child_modules[{i}]"), out);
            }
        }
    }
    if let Some(root) = value
        .get("planned_values")
        .and_then(|p| p.get("root_module"))
    {
        walk(root, "$.planned_values.root_module".into(), &mut resources);
    }
    if resources.is_empty()
        && let Some(Value::Array(rc)) = value.get("resource_changes")
    {
        for (i, r) in rc.iter().enumerate() {
            resources.push((format!("$.resource_changes[{i}]"), r));
        }
    }
    let values_of = |r: &Value| {
        r.get("values")
            .or_else(|| r.get("change").and_then(|c| c.get("after")))
            .cloned()
    };
    let mut attachments: Vec<(String, String)> = Vec::new();
    for (_, r) in &resources {
        if r.get("type").and_then(Value::as_str) == Some("aws_iam_role_policy_attachment")
            && let Some(v) = values_of(r)
            && let (Some(role), Some(arn)) = (
                v.get("role").and_then(Value::as_str),
                v.get("policy_arn").and_then(Value::as_str),
            )
        {
            attachments.push((role.to_string(), arn.to_string()));
        }
    }
    let mut out = Vec::new();
    for (path, r) in &resources {
        if r.get("type").and_then(Value::as_str) != Some("aws_iam_role") {
            continue;
        }
        let Some(v) = values_of(r) else { continue };
        let Some(doc) = v.get("assume_role_policy").and_then(policy_value) else {
            continue;
        };
        let name = v.get("name").and_then(Value::as_str).map(str::to_string);
        let address = r.get("address").and_then(Value::as_str).map(str::to_string);
        let mut attached: Vec<String> = v
            .get("managed_policy_arns")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(n) = &name {
            attached.extend(
                attachments
                    .iter()
                    .filter(|(role, _)| role == n)
                    .map(|(_, a)| a.clone()),
            );
        }
        let inline_admin = v
            .get("inline_policy")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter().any(|p| {
                    p.get("policy")
                        .and_then(policy_value)
                        .is_some_and(|d| grants_admin(&d))
                })
            });
        let values_key = if r.get("values").is_some() {
            "values"
        } else {
            "change.after"
        };
        let offset = index
            .get(&format!("{path}.{values_key}.assume_role_policy"))
            .or_else(|| index.get(path))
            .copied()
            .unwrap_or(0);
        out.push(Unit {
            resource: address.or(name.clone()),
            doc,
            locator: Locator::Fixed(offset),
            meta: RoleMeta {
                name,
                attached_policy_arns: attached,
                inline_admin,
                max_session_duration: v.get("max_session_duration").and_then(Value::as_u64),
            },
        });
    }
    out
}

/// Whether an identity policy allows `*` on `*`.
pub fn grants_admin(doc: &Value) -> bool {
    let stmts: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        _ => Vec::new(),
    };
    let has_star = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s == "*",
        Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some("*")),
        _ => false,
    };
    stmts.iter().any(|s| {
        s.get("Effect").and_then(Value::as_str) == Some("Allow")
            && has_star(s.get("Action"))
            && has_star(s.get("Resource"))
    })
}
