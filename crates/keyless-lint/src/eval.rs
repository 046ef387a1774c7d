//! Trust-policy evaluation for synthesised web-identity requests.
//!
//! This is the decision procedure the probes use: it follows IAM's rules for a trust policy
//! (explicit deny wins, then any allow, else implicit deny; operators AND, keys AND, values OR,
//! negated operators NOR, `…IfExists`, `ForAllValues`/`ForAnyValue`, `Null`). It covers what a
//! web-identity request can carry (string claims); operators that cannot apply to string claims
//! (IP, binary) never match, so a probe is only reported when admission is certain.

use std::collections::HashMap;

use crate::model::{Condition, Effect, Policy, Principal, SetOp, Statement};

/// Request context: lower-cased key → values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    map: HashMap<String, Vec<String>>,
}

impl Context {
    /// Sets `key` to one value.
    pub fn set(&mut self, key: &str, value: &str) {
        self.map
            .insert(key.to_ascii_lowercase(), vec![value.to_string()]);
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) {
        self.map.remove(&key.to_ascii_lowercase());
    }

    /// Values of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.map.get(&key.to_ascii_lowercase()).map(Vec::as_slice)
    }

    /// A copy holding only the lower-cased `keys` (the ones a policy reads).
    pub fn only(&self, keys: &[String]) -> Context {
        let map = keys
            .iter()
            .filter_map(|k| self.map.get(k).map(|v| (k.clone(), v.clone())))
            .collect();
        Context { map }
    }

    /// Iterates over `(key, values)`.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Vec<String>)> {
        self.map.iter()
    }
}

/// Outcome of an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed by the statement with this index.
    Allow(usize),
    /// Denied explicitly by the statement with this index.
    ExplicitDeny(usize),
    /// No statement allowed.
    ImplicitDeny,
}

