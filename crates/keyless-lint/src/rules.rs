//! The rules. Static rules read the statement; identity rules are decided by evaluating the
//! whole trust policy against synthesised tokens ([`crate::probe`]) and report the subject
//! that got in.

use std::collections::HashSet;

use serde_json::json;

use crate::eval::{Decision, evaluate};
use crate::finding::{Severity, rule};
use crate::model::{Effect, Policy, Principal, SetOp, Statement};
use crate::probe::{Probe, ProbeKind, probes};
use crate::provider::{
    Issuer, is_global_prefix, issuer_of_prefix, issuer_of_subject, prefix_of_principal,
};

const WEB_IDENTITY: &str = "sts:AssumeRoleWithWebIdentity";

/// What the linter knows about the role around the trust policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleMeta {
    /// Role name or resource address, when known.
    pub name: Option<String>,
    /// ARNs of attached managed policies.
    pub attached_policy_arns: Vec<String>,
    /// Whether an inline policy grants `*` on `*`.
    pub inline_admin: bool,
    /// `MaxSessionDuration` in seconds, when set.
    pub max_session_duration: Option<u64>,
}

impl RoleMeta {
    fn admin_policy(&self) -> Option<String> {
        if self.inline_admin {
            return Some("an inline policy allowing `*` on `*`".into());
        }
        self.attached_policy_arns
            .iter()
            .find(|a| {
                let name = a.rsplit('/').next().unwrap_or(a);
                matches!(
                    name,
                    "AdministratorAccess" | "PowerUserAccess" | "IAMFullAccess"
                )
            })
            .map(|a| format!("`{a}`"))
    }

    /// A policy that lets the role write (administrator, power user, or a managed policy whose
    /// name says full or write access), when the attachments are known.
    fn write_policy(&self) -> Option<String> {
        self.admin_policy().or_else(|| {
            self.attached_policy_arns
                .iter()
                .find(|a| {
                    let name = a.rsplit('/').next().unwrap_or(a);
                    name.ends_with("FullAccess") || name.contains("Write") || name.contains("Admin")
                })
                .map(|a| format!("`{a}`"))
        })
    }
}

/// A finding before its location is resolved in the source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFinding {
    /// Rule id.
    pub rule: &'static str,
    /// Severity.
    pub severity: Severity,
    /// Message.
    pub message: String,
    /// JSON path in the policy document.
    pub json_path: String,
    /// A literal to look for when the source is not JSON (YAML, HCL).
    pub needle: Option<String>,
    /// Fix.
    pub fix: Option<String>,
    /// Subject admitted by the engine.
    pub admitted_subject: Option<String>,
}

fn raw(id: &'static str, message: String, json_path: &str) -> RawFinding {
    RawFinding {
        rule: id,
        severity: rule(id).map_or(Severity::Medium, |r| r.severity),
        message,
        json_path: json_path.to_string(),
        needle: None,
        fix: None,
        admitted_subject: None,
    }
}

impl RawFinding {
    fn needle(mut self, n: &str) -> Self {
        self.needle = Some(n.to_string());
        self
    }
    fn fix(mut self, f: String) -> Self {
        self.fix = Some(f);
        self
    }
    fn severity(mut self, s: Severity) -> Self {
        self.severity = s;
        self
    }
}

/// A provider a statement trusts.
#[derive(Debug, Clone)]
struct Target {
    prefix: String,
    issuer: Issuer,
    federated: String,
}

fn subject_issuer(stmt: &Statement) -> Option<Issuer> {
    stmt.conditions
        .iter()
        .filter(|c| c.key.to_ascii_lowercase().ends_with(":sub"))
        .flat_map(|c| c.values.iter())
        .find_map(|v| issuer_of_subject(v))
}

fn targets(stmt: &Statement) -> Vec<Target> {
    let mut out: Vec<Target> = Vec::new();
    let by_shape = subject_issuer(stmt);
    let classify = |prefix: &str| match issuer_of_prefix(prefix) {
        Issuer::Other => by_shape
            .filter(|_| !prefix.contains("google") && !prefix.contains("cognito"))
            .unwrap_or(Issuer::Other),
        i => i,
    };
    for f in stmt.federated() {
        if let Some(prefix) = prefix_of_principal(f)
            && !f.contains("${")
        {
            out.push(Target {
                issuer: classify(&prefix),
                prefix,
                federated: f.to_string(),
            });
        }
    }
    // A principal that is a template reference (`${GitHubOidc.Arn}`) is taken as written: the
    // request names it, so the statement applies, and the keys say which issuer it is.
    let referenced = stmt
        .federated()
        .find(|f| f.contains("${") && prefix_of_principal(f).is_none_or(|p| p.contains("${")))
        .map(str::to_string);
    let oidc_principal =
        matches!(stmt.principal, Principal::Everyone) || stmt.federated().next().is_some();
    if out.is_empty() && oidc_principal {
        // The principal is a reference (CloudFormation `!Ref`, Terraform interpolation) or `*`:
        // the condition keys name the provider.
        let mut seen = HashSet::new();
        for c in &stmt.conditions {
            if let Some((p, _)) = c.key.split_once(':')
                && !is_global_prefix(p)
                && seen.insert(p.to_ascii_lowercase())
            {
                out.push(Target {
                    issuer: classify(p),
                    prefix: p.to_string(),
                    federated: referenced
                        .clone()
                        .unwrap_or_else(|| format!("arn:aws:iam::000000000000:oidc-provider/{p}")),
                });
            }
        }
        if out.is_empty()
            && let Some(issuer) = by_shape
        {
            let prefix = match issuer {
                Issuer::GitHub => "token.actions.githubusercontent.com",
                Issuer::GitLab => "gitlab.com",
                Issuer::TerraformCloud => "app.terraform.io",
                _ => "oidc.example",
            };
            out.push(Target {
                issuer,
                prefix: prefix.into(),
                federated: referenced
                    .clone()
                    .unwrap_or_else(|| format!("arn:aws:iam::000000000000:oidc-provider/{prefix}")),
            });
        }
    }
    out
}

