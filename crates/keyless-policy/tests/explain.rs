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
    println!("{text}");
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
