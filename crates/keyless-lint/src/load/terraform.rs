//! Terraform source: `aws_iam_role` (`jsonencode(...)`, heredoc or quoted JSON, a reference to a
//! `data "aws_iam_policy_document"`), standalone policy documents, attachments.
//!
//! Interpolations the linter cannot evaluate (`var.x`, resource attributes) become the literal
//! `${…}` text, which keeps provider ARNs and claim values readable to the rules.

use std::collections::HashMap;
use std::sync::Arc;

use hcl::{Block, Body, Expression, ObjectKey};
use serde_json::{Map, Value, json};

use super::{Locator, Unit, grants_admin, jsonpos, policy_value};
use crate::error::LintError;
use crate::rules::RoleMeta;

fn template(t: &hcl::TemplateExpr) -> &str {
    match t {
        hcl::TemplateExpr::QuotedString(s) => s,
        hcl::TemplateExpr::Heredoc(h) => &h.template,
    }
}

fn expr_string(e: &Expression) -> String {
    match e {
        Expression::String(s) => s.clone(),
        Expression::TemplateExpr(t) => template(t).to_string(),
        Expression::Number(n) => n.to_string(),
        Expression::Bool(b) => b.to_string(),
        Expression::Parenthesis(p) => expr_string(p),
        other => format!("${{{other}}}"),
    }
}

/// Converts an HCL expression (the argument of `jsonencode`) to JSON.
fn to_json(e: &Expression) -> Value {
    match e {
        Expression::Null => Value::Null,
        Expression::Bool(b) => Value::Bool(*b),
        Expression::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        Expression::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Expression::Object(o) => {
            let mut m = Map::new();
            for (k, v) in o {
                let key = match k {
                    ObjectKey::Identifier(i) => i.to_string(),
                    ObjectKey::Expression(e) => expr_string(e),
                    other => other.to_string(),
                };
                m.insert(key, to_json(v));
            }
            Value::Object(m)
        }
        Expression::Parenthesis(p) => to_json(p),
        other => Value::String(expr_string(other)),
    }
}

fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

fn strings(e: Option<&Expression>) -> Vec<String> {
    match e {
        Some(Expression::Array(a)) => a.iter().map(expr_string).collect(),
        Some(other) => vec![expr_string(other)],
        None => Vec::new(),
    }
}

/// Converts a `data "aws_iam_policy_document"` body to a policy.
fn policy_document(body: &Body) -> Value {
    let mut stmts = Vec::new();
    for st in body.blocks().filter(|b| b.identifier() == "statement") {
        let b = st.body();
        let mut s = Map::new();
        if let Some(sid) = attr(b, "sid") {
            s.insert("Sid".into(), json!(expr_string(sid)));
        }
        let effect = attr(b, "effect").map_or("Allow".to_string(), expr_string);
        s.insert("Effect".into(), json!(effect));
        for (block, field) in [
            ("principals", "Principal"),
            ("not_principals", "NotPrincipal"),
        ] {
            let mut p = Map::new();
            for pb in b.blocks().filter(|x| x.identifier() == block) {
                let kind = attr(pb.body(), "type").map(expr_string).unwrap_or_default();
                let ids = strings(attr(pb.body(), "identifiers"));
                if kind == "*" || (kind == "AWS" && ids.iter().any(|i| i == "*")) {
                    s.insert(field.into(), json!("*"));
                    p.clear();
                    break;
                }
                let entry = p.entry(kind).or_insert_with(|| json!([]));
                if let Some(arr) = entry.as_array_mut() {
                    arr.extend(ids.into_iter().map(Value::String));
                }
            }
            if !p.is_empty() {
                s.insert(field.into(), Value::Object(p));
            }
        }
        if let Some(a) = attr(b, "actions") {
            s.insert("Action".into(), json!(strings(Some(a))));
        }
        if let Some(a) = attr(b, "not_actions") {
            s.insert("NotAction".into(), json!(strings(Some(a))));
        }
        let mut cond: Map<String, Value> = Map::new();
        for cb in b.blocks().filter(|x| x.identifier() == "condition") {
            let test = attr(cb.body(), "test").map(expr_string).unwrap_or_default();
            let var = attr(cb.body(), "variable")
                .map(expr_string)
                .unwrap_or_default();
            let values = strings(attr(cb.body(), "values"));
            let op = cond.entry(test).or_insert_with(|| json!({}));
            if let Some(m) = op.as_object_mut() {
                let slot = m.entry(var).or_insert_with(|| json!([]));
                if let Some(arr) = slot.as_array_mut() {
                    arr.extend(values.into_iter().map(Value::String));
                }
            }
        }
        if !cond.is_empty() {
            s.insert("Condition".into(), Value::Object(cond));
        }
        stmts.push(Value::Object(s));
    }
    json!({ "Version": "2012-10-17", "Statement": stmts })
}

