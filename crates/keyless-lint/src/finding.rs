//! Findings, severities and the rule catalogue.
//!
//! Rule ids are stable: tools and users filter on them, so a rule is never renumbered; a retired
//! rule keeps its id reserved.

use serde::Serialize;

/// How bad a finding is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Style or hygiene; never fails a build by default.
    Info,
    /// Fail-closed mistakes (the role never works) and weak pins.
    Low,
    /// Exposure that needs a second mistake or a privileged insider.
    Medium,
    /// Exposure to people who should not have it (other branches, pull requests, other repos).
    High,
    /// Anyone on the issuer, or anyone at all, can assume the role.
    Critical,
}

impl Severity {
    /// Lower-case name, as printed and as accepted by `--fail-on`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// SARIF `level` for this severity.
    pub fn sarif_level(self) -> &'static str {
        match self {
            Severity::Info => "note",
            Severity::Low | Severity::Medium => "warning",
            Severity::High | Severity::Critical => "error",
        }
    }

    /// GitHub code scanning `security-severity` (0.0–10.0).
    pub fn security_score(self) -> &'static str {
        match self {
            Severity::Info => "1.0",
            Severity::Low => "3.0",
            Severity::Medium => "5.5",
            Severity::High => "8.0",
            Severity::Critical => "9.5",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a finding points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The input's display name (the path as given, or the name passed to [`crate::lint_document`]).
    pub file: String,
    /// 1-based line in `file`.
    pub line: usize,
    /// 1-based column (in characters) in `file`.
    pub column: usize,
    /// JSON path inside the trust policy document, e.g. `$.Statement[0].Condition.StringLike`.
    pub json_path: String,
}

/// One problem found in one trust policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable rule id, e.g. `KL004`.
    pub rule: &'static str,
    /// Severity (may be raised above the rule's default, e.g. when the role can write).
    pub severity: Severity,
    /// What is wrong, with the user's values in backticks.
    pub message: String,
    /// Where.
    pub location: Location,
    /// The concrete fix, ideally the corrected JSON fragment.
    pub fix: Option<String>,
    /// The role or resource the policy belongs to, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The synthesised subject that the policy engine let in, when the rule was decided by evaluation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admitted_subject: Option<String>,
}

/// Catalogue entry of a rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Stable id.
    pub id: &'static str,
    /// Short kebab-case name.
    pub name: &'static str,
    /// Default severity.
    pub severity: Severity,
    /// Family used for the corpus metrics.
    pub family: &'static str,
    /// One-line rationale.
    pub rationale: &'static str,
}

macro_rules! rules {
    ($($id:literal, $name:literal, $sev:ident, $fam:literal, $why:literal;)*) => {
        /// Every rule this linter knows, in id order.
        pub const RULES: &[Rule] = &[$(Rule { id: $id, name: $name, severity: Severity::$sev, family: $fam, rationale: $why }),*];
    };
}

rules! {
    "KL001", "missing-sub-condition", Critical, "identity",
        "without a condition on the subject, every workflow of every user of the issuer can assume the role";
    "KL002", "audience-not-pinned", Medium,  "audience",
        "an unpinned or wrong `aud` accepts tokens minted for other relying parties";
    "KL003", "subject-any-owner", Critical, "identity",
        "a subject wildcard over the owner or the whole subject admits repositories of any owner";
    "KL004", "subject-owner-wide", High, "identity",
        "a subject wildcard over the repository admits every repository (or project, workspace) of the owner, including new ones";
    "KL005", "subject-prefix-trap", High, "identity",
        "a trailing `*` glued to a name also matches every name that merely starts with it (`app*` matches `app-evil`)";
    "KL006", "any-branch-subject", Medium, "refs",
        "a wildcard over the ref admits any branch or tag, so anyone who can push a branch can assume the role";
    "KL007", "pull-request-subject", High, "refs",
        "pull-request subjects run code that has not been reviewed onto a protected branch";
    "KL008", "environment-wildcard", High, "refs",
        "a wildcard environment admits environments without protection rules, created by anyone with write access";
    "KL009", "absent-key-passes", High, "operators",
        "`ForAllValues:`, `…IfExists` and negated operators evaluate to true when the key is missing from the token";
    "KL010", "unknown-condition-key", Medium, "keys",
        "a key that AWS never puts in the request context is always missing: the condition is dead or, for absent-key operators, void";
    "KL011", "case-never-matches", Low, "literal",
        "case-sensitive operators with a value in a casing the issuer never emits can never match";
    "KL012", "stringlike-without-wildcard", Info, "literal",
        "`StringLike` without `*` or `?` is an exact match; `StringEquals` says so";
    "KL013", "wildcard-in-stringequals", Low, "literal",
        "`StringEquals` treats `*` literally, so the value never matches and the role never works";
    "KL014", "github-guardrail-refuses", High, "guardrail",
        "IAM refuses new GitHub trust policies without a scoped `sub` or `job_workflow_ref` condition; older roles are not re-checked and stay open";
    "KL015", "github-guardrail-bypassed", High, "guardrail",
        "the policy passes IAM's GitHub write-time check (which only looks at the first value) yet still admits foreign subjects";
    "KL016", "unconditioned-sibling-allow", Critical, "identity",
        "one Allow statement without conditions makes every condition of its siblings irrelevant";
    "KL017", "principal-everyone", Critical, "principal",
        "`Principal: \"*\"` lets any AWS or federated identity assume the role, subject only to conditions";
    "KL018", "not-principal", High, "principal",
        "`NotPrincipal` is not allowed in trust policies and with Allow it trusts everyone not listed";
    "KL019", "broad-action", Medium, "principal",
        "`sts:*`, `*` or `NotAction` grants more than the web-identity assume, e.g. `sts:AssumeRole` and tagging";
    "KL020", "issuer-subject-mismatch", Medium, "provider",
        "the subject is in another issuer's format: the statement can never match, or it trusts the wrong issuer";
    "KL021", "admin-policy-on-ci-role", High, "permissions",
        "an OIDC-assumable CI role with administrator or power-user permissions turns any trust-policy slip into account takeover";
    "KL022", "long-session-deploy-role", Low, "permissions",
        "sessions longer than one hour outlive the CI job and widen the window for stolen credentials";
    "KL023", "gitlab-path-without-id", Medium, "provider",
        "GitLab project paths are reusable after a rename or transfer; without `project_id` another project can mint the same subject";
    "KL024", "circleci-project-wide", Medium, "provider",
        "a CircleCI trust scoped only to the project admits any user's pipeline and SSH-rerun debug sessions";
    "KL025", "volatile-subject", Low, "literal",
        "the subject pins a value that changes every run (Bitbucket step UUID), so the role works once and then never";
}

/// Looks up a rule by id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}
