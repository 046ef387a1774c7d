//! Evaluation of one condition (`operator → key → values`) against the request context.
//!
//! AWS's rules, in one place:
//! * values of one key are OR'ed; negated operators (`StringNotEquals`, `NotIpAddress`, …) hold
//!   when the request value matches *none* of them;
//! * a key absent from the context: positive operators fail, negated operators hold, `…IfExists`
//!   holds, `ForAllValues:` holds (vacuously), `ForAnyValue:` fails;
//! * `ForAllValues:` needs every request value to satisfy the operator, `ForAnyValue:` at least
//!   one; a single-valued key is a one-element set;
//! * `Null: true` holds when the key is absent, `Null: false` when present.

use crate::ast::{BaseOperator, Condition, Qualifier};
use crate::context::Context;
use crate::values;
use crate::variables::{Resolved, resolve};
use crate::wildcard::{arn_matches, arn_tokens_match, tokens_match, wildcard_match};

/// The outcome of one condition.
pub(crate) struct CondOutcome<'c> {
    pub holds: bool,
    /// The request's values for the key, if present.
    pub request: Option<&'c [String]>,
    /// A policy variable that could not be resolved, if any.
    pub unresolved: Option<String>,
}

fn ignore_case_eq(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.chars()
            .flat_map(char::to_lowercase)
            .eq(b.chars().flat_map(char::to_lowercase))
    }
}

/// Whether one policy value matches one request value under the *positive* form of `op`
/// (`StringNotEquals` compares like `StringEquals`; the caller negates).
fn value_matches(
    op: BaseOperator,
    policy: &str,
    request: &str,
    context: &Context,
    vars: bool,
    unresolved: &mut Option<String>,
) -> bool {
    use BaseOperator as B;
    let wildcards = matches!(
        op,
        B::StringLike
            | B::StringNotLike
            | B::ArnEquals
            | B::ArnLike
            | B::ArnNotEquals
            | B::ArnNotLike
    );
    let resolved = if op.supports_variables() {
        resolve(policy, context, vars, wildcards)
    } else {
        Resolved::Plain(policy)
    };
    if let Resolved::Unresolved(key) = &resolved {
        if unresolved.is_none() {
            *unresolved = Some(key.clone());
        }
        return false;
    }
    let text = |r: &Resolved<'_>, f: &dyn Fn(&str) -> bool| match r {
        Resolved::Plain(s) => f(s),
        other => other.to_text().is_some_and(|s| f(&s)),
    };
    let num = |f: fn(f64, f64) -> bool| match (values::number(request), values::number(policy)) {
        (Some(r), Some(p)) => f(r, p),
        _ => false,
    };
    let date =
        |f: fn(i64, i64) -> bool| match (values::date_millis(request), values::date_millis(policy))
        {
            (Some(r), Some(p)) => f(r, p),
            _ => false,
        };
    match op {
        B::StringEquals | B::StringNotEquals => text(&resolved, &|p| p == request),
        B::StringEqualsIgnoreCase | B::StringNotEqualsIgnoreCase => {
            text(&resolved, &|p| ignore_case_eq(p, request))
        }
        B::StringLike | B::StringNotLike => match &resolved {
            Resolved::Plain(p) => wildcard_match(p, request, false),
            Resolved::Tokens(t) => tokens_match(t, request, false),
            Resolved::Unresolved(_) => false,
        },
        B::ArnEquals | B::ArnLike | B::ArnNotEquals | B::ArnNotLike => match &resolved {
            Resolved::Plain(p) => arn_matches(p, request),
            Resolved::Tokens(t) => arn_tokens_match(t, request),
            Resolved::Unresolved(_) => false,
        },
        B::NumericEquals | B::NumericNotEquals => num(|r, p| r == p),
        B::NumericLessThan => num(|r, p| r < p),
        B::NumericLessThanEquals => num(|r, p| r <= p),
        B::NumericGreaterThan => num(|r, p| r > p),
        B::NumericGreaterThanEquals => num(|r, p| r >= p),
        B::DateEquals | B::DateNotEquals => date(|r, p| r == p),
        B::DateLessThan => date(|r, p| r < p),
        B::DateLessThanEquals => date(|r, p| r <= p),
        B::DateGreaterThan => date(|r, p| r > p),
        B::DateGreaterThanEquals => date(|r, p| r >= p),
        B::Bool => text(
            &resolved,
            &|p| match (values::boolean(p), values::boolean(request)) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            },
        ),
        B::BinaryEquals => match (values::base64(policy), values::base64(request)) {
            (Some(p), Some(r)) => p == r,
            _ => policy == request,
        },
        B::IpAddress | B::NotIpAddress => match (values::cidr(policy), values::ip(request)) {
            (Some(net), Some(ip)) => net.contains(ip),
            _ => false,
        },
        // Handled by the caller.
        B::Null => false,
    }
}

