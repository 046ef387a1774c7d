//! Explanations: why a request was allowed or denied.
//!
//! Evaluation records only outcomes (booleans and indices) plus a cheap handle on each policy, so
//! that evaluation stays fast; the readable views ([`PolicyTrace`], text, JSON) are built from
//! those records on demand.

use crate::ast::{BaseOperator, Condition, Effect, PrincipalId, PrincipalSpec, Statement};
use crate::eval::{CondRecord, Decision, ElemRecord, PolicyRecord, Request, StatementRecord};
use serde::Serialize;
use std::fmt::Write as _;

/// A statement with its policy, index and evaluation record.
type Candidate<'s> = (&'s PolicyRecord, usize, &'s Statement, &'s StatementRecord);

/// The part a policy plays in the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyRole {
    /// An identity policy (inline or managed).
    Identity,
    /// The resource-based or trust policy.
    Resource,
    /// The permissions boundary.
    Boundary,
    /// A session policy.
    Session,
}

impl PolicyRole {
    fn describe(self) -> &'static str {
        match self {
            PolicyRole::Identity => "identity policy",
            PolicyRole::Resource => "resource/trust policy",
            PolicyRole::Boundary => "permissions boundary",
            PolicyRole::Session => "session policy",
        }
    }
}

/// The explanation of one evaluation. Serialises to JSON with `decision`, `summary`, `request`
/// and `policies` (each statement with its elements and conditions).
#[derive(Debug, Clone)]
pub struct Trace {
    decision: Decision,
    action: String,
    resource: String,
    principals: Vec<PrincipalId>,
    records: Vec<PolicyRecord>,
    boundary_set: bool,
    session_set: bool,
}

/// How one element (`Principal`, `Action`, `Resource` or their `Not…` forms) fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ElementTrace {
    /// The element name as written in the policy.
    pub element: String,
    /// The policy's values (principals as `Kind value`).
    pub policy_values: Vec<String>,
    /// The request's values.
    pub request_values: Vec<String>,
    /// The policy value that matched the request, if any.
    pub matched_value: Option<String>,
    /// Whether the element is satisfied (for `Not…`: the request is outside the list); `None`
    /// when it was not evaluated because an earlier element (Principal or Action) failed.
    pub outcome: Option<bool>,
}

/// How one condition fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConditionTrace {
    /// Operator as AWS spells it, e.g. `ForAnyValue:StringLike`.
    pub operator: String,
    /// Condition key as written in the policy.
    pub key: String,
    /// The policy's values.
    pub policy_values: Vec<String>,
    /// The request's values; `None` when the key was absent.
    pub request_values: Option<Vec<String>>,
    /// Whether the condition held; `None` when not evaluated (the statement did not target the
    /// request anyway).
    pub outcome: Option<bool>,
    /// A policy variable that had no value, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unresolved_variable: Option<String>,
}

/// How one statement fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementTrace {
    /// Position in the policy's statement list (0-based).
    pub index: usize,
    /// `Sid`, if any.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    /// Line of the statement.
    pub line: u32,
    /// Column of the statement.
    pub column: u32,
    /// Whether the statement applied to the request.
    pub applied: bool,
    /// Why it applied or not, in a phrase.
    pub reason: String,
    /// `Principal`/`NotPrincipal`, if the statement has one.
    pub principal: Option<ElementTrace>,
    /// `Action`/`NotAction`.
    pub action: ElementTrace,
    /// `Resource`/`NotResource`, if the statement has one.
    pub resource: Option<ElementTrace>,
    /// Conditions, in source order.
    pub conditions: Vec<ConditionTrace>,
}

/// How one policy fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyTrace {
    /// The name the caller gave it.
    pub name: String,
    /// Its part in the decision.
    pub role: PolicyRole,
    /// Whether an `Allow` statement applied.
    pub allows: bool,
    /// Whether a `Deny` statement applied.
    pub denies: bool,
    /// Every statement.
    pub statements: Vec<StatementTrace>,
}

