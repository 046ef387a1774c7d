//! Explanations: summary, text, JSON and matched statements.

use crate::common::*;
use keyless_policy::{Decision, PolicyKind};

#[test]
fn github_summary_names_the_failing_condition() {
    let trust = policy(
        &github_trust("repo:acme/app:ref:refs/heads/main"),
        PolicyKind::Trust,
    );
    let e = assume_web_identity(&trust, &github_context("repo:acme/app:pull_request"));
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert_eq!(
        e.trace.summary(),
        r#"statement "GitHubMain" did not apply: StringEquals on token.actions.githubusercontent.com:sub wanted "repo:acme/app:ref:refs/heads/main", the request had "repo:acme/app:pull_request""#
    );
    let text = e.trace.to_text();
    assert!(text.starts_with("decision: implicit_deny\n"), "{text}");
    assert!(
        text.contains("FAIL StringEquals token.actions.githubusercontent.com:sub"),
        "{text}"
    );
    let json = serde_json::to_value(&e.trace).unwrap();
    assert_eq!(json["decision"], "implicit_deny");
    let st = &json["policies"][0]["statements"][0];
    assert_eq!(st["applied"], false);
    assert_eq!(st["principal"]["outcome"], true);
    assert_eq!(st["conditions"][0]["outcome"], true);
    assert_eq!(st["conditions"][1]["outcome"], false);
    assert_eq!(
        st["conditions"][1]["request_values"][0],
        "repo:acme/app:pull_request"
    );
    assert!(e.trace.matched_statements().is_empty());
}