/// Whether a single request value satisfies the operator against all policy values
/// (OR for positive operators, NOR for negated ones).
fn single_value_holds(
    cond: &Condition,
    request: &str,
    context: &Context,
    vars: bool,
    unresolved: &mut Option<String>,
) -> bool {
    let op = cond.operator.base;
    let any = cond
        .values
        .iter()
        .any(|p| value_matches(op, p, request, context, vars, unresolved));
    if op.is_negated() { !any } else { any }
}

/// Evaluates one condition. `vars` says whether policy variables are substituted
/// (only under `Version: 2012-10-17`).
pub(crate) fn evaluate<'c>(cond: &Condition, context: &'c Context, vars: bool) -> CondOutcome<'c> {
    let found = context.get(&cond.key);
    let request = found;
    let present = request.is_some_and(|v| !v.is_empty());
    let mut unresolved = None;
    let op = cond.operator;
    if op.base == BaseOperator::Null {
        let holds = cond.values.iter().any(|p| match values::boolean(p) {
            Some(true) => !present,
            Some(false) => present,
            None => false,
        });
        return CondOutcome {
            holds,
            request: found,
            unresolved,
        };
    }
    let request = request.unwrap_or(&[]);
    let holds = match op.qualifier {
        None => {
            if !present {
                op.if_exists || op.base.is_negated()
            } else {
                let any = request.iter().any(|r| {
                    cond.values
                        .iter()
                        .any(|p| value_matches(op.base, p, r, context, vars, &mut unresolved))
                });
                if op.base.is_negated() { !any } else { any }
            }
        }
        Some(Qualifier::ForAnyValue) => {
            if !present {
                op.if_exists
            } else {
                request
                    .iter()
                    .any(|r| single_value_holds(cond, r, context, vars, &mut unresolved))
            }
        }
        Some(Qualifier::ForAllValues) => {
            !present
                || request
                    .iter()
                    .all(|r| single_value_holds(cond, r, context, vars, &mut unresolved))
        }
    };
    CondOutcome {
        holds,
        request: found,
        unresolved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Operator;

    fn cond(op: &str, key: &str, values: &[&str]) -> Condition {
        Condition {
            operator: Operator::parse(op).unwrap(),
            key: key.to_string(),
            values: values.iter().map(|v| v.to_string()).collect(),
            line: 1,
            column: 1,
        }
    }

    fn holds(op: &str, values: &[&str], request: Option<&[&str]>) -> bool {
        let mut ctx = Context::new();
        if let Some(r) = request {
            ctx.set("k:k", r.iter().map(|v| v.to_string()).collect());
        }
        evaluate(&cond(op, "K:K", values), &ctx, true).holds
    }

    #[test]
    fn absent_key_table() {
        // The table of AWS reference §5.3, "key absent from context".
        assert!(!holds("StringEquals", &["a"], None));
        assert!(holds("StringNotEquals", &["a"], None));
        assert!(holds("StringEqualsIfExists", &["a"], None));
        assert!(holds("ForAllValues:StringEquals", &["a"], None));
        assert!(holds("ForAllValues:StringEquals", &["a"], Some(&[])));
        assert!(!holds("ForAnyValue:StringEquals", &["a"], None));
        assert!(!holds("ForAnyValue:StringEquals", &["a"], Some(&[])));
        assert!(holds("ForAnyValue:StringEqualsIfExists", &["a"], None));
        assert!(holds("Null", &["true"], None));
        assert!(holds("Null", &["true"], Some(&[])));
        assert!(!holds("Null", &["false"], None));
    }

    #[test]
    fn negated_operators_are_nor() {
        assert!(!holds("StringNotEquals", &["a", "b"], Some(&["b"])));
        assert!(holds("StringNotEquals", &["a", "b"], Some(&["c"])));
        assert!(!holds(
            "NotIpAddress",
            &["10.0.0.0/8", "1.2.3.4"],
            Some(&["1.2.3.4"])
        ));
    }

    #[test]
    fn set_qualifiers() {
        assert!(holds(
            "ForAllValues:StringLike",
            &["a*"],
            Some(&["ab", "ac"])
        ));
        assert!(!holds(
            "ForAllValues:StringLike",
            &["a*"],
            Some(&["ab", "bc"])
        ));
        assert!(holds(
            "ForAnyValue:StringLike",
            &["a*"],
            Some(&["zz", "ac"])
        ));
        assert!(holds(
            "ForAnyValue:StringNotLike",
            &["a*"],
            Some(&["ab", "bc"])
        ));
        assert!(!holds(
            "ForAllValues:StringNotLike",
            &["a*"],
            Some(&["ab", "bc"])
        ));
    }

    #[test]
    fn unresolved_variable_is_reported() {
        let ctx = Context::new();
        let out = evaluate(
            &cond("StringEquals", "k:k", &["${aws:username}"]),
            &ctx,
            true,
        );
        assert!(!out.holds);
        let mut ctx = Context::new();
        ctx.insert("k:k", "x");
        let out = evaluate(
            &cond("StringEquals", "k:k", &["${aws:username}"]),
            &ctx,
            true,
        );
        assert!(!out.holds);
        assert_eq!(out.unresolved.as_deref(), Some("aws:username"));
    }
}