fn labels(b: &Block) -> Vec<&str> {
    b.labels().iter().map(|l| l.as_str()).collect()
}

fn block_start(text: &str, kind: &str, a: &str, name: &str) -> usize {
    for pat in [
        format!("{kind} \"{a}\" \"{name}\""),
        format!("{kind} {a} {name}"),
    ] {
        if let Some(i) = text.find(&pat) {
            return i;
        }
    }
    0
}

fn block_end(text: &str, start: usize) -> usize {
    let rest = text.get(start + 1..).unwrap_or("");
    [
        rest.find("\nresource "),
        rest.find("\ndata "),
        rest.find("\nmodule "),
    ]
    .into_iter()
    .flatten()
    .min()
    .map_or(text.len(), |i| start + 1 + i)
}

/// Longest source line an HCL syntax error quotes.
const MAX_QUOTED_LINE: usize = 200;

/// Loads a `.tf` file.
pub fn load(name: &str, text: &str) -> Result<Vec<Unit>, LintError> {
    let body: Body = hcl::parse(text).map_err(|e| {
        let (line, column, msg) = match &e {
            // The parser's message quotes the whole offending line under a caret, which for a
            // long (say minified or generated) line floods the terminal: then the message alone.
            hcl::Error::Parse(p) if p.line().len() > MAX_QUOTED_LINE => (
                p.location().line(),
                p.location().column(),
                p.message().to_owned(),
            ),
            hcl::Error::Parse(p) => (p.location().line(), p.location().column(), e.to_string()),
            _ => (1, 1, e.to_string()),
        };
        LintError::Syntax {
            file: name.to_string(),
            format: "HCL",
            line,
            column,
            message: msg,
        }
    })?;
    let mut docs: HashMap<String, (Value, usize)> = HashMap::new();
    let mut referenced: Vec<String> = Vec::new();
    for b in body.blocks().filter(|b| b.identifier() == "data") {
        if let ["aws_iam_policy_document", n] = labels(b).as_slice() {
            docs.insert(
                (*n).to_string(),
                (
                    policy_document(b.body()),
                    block_start(text, "data", "aws_iam_policy_document", n),
                ),
            );
        }
    }
    let mut attachments: Vec<(String, String)> = Vec::new();
    for b in body.blocks().filter(|b| b.identifier() == "resource") {
        if let ["aws_iam_role_policy_attachment", _] = labels(b).as_slice() {
            let role = attr(b.body(), "role").map(expr_string).unwrap_or_default();
            let arn = attr(b.body(), "policy_arn")
                .map(expr_string)
                .unwrap_or_default();
            attachments.push((role, arn));
        }
    }
    let mut out = Vec::new();
    for b in body.blocks().filter(|b| b.identifier() == "resource") {
        let ls = labels(b);
        let ["aws_iam_role", rname] = ls.as_slice() else {
            continue;
        };
        let start = block_start(text, "resource", "aws_iam_role", rname);
        let end = block_end(text, start);
        let Some(e) = attr(b.body(), "assume_role_policy") else {
            continue;
        };
        let mut locator = Locator::Search { start, end };
        let doc = match e {
            Expression::FuncCall(f) if f.name.name.as_str() == "jsonencode" => {
                f.args.first().map(to_json)
            }
            Expression::TemplateExpr(t) => {
                let raw = template(t);
                let doc = policy_value(&Value::String(raw.to_string()));
                if let Some(at) = text.get(start..end).and_then(|r| r.find(raw.trim())) {
                    locator = Locator::Json {
                        index: Arc::new(jsonpos::index(raw.trim())),
                        prefix: "$".into(),
                        base: start + at,
                    };
                }
                doc
            }
            Expression::String(s) => policy_value(&Value::String(s.clone())),
            Expression::Traversal(_) => {
                let r = expr_string(e);
                let target = r
                    .strip_prefix("${data.aws_iam_policy_document.")
                    .and_then(|x| x.split('.').next())
                    .map(str::to_string);
                target.and_then(|t| {
                    referenced.push(t.clone());
                    docs.get(&t).map(|(d, s)| {
                        locator = Locator::Search {
                            start: *s,
                            end: block_end(text, *s),
                        };
                        d.clone()
                    })
                })
            }
            _ => None,
        };
        let Some(doc) = doc.filter(Value::is_object) else {
            continue;
        };
        let role_name = attr(b.body(), "name").map(expr_string);
        let mut attached = strings(attr(b.body(), "managed_policy_arns"));
        let refs = [
            format!("${{aws_iam_role.{rname}.name}}"),
            format!("${{aws_iam_role.{rname}.id}}"),
        ];
        attached.extend(
            attachments
                .iter()
                .filter(|(r, _)| refs.contains(r) || role_name.as_deref() == Some(r.as_str()))
                .map(|(_, a)| a.clone()),
        );
        let inline_admin = b
            .body()
            .blocks()
            .filter(|x| x.identifier() == "inline_policy")
            .any(|ip| {
                attr(ip.body(), "policy")
                    .and_then(|p| match p {
                        Expression::FuncCall(f) if f.name.name.as_str() == "jsonencode" => {
                            f.args.first().map(to_json)
                        }
                        other => policy_value(&Value::String(expr_string(other))),
                    })
                    .is_some_and(|d| grants_admin(&d))
            });
        let max = attr(b.body(), "max_session_duration").and_then(|e| expr_string(e).parse().ok());
        out.push(Unit {
            resource: Some(format!("aws_iam_role.{rname}")),
            doc,
            locator,
            meta: RoleMeta {
                name: role_name.or(Some((*rname).to_string())),
                attached_policy_arns: attached,
                inline_admin,
                max_session_duration: max,
            },
        });
    }
    // Trust documents not referenced by a role in this file are linted on their own.
    for (n, (doc, s)) in &docs {
        if referenced.contains(n) {
            continue;
        }
        let trust = doc
            .get("Statement")
            .and_then(Value::as_array)
            .is_some_and(|st| {
                st.iter().any(|s| {
                    s.get("Principal").is_some() && s.to_string().contains("AssumeRoleWith")
                })
            });
        if trust {
            out.push(Unit {
                resource: Some(format!("data.aws_iam_policy_document.{n}")),
                doc: doc.clone(),
                locator: Locator::Search {
                    start: *s,
                    end: block_end(text, *s),
                },
                meta: RoleMeta::default(),
            });
        }
    }
    out.sort_by_key(|u| match &u.locator {
        Locator::Search { start, .. } => *start,
        Locator::Json { base, .. } => *base,
        Locator::Fixed(o) => *o,
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn syntax(text: &str) -> (usize, usize, String) {
        match load("main.tf", text).unwrap_err() {
            LintError::Syntax {
                line,
                column,
                message,
                format,
                ..
            } => {
                assert_eq!(format, "HCL");
                (line, column, message)
            }
            other => panic!("{other}"),
        }
    }

    /// A short offending line is quoted under a caret; a long one is not, so a minified or
    /// generated file cannot flood the terminal, and the position still says where.
    #[test]
    fn syntax_errors_quote_short_lines_only() {
        let (line, _, message) = syntax("a = 1\nb = = 2\n");
        assert_eq!(line, 2);
        assert!(message.contains("b = = 2"), "{message}");

        let depth = 100_000;
        let text = format!("x = {}1{}\n", "{a = ".repeat(depth), "}".repeat(depth));
        let (line, column, message) = syntax(&text);
        assert_eq!(line, 1);
        assert!(column > 1, "{column}");
        assert!(
            message.len() < 300,
            "{} bytes: {}",
            message.len(),
            message.chars().take(300).collect::<String>()
        );
        assert!(message.contains("nesting depth"), "{message}");
    }
}
