//! The decision corpus `tests/data/cases.json`: every case names the AWS rule it pins and is run
//! through parse + evaluate; the decision, the deciding statement and the trace's JSON decision
//! must agree with the expectation.

use keyless_policy::{
    Context, Named, Policy, PolicyKind, PolicySet, PrincipalId, PrincipalKind, Request, evaluate,
    parse,
};
use serde_json::{Value, json};

fn doc(value: &Value, kind: PolicyKind, rule: &str) -> Policy {
    let text = serde_json::to_string_pretty(value).unwrap();
    parse(&text, kind).unwrap_or_else(|e| panic!("{rule}: policy refused:\n{e}\n{text}"))
}

fn wrap(statement: Value, version: Option<&str>) -> Value {
    match version {
        Some("") => json!({ "Statement": statement }),
        Some(v) => json!({ "Version": v, "Statement": statement }),
        None => json!({ "Version": "2012-10-17", "Statement": statement }),
    }
}

fn principal_kind(name: &str) -> PrincipalKind {
    match name {
        "AWS" => PrincipalKind::Aws,
        "Federated" => PrincipalKind::Federated,
        "Service" => PrincipalKind::Service,
        "CanonicalUser" => PrincipalKind::CanonicalUser,
        other => panic!("unknown principal kind {other}"),
    }
}

fn run_case(case: &Value) -> Result<(), String> {
    let rule = case["rule"].as_str().unwrap();
    let version = case["version"].as_str();
    let mut identity = Vec::new();
    if let Some(cond) = case.get("condition") {
        let st = json!({"Sid": "Cond", "Effect": "Allow", "Action": "*", "Resource": "*", "Condition": cond});
        identity.push(doc(&wrap(st, version), PolicyKind::Identity, rule));
    }
    if let Some(st) = case.get("statement") {
        identity.push(doc(&wrap(st.clone(), version), PolicyKind::Identity, rule));
    }
    for d in case["identity"].as_array().into_iter().flatten() {
        identity.push(doc(d, PolicyKind::Identity, rule));
    }
    let resource = match (case.get("resource_policy"), case.get("trust")) {
        (Some(d), _) => Some(doc(d, PolicyKind::Resource, rule)),
        (None, Some(d)) => Some(doc(d, PolicyKind::Trust, rule)),
        (None, None) => None,
    };
    let boundary = case
        .get("boundary")
        .map(|d| doc(d, PolicyKind::Identity, rule));
    let session: Option<Vec<Policy>> = case.get("session").map(|s| {
        s.as_array()
            .unwrap()
            .iter()
            .map(|d| doc(d, PolicyKind::Identity, rule))
            .collect()
    });
    let names: Vec<String> = (0..identity.len())
        .map(|i| format!("identity-{i}"))
        .collect();
    let set = PolicySet {
        identity: identity
            .iter()
            .zip(&names)
            .map(|(p, n)| Named { name: n, policy: p })
            .collect(),
        resource: resource.as_ref().map(|p| Named {
            name: "resource",
            policy: p,
        }),
        boundary: boundary.as_ref().map(|p| Named {
            name: "boundary",
            policy: p,
        }),
        session: session.as_ref().map(|v| {
            v.iter()
                .map(|p| Named {
                    name: "session",
                    policy: p,
                })
                .collect()
        }),
    };
    let mut context = Context::new();
    for (k, v) in case["context"].as_object().into_iter().flatten() {
        match v {
            Value::String(s) => context.insert(k, s.as_str()),
            Value::Array(items) => context.set(
                k,
                items
                    .iter()
                    .map(|i| i.as_str().unwrap().to_string())
                    .collect(),
            ),
            other => panic!("{rule}: bad context value {other}"),
        }
    }
    let req = &case["request"];
    let principal: Vec<PrincipalId> = req["principal"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            PrincipalId::new(
                principal_kind(p[0].as_str().unwrap()),
                p[1].as_str().unwrap(),
            )
        })
        .collect();
    let request = Request {
        principal: &principal,
        action: req["action"].as_str().unwrap_or("s3:GetObject"),
        resource: req["resource"]
            .as_str()
            .unwrap_or("arn:aws:s3:::bucket/key"),
        context: &context,
    };
    let e = evaluate(&set, &request);
    let expected = case["expect"].as_str().unwrap();
    if e.decision.as_str() != expected {
        return Err(format!(
            "{rule}: expected {expected}, got {}\n{}",
            e.decision.as_str(),
            e.trace.to_text()
        ));
    }
    let json = serde_json::to_value(&e.trace).unwrap();
    if json["decision"] != expected {
        return Err(format!("{rule}: trace JSON says {}", json["decision"]));
    }
    if e.trace.summary().contains('\n') || e.trace.summary().is_empty() {
        return Err(format!(
            "{rule}: summary is not one line: {}",
            e.trace.summary()
        ));
    }
    if let Some(sid) = case["decided_by"].as_str() {
        let matched = e.trace.matched_statements();
        if !matched.iter().any(|m| m.sid.as_deref() == Some(sid)) {
            return Err(format!("{rule}: statement {sid} not among {matched:?}"));
        }
    }
    Ok(())
}

#[test]
fn decision_corpus() {
    let path = format!("{}/tests/data/cases.json", env!("CARGO_MANIFEST_DIR"));
    let corpus: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = corpus["cases"].as_array().unwrap();
    assert!(cases.len() >= 300, "only {} cases", cases.len());
    let failures: Vec<String> = cases.iter().filter_map(|c| run_case(c).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_case_names_its_rule_and_expectation() {
    let path = format!("{}/tests/data/cases.json", env!("CARGO_MANIFEST_DIR"));
    let corpus: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for case in corpus["cases"].as_array().unwrap() {
        assert!(
            case["rule"].as_str().is_some_and(|r| r.len() > 10),
            "{case}"
        );
        assert!(
            matches!(
                case["expect"].as_str(),
                Some("allow" | "explicit_deny" | "implicit_deny")
            ),
            "{case}"
        );
    }
}
