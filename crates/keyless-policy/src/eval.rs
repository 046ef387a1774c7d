//! Request evaluation with AWS's policy evaluation logic.
//!
//! 1. Everything is denied by default (implicit deny).
//! 2. A `Deny` statement that applies, in any policy of the set, denies (explicit deny wins).
//! 3. Otherwise the request is allowed only if an identity policy **or** the resource policy has
//!    an applying `Allow`, **and** the permissions boundary (if set) has one, **and** the session
//!    policies (if passed) have one.
//!
//! A statement applies when its `Principal`/`NotPrincipal` (if any), `Action`/`NotAction`,
//! `Resource`/`NotResource` (if any) all match and all of its conditions hold. Principal and
//! Action are always checked; Resource only when both matched, and the conditions only when all
//! three matched (then every condition is evaluated, so an explanation lists each failing one).

use crate::ast::{Effect, Policy, PrincipalId, PrincipalKind, PrincipalSpec, Statement};
use crate::condition;
use crate::context::Context;
use crate::explain::{PolicyRole, Trace};
use crate::variables::{Resolved, resolve};
use crate::wildcard::{action_matches, arn_matches, arn_tokens_match};
use serde::Serialize;

/// What is being asked: who, which action, on which resource, in which context.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Identifiers of the caller. The caller decides which to pass (e.g. both the session ARN and
    /// the role ARN; the OIDC provider ARN as `Federated` for AssumeRoleWithWebIdentity). Empty
    /// means anonymous: only `"*"` principals match.
    pub principal: &'a [PrincipalId],
    /// The action, e.g. `sts:AssumeRoleWithWebIdentity` (matched case-insensitively).
    pub action: &'a str,
    /// The resource ARN (matched case-sensitively, segment by segment).
    pub resource: &'a str,
    /// Condition keys and values.
    pub context: &'a Context,
}

/// A policy with the name it is known by (shown in traces).
#[derive(Debug, Clone, Copy)]
pub struct Named<'a> {
    /// Display name, e.g. the policy name or file name.
    pub name: &'a str,
    /// The policy.
    pub policy: &'a Policy,
}

/// The policies that take part in one decision.
#[derive(Debug, Clone, Default)]
pub struct PolicySet<'a> {
    /// Identity policies (role inline and managed policies); their allows are a union.
    pub identity: Vec<Named<'a>>,
    /// The resource-based policy (or the role trust policy for `sts:AssumeRole*`).
    pub resource: Option<Named<'a>>,
    /// The permissions boundary, if set: it must also allow.
    pub boundary: Option<Named<'a>>,
    /// Session policies; `None` when none were passed. `Some` (even empty) means they must also
    /// allow.
    pub session: Option<Vec<Named<'a>>>,
}

/// The final answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// An applicable allow and no deny.
    Allow,
    /// A `Deny` statement applied.
    ExplicitDeny,
    /// Nothing (or not every required policy) allowed.
    ImplicitDeny,
}

impl Decision {
    /// `allow`, `explicit_deny` or `implicit_deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::ExplicitDeny => "explicit_deny",
            Decision::ImplicitDeny => "implicit_deny",
        }
    }

    /// Whether the request is allowed.
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decision and its explanation.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// The decision.
    pub decision: Decision,
    /// Why.
    pub trace: Trace,
}