/// `*` / `?` glob match; `ci` makes it ASCII case-insensitive.
pub fn wildcard_match(pattern: &str, value: &str, ci: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    let eq = |a: char, b: char| {
        if ci {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut pi, mut vi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        match (p.get(pi), v.get(vi)) {
            (Some('*'), _) => {
                star = Some((pi, vi));
                pi += 1;
            }
            (Some(&pc), Some(&vc)) if pc == '?' || eq(pc, vc) => {
                pi += 1;
                vi += 1;
            }
            _ => match star {
                Some((sp, sv)) => {
                    pi = sp + 1;
                    vi = sv + 1;
                    star = Some((sp, sv + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

fn value_matches(base: &str, policy_value: &str, request_value: &str) -> bool {
    match base {
        "stringequals" | "stringnotequals" | "binaryequals" => policy_value == request_value,
        "stringequalsignorecase" | "stringnotequalsignorecase" => {
            policy_value.to_lowercase() == request_value.to_lowercase()
        }
        "stringlike" | "stringnotlike" | "arnlike" | "arnnotlike" | "arnequals"
        | "arnnotequals" => wildcard_match(policy_value, request_value, false),
        "bool" => policy_value.eq_ignore_ascii_case(request_value),
        "numericequals" | "numericnotequals" => num(policy_value, request_value, |a, b| a == b),
        "numericlessthan" => num(policy_value, request_value, |p, r| r < p),
        "numericlessthanequals" => num(policy_value, request_value, |p, r| r <= p),
        "numericgreaterthan" => num(policy_value, request_value, |p, r| r > p),
        "numericgreaterthanequals" => num(policy_value, request_value, |p, r| r >= p),
        "dateequals" | "datenotequals" => policy_value == request_value,
        _ => false,
    }
}

fn num(p: &str, r: &str, f: impl Fn(f64, f64) -> bool) -> bool {
    match (p.trim().parse::<f64>(), r.trim().parse::<f64>()) {
        (Ok(a), Ok(b)) => f(a, b),
        _ => false,
    }
}

/// Evaluates one condition against the context.
pub fn condition_holds(c: &Condition, ctx: &Context) -> bool {
    let present = ctx.get(&c.key).filter(|v| !v.is_empty());
    if c.base == "null" {
        let want_absent = c.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
        return want_absent == present.is_none();
    }
    let Some(request) = present else {
        return c.passes_when_absent();
    };
    let negated = c.negated();
    let any_policy = |rv: &str| c.values.iter().any(|pv| value_matches(&c.base, pv, rv));
    match c.set {
        SetOp::Single | SetOp::ForAny => {
            if negated {
                match c.set {
                    SetOp::ForAny => request.iter().any(|rv| !any_policy(rv)),
                    _ => !request.iter().any(|rv| any_policy(rv)),
                }
            } else {
                request.iter().any(|rv| any_policy(rv))
            }
        }
        SetOp::ForAll => {
            if negated {
                request.iter().all(|rv| !any_policy(rv))
            } else {
                request.iter().all(|rv| any_policy(rv))
            }
        }
    }
}

fn principal_applies(s: &Statement, federated: &str) -> bool {
    let listed = match &s.principal {
        Principal::Everyone => true,
        Principal::List(l) => l.iter().any(|(k, v)| {
            (k.eq_ignore_ascii_case("federated") && v == federated)
                || (k.eq_ignore_ascii_case("federated") && v == "*")
        }),
        Principal::Missing => false,
    };
    listed != s.not_principal
}

/// Whether statement `s` applies to a web-identity request from `federated` with `ctx`.
pub fn statement_matches(s: &Statement, federated: &str, action: &str, ctx: &Context) -> bool {
    principal_applies(s, federated)
        && s.covers_action(action)
        && s.conditions.iter().all(|c| condition_holds(c, ctx))
}

/// Evaluates the whole trust policy for one request.
pub fn evaluate(policy: &Policy, federated: &str, action: &str, ctx: &Context) -> Decision {
    let mut allow = None;
    for s in &policy.statements {
        if !statement_matches(s, federated, action, ctx) {
            continue;
        }
        match s.effect {
            Effect::Deny => return Decision::ExplicitDeny(s.index),
            Effect::Allow => {
                allow.get_or_insert(s.index);
            }
            Effect::Other(_) => {}
        }
    }
    allow.map_or(Decision::ImplicitDeny, Decision::Allow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::split_operator;

    fn cond(op: &str, key: &str, values: &[&str]) -> Condition {
        let (base, set, if_exists) = split_operator(op);
        Condition {
            operator: op.into(),
            base,
            set,
            if_exists,
            key: key.into(),
            values: values.iter().map(|s| s.to_string()).collect(),
            path: "$".into(),
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match(
            "repo:org/*",
            "repo:org/app:ref:refs/heads/main",
            false
        ));
        assert!(wildcard_match(
            "repo:org/app:ref:refs/heads/mai?",
            "repo:org/app:ref:refs/heads/main",
            false
        ));
        assert!(!wildcard_match("repo:org/app", "repo:org/app-evil", false));
        assert!(wildcard_match("a*b*c", "aXbYc", false));
        assert!(!wildcard_match("a*b*c", "aXbY", false));
        assert!(wildcard_match(
            "STS:*",
            "sts:AssumeRoleWithWebIdentity",
            true
        ));
        assert!(wildcard_match("*", "", false));
    }

    #[test]
    fn absent_keys_follow_the_iam_table() {
        let ctx = Context::default();
        assert!(!condition_holds(&cond("StringEquals", "k", &["a"]), &ctx));
        assert!(condition_holds(&cond("StringNotEquals", "k", &["a"]), &ctx));
        assert!(condition_holds(
            &cond("StringEqualsIfExists", "k", &["a"]),
            &ctx
        ));
        assert!(condition_holds(
            &cond("ForAllValues:StringEquals", "k", &["a"]),
            &ctx
        ));
        assert!(!condition_holds(
            &cond("ForAnyValue:StringEquals", "k", &["a"]),
            &ctx
        ));
        assert!(condition_holds(&cond("Null", "k", &["true"]), &ctx));
    }

    #[test]
    fn negated_operators_are_nor() {
        let mut ctx = Context::default();
        ctx.set("K", "b");
        assert!(!condition_holds(
            &cond("StringNotEquals", "k", &["a", "b"]),
            &ctx
        ));
        assert!(condition_holds(
            &cond("StringNotEquals", "k", &["a", "c"]),
            &ctx
        ));
        assert!(condition_holds(
            &cond("StringEqualsIgnoreCase", "k", &["B"]),
            &ctx
        ));
        assert!(!condition_holds(&cond("StringEquals", "k", &["B"]), &ctx));
    }
}