/// A statement that decided the result (as IAM's `SimulatePrincipalPolicy` reports
/// `MatchedStatements`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchedStatement {
    /// Name of the policy.
    pub policy_name: String,
    /// Its role in the decision.
    pub role: PolicyRole,
    /// `Sid`, if any.
    pub sid: Option<String>,
    /// Index in the policy.
    pub index: usize,
    /// `Effect`.
    pub effect: Effect,
    /// Start line.
    pub line: u32,
    /// Start column.
    pub column: u32,
    /// End line.
    pub end_line: u32,
    /// End column.
    pub end_column: u32,
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn quoted_list(values: &[String]) -> String {
    values
        .iter()
        .map(|v| quote(v))
        .collect::<Vec<_>>()
        .join(", ")
}

fn principal_values(spec: &PrincipalSpec) -> Vec<String> {
    match spec {
        PrincipalSpec::Any => vec!["*".to_string()],
        PrincipalSpec::Map(entries) => entries
            .iter()
            .flat_map(|e| {
                e.values
                    .iter()
                    .map(move |v| format!("{} {v}", e.kind.as_str()))
            })
            .collect(),
    }
}

fn statement_label(statement: &Statement, index: usize) -> String {
    match &statement.sid {
        Some(sid) if !sid.is_empty() => format!("statement {}", quote(sid)),
        _ => format!("statement #{index}"),
    }
}

/// One condition's failure (or success) in words:
/// `StringEquals on k wanted "a", the request had "b"`.
fn condition_phrase(c: &Condition, rec: Option<&CondRecord>) -> String {
    let op = c.operator.name();
    let mut out = format!("{op} on {}", c.key);
    if c.operator.base == BaseOperator::Null {
        let wants_absent = c.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
        out.push_str(if wants_absent {
            " wanted the key to be absent"
        } else {
            " wanted the key to be present"
        });
    } else {
        let negated = c.operator.base.is_negated();
        let wanted = match (c.values.len(), negated) {
            (1, false) => quoted_list(&c.values),
            (1, true) => format!("anything but {}", quoted_list(&c.values)),
            (_, false) => format!("one of {}", quoted_list(&c.values)),
            (_, true) => format!("none of {}", quoted_list(&c.values)),
        };
        let _ = write!(out, " wanted {wanted}");
    }
    match rec.and_then(|r| r.request.as_ref()) {
        Some(v) if !v.is_empty() => {
            let _ = write!(out, ", the request had {}", quoted_list(v));
        }
        _ => out.push_str(", the request had no value for it"),
    }
    if let Some(var) = rec.and_then(|r| r.unresolved.as_ref()) {
        let _ = write!(out, " (policy variable ${{{var}}} had no single value)");
    }
    out
}

impl Trace {
    pub(crate) fn new(
        decision: Decision,
        request: &Request<'_>,
        records: Vec<PolicyRecord>,
        boundary_set: bool,
        session_set: bool,
    ) -> Trace {
        Trace {
            decision,
            action: request.action.to_string(),
            resource: request.resource.to_string(),
            principals: request.principal.to_vec(),
            records,
            boundary_set,
            session_set,
        }
    }

    /// The decision this trace explains.
    pub fn decision(&self) -> Decision {
        self.decision
    }

    fn principal_phrase(&self) -> String {
        if self.principals.is_empty() {
            "an anonymous caller".to_string()
        } else {
            self.principals
                .iter()
                .map(|p| format!("{} {}", p.kind.as_str(), p.value))
                .collect::<Vec<_>>()
                .join(", ")
        }
    }