fn is_web_identity_allow(stmt: &Statement) -> bool {
    stmt.effect == Effect::Allow
        && stmt.covers_action(WEB_IDENTITY)
        && (matches!(stmt.principal, Principal::Everyone)
            || stmt.not_principal
            || stmt.federated().any(|f| !f.contains(":saml-provider/")))
}

fn key_claim<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
    let (p, claim) = key.split_once(':')?;
    p.eq_ignore_ascii_case(prefix).then_some(claim)
}

fn identity_claims(issuer: Issuer) -> &'static [&'static str] {
    match issuer {
        Issuer::GitHub => &["sub", "job_workflow_ref", "repository", "repository_id"],
        Issuer::GitLab => &[
            "sub",
            "project_id",
            "project_path",
            "namespace_id",
            "namespace_path",
        ],
        Issuer::CircleCi => &["sub", "oidc.circleci.com/project-id"],
        Issuer::Buildkite => &[
            "sub",
            "organization_slug",
            "organization_id",
            "pipeline_slug",
        ],
        _ => &["sub"],
    }
}

/// A tight replacement condition for the statement, built from the intended caller.
fn suggested_condition(t: &Target, intended: &str) -> String {
    let aud = match t.issuer {
        Issuer::GitHub => "sts.amazonaws.com",
        Issuer::TerraformCloud => "aws.workload.identity",
        _ => "<the audience your pipeline requests>",
    };
    let intended = intended
        .replace("keyless-owner", "<owner>")
        .replace("keyless-repo", "<repo>");
    let intended = intended.as_str();
    let sub = match t.issuer {
        Issuer::GitHub => intended.to_string(),
        Issuer::Bitbucket => {
            let mut it = intended.split(':');
            match (it.next(), it.next(), it.next()) {
                (Some(r), Some(e), Some(_)) => format!("{r}:{e}:*"),
                (Some(r), _, _) => format!("{r}:<deploymentEnvironmentUuid>:*"),
                _ => intended.to_string(),
            }
        }
        _ => intended.to_string(),
    };
    let op = if sub.contains('*') {
        "StringLike"
    } else {
        "StringEquals"
    };
    let mut cond = serde_json::Map::new();
    let mut eq = serde_json::Map::new();
    eq.insert(format!("{}:aud", t.prefix), json!(aud));
    if op == "StringEquals" {
        eq.insert(format!("{}:sub", t.prefix), json!(sub));
    }
    if t.issuer == Issuer::GitLab {
        eq.insert(
            format!("{}:project_id", t.prefix),
            json!("<your project id>"),
        );
    }
    if t.issuer == Issuer::GitHub {
        eq.insert(
            format!("{}:repository_id", t.prefix),
            json!("<your repository id>"),
        );
    }
    cond.insert("StringEquals".into(), serde_json::Value::Object(eq));
    if op == "StringLike" {
        cond.insert(
            "StringLike".into(),
            json!({ format!("{}:sub", t.prefix): sub }),
        );
    }
    let text = serde_json::to_string_pretty(&json!({ "Condition": cond })).unwrap_or_default();
    format!(
        "pin one repository and one branch or environment; replace the statement's condition with:\n{text}"
    )
}

fn probe_rule(issuer: Issuer, kind: ProbeKind) -> Option<&'static str> {
    let per_org_issuer = matches!(
        issuer,
        Issuer::CircleCi | Issuer::Bitbucket | Issuer::Kubernetes
    );
    Some(match kind {
        ProbeKind::OtherOwner if per_org_issuer => "KL004",
        ProbeKind::OtherOwner => "KL003",
        ProbeKind::OtherRepo => "KL004",
        ProbeKind::PrefixRepo | ProbeKind::PrefixBranch | ProbeKind::PrefixEnv => "KL005",
        ProbeKind::OtherBranch | ProbeKind::Tag | ProbeKind::OtherPhase => "KL006",
        ProbeKind::PullRequest => "KL007",
        ProbeKind::OtherEnv => "KL008",
        ProbeKind::OtherUser => "KL024",
        ProbeKind::WrongAudience => "KL002",
    })
}

fn probe_words(issuer: Issuer, kind: ProbeKind) -> &'static str {
    match (issuer, kind) {
        (Issuer::GitLab, ProbeKind::OtherOwner) => "a project of another group",
        (Issuer::GitLab, ProbeKind::OtherRepo) => "another project of the group",
        (Issuer::GitLab, ProbeKind::Tag) => "a tag with the branch's name (or the other ref type)",
        (Issuer::TerraformCloud, ProbeKind::OtherOwner) => "a workspace of another organization",
        (Issuer::TerraformCloud, ProbeKind::OtherRepo) => {
            "another workspace or project of the organization"
        }
        (Issuer::TerraformCloud, ProbeKind::PrefixRepo) => {
            "a workspace whose name starts with the intended one"
        }
        (Issuer::CircleCi, ProbeKind::OtherRepo) => "another project of the organization",
        (Issuer::Bitbucket, ProbeKind::OtherRepo) => "another repository of the workspace",
        (Issuer::Bitbucket, ProbeKind::OtherEnv) => "another (or no) deployment environment",
        (Issuer::Kubernetes, ProbeKind::OtherOwner) => "a service account of another namespace",
        (Issuer::Kubernetes, ProbeKind::OtherRepo) => "another service account of the namespace",
        (_, ProbeKind::OtherOwner) => "a repository of another owner",
        (_, ProbeKind::OtherRepo) => "another repository of the same owner",
        (_, ProbeKind::PrefixRepo) => "a repository whose name starts with the intended one",
        (_, ProbeKind::OtherBranch) => "another branch",
        (_, ProbeKind::Tag) => "a tag",
        (_, ProbeKind::PrefixBranch) => "a branch whose name starts with the intended one",
        (_, ProbeKind::PullRequest) => "a pull request",
        (_, ProbeKind::OtherEnv) => "another environment",
        (_, ProbeKind::PrefixEnv) => "an environment whose name starts with the intended one",
        (_, ProbeKind::OtherPhase) => "the other run phase (plan vs apply)",
        (_, ProbeKind::OtherUser) => "a pipeline of another user (or an SSH-rerun debug session)",
        (_, ProbeKind::WrongAudience) => "a token minted for another audience",
    }
}