#[test]
fn allow_reports_matched_statement_with_position() {
    let trust = policy(
        &github_trust("repo:acme/app:ref:refs/heads/main"),
        PolicyKind::Trust,
    );
    let e = assume_web_identity(&trust, &github_context("repo:acme/app:ref:refs/heads/main"));
    assert_eq!(e.decision, Decision::Allow);
    let m = e.trace.matched_statements();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].sid.as_deref(), Some("GitHubMain"));
    assert_eq!((m[0].line, m[0].column), (4, 5));
    assert_eq!((m[0].end_line, m[0].end_column), (15, 5));
    assert_eq!(e.trace.summary(), r#"allowed by statement "GitHubMain""#);
    let json = serde_json::to_string(&e).unwrap();
    assert!(json.contains(r#""decision":"allow""#), "{json}");
}

fn identity(text: &str) -> keyless_policy::Policy {
    policy(text, PolicyKind::Identity)
}

#[test]
fn boundary_gap_is_named_in_the_summary() {
    use keyless_policy::{Context, Named, PolicySet, Request, evaluate};
    let all = identity(
        r#"{"Version":"2012-10-17","Statement":{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"}}"#,
    );
    let s3 = identity(
        r#"{"Version":"2012-10-17","Statement":{"Sid":"OnlyS3","Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
    );
    let set = PolicySet {
        identity: vec![Named {
            name: "admin",
            policy: &all,
        }],
        boundary: Some(Named {
            name: "s3-only",
            policy: &s3,
        }),
        ..PolicySet::default()
    };
    let ctx = Context::new();
    let e = evaluate(
        &set,
        &Request {
            principal: &[],
            action: "iam:CreateRole",
            resource: "arn:aws:iam::1:role/x",
            context: &ctx,
        },
    );
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert_eq!(
        e.trace.summary(),
        r#"the permissions boundary does not allow it: statement "OnlyS3" of permissions boundary "s3-only" did not apply: its Action does not include iam:CreateRole"#
    );
    let text = e.trace.to_text();
    assert!(
        text.contains(r#"permissions boundary "s3-only": does not allow"#),
        "{text}"
    );
    assert!(
        text.contains(r#"identity policy "admin": allows"#),
        "{text}"
    );
}

#[test]
fn explicit_deny_summary_and_matched_statements() {
    use keyless_policy::{Context, Named, PolicySet, Request, evaluate};
    let p = identity(
        "{\"Version\":\"2012-10-17\",\"Statement\":[\n {\"Sid\":\"All\",\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"},\n {\"Sid\":\"NoIam\",\"Effect\":\"Deny\",\"Action\":\"iam:*\",\"Resource\":\"*\"}]}",
    );
    let set = PolicySet {
        identity: vec![Named {
            name: "app",
            policy: &p,
        }],
        ..PolicySet::default()
    };
    let ctx = Context::new();
    let e = evaluate(
        &set,
        &Request {
            principal: &[],
            action: "iam:CreateRole",
            resource: "*",
            context: &ctx,
        },
    );
    assert_eq!(e.decision, Decision::ExplicitDeny);
    assert_eq!(
        e.trace.summary(),
        r#"explicitly denied by statement "NoIam" (line 3)"#
    );
    let m = e.trace.matched_statements();
    assert_eq!(m.len(), 1);
    assert_eq!(
        (m[0].sid.as_deref(), m[0].index, m[0].line, m[0].column),
        (Some("NoIam"), 1, 3, 2)
    );
    let json = serde_json::to_value(&e.trace).unwrap();
    assert_eq!(json["decision"], "explicit_deny");
    assert_eq!(json["matched_statements"][0]["sid"], "NoIam");
    assert_eq!(json["policies"][0]["statements"][0]["applied"], true);
    assert_eq!(
        json["policies"][0]["statements"][1]["action"]["matched_value"],
        "iam:*"
    );
}

#[test]
fn no_candidate_statement() {
    use keyless_policy::{Context, PolicySet, Request, evaluate};
    let ctx = Context::new();
    let e = evaluate(
        &PolicySet::default(),
        &Request {
            principal: &[],
            action: "s3:GetObject",
            resource: "arn:aws:s3:::b/k",
            context: &ctx,
        },
    );
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert_eq!(
        e.trace.summary(),
        "no Allow statement covers s3:GetObject on arn:aws:s3:::b/k"
    );
}

#[test]
fn absent_key_and_unresolved_variable_are_explained() {
    let trust = policy(
        &github_trust("repo:acme/app:ref:refs/heads/main"),
        PolicyKind::Trust,
    );
    let mut ctx = github_context("repo:acme/app:ref:refs/heads/main");
    ctx.remove("token.actions.githubusercontent.com:aud");
    let e = assume_web_identity(&trust, &ctx);
    assert!(
        e.trace.summary().ends_with(r#"StringEquals on token.actions.githubusercontent.com:aud wanted "sts.amazonaws.com", the request had no value for it"#),
        "{}",
        e.trace.summary()
    );
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":{"Sid":"Home","Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"s3:prefix":"home/${aws:username}"}}}}"#,
    );
    use keyless_policy::{Context, Named, PolicySet, Request, evaluate};
    let mut ctx = Context::new();
    ctx.insert("s3:prefix", "home/alice");
    let set = PolicySet {
        identity: vec![Named {
            name: "p",
            policy: &p,
        }],
        ..PolicySet::default()
    };
    let e = evaluate(
        &set,
        &Request {
            principal: &[],
            action: "s3:ListBucket",
            resource: "*",
            context: &ctx,
        },
    );
    assert!(
        e.trace
            .summary()
            .contains("policy variable ${aws:username} had no single value"),
        "{}",
        e.trace.summary()
    );
    let json = serde_json::to_value(&e.trace).unwrap();
    assert_eq!(
        json["policies"][0]["statements"][0]["conditions"][0]["unresolved_variable"],
        "aws:username"
    );
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<keyless_policy::Policy>();
    check::<keyless_policy::Trace>();
    check::<keyless_policy::Evaluation>();
    check::<keyless_policy::PolicyErrors>();
    check::<keyless_policy::Context>();
    assert_eq!(Decision::ExplicitDeny.to_string(), "explicit_deny");
}