    /// Why a statement did not apply (or "applied").
    fn statement_reason(&self, statement: &Statement, rec: &StatementRecord) -> String {
        if rec.applied {
            return "applied".to_string();
        }
        let mut reasons = Vec::new();
        if let Some(p) = rec.principal
            && !p.matched
        {
            reasons.push(if statement.principal.is_some() {
                format!(
                    "its Principal does not name the caller ({})",
                    self.principal_phrase()
                )
            } else {
                format!(
                    "its NotPrincipal excludes the caller ({})",
                    self.principal_phrase()
                )
            });
        }
        if !rec.action.matched {
            reasons.push(if statement.action.is_some() {
                format!("its Action does not include {}", self.action)
            } else {
                format!("its NotAction excludes {}", self.action)
            });
        }
        if let Some(r) = rec.resource
            && r.evaluated
            && !r.matched
        {
            reasons.push(if statement.resource.is_some() {
                format!("its Resource does not include {}", self.resource)
            } else {
                format!("its NotResource excludes {}", self.resource)
            });
        }
        if let Some(conds) = &rec.conditions {
            for (c, r) in statement.conditions.iter().zip(conds) {
                if !r.holds {
                    reasons.push(condition_phrase(c, Some(r)));
                }
            }
        }
        if reasons.is_empty() {
            "did not apply".to_string()
        } else {
            reasons.join("; ")
        }
    }

    fn element_trace(
        name: &str,
        policy_values: Vec<String>,
        request_values: Vec<String>,
        rec: ElemRecord,
    ) -> ElementTrace {
        ElementTrace {
            element: name.to_string(),
            matched_value: rec.hit.and_then(|i| policy_values.get(i).cloned()),
            policy_values,
            request_values,
            outcome: rec.evaluated.then_some(rec.matched),
        }
    }

    /// The full per-policy, per-statement explanation.
    pub fn policies(&self) -> Vec<PolicyTrace> {
        self.records
            .iter()
            .map(|p| PolicyTrace {
                name: p.name.clone(),
                role: p.role,
                allows: p.allows,
                denies: p.denies,
                statements: p
                    .policy
                    .statements()
                    .iter()
                    .zip(&p.statements)
                    .enumerate()
                    .map(|(index, (s, rec))| self.statement_trace(index, s, rec))
                    .collect(),
            })
            .collect()
    }

