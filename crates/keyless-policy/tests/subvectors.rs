//! The public subvectors suites (CC0, `tests/data/subvectors/LICENSE`): OIDC subjects held
//! against AWS trust-policy conditions. Every vector becomes a trust policy evaluated for
//! `sts:AssumeRoleWithWebIdentity`; `expect: match` must be an allow, `no-match` a deny.

use keyless_policy::{
    Context, Decision, Named, PolicyKind, PolicySet, PrincipalId, PrincipalKind, Request, evaluate,
    parse,
};
use serde_json::{Map, Value, json};

/// The condition-key prefix (provider URL without `https://`) used for each issuer.
fn prefix(issuer: &str) -> &'static str {
    match issuer {
        "github" => "token.actions.githubusercontent.com",
        "gitlab" => "gitlab.com",
        "bitbucket" => "api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc",
        "circleci" => "oidc.circleci.com/org/2a3b4c5d-1111-2222-3333-444455556666",
        "terraform-cloud" => "app.terraform.io",
        other => panic!("unknown issuer {other}"),
    }
}

fn operator(consumer: &str) -> &'static str {
    match consumer {
        "aws-stringequals" => "StringEquals",
        "aws-stringlike" => "StringLike",
        other => panic!("not an AWS string consumer: {other}"),
    }
}

/// Adds one `aws-stringequals`/`aws-stringlike` condition to a Condition block.
fn add(block: &mut Map<String, Value>, cond: &Value, prefix: &str) {
    let op = operator(cond["consumer"].as_str().unwrap());
    let claim = cond["claim"].as_str().unwrap_or("sub");
    let key = format!("{prefix}:{claim}");
    let body = block
        .entry(op)
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .unwrap();
    assert!(!body.contains_key(&key), "two conditions on {op} {key}");
    body.insert(key, cond["pattern"].clone());
}

fn run_suite(file: &str) -> usize {
    let path = format!(
        "{}/tests/data/subvectors/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let suite: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut count = 0;
    let mut failures = Vec::new();
    for v in suite["vectors"].as_array().unwrap() {
        let cond = &v["condition"];
        let consumer = cond["consumer"].as_str().unwrap();
        if !consumer.starts_with("aws-") {
            continue;
        }
        let prefix = prefix(v["issuer"].as_str().unwrap());
        let mut block = Map::new();
        if consumer == "aws-all" {
            for sub in cond["of"].as_array().unwrap() {
                add(&mut block, sub, prefix);
            }
        } else {
            add(&mut block, cond, prefix);
        }
        let provider = format!("arn:aws:iam::123456789012:oidc-provider/{prefix}");
        let doc = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": provider},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": block,
            }]
        });
        let text = serde_json::to_string_pretty(&doc).unwrap();
        let trust = parse(&text, PolicyKind::Trust)
            .unwrap_or_else(|e| panic!("{}: policy refused: {e}", v["id"]));
        let mut context = Context::new();
        match v["claims"].as_object() {
            Some(claims) => {
                for (k, val) in claims {
                    context.insert(&format!("{prefix}:{k}"), val.as_str().unwrap());
                }
            }
            None => context.insert(&format!("{prefix}:sub"), v["subject"].as_str().unwrap()),
        }
        let principal = [PrincipalId::new(PrincipalKind::Federated, provider)];
        let set = PolicySet {
            resource: Some(Named {
                name: "trust",
                policy: &trust,
            }),
            ..PolicySet::default()
        };
        let e = evaluate(
            &set,
            &Request {
                principal: &principal,
                action: "sts:AssumeRoleWithWebIdentity",
                resource: "arn:aws:iam::123456789012:role/ci",
                context: &context,
            },
        );
        let expected = match v["expect"].as_str().unwrap() {
            "match" => Decision::Allow,
            "no-match" => Decision::ImplicitDeny,
            other => panic!("unknown expect {other}"),
        };
        if e.decision != expected {
            failures.push(format!(
                "{}: expected {expected:?}, got {:?}: {}",
                v["id"],
                e.decision,
                e.trace.summary()
            ));
        }
        count += 1;
    }
    assert!(failures.is_empty(), "{file}:\n{}", failures.join("\n"));
    count
}

#[test]
fn github_aws() {
    assert!(run_suite("github-aws.json") >= 30);
}

#[test]
fn gitlab_aws() {
    assert!(run_suite("gitlab-aws.json") >= 10);
}

#[test]
fn bitbucket_aws() {
    assert!(run_suite("bitbucket-aws.json") >= 5);
}

#[test]
fn circleci_aws() {
    assert!(run_suite("circleci-aws.json") >= 5);
}

#[test]
fn terraform_aws() {
    assert!(run_suite("terraform-aws.json") >= 5);
}

#[test]
fn every_suite_file_is_covered() {
    let dir = format!("{}/tests/data/subvectors", env!("CARGO_MANIFEST_DIR"));
    let mut suites: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with("-aws.json"))
        .collect();
    suites.sort();
    assert_eq!(
        suites,
        [
            "bitbucket-aws.json",
            "circleci-aws.json",
            "github-aws.json",
            "gitlab-aws.json",
            "terraform-aws.json"
        ]
    );
}
