//! Property tests: deny monotonicity, NotAction as the complement of Action, the matcher against
//! a reference implementation, and no panics on arbitrary input.

use keyless_policy::{
    Context, Decision, Named, Policy, PolicyKind, PolicySet, Request, evaluate, parse,
    wildcard_match,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "iam:CreateRole",
    "sts:AssumeRole",
];
const ACTION_PATTERNS: &[&str] = &[
    "*",
    "s3:*",
    "s3:Get*",
    "iam:*",
    "sts:Assume*",
    "s3:?utObject",
    "iam:CreateRole",
    "ec2:*",
];
const RESOURCES: &[&str] = &[
    "arn:aws:s3:::b/k",
    "arn:aws:s3:::c/k",
    "arn:aws:iam::1:role/r",
];
const RESOURCE_PATTERNS: &[&str] = &[
    "*",
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::*",
    "arn:aws:iam::*:role/*",
];

fn statement_strategy(effect: &'static str) -> impl Strategy<Value = Value> {
    (
        prop::sample::subsequence(ACTION_PATTERNS, 1..3),
        any::<bool>(),
        prop::sample::subsequence(RESOURCE_PATTERNS, 1..3),
        any::<bool>(),
        prop::option::of((0usize..4, prop::sample::select(vec!["a", "b", "*"]))),
    )
        .prop_map(
            move |(actions, not_action, resources, not_resource, cond)| {
                let mut st = serde_json::Map::new();
                st.insert("Effect".into(), json!(effect));
                st.insert(
                    if not_action { "NotAction" } else { "Action" }.into(),
                    json!(actions),
                );
                st.insert(
                    if not_resource {
                        "NotResource"
                    } else {
                        "Resource"
                    }
                    .into(),
                    json!(resources),
                );
                if let Some((op, v)) = cond {
                    let op = [
                        "StringEquals",
                        "StringLike",
                        "StringNotEquals",
                        "ForAllValues:StringLike",
                    ][op];
                    st.insert("Condition".into(), json!({ op: { "x:k": v } }));
                }
                Value::Object(st)
            },
        )
}

fn policy_strategy() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(
        prop_oneof![statement_strategy("Allow"), statement_strategy("Deny")],
        0..4,
    )
}

fn parse_identity(statements: &[Value]) -> Policy {
    let text = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
    parse(&text, PolicyKind::Identity).unwrap()
}

fn decide(
    identity: &[Vec<Value>],
    boundary: Option<&Vec<Value>>,
    action: &str,
    resource: &str,
    ctx: &Context,
) -> Decision {
    let policies: Vec<Policy> = identity.iter().map(|p| parse_identity(p)).collect();
    let boundary = boundary.map(|b| parse_identity(b));
    let set = PolicySet {
        identity: policies
            .iter()
            .map(|p| Named {
                name: "p",
                policy: p,
            })
            .collect(),
        boundary: boundary.as_ref().map(|p| Named {
            name: "b",
            policy: p,
        }),
        ..PolicySet::default()
    };
    evaluate(
        &set,
        &Request {
            principal: &[],
            action,
            resource,
            context: ctx,
        },
    )
    .decision
}

fn context_strategy() -> impl Strategy<Value = Context> {
    prop::option::of(prop::collection::vec(
        prop::sample::select(vec!["a", "b", "c"]),
        0..3,
    ))
    .prop_map(|values| {
        let mut c = Context::new();
        if let Some(v) = values {
            c.set("x:k", v.into_iter().map(String::from).collect());
        }
        c
    })
}