    fn statement_trace(
        &self,
        index: usize,
        s: &Statement,
        rec: &StatementRecord,
    ) -> StatementTrace {
        let principal_ids: Vec<String> = self
            .principals
            .iter()
            .map(|p| format!("{} {}", p.kind.as_str(), p.value))
            .collect();
        let principal = rec.principal.and_then(|r| {
            let (name, spec) = match (&s.principal, &s.not_principal) {
                (Some(spec), _) => ("Principal", spec),
                (None, Some(spec)) => ("NotPrincipal", spec),
                (None, None) => return None,
            };
            Some(Self::element_trace(
                name,
                principal_values(spec),
                principal_ids.clone(),
                r,
            ))
        });
        let (action_name, action_values) = match (&s.action, &s.not_action) {
            (Some(v), _) => ("Action", v.clone()),
            (None, Some(v)) => ("NotAction", v.clone()),
            (None, None) => ("Action", Vec::new()),
        };
        let action = Self::element_trace(
            action_name,
            action_values,
            vec![self.action.clone()],
            rec.action,
        );
        let resource = rec.resource.and_then(|r| {
            let (name, values) = match (&s.resource, &s.not_resource) {
                (Some(v), _) => ("Resource", v.clone()),
                (None, Some(v)) => ("NotResource", v.clone()),
                (None, None) => return None,
            };
            Some(Self::element_trace(
                name,
                values,
                vec![self.resource.clone()],
                r,
            ))
        });
        let conditions = s
            .conditions
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let r = rec.conditions.as_ref().and_then(|v| v.get(i));
                ConditionTrace {
                    operator: c.operator.name(),
                    key: c.key.clone(),
                    policy_values: c.values.clone(),
                    request_values: r.and_then(|r| r.request.clone()),
                    outcome: r.map(|r| r.holds),
                    unresolved_variable: r.and_then(|r| r.unresolved.clone()),
                }
            })
            .collect();
        StatementTrace {
            index,
            sid: s.sid.clone(),
            effect: s.effect,
            line: s.line,
            column: s.column,
            applied: rec.applied,
            reason: self.statement_reason(s, rec),
            principal,
            action,
            resource,
            conditions,
        }
    }

    /// The statements that decided the result: the applying `Deny` statements for an explicit
    /// deny, the applying `Allow` statements for an allow, none for an implicit deny.
    pub fn matched_statements(&self) -> Vec<MatchedStatement> {
        let wanted = match self.decision {
            Decision::Allow => Effect::Allow,
            Decision::ExplicitDeny => Effect::Deny,
            Decision::ImplicitDeny => return Vec::new(),
        };
        let mut out = Vec::new();
        for p in &self.records {
            for (index, (s, rec)) in p.policy.statements().iter().zip(&p.statements).enumerate() {
                if rec.applied && s.effect == wanted {
                    out.push(MatchedStatement {
                        policy_name: p.name.clone(),
                        role: p.role,
                        sid: s.sid.clone(),
                        index,
                        effect: s.effect,
                        line: s.line,
                        column: s.column,
                        end_line: s.end_line,
                        end_column: s.end_column,
                    });
                }
            }
        }
        out
    }

    fn label(&self, p: &PolicyRecord, s: &Statement, index: usize) -> String {
        let mut out = statement_label(s, index);
        if self.records.len() > 1 {
            let _ = write!(out, " of {} {}", p.role.describe(), quote(&p.name));
        }
        out
    }

    /// The allow statement that came closest to applying among `roles`.
    fn closest(&self, roles: &[PolicyRole]) -> Option<Candidate<'_>> {
        let mut best: Option<(u32, Candidate<'_>)> = None;
        for p in self.records.iter().filter(|p| roles.contains(&p.role)) {
            for (i, (s, rec)) in p.policy.statements().iter().zip(&p.statements).enumerate() {
                if s.effect != Effect::Allow {
                    continue;
                }
                let targets = u32::from(rec.principal.is_none_or(|e| e.matched))
                    + u32::from(rec.action.matched)
                    + u32::from(rec.resource.is_none_or(|e| e.matched));
                let held = rec
                    .conditions
                    .as_ref()
                    .map_or(0, |c| c.iter().filter(|c| c.holds).count());
                let score = targets * 1000 + u32::try_from(held).unwrap_or(999).min(999);
                if best.as_ref().is_none_or(|(b, _)| score > *b) {
                    best = Some((score, (p, i, s, rec)));
                }
            }
        }
        best.map(|(_, b)| b)
    }

    /// One line saying why the request was allowed or denied, e.g.
    /// `statement "GitHubMain" did not apply: StringEquals on token.actions.githubusercontent.com:sub
    /// wanted "repo:acme/app:ref:refs/heads/main", the request had "repo:acme/app:pull_request"`.
    pub fn summary(&self) -> String {
        let first_applied = |effect: Effect, roles: &[PolicyRole]| {
            self.records
                .iter()
                .filter(|p| roles.contains(&p.role))
                .find_map(|p| {
                    p.policy
                        .statements()
                        .iter()
                        .zip(&p.statements)
                        .enumerate()
                        .find(|(_, (s, r))| r.applied && s.effect == effect)
                        .map(|(i, (s, _))| (p, i, s))
                })
        };
        match self.decision {
            Decision::Allow => {
                match first_applied(Effect::Allow, &[PolicyRole::Identity, PolicyRole::Resource]) {
                    Some((p, i, s)) => format!("allowed by {}", self.label(p, s, i)),
                    None => "allowed".to_string(),
                }
            }
            Decision::ExplicitDeny => {
                let all = [
                    PolicyRole::Identity,
                    PolicyRole::Resource,
                    PolicyRole::Boundary,
                    PolicyRole::Session,
                ];
                match first_applied(Effect::Deny, &all) {
                    Some((p, i, s)) => {
                        let mut out = format!("explicitly denied by {}", self.label(p, s, i));
                        if s.conditions.is_empty() {
                            let _ = write!(out, " (line {})", s.line);
                        } else {
                            let _ = write!(out, " (line {}, all its conditions held)", s.line);
                        }
                        out
                    }
                    None => "explicitly denied".to_string(),
                }
            }
            Decision::ImplicitDeny => self.implicit_deny_summary(),
        }
    }

    fn implicit_deny_summary(&self) -> String {
        let allows = |role: PolicyRole| self.records.iter().any(|r| r.role == role && r.allows);
        let granted = allows(PolicyRole::Identity) || allows(PolicyRole::Resource);
        let (roles, prefix): (Vec<PolicyRole>, String) =
            if granted && self.boundary_set && !allows(PolicyRole::Boundary) {
                (
                    vec![PolicyRole::Boundary],
                    "the permissions boundary does not allow it: ".to_string(),
                )
            } else if granted && self.session_set && !allows(PolicyRole::Session) {
                (
                    vec![PolicyRole::Session],
                    "no session policy allows it: ".to_string(),
                )
            } else {
                (
                    vec![PolicyRole::Identity, PolicyRole::Resource],
                    String::new(),
                )
            };
        match self.closest(&roles) {
            Some((p, i, s, rec)) => format!(
                "{prefix}{} did not apply: {}",
                self.label(p, s, i),
                self.statement_reason(s, rec)
            ),
            None => format!(
                "{prefix}no Allow statement covers {} on {}",
                self.action,
                if self.resource.is_empty() {
                    "*"
                } else {
                    &self.resource
                }
            ),
        }
    }

    /// A short human-readable rendering: decision, summary, then every policy and statement
    /// with each element's and condition's outcome.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "decision: {}", self.decision.as_str());
        let _ = writeln!(out, "why: {}", self.summary());
        let _ = writeln!(
            out,
            "request: {} on {} by {}",
            self.action,
            if self.resource.is_empty() {
                "-"
            } else {
                &self.resource
            },
            self.principal_phrase()
        );
        let mark = |ok: bool| if ok { "ok  " } else { "FAIL" };
        for p in self.policies() {
            let verdict = match (p.denies, p.allows) {
                (true, _) => "denies",
                (false, true) => "allows",
                (false, false) => "does not allow",
            };
            let _ = writeln!(out, "{} {}: {verdict}", p.role.describe(), quote(&p.name));
            for s in &p.statements {
                let sid = s
                    .sid
                    .as_ref()
                    .map(|s| format!(" {}", quote(s)))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  [{}]{sid} {} at {}:{}: {}",
                    s.index,
                    s.effect.as_str(),
                    s.line,
                    s.column,
                    if s.applied {
                        "applied".to_string()
                    } else {
                        format!("did not apply ({})", s.reason)
                    }
                );
                let elems = s
                    .principal
                    .iter()
                    .chain(std::iter::once(&s.action))
                    .chain(s.resource.iter());
                for e in elems {
                    let _ = writeln!(
                        out,
                        "      {} {:<12} {} (request: {})",
                        e.outcome.map_or("--  ", mark),
                        e.element,
                        quoted_list(&e.policy_values),
                        quoted_list(&e.request_values)
                    );
                }
                for c in &s.conditions {
                    let status = match c.outcome {
                        Some(ok) => mark(ok),
                        None => "--  ",
                    };
                    let request = match &c.request_values {
                        Some(v) if !v.is_empty() => quoted_list(v),
                        _ => "absent".to_string(),
                    };
                    let _ = writeln!(
                        out,
                        "      {status} {} {} {} (request: {request})",
                        c.operator,
                        c.key,
                        quoted_list(&c.policy_values)
                    );
                }
            }
        }
        out
    }
}

#[derive(Serialize)]
struct RequestJson<'a> {
    principal: &'a [PrincipalId],
    action: &'a str,
    resource: &'a str,
}

#[derive(Serialize)]
struct TraceJson<'a> {
    decision: Decision,
    summary: String,
    request: RequestJson<'a>,
    matched_statements: Vec<MatchedStatement>,
    policies: Vec<PolicyTrace>,
}

impl Serialize for Trace {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        TraceJson {
            decision: self.decision,
            summary: self.summary(),
            request: RequestJson {
                principal: &self.principals,
                action: &self.action,
                resource: &self.resource,
            },
            matched_statements: self.matched_statements(),
            policies: self.policies(),
        }
        .serialize(serializer)
    }
}