/// Decides probes: with `keyless-policy` when the document parses as a trust policy, else (for
/// documents IAM would reject, which a linter must still read) with [`crate::eval`].
pub struct Decider {
    engine: Option<keyless_policy::Policy>,
    /// Lower-cased condition keys the policy reads; no other key can change a decision, so only
    /// these are copied into the engine's request context.
    referenced: Vec<String>,
}

/// Neutralises template references (`${GitHubOrg}`, `${var.org}`, `${AWS::AccountId}`) so the
/// engine does not read them as IAM policy variables; IAM variables (`${aws:username}`,
/// `${prefix:sub}`, `${*}`) are kept. Applied alike to the policy and to request values, so
/// matching is unchanged.
pub fn neutralise_templates(s: &str) -> String {
    if !s.contains("${") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        let Some(end) = tail.find('}') else {
            out.push_str(tail);
            return out;
        };
        let inner = tail.get(2..end).unwrap_or("");
        let iam_variable = matches!(inner, "*" | "?" | "$")
            || inner.matches(':').count() == 1 && !inner.contains("::");
        if iam_variable {
            out.push_str(tail.get(..=end).unwrap_or(""));
        } else {
            out.push_str("{tpl:");
            out.push_str(&inner.replace(':', "."));
            out.push('}');
        }
        rest = tail.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

fn neutralise_value(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(neutralise_templates(s)),
        Value::Array(a) => Value::Array(a.iter().map(neutralise_value).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (neutralise_templates(k), neutralise_value(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

impl Decider {
    /// Prepares the engine for `doc`.
    pub fn new(doc: &serde_json::Value, policy: &Policy) -> Decider {
        let text = serde_json::to_string(&neutralise_value(doc)).unwrap_or_default();
        let mut referenced: Vec<String> = policy
            .statements
            .iter()
            .flat_map(|s| s.conditions.iter().map(|c| c.key.to_ascii_lowercase()))
            .collect();
        referenced.sort_unstable();
        referenced.dedup();
        Decider {
            engine: keyless_policy::parse(&text, keyless_policy::PolicyKind::Trust).ok(),
            referenced,
        }
    }

    /// Lower-cased condition keys the policy reads.
    pub fn referenced(&self) -> &[String] {
        &self.referenced
    }

    /// Whether the policy engine (rather than the fallback evaluator) decides.
    pub fn uses_engine(&self) -> bool {
        self.engine.is_some()
    }

    /// Index of the statement that lets the request in, if it is allowed.
    pub fn admits(
        &self,
        policy: &Policy,
        federated: &str,
        ctx: &crate::eval::Context,
    ) -> Option<usize> {
        match &self.engine {
            Some(engine) => {
                let mut context = keyless_policy::Context::new();
                for k in &self.referenced {
                    if let Some(v) = ctx.get(k) {
                        context.set(k, v.iter().map(|x| neutralise_templates(x)).collect());
                    }
                }
                let principal = [keyless_policy::PrincipalId::new(
                    keyless_policy::PrincipalKind::Federated,
                    neutralise_templates(federated),
                )];
                let set = keyless_policy::PolicySet {
                    identity: Vec::new(),
                    resource: Some(keyless_policy::Named {
                        name: "trust",
                        policy: engine,
                    }),
                    boundary: None,
                    session: None,
                };
                let request = keyless_policy::Request {
                    principal: &principal,
                    action: WEB_IDENTITY,
                    resource: "arn:aws:iam::000000000000:role/keyless-lint-probe",
                    context: &context,
                };
                let eval = keyless_policy::evaluate(&set, &request);
                if !eval.decision.is_allowed() {
                    return None;
                }
                eval.trace.matched_statements().first().map(|m| m.index)
            }
            None => match evaluate(policy, federated, WEB_IDENTITY, ctx) {
                Decision::Allow(i) => Some(i),
                _ => None,
            },
        }
    }
}

/// Evaluates every probe of every statement with both the policy engine and the fallback
/// evaluator and returns the probes on which they disagree (empty when the engine cannot parse
/// the document). A test runs it over the corpus to keep the fallback honest.
pub fn cross_check(doc: &serde_json::Value) -> Vec<String> {
    let policy = Policy::from_value(doc);
    let engine = Decider::new(doc, &policy);
    if !engine.uses_engine() {
        return Vec::new();
    }
    let fallback = Decider {
        engine: None,
        referenced: engine.referenced.clone(),
    };
    let mut out = Vec::new();
    for stmt in policy
        .statements
        .iter()
        .filter(|s| is_web_identity_allow(s))
    {
        for t in targets(stmt) {
            for p in probes(stmt, &t.prefix, t.issuer, None) {
                let (a, b) = (
                    engine.admits(&policy, &t.federated, &p.ctx),
                    fallback.admits(&policy, &t.federated, &p.ctx),
                );
                if a != b {
                    out.push(format!(
                        "{:?} `{}`: engine {a:?}, fallback {b:?}",
                        p.kind, p.sub
                    ));
                }
            }
        }
    }
    out
}

/// Runs every rule over one trust policy (`doc` is the document `policy` was built from).
pub fn analyse(policy: &Policy, doc: &serde_json::Value, meta: &RoleMeta) -> Vec<RawFinding> {
    let decider = Decider::new(doc, policy);
    let mut out = Vec::new();
    let web: Vec<&Statement> = policy
        .statements
        .iter()
        .filter(|s| is_web_identity_allow(s))
        .collect();
    let any_conditioned = web.iter().any(|s| s.has_condition_element);
    let mut silenced: HashSet<usize> = HashSet::new();
    let mut oidc_role = false;

    for stmt in &policy.statements {
        principal_rules(stmt, &mut out);
    }

    for stmt in &web {
        let ts = targets(stmt);
        if !ts.is_empty() {
            oidc_role = true;
        }
        if !stmt.has_condition_element
            && (!ts.is_empty() || matches!(stmt.principal, Principal::Everyone))
        {
            if web.len() > 1 && any_conditioned {
                out.push(
                    raw("KL016", format!(
                        "statement {} allows `{WEB_IDENTITY}` without any condition, so the conditions of its sibling statements never matter",
                        stmt_name(stmt)
                    ), &stmt.path)
                    .needle("Effect")
                    .fix("delete this statement, or give it the same `aud` and `sub` conditions as its siblings".into()),
                );
            } else {
                out.push(raw("KL001", format!(
                    "statement {} allows `{WEB_IDENTITY}` with no condition at all: every workflow of every user of the issuer can assume this role",
                    stmt_name(stmt)), &stmt.path).needle("Effect")
                    .fix(ts.first().map_or_else(|| "add `aud` and `sub` conditions".to_string(), |t| suggested_condition(t, &intended_fallback(t)))));
            }
            silenced.insert(stmt.index);
        }
        for t in &ts {
            statement_rules(stmt, t, &mut out, &mut silenced);
        }
    }

    // Decide with the engine: evaluate the whole policy against synthesised tokens.
    let mut reported: HashSet<(&'static str, usize)> = HashSet::new();
    for stmt in &web {
        for t in targets(stmt) {
            let ps = probes(stmt, &t.prefix, t.issuer, Some(decider.referenced()));
            let mut suggested: Option<String> = None;
            let intended = ps
                .iter()
                .find(|p| p.kind == ProbeKind::WrongAudience)
                .map(|p| p.sub.clone())
                .unwrap_or_default();
            let admitted: Vec<(&Probe, usize)> = ps
                .iter()
                .filter_map(|p| decider.admits(policy, &t.federated, &p.ctx).map(|i| (p, i)))
                .collect();
            let kinds: HashSet<(ProbeKind, usize)> =
                admitted.iter().map(|(p, i)| (p.kind, *i)).collect();
            for (p, by) in &admitted {
                if silenced.contains(by) {
                    continue;
                }
                let Some(id) = probe_rule(t.issuer, p.kind) else {
                    continue;
                };
                // Broader holes subsume narrower ones on the same statement.
                let subsumed = match p.kind {
                    ProbeKind::OtherRepo => {
                        kinds.contains(&(ProbeKind::OtherOwner, *by))
                            && id == "KL004"
                            && probe_rule(t.issuer, ProbeKind::OtherOwner) == Some("KL003")
                    }
                    ProbeKind::PrefixRepo => {
                        kinds.contains(&(ProbeKind::OtherRepo, *by))
                            || kinds.contains(&(ProbeKind::OtherOwner, *by))
                    }
                    ProbeKind::PrefixBranch => {
                        kinds.contains(&(ProbeKind::OtherBranch, *by))
                            || kinds.contains(&(ProbeKind::Tag, *by))
                    }
                    ProbeKind::PrefixEnv => kinds.contains(&(ProbeKind::OtherEnv, *by)),
                    _ => false,
                };
                if subsumed || !reported.insert((id, *by)) {
                    continue;
                }
                let Some(by_stmt) = policy.statements.iter().find(|s| s.index == *by) else {
                    continue;
                };
                out.push(probe_finding(
                    id,
                    p,
                    by_stmt,
                    &t,
                    &intended,
                    meta,
                    &mut suggested,
                ));
                if id == "KL003"
                    && t.issuer == Issuer::GitHub
                    && passes_guardrail(by_stmt, &t.prefix)
                    && reported.insert(("KL015", *by))
                {
                    out.push(guardrail_bypass(p, by_stmt, &t, &intended, &mut suggested));
                } else if matches!(id, "KL004" | "KL005")
                    && t.issuer == Issuer::GitHub
                    && passes_guardrail(by_stmt, &t.prefix)
                    && let Some((c, i)) = admitting_value(by_stmt, &t.prefix, &p.sub)
                    && i > 0
                    && reported.insert(("KL015", *by))
                {
                    let mut f = guardrail_bypass(p, by_stmt, &t, &intended, &mut suggested);
                    f.json_path = c;
                    out.push(f);
                }
            }
        }
    }

    if oidc_role {
        if let Some(admin) = meta.admin_policy() {
            out.push(
                raw("KL021", format!("this role can be assumed with an OIDC token and holds {admin}"), "$")
                    .fix("attach a least-privilege policy scoped to what the pipeline deploys; keep administrator access off CI roles".into()),
            );
        }
        if let Some(d) = meta.max_session_duration.filter(|d| *d > 3600) {
            out.push(
                raw("KL022", format!("`MaxSessionDuration` is `{d}` seconds on a role assumed by CI; sessions outlive the job"), "$")
                    .needle("MaxSessionDuration")
                    .fix("set `MaxSessionDuration` to 3600 (the default) or less".into()),
            );
        }
    }
    out
}

fn intended_fallback(t: &Target) -> String {
    match t.issuer {
        Issuer::GitHub => "repo:<owner>/<repo>:environment:<environment>".into(),
        Issuer::GitLab => "project_path:<group>/<project>:ref_type:branch:ref:main".into(),
        Issuer::TerraformCloud => {
            "organization:<org>:project:<project>:workspace:<workspace>:run_phase:apply".into()
        }
        Issuer::CircleCi => "org/<org-id>/project/<project-id>/user/<user-id>".into(),
        Issuer::Bitbucket => "{<repositoryUuid>}:{<deploymentEnvironmentUuid>}:*".into(),
        Issuer::Kubernetes => "system:serviceaccount:<namespace>:<service-account>".into(),
        _ => "<the exact subject of your pipeline>".into(),
    }
}

fn stmt_name(stmt: &Statement) -> String {
    match &stmt.sid {
        Some(s) if !s.is_empty() => format!("`{s}`"),
        _ => format!("#{}", stmt.index + 1),
    }
}

/// The condition path and value index of the `sub` value that admits `sub`, if any.
fn admitting_value(stmt: &Statement, prefix: &str, sub: &str) -> Option<(String, usize)> {
    for c in stmt
        .conditions
        .iter()
        .filter(|c| key_claim(&c.key, prefix).is_some_and(|k| k.eq_ignore_ascii_case("sub")))
    {
        for (i, v) in c.values.iter().enumerate() {
            let hit = match c.base.as_str() {
                "stringlike" => crate::eval::wildcard_match(v, sub, false),
                "stringequals" => v == sub,
                "stringequalsignorecase" => v.eq_ignore_ascii_case(sub),
                _ => false,
            };
            if hit {
                return Some((c.value_path(i), i));
            }
        }
    }
    None
}

fn probe_finding(
    id: &'static str,
    p: &Probe,
    stmt: &Statement,
    t: &Target,
    intended: &str,
    meta: &RoleMeta,
    suggested: &mut Option<String>,
) -> RawFinding {
    let words = probe_words(t.issuer, p.kind);
    let (path, value) = match admitting_value(stmt, &t.prefix, &p.sub) {
        Some((path, i)) => {
            let v = stmt
                .conditions
                .iter()
                .find(|c| c.path == path || path.starts_with(&format!("{}[", c.path)))
                .and_then(|c| c.values.get(i))
                .cloned();
            (path, v)
        }
        None => (
            stmt.conditions
                .first()
                .map_or(stmt.path.clone(), |c| c.path.clone()),
            None,
        ),
    };
    let because = match &value {
        Some(v) => format!(" because of `{v}`"),
        None if p.missing_claims => {
            " because a condition passes when a claim is missing".to_string()
        }
        None => String::new(),
    };
    let message = if p.kind == ProbeKind::WrongAudience {
        format!(
            "statement {} does not pin the audience: a token for `{intended}` minted for another audience is accepted",
            stmt_name(stmt)
        )
    } else {
        format!(
            "statement {} admits {words}{because}: the policy engine let in `{}`{}",
            stmt_name(stmt),
            p.sub,
            if p.missing_claims {
                " (with optional claims absent)"
            } else {
                ""
            }
        )
    };
    let mut f = raw(id, message, &path);
    if let Some(v) = &value {
        f = f.needle(v);
    }
    f.admitted_subject = Some(p.sub.clone());
    if id == "KL006"
        && let Some(w) = meta.write_policy()
    {
        f = f.severity(Severity::High);
        f.message
            .push_str(&format!(", and the role can write ({w})"));
    }
    if id == "KL007"
        && value
            .as_deref()
            .is_some_and(|v| !v.contains('*') && !v.contains('?'))
    {
        f = f.severity(Severity::Medium);
    }
    if id == "KL002" {
        let aud = t
            .issuer
            .expected_audience()
            .and_then(|a| a.first().copied())
            .unwrap_or("<your audience>");
        f = f.fix(format!(
            "add `\"StringEquals\": {{\"{}:aud\": \"{aud}\"}}` to the statement's condition",
            t.prefix
        ));
    } else if id == "KL024" {
        f = f.fix(format!("pin the whole subject including the user: `\"StringEquals\": {{\"{}:sub\": \"{intended}\"}}`, and disable SSH reruns for the project", t.prefix));
    } else {
        f = f.fix(
            suggested
                .get_or_insert_with(|| suggested_condition(t, intended))
                .clone(),
        );
    }
    f
}

fn guardrail_bypass(
    p: &Probe,
    stmt: &Statement,
    t: &Target,
    intended: &str,
    suggested: &mut Option<String>,
) -> RawFinding {
    let path = admitting_value(stmt, &t.prefix, &p.sub).map_or(stmt.path.clone(), |(p, _)| p);
    let mut f = raw(
        "KL015",
        format!(
            "statement {} passes IAM's GitHub write-time check (it only rejects a missing or `*` first `sub` value) yet admits `{}`",
            stmt_name(stmt),
            p.sub
        ),
        &path,
    );
    f.admitted_subject = Some(p.sub.clone());
    f.fix(
        suggested
            .get_or_insert_with(|| suggested_condition(t, intended))
            .clone(),
    )
}

/// IAM's GitHub guardrail: a `StringEquals`/`StringLike`/`StringEqualsIgnoreCase` on `sub` or
/// `job_workflow_ref` whose first value is not `*`.
fn passes_guardrail(stmt: &Statement, prefix: &str) -> bool {
    stmt.conditions.iter().any(|c| {
        let op_ok = c.set == SetOp::Single
            && !c.if_exists
            && matches!(
                c.base.as_str(),
                "stringequals" | "stringlike" | "stringequalsignorecase"
            );
        let key_ok = key_claim(&c.key, prefix).is_some_and(|k| {
            k.eq_ignore_ascii_case("sub") || k.eq_ignore_ascii_case("job_workflow_ref")
        });
        let first_ok = c
            .values
            .first()
            .is_some_and(|v| !v.is_empty() && v.chars().any(|ch| ch != '*'));
        op_ok && key_ok && first_ok
    })
}

fn principal_rules(stmt: &Statement, out: &mut Vec<RawFinding>) {
    if stmt.effect != Effect::Allow {
        return;
    }
    let principal_path = format!(
        "{}.{}",
        stmt.path,
        if stmt.not_principal {
            "NotPrincipal"
        } else {
            "Principal"
        }
    );
    if stmt.not_principal {
        out.push(raw("KL018", format!("statement {} uses `NotPrincipal` with Allow: it trusts everyone not listed, and IAM rejects it in trust policies", stmt_name(stmt)), &principal_path)
            .needle("NotPrincipal")
            .fix("replace `NotPrincipal` with a `Principal` naming the OIDC provider: `\"Principal\": {\"Federated\": \"arn:aws:iam::<account>:oidc-provider/<issuer host>\"}`".into()));
    } else if stmt.principal == Principal::Everyone || stmt.federated().any(|f| f == "*") {
        out.push(raw("KL017", format!("statement {} trusts `\"*\"`: any AWS account or identity provider may assume the role, limited only by its conditions", stmt_name(stmt)), &principal_path)
            .needle("Principal")
            .fix("name the provider: `\"Principal\": {\"Federated\": \"arn:aws:iam::<account>:oidc-provider/token.actions.githubusercontent.com\"}`".into()));
    }
    let action_path = format!(
        "{}.{}",
        stmt.path,
        if stmt.not_action {
            "NotAction"
        } else {
            "Action"
        }
    );
    let broad = stmt
        .actions
        .iter()
        .find(|a| *a == "*" || a.eq_ignore_ascii_case("sts:*"));
    if stmt.not_action {
        out.push(raw("KL019", format!("statement {} uses `NotAction`: it allows every action not listed, `sts:AssumeRole` and tagging included", stmt_name(stmt)), &action_path)
            .needle("NotAction").fix(format!("use `\"Action\": \"{WEB_IDENTITY}\"`")));
    } else if let Some(a) = broad
        && (stmt.federated().next().is_some() || stmt.principal == Principal::Everyone)
    {
        out.push(raw("KL019", format!("statement {} allows `{a}`: more than `{WEB_IDENTITY}` (e.g. `sts:TagSession`, `sts:SetSourceIdentity`, `sts:AssumeRole`)", stmt_name(stmt)), &action_path)
                .needle(a).fix(format!("use `\"Action\": \"{WEB_IDENTITY}\"` (add `sts:TagSession` only if the token carries session tags)")));
    }
}

fn statement_rules(
    stmt: &Statement,
    t: &Target,
    out: &mut Vec<RawFinding>,
    silenced: &mut HashSet<usize>,
) {
    let issuer = t.issuer;
    let prefix = &t.prefix;
    let has_key = |claims: &[&str]| {
        stmt.conditions.iter().any(|c| {
            key_claim(&c.key, prefix)
                .is_some_and(|k| claims.iter().any(|x| x.eq_ignore_ascii_case(k)))
        })
    };
    if stmt.has_condition_element
        && !has_key(identity_claims(issuer))
        && !prefix.eq_ignore_ascii_case("cognito-identity.amazonaws.com")
    {
        out.push(raw("KL001", format!("statement {} has no condition on `{prefix}:sub`: every workflow of every {} user can assume this role", stmt_name(stmt), issuer.name()), &format!("{}.Condition", stmt.path))
            .needle("Condition")
            .fix(suggested_condition(t, &intended_fallback(t))));
        silenced.insert(stmt.index);
    }
    if issuer == Issuer::GitHub && stmt.effect == Effect::Allow && !passes_guardrail(stmt, prefix) {
        out.push(raw("KL014", format!(
            "IAM refuses this statement on create or update (MalformedPolicyDocument): it must test `{prefix}:sub` or `{prefix}:job_workflow_ref` with StringEquals, StringLike or StringEqualsIgnoreCase at something narrower than `*`; a role created before the check stays this open"),
            &stmt.path).needle("Effect").fix(suggested_condition(t, &intended_fallback(t))));
    }
    for c in &stmt.conditions {
        let claim = match c.key.split_once(':') {
            Some((p, claim)) if p.eq_ignore_ascii_case(prefix) => Some(claim),
            Some((p, _)) if is_global_prefix(p) => continue,
            Some((p, _)) => {
                // A key of another provider: never in this provider's tokens.
                unknown_key(
                    stmt,
                    c,
                    &format!(
                        "`{}` is a key of the `{p}` provider, which this statement does not trust",
                        c.key
                    ),
                    out,
                );
                continue;
            }
            None => None,
        };
        let Some(claim) = claim else {
            unknown_key(
                stmt,
                c,
                &format!(
                    "`{}` has no provider prefix; AWS keys look like `{prefix}:sub`",
                    c.key
                ),
                out,
            );
            continue;
        };
        let lc = claim.to_ascii_lowercase();
        if !issuer
            .known_claims()
            .iter()
            .any(|k| k.eq_ignore_ascii_case(&lc))
        {
            let why = if issuer
                .unexposed_claims()
                .iter()
                .any(|k| k.eq_ignore_ascii_case(&lc))
            {
                format!(
                    "`{claim}` is in {} tokens but AWS does not expose it as a condition key",
                    issuer.name()
                )
            } else {
                format!(
                    "`{claim}` is not a condition key AWS exposes for {}",
                    issuer.name()
                )
            };
            unknown_key(stmt, c, &why, out);
            continue;
        }
        // Absent-key operators.
        if stmt.effect == Effect::Allow && c.base != "null" && c.passes_when_absent() {
            let optional = !matches!(lc.as_str(), "sub" | "aud");
            let what = if c.set == SetOp::ForAll {
                "`ForAllValues:` is true when the key is missing"
            } else if c.if_exists {
                "`…IfExists` is true when the key is missing"
            } else {
                "a negated operator is true when the key is missing"
            };
            out.push(raw("KL009", format!("`{}` on `{}`: {what}{}", c.operator, c.key, if optional { ", and this claim is absent from many tokens" } else { "" }), &c.path)
                .needle(&c.key)
                .severity(if optional { Severity::High } else { Severity::Medium })
                .fix(format!("use a plain positive operator, e.g. `\"StringEquals\": {{\"{}\": …}}`; if you need to exclude values, add the exclusion as a separate Deny statement", c.key)));
        }
        literal_rules(stmt, c, &lc, issuer, out);
        if lc == "aud"
            && stmt.effect == Effect::Allow
            && c.positive_string()
            && let Some(expected) = issuer.expected_audience()
            && let Some(bad) = c
                .values
                .iter()
                .find(|v| !expected.contains(&v.as_str()) && !v.contains('*'))
        {
            let note = if bad.starts_with("https://github.com/") {
                " (GitHub's default audience, given to tokens requested for any purpose)"
            } else {
                ""
            };
            out.push(raw("KL002", format!("audience `{bad}`{note} is not what `configure-aws-credentials` requests (`sts.amazonaws.com`)"), &c.path)
                        .needle(bad).fix(format!("`\"StringEquals\": {{\"{}\": \"sts.amazonaws.com\"}}`", c.key)));
        }
        if lc == "sub" && stmt.effect == Effect::Allow && c.positive_string() {
            for v in &c.values {
                if let Some(other) =
                    issuer_of_subject(v).filter(|o| *o != issuer && issuer != Issuer::Other)
                {
                    out.push(raw("KL020", format!("`{v}` is a {} subject but the provider `{prefix}` is {}: this value never matches (or the wrong provider is trusted)", other.name(), issuer.name()), &c.path)
                        .needle(v).fix(format!("trust the {} provider in `Principal.Federated` and use its key prefix, or write the subject in {} format", other.name(), issuer.name())));
                }
            }
        }
    }
    if issuer == Issuer::GitLab && stmt.effect == Effect::Allow {
        let subs: Vec<&String> = stmt
            .on_key(&format!("{prefix}:sub"))
            .filter(|c| c.positive_string())
            .flat_map(|c| c.values.iter())
            .collect();
        let path_based = !subs.is_empty() && subs.iter().all(|v| v.starts_with("project_path:"));
        let id_pinned = stmt
            .on_key(&format!("{prefix}:project_id"))
            .any(|c| c.positive_string() && c.values.iter().all(|v| !v.contains('*')));
        if path_based && !id_pinned {
            let c = stmt.on_key(&format!("{prefix}:sub")).next();
            out.push(raw("KL023", format!("GitLab subject `{}` names the project by its path only; a renamed, transferred or re-created project can mint the same subject", subs.first().map_or("", |s| s.as_str())),
                &c.map_or(stmt.path.clone(), |c| c.path.clone()))
                .needle(subs.first().map_or("", |s| s.as_str()))
                .fix(format!("add `\"StringEquals\": {{\"{prefix}:project_id\": \"<project id>\", \"{prefix}:namespace_id\": \"<group id>\"}}`")));
        }
    }
}

fn literal_rules(
    stmt: &Statement,
    c: &crate::model::Condition,
    claim: &str,
    issuer: Issuer,
    out: &mut Vec<RawFinding>,
) {
    let case_sensitive = matches!(
        c.base.as_str(),
        "stringequals" | "stringlike" | "stringnotequals" | "stringnotlike"
    );
    if c.base == "stringlike"
        && !c.values.is_empty()
        && c.values
            .iter()
            .all(|v| !v.contains('*') && !v.contains('?'))
    {
        out.push(
            raw(
                "KL012",
                format!(
                    "`{}` on `{}` has no wildcard; it is an exact match",
                    c.operator, c.key
                ),
                &c.path,
            )
            .needle(&c.key)
            .fix(format!(
                "write `{}` as `{}`",
                c.operator,
                c.operator.replace("StringLike", "StringEquals")
            )),
        );
    }
    if matches!(c.base.as_str(), "stringequals" | "stringequalsignorecase")
        && let Some(v) = c.values.iter().find(|v| v.contains('*'))
    {
        out.push(
            raw(
                "KL013",
                format!(
                    "`{}` compares `{v}` literally, `*` included: no token ever matches it",
                    c.operator
                ),
                &c.path,
            )
            .needle(v)
            .fix(format!(
                "use `StringLike` for a pattern, or spell out the exact subject instead of `{v}`"
            )),
        );
    }
    if case_sensitive && stmt.effect == Effect::Allow {
        for v in &c.values {
            if let Some(why) = impossible_case(issuer, claim, v) {
                out.push(
                    raw(
                        "KL011",
                        format!(
                            "`{v}` can never match under case-sensitive `{}`: {why}",
                            c.operator
                        ),
                        &c.path,
                    )
                    .needle(v)
                    .fix(format!(
                        "write it as the issuer does: `{}`",
                        fix_case(issuer, claim, v)
                    )),
                );
                break;
            }
        }
    }
    if issuer == Issuer::Bitbucket
        && claim == "sub"
        && c.positive_string()
        && stmt.effect == Effect::Allow
    {
        for v in &c.values {
            let uuids = v
                .split(':')
                .filter(|s| s.starts_with('{') && s.ends_with('}'))
                .count();
            if uuids >= 2 && !v.contains('*') {
                out.push(raw("KL025", format!("`{v}` pins the step UUID, which changes every run: the role works once and then never"), &c.path)
                    .needle(v).fix("use `StringLike` with the step wildcarded: `{repositoryUuid}:{deploymentEnvironmentUuid}:*`".into()));
                break;
            }
        }
    }
}

const GH_WORDS: &[&str] = &[
    "repo:",
    ":ref:",
    "refs/heads/",
    "refs/tags/",
    ":environment:",
    ":pull_request",
    ":job_workflow_ref:",
];
const GL_WORDS: &[&str] = &[
    "project_path:",
    "project_id:",
    ":ref_type:",
    ":ref:",
    "ref_type:branch",
    "ref_type:tag",
];

fn impossible_case(issuer: Issuer, claim: &str, v: &str) -> Option<&'static str> {
    let lower = v.to_ascii_lowercase();
    let words: &[&str] = match (issuer, claim) {
        (Issuer::GitHub, "sub") => GH_WORDS,
        (Issuer::GitHub, "ref") => &["refs/heads/", "refs/tags/", "refs/pull/"],
        (Issuer::GitLab, "sub") => GL_WORDS,
        (_, "aud") if lower.starts_with("sts.amazonaws.com") => &["sts.amazonaws.com"],
        _ => return None,
    };
    words
        .iter()
        .any(|w| lower.contains(w) && !v.contains(w))
        .then_some("the issuer writes these keywords in lower case")
}

fn fix_case(issuer: Issuer, claim: &str, v: &str) -> String {
    let words: &[&str] = match (issuer, claim) {
        (Issuer::GitHub, "sub") => GH_WORDS,
        (Issuer::GitHub, "ref") => &["refs/heads/", "refs/tags/", "refs/pull/"],
        (Issuer::GitLab, "sub") => GL_WORDS,
        _ => return v.to_ascii_lowercase(),
    };
    let mut s = v.to_string();
    for w in words {
        let lower = s.to_ascii_lowercase();
        if let Some(i) = lower.find(w) {
            let end = i + w.len();
            if let (Some(a), Some(b)) = (s.get(..i), s.get(end..)) {
                s = format!("{a}{w}{b}");
            }
        }
    }
    s
}

fn unknown_key(
    stmt: &Statement,
    c: &crate::model::Condition,
    why: &str,
    out: &mut Vec<RawFinding>,
) {
    let absent_true = c.passes_when_absent();
    let (effect_text, severity) = match (&stmt.effect, absent_true) {
        (Effect::Allow, true) => ("the condition is always true, so it restricts nothing".to_string(), Severity::High),
        (Effect::Allow, false) => ("the condition is always false, so this statement never allows anything (the role is dead)".to_string(), Severity::Low),
        (_, true) => ("this Deny always applies, so the role can never be assumed".to_string(), Severity::Low),
        (_, false) => ("this Deny never applies, so the guard it was meant to be does nothing".to_string(), Severity::Medium),
    };
    out.push(raw("KL010", format!("{why}; the key is always missing from the request, so {effect_text}"), &c.path)
        .needle(&c.key).severity(severity)
        .fix(format!("use a key AWS exposes (for GitHub: `sub`, `aud`, `repository`, `repository_id`, `job_workflow_ref`, `environment`, `ref`, `actor`, `workflow`…) with the provider prefix, e.g. `{}`",
            c.key.split_once(':').map_or_else(|| format!("token.actions.githubusercontent.com:{}", c.key), |(p, _)| format!("{p}:sub")))));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn analyse_json(doc: serde_json::Value) -> Vec<&'static str> {
        let p = Policy::from_value(&doc);
        analyse(&p, &doc, &RoleMeta::default())
            .into_iter()
            .map(|f| f.rule)
            .collect()
    }

    fn gh(cond: serde_json::Value) -> serde_json::Value {
        json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": cond
        }]})
    }

    #[test]
    fn any_branch_on_a_role_that_can_write_is_high() {
        let doc = gh(
            json!({"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
            "StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/app:ref:refs/heads/*"}}),
        );
        let p = Policy::from_value(&doc);
        let sev = |meta: &RoleMeta| {
            analyse(&p, &doc, meta)
                .into_iter()
                .find(|f| f.rule == "KL006")
                .map(|f| (f.severity, f.message))
        };
        let read_only = RoleMeta {
            attached_policy_arns: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()],
            ..RoleMeta::default()
        };
        assert_eq!(sev(&read_only).map(|s| s.0), Some(Severity::Medium));
        let writer = RoleMeta {
            attached_policy_arns: vec!["arn:aws:iam::aws:policy/AmazonS3FullAccess".into()],
            ..RoleMeta::default()
        };
        let (s, m) = sev(&writer).unwrap_or((Severity::Info, String::new()));
        assert_eq!(s, Severity::High);
        assert!(m.contains("AmazonS3FullAccess"), "{m}");
    }

    #[test]
    fn templates_are_neutralised_but_iam_variables_kept() {
        assert_eq!(
            neutralise_templates("repo:${GitHubOrg}/*"),
            "repo:{tpl:GitHubOrg}/*"
        );
        assert_eq!(
            neutralise_templates("arn:${AWS::Partition}:x"),
            "arn:{tpl:AWS..Partition}:x"
        );
        assert_eq!(neutralise_templates("${aws:username}"), "${aws:username}");
        assert_eq!(neutralise_templates("a${*}b"), "a${*}b");
        assert_eq!(neutralise_templates("open ${"), "open ${");
    }

    #[test]
    fn guardrail_checks_only_the_first_value() {
        let p = Policy::from_value(&gh(
            json!({"StringLike": {"token.actions.githubusercontent.com:sub": ["repo:a/b:ref:refs/heads/main", "*"]}}),
        ));
        assert!(passes_guardrail(
            &p.statements[0],
            "token.actions.githubusercontent.com"
        ));
        let p = Policy::from_value(&gh(
            json!({"StringLike": {"token.actions.githubusercontent.com:sub": ["*", "repo:a/b:*"]}}),
        ));
        assert!(!passes_guardrail(
            &p.statements[0],
            "token.actions.githubusercontent.com"
        ));
    }

    #[test]
    fn the_engine_decides_probes() {
        let doc = gh(
            json!({"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
            "StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/*"}}),
        );
        assert!(Decider::new(&doc, &Policy::from_value(&doc)).uses_engine());
        let rules = analyse_json(doc);
        assert!(
            rules.contains(&"KL004") && !rules.contains(&"KL003"),
            "{rules:?}"
        );
    }

    #[test]
    fn a_deny_carving_out_the_probe_is_respected() {
        let doc = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com"},
             "Action": "sts:AssumeRoleWithWebIdentity",
             "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                           "StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/app:*"}}},
            {"Effect": "Deny", "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com"},
             "Action": "sts:AssumeRoleWithWebIdentity",
             "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": ["repo:acme/app:pull_request", "repo:acme/app:environment:*"]}}}
        ]});
        let rules = analyse_json(doc);
        assert!(rules.contains(&"KL006"), "{rules:?}");
        assert!(
            !rules.contains(&"KL007") && !rules.contains(&"KL008"),
            "{rules:?}"
        );
    }
}