/// Straightforward exponential-time reference matcher, for small inputs only.
fn reference_match(p: &[char], v: &[char]) -> bool {
    match p.split_first() {
        None => v.is_empty(),
        Some(('*', rest)) => (0..=v.len()).any(|i| reference_match(rest, &v[i..])),
        Some(('?', rest)) => !v.is_empty() && reference_match(rest, &v[1..]),
        Some((c, rest)) => v.first() == Some(c) && reference_match(rest, &v[1..]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Adding a Deny statement anywhere never turns a deny into an allow, and never undoes an
    /// explicit deny.
    #[test]
    fn adding_a_deny_never_allows_more(
        identity in prop::collection::vec(policy_strategy(), 1..3),
        boundary in prop::option::of(policy_strategy()),
        deny in statement_strategy("Deny"),
        target in 0usize..3,
        action in prop::sample::select(ACTIONS),
        resource in prop::sample::select(RESOURCES),
        ctx in context_strategy(),
    ) {
        let before = decide(&identity, boundary.as_ref(), action, resource, &ctx);
        let mut identity2 = identity.clone();
        let mut boundary2 = boundary.clone();
        match (target, boundary2.as_mut()) {
            (2, Some(b)) => b.push(deny),
            _ => {
                let i = target % identity2.len();
                identity2[i].push(deny);
            }
        }
        let after = decide(&identity2, boundary2.as_ref(), action, resource, &ctx);
        if before != Decision::Allow {
            prop_assert_ne!(after, Decision::Allow);
        }
        if before == Decision::ExplicitDeny {
            prop_assert_eq!(after, Decision::ExplicitDeny);
        }
    }

    /// An Allow statement with `NotAction: L` applies exactly when the same statement with
    /// `Action: L` does not.
    #[test]
    fn not_action_is_the_complement_of_action(
        patterns in prop::sample::subsequence(ACTION_PATTERNS, 1..4),
        action in prop::sample::select(ACTIONS),
        upper in any::<bool>(),
    ) {
        let action = if upper { action.to_uppercase() } else { action.to_string() };
        let with = |element: &str| {
            vec![json!({"Effect": "Allow", element: patterns.clone(), "Resource": "*"})]
        };
        let a = decide(&[with("Action")], None, &action, "*", &Context::new());
        let n = decide(&[with("NotAction")], None, &action, "*", &Context::new());
        prop_assert_ne!(a == Decision::Allow, n == Decision::Allow);
    }

    /// `NotResource` is the complement of `Resource` in the same way.
    #[test]
    fn not_resource_is_the_complement_of_resource(
        patterns in prop::sample::subsequence(RESOURCE_PATTERNS, 1..4),
        resource in prop::sample::select(RESOURCES),
    ) {
        let with = |element: &str| {
            vec![json!({"Effect": "Allow", "Action": "*", element: patterns.clone()})]
        };
        let a = decide(&[with("Resource")], None, "s3:GetObject", resource, &Context::new());
        let n = decide(&[with("NotResource")], None, "s3:GetObject", resource, &Context::new());
        prop_assert_ne!(a == Decision::Allow, n == Decision::Allow);
    }

    /// The linear matcher agrees with the naive backtracking definition.
    #[test]
    fn wildcard_matches_reference(pattern in "[ab*?é]{0,8}", value in "[abé]{0,10}") {
        let p: Vec<char> = pattern.chars().collect();
        let v: Vec<char> = value.chars().collect();
        prop_assert_eq!(wildcard_match(&pattern, &value, false), reference_match(&p, &v));
    }

    /// Case-insensitive matching is matching of the lower-cased strings (ASCII).
    #[test]
    fn wildcard_case_insensitive(pattern in "[aAbB*?]{0,8}", value in "[aAbB]{0,10}") {
        prop_assert_eq!(
            wildcard_match(&pattern, &value, true),
            wildcard_match(&pattern.to_lowercase(), &value.to_lowercase(), false)
        );
    }

    /// Arbitrary text never panics the parser, whatever the kind.
    #[test]
    fn parse_never_panics(text in "\\PC{0,200}") {
        for kind in [PolicyKind::Identity, PolicyKind::Resource, PolicyKind::Trust] {
            let _ = parse(&text, kind);
        }
    }

    /// Truncated or byte-mutated valid policies never panic and are either accepted or refused
    /// with located errors.
    #[test]
    fn mutated_policies_never_panic(cut in 0usize..400, at in 0usize..400, ch in "[{}\\[\\]\",:a*0 ]") {
        let base = r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":["s3:Get*"],"Resource":"arn:aws:s3:::b/*","Condition":{"StringLike":{"aws:userid":"AIDA*"},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#;
        let mut text: String = base.chars().take(cut.max(1)).collect();
        let pos = at % (text.chars().count() + 1);
        let byte = text.char_indices().nth(pos).map_or(text.len(), |(i, _)| i);
        text.insert_str(byte, &ch);
        for kind in [PolicyKind::Identity, PolicyKind::Resource, PolicyKind::Trust] {
            if let Err(e) = parse(&text, kind) {
                prop_assert!(!e.errors.is_empty());
                prop_assert!(e.errors.iter().all(|e| e.line >= 1 && e.column >= 1 && e.path.starts_with('$')));
            }
        }
    }
}