/// Outcome of one element (`Principal`, `Action`, `Resource`) of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ElemRecord {
    /// Whether the element is satisfied (for `Not…` elements: the request is outside the list).
    pub matched: bool,
    /// Index of the policy value that matched the request, if one did.
    pub hit: Option<usize>,
    /// False when the element was skipped because an earlier one already failed.
    pub evaluated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CondRecord {
    pub holds: bool,
    /// The request's values for the key (`None`: absent).
    pub request: Option<Vec<String>>,
    pub unresolved: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatementRecord {
    pub applied: bool,
    pub principal: Option<ElemRecord>,
    pub action: ElemRecord,
    pub resource: Option<ElemRecord>,
    /// `None` when not evaluated because Principal, Action or Resource already failed.
    pub conditions: Option<Vec<CondRecord>>,
}

#[derive(Debug, Clone)]
pub(crate) struct PolicyRecord {
    pub name: String,
    pub role: PolicyRole,
    pub policy: Policy,
    pub statements: Vec<StatementRecord>,
    pub allows: bool,
    pub denies: bool,
}

/// `"123456789012"` → `arn:aws:iam::123456789012:root`, for `AWS` principals.
pub(crate) fn normalise_aws(value: &str) -> std::borrow::Cow<'_, str> {
    if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
        std::borrow::Cow::Owned(format!("arn:aws:iam::{value}:root"))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

fn principal_value_matches(kind: PrincipalKind, value: &str, id: &PrincipalId) -> bool {
    if id.kind != kind {
        return false;
    }
    if value == "*" {
        return true;
    }
    match kind {
        PrincipalKind::Aws => normalise_aws(value) == normalise_aws(&id.value),
        PrincipalKind::Service => value.eq_ignore_ascii_case(&id.value),
        PrincipalKind::Federated | PrincipalKind::CanonicalUser => value == id.value,
    }
}

/// Index (in flattened order) of the first principal value naming one of the caller's ids.
fn principal_hit(spec: &PrincipalSpec, ids: &[PrincipalId]) -> Option<usize> {
    match spec {
        PrincipalSpec::Any => Some(0),
        PrincipalSpec::Map(entries) => {
            let mut index = 0;
            for e in entries {
                for v in &e.values {
                    // `{"AWS": "*"}` is the same as `"*"`: everyone.
                    if (e.kind == PrincipalKind::Aws && v == "*")
                        || ids.iter().any(|id| principal_value_matches(e.kind, v, id))
                    {
                        return Some(index);
                    }
                    index += 1;
                }
            }
            None
        }
    }
}

fn resource_hit(values: &[String], resource: &str, context: &Context, vars: bool) -> Option<usize> {
    values
        .iter()
        .position(|p| match resolve(p, context, vars, true) {
            Resolved::Plain(p) => arn_matches(p, resource),
            Resolved::Tokens(t) => arn_tokens_match(&t, resource),
            Resolved::Unresolved(_) => false,
        })
}

fn element(
    positive: Option<&Vec<String>>,
    negative: Option<&Vec<String>>,
    hit: impl Fn(&[String]) -> Option<usize>,
) -> Option<ElemRecord> {
    match (positive, negative) {
        (Some(values), _) => {
            let hit = hit(values);
            Some(ElemRecord {
                matched: hit.is_some(),
                hit,
                evaluated: true,
            })
        }
        (None, Some(values)) => {
            let hit = hit(values);
            Some(ElemRecord {
                matched: hit.is_none(),
                hit,
                evaluated: true,
            })
        }
        (None, None) => None,
    }
}

pub(crate) fn evaluate_statement(
    statement: &Statement,
    request: &Request<'_>,
    vars: bool,
) -> StatementRecord {
    let principal = match (&statement.principal, &statement.not_principal) {
        (Some(spec), _) => {
            let hit = principal_hit(spec, request.principal);
            Some(ElemRecord {
                matched: hit.is_some(),
                hit,
                evaluated: true,
            })
        }
        (None, Some(spec)) => {
            let hit = principal_hit(spec, request.principal);
            Some(ElemRecord {
                matched: hit.is_none(),
                hit,
                evaluated: true,
            })
        }
        (None, None) => None,
    };
    let action = element(
        statement.action.as_ref(),
        statement.not_action.as_ref(),
        |vals| vals.iter().position(|p| action_matches(p, request.action)),
    )
    // A statement always has one of them after validation; without either, nothing matches.
    .unwrap_or(ElemRecord {
        matched: false,
        hit: None,
        evaluated: true,
    });
    // Resource matching is the costly part; skip it when the statement cannot apply anyway.
    let resource = if principal.is_none_or(|p| p.matched) && action.matched {
        element(
            statement.resource.as_ref(),
            statement.not_resource.as_ref(),
            |vals| resource_hit(vals, request.resource, request.context, vars),
        )
    } else if statement.resource.is_some() || statement.not_resource.is_some() {
        Some(ElemRecord {
            matched: false,
            hit: None,
            evaluated: false,
        })
    } else {
        None
    };
    let targets =
        principal.is_none_or(|p| p.matched) && action.matched && resource.is_none_or(|r| r.matched);
    let (applied, conditions) = if targets {
        let records: Vec<CondRecord> = statement
            .conditions
            .iter()
            .map(|c| {
                let outcome = condition::evaluate(c, request.context, vars);
                CondRecord {
                    holds: outcome.holds,
                    request: outcome.request.map(<[String]>::to_vec),
                    unresolved: outcome.unresolved,
                }
            })
            .collect();
        (records.iter().all(|c| c.holds), Some(records))
    } else {
        (false, None)
    };
    StatementRecord {
        applied,
        principal,
        action,
        resource,
        conditions,
    }
}

fn evaluate_policy(named: &Named<'_>, role: PolicyRole, request: &Request<'_>) -> PolicyRecord {
    let vars = named.policy.version().supports_variables();
    let mut allows = false;
    let mut denies = false;
    let statements = named
        .policy
        .statements()
        .iter()
        .map(|s| {
            let r = evaluate_statement(s, request, vars);
            if r.applied {
                match s.effect {
                    Effect::Allow => allows = true,
                    Effect::Deny => denies = true,
                }
            }
            r
        })
        .collect();
    PolicyRecord {
        name: named.name.to_string(),
        role,
        policy: named.policy.clone(),
        statements,
        allows,
        denies,
    }
}

/// Decides `request` against `set` and explains why.
pub fn evaluate(set: &PolicySet<'_>, request: &Request<'_>) -> Evaluation {
    let mut records = Vec::with_capacity(
        set.identity.len()
            + usize::from(set.resource.is_some())
            + usize::from(set.boundary.is_some())
            + set.session.as_ref().map_or(0, Vec::len),
    );
    for p in &set.identity {
        records.push(evaluate_policy(p, PolicyRole::Identity, request));
    }
    if let Some(p) = &set.resource {
        records.push(evaluate_policy(p, PolicyRole::Resource, request));
    }
    if let Some(p) = &set.boundary {
        records.push(evaluate_policy(p, PolicyRole::Boundary, request));
    }
    if let Some(session) = &set.session {
        for p in session {
            records.push(evaluate_policy(p, PolicyRole::Session, request));
        }
    }
    let allows = |role: PolicyRole| records.iter().any(|r| r.role == role && r.allows);
    let decision = if records.iter().any(|r| r.denies) {
        Decision::ExplicitDeny
    } else if (allows(PolicyRole::Identity) || allows(PolicyRole::Resource))
        && (set.boundary.is_none() || allows(PolicyRole::Boundary))
        && (set.session.is_none() || allows(PolicyRole::Session))
    {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    };
    let trace = Trace::new(
        decision,
        request,
        records,
        set.boundary.is_some(),
        set.session.is_some(),
    );
    Evaluation { decision, trace }
}
