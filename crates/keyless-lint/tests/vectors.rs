//! The outside oracle: the CC0 subvectors suites (tests/data/subvectors, see LICENSE there).
//!
//! Each vector is one AWS trust condition. It becomes a trust policy on the issuer's provider;
//! conditions that do not pin the subject get the vector's own subject pinned exactly, and
//! conditions that do not pin the audience get the issuer's audience pinned, so that the grade
//! (which is about the condition under test) is the only thing in question. Then:
//! - the policy engine must reproduce `expect` for the vector's token;
//! - a vector graded `dangerous` must get a finding of severity `low` or higher;
//! - a vector graded `safe` must get none (`info` advice is allowed).

use keyless_lint::eval::{Context, Decision, evaluate};
use keyless_lint::model::Policy;
use keyless_lint::{Severity, lint_document};
use serde_json::{Map, Value, json};

fn provider(issuer: &str, subject: &str) -> (String, &'static str) {
    match issuer {
        "github" => (
            "token.actions.githubusercontent.com".into(),
            "sts.amazonaws.com",
        ),
        "gitlab" => ("gitlab.com".into(), "https://gitlab.com"),
        "circleci" => {
            let org = subject.split('/').nth(1).unwrap_or("org");
            (format!("oidc.circleci.com/org/{org}"), "sts.amazonaws.com")
        }
        "bitbucket" => (
            "api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc".into(),
            "ari:cloud:bitbucket::workspace/922e118c-f34f-4226-a897-0e0afbec553d",
        ),
        _ => ("app.terraform.io".into(), "aws.workload.identity"),
    }
}

fn op(consumer: &str) -> &'static str {
    if consumer == "aws-stringlike" {
        "StringLike"
    } else {
        "StringEquals"
    }
}

fn add(cond: &mut Map<String, Value>, op: &str, key: String, value: Value) {
    let entry = cond.entry(op.to_string()).or_insert_with(|| json!({}));
    if let Some(m) = entry.as_object_mut() {
        m.insert(key, value);
    }
}

struct Case {
    id: String,
    grade: Option<String>,
    expect_match: bool,
    policy: Value,
    ctx: Context,
    federated: String,
}

fn cases() -> Vec<Case> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/subvectors");
    let mut out = Vec::new();
    for suite in [
        "github-aws",
        "gitlab-aws",
        "circleci-aws",
        "bitbucket-aws",
        "terraform-aws",
    ] {
        let text = std::fs::read_to_string(format!("{dir}/{suite}.json")).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        for v in doc["vectors"].as_array().unwrap() {
            let issuer = v["issuer"].as_str().unwrap();
            let subject = v["subject"].as_str().unwrap();
            let (prefix, aud) = provider(issuer, subject);
            let c = &v["condition"];
            let parts: Vec<&Value> = match c["consumer"].as_str().unwrap() {
                "aws-all" => c["of"].as_array().unwrap().iter().collect(),
                _ => vec![c],
            };
            let mut cond = Map::new();
            let mut claims_used = Vec::new();
            for p in &parts {
                let claim = p.get("claim").and_then(Value::as_str).unwrap_or("sub");
                claims_used.push(claim.to_string());
                add(
                    &mut cond,
                    op(p["consumer"].as_str().unwrap()),
                    format!("{prefix}:{claim}"),
                    p["pattern"].clone(),
                );
            }
            let single = parts.len() == 1;
            if single && !claims_used.iter().any(|c| c == "sub") {
                add(
                    &mut cond,
                    "StringEquals",
                    format!("{prefix}:sub"),
                    json!(subject),
                );
            }
            if !claims_used.iter().any(|c| c == "aud") {
                add(
                    &mut cond,
                    "StringEquals",
                    format!("{prefix}:aud"),
                    json!(aud),
                );
            }
            let federated = format!("arn:aws:iam::123456789012:oidc-provider/{prefix}");
            let policy = json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"Federated": federated},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": cond
                }]
            });
            let mut ctx = Context::default();
            match v.get("claims").and_then(Value::as_object) {
                Some(claims) => {
                    for (k, val) in claims {
                        ctx.set(&format!("{prefix}:{k}"), val.as_str().unwrap());
                    }
                }
                None => ctx.set(&format!("{prefix}:sub"), subject),
            }
            if ctx.get(&format!("{prefix}:aud")).is_none() {
                ctx.set(&format!("{prefix}:aud"), aud);
            }
            out.push(Case {
                id: v["id"].as_str().unwrap().to_string(),
                grade: v
                    .get("judgment")
                    .and_then(|j| j["grade"].as_str())
                    .map(str::to_string),
                expect_match: v["expect"] == "match",
                policy,
                ctx,
                federated,
            });
        }
    }
    out
}

#[test]
fn engine_reproduces_every_expectation() {
    let all = cases();
    assert!(all.len() >= 60, "only {} vectors", all.len());
    let mut wrong = Vec::new();
    for c in &all {
        let policy = Policy::from_value(&c.policy);
        let d = evaluate(
            &policy,
            &c.federated,
            "sts:AssumeRoleWithWebIdentity",
            &c.ctx,
        );
        if matches!(d, Decision::Allow(_)) != c.expect_match {
            wrong.push(c.id.clone());
        }
    }
    assert!(wrong.is_empty(), "engine disagrees with: {wrong:?}");
}

#[test]
fn unsafe_vectors_are_reported_and_safe_ones_are_not() {
    let mut missed = Vec::new();
    let mut noisy = Vec::new();
    let (mut dangerous, mut safe) = (0, 0);
    for c in cases() {
        let text = serde_json::to_string_pretty(&c.policy).unwrap();
        let findings = lint_document(&format!("{}.json", c.id), &text).unwrap();
        let reported: Vec<String> = findings
            .iter()
            .filter(|f| f.severity >= Severity::Low)
            .map(|f| format!("{} {}", f.rule, f.message))
            .collect();
        let rules: Vec<&str> = findings.iter().map(|f| f.rule).collect();
        eprintln!(
            "{:<55} {:<10} {rules:?}",
            c.id,
            c.grade.as_deref().unwrap_or("-")
        );
        match c.grade.as_deref() {
            Some("dangerous") => {
                dangerous += 1;
                if reported.is_empty() {
                    missed.push(c.id.clone());
                }
            }
            Some("safe") => {
                safe += 1;
                if !reported.is_empty() {
                    noisy.push(format!("{}: {reported:?}", c.id));
                }
            }
            _ => {}
        }
    }
    assert!(
        dangerous >= 15 && safe >= 15,
        "dangerous {dangerous}, safe {safe}"
    );
    assert!(missed.is_empty(), "unsafe vectors not reported: {missed:?}");
    assert!(noisy.is_empty(), "safe vectors reported: {noisy:#?}");
}
