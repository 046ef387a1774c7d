//! The GitHub Actions side: claim sets, `sub` formats, discovery document and the runner's
//! request token, as GitHub produces them (reference `github-actions-oidc.md` §1–4).
//!
//! Details that users' trust policies depend on and that are easy to get wrong: every custom
//! claim is a JSON **string** (ids, counters, `ref_protected`); only `iat`/`nbf`/`exp` are
//! numbers; the lifetime is 300 s with `nbf` 300 s before `iat`; the default audience is
//! `https://github.com/OWNER`; `sub` context precedence is environment > pull_request > ref; a `:`
//! inside a value becomes `%3A`.

use crate::error::OidcError;
use crate::json::parse_strict;
use aws_lc_rs::{digest, hmac, rand};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// GitHub.com's issuer, the default `iss` so users' real trust policies work unchanged.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// The enterprise form of the issuer (`include_enterprise_slug`):
/// `https://token.actions.githubusercontent.com/<slug>`.
pub fn enterprise_issuer(slug: &str) -> String {
    format!("{GITHUB_ISSUER}/{slug}")
}

/// Token lifetime GitHub uses: `exp = iat + 300`, `nbf = iat - 300` (observed 2025–2026).
pub const TOKEN_LIFETIME: u64 = 300;

/// How far before `iat` GitHub sets `nbf`.
pub const NOT_BEFORE_SKEW: u64 = 300;

/// The `claims_supported` list of GitHub's discovery document (2026), in its order.
pub const CLAIMS_SUPPORTED: [&str; 36] = [
    "sub",
    "aud",
    "exp",
    "iat",
    "iss",
    "jti",
    "nbf",
    "ref",
    "sha",
    "repository",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "enterprise",
    "enterprise_id",
    "run_id",
    "run_number",
    "run_attempt",
    "actor",
    "actor_id",
    "workflow",
    "workflow_ref",
    "workflow_sha",
    "head_ref",
    "base_ref",
    "event_name",
    "ref_type",
    "ref_protected",
    "environment",
    "environment_node_id",
    "job_workflow_ref",
    "job_workflow_sha",
    "repository_visibility",
    "runner_environment",
    "issuer_scope",
    "check_run_id",
];

/// A customised `sub` (GitHub's OIDC customisation API).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SubjectTemplate {
    /// The repository's `use_default`: true → GitHub's default `sub` (keys ignored).
    pub use_default: bool,
    /// The repository's `include_claim_keys` (used when `use_default` is false and non-empty).
    pub include_claim_keys: Vec<String>,
    /// The organisation's `include_claim_keys`; applies only when the repository opted out of
    /// the default (`use_default: false`) without keys of its own.
    pub org_template: Option<Vec<String>>,
}

/// Everything GitHub knows about a job that ends up in its ID token.
///
/// Empty strings in derivable fields mean "derive": `repository_owner` from `repository`,
/// `ref_type` from `ref`, `workflow_ref` from the repository, workflow file and ref,
/// `job_workflow_ref` from `workflow_ref`, the workflow shas from `sha`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct JobContext {
    /// `owner/repo`, in GitHub's stored casing.
    pub repository: String,
    /// The owner; derived from `repository` when empty.
    pub repository_owner: String,
    /// Numeric id, as a decimal string.
    pub repository_id: String,
    /// Numeric id, as a decimal string.
    pub repository_owner_id: String,
    /// `public`, `private` or `internal`.
    pub repository_visibility: String,
    /// Git ref, e.g. `refs/heads/main`, `refs/tags/v1`, `refs/pull/42/merge`; `""` for a
    /// deployment on a bare sha.
    #[serde(rename = "ref")]
    pub ref_: String,
    /// `branch` or `tag`; derived from `ref` when empty.
    pub ref_type: String,
    /// Whether the ref is protected (rendered `"true"`/`"false"`).
    pub ref_protected: bool,
    /// Commit sha, 40 hex.
    pub sha: String,
    /// Event name: `push`, `pull_request`, `workflow_dispatch`, `schedule`, …
    pub event_name: String,
    /// The job's `environment:`, if it declares one.
    pub environment: Option<String>,
    /// Node id of the environment; derived when the environment is set and this is `None`.
    pub environment_node_id: Option<String>,
    /// Login of the actor.
    pub actor: String,
    /// Numeric id of the actor.
    pub actor_id: String,
    /// Workflow `name:` (or its path).
    pub workflow: String,
    /// `owner/repo/.github/workflows/FILE@REF`; derived when empty.
    pub workflow_ref: String,
    /// Sha of the workflow file's commit; `sha` when empty.
    pub workflow_sha: String,
    /// The job's workflow file ref (differs from `workflow_ref` in reusable workflows);
    /// `workflow_ref` when empty.
    pub job_workflow_ref: String,
    /// Sha for `job_workflow_ref`; `workflow_sha` when empty.
    pub job_workflow_sha: String,
    /// Workflow run id.
    pub run_id: String,
    /// Run number.
    pub run_number: String,
    /// Run attempt.
    pub run_attempt: String,
    /// `github-hosted` or `self-hosted`.
    pub runner_environment: String,
    /// Enterprise slug, when the owner belongs to one.
    pub enterprise: Option<String>,
    /// Enterprise id, when the owner belongs to one.
    pub enterprise_id: Option<String>,
    /// PR base branch; `""` outside pull-request events.
    pub base_ref: String,
    /// PR head branch; `""` outside pull-request events.
    pub head_ref: String,
    /// Check run id of the job (claim since 2025-11), when set.
    pub check_run_id: Option<String>,
    /// Custom repository properties, rendered as `repo_property_<name>` claims.
    pub repo_properties: BTreeMap<String, String>,
    /// Use the immutable subject form `repo:OWNER@OWNER_ID/REPO@REPO_ID:…`.
    pub immutable_subject: bool,
    /// A customised `sub`, if the repository or organisation set one.
    pub subject_template: Option<SubjectTemplate>,
}

/// A decimal id of `digits` digits derived from `kind` and `name`: stable across runs so a
/// repository keeps its id, different between names.
fn derived_id(kind: &str, name: &str, digits: u32) -> String {
    let d = digest::digest(&digest::SHA256, format!("{kind}:{name}").as_bytes());
    let mut n: u64 = 0;
    for b in d.as_ref().iter().take(8) {
        n = (n << 8) | u64::from(*b);
    }
    let low = 10u64.saturating_pow(digits.saturating_sub(1));
    let span = low.saturating_mul(9).max(1);
    (low + n % span).to_string()
}

fn derived_hex(kind: &str, name: &str) -> String {
    let d = digest::digest(
        &digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{kind}:{name}").as_bytes(),
    );
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn split_repo(repository: &str) -> Result<(&str, &str), OidcError> {
    match repository.split_once('/') {
        Some((o, n))
            if !o.is_empty()
                && !n.is_empty()
                && !n.contains('/')
                && !repository.contains(':')
                && !repository.chars().any(char::is_whitespace) =>
        {
            Ok((o, n))
        }
        _ => Err(OidcError::context(format!(
            "repository `{repository}` is not of the form OWNER/REPO"
        ))),
    }
}

impl JobContext {
    /// A push to `refs/heads/main` of `repo` (`owner/name`) with plausible, deterministic ids,
    /// sha and run numbers derived from the names; the actor is the owner.
    pub fn for_repo(repo: &str) -> Self {
        let owner = repo.split('/').next().unwrap_or(repo).to_owned();
        Self {
            repository: repo.to_owned(),
            repository_owner: owner.clone(),
            repository_id: derived_id("repository", repo, 9),
            repository_owner_id: derived_id("owner", &owner, 8),
            repository_visibility: "private".to_owned(),
            ref_: "refs/heads/main".to_owned(),
            ref_type: String::new(),
            ref_protected: false,
            sha: derived_hex("sha", repo),
            event_name: "push".to_owned(),
            environment: None,
            environment_node_id: None,
            actor: owner.clone(),
            actor_id: derived_id("actor", &owner, 8),
            workflow: "CI".to_owned(),
            workflow_ref: String::new(),
            workflow_sha: String::new(),
            job_workflow_ref: String::new(),
            job_workflow_sha: String::new(),
            run_id: derived_id("run", repo, 11),
            run_number: "1".to_owned(),
            run_attempt: "1".to_owned(),
            runner_environment: "github-hosted".to_owned(),
            enterprise: None,
            enterprise_id: None,
            base_ref: String::new(),
            head_ref: String::new(),
            check_run_id: None,
            repo_properties: BTreeMap::new(),
            immutable_subject: false,
            subject_template: None,
        }
    }

    /// Turns the context into a `pull_request` run of PR `number` from `head_ref` into
    /// `base_ref`, as GitHub sets it: ref `refs/pull/<number>/merge`, `head_ref`/`base_ref` set,
    /// ref type `branch`.
    pub fn set_pull_request(&mut self, number: u64, head_ref: &str, base_ref: &str) {
        self.event_name = "pull_request".to_owned();
        self.ref_ = format!("refs/pull/{number}/merge");
        self.ref_type = String::new();
        self.head_ref = head_ref.to_owned();
        self.base_ref = base_ref.to_owned();
    }

    fn owner(&self) -> Result<&str, OidcError> {
        let (owner, _) = split_repo(&self.repository)?;
        Ok(if self.repository_owner.is_empty() {
            owner
        } else {
            &self.repository_owner
        })
    }

    fn ref_type(&self) -> String {
        if !self.ref_type.is_empty() {
            self.ref_type.clone()
        } else if self.ref_.starts_with("refs/tags/") {
            "tag".to_owned()
        } else if self.ref_.is_empty() {
            String::new()
        } else {
            "branch".to_owned()
        }
    }

    fn workflow_ref(&self) -> String {
        if self.workflow_ref.is_empty() {
            format!("{}/.github/workflows/ci.yml@{}", self.repository, self.ref_)
        } else {
            self.workflow_ref.clone()
        }
    }
}

/// Every claim except `jti`, `sub`, `aud`, `iss` and the dates, in GitHub's order.
fn job_claims(ctx: &JobContext) -> Result<Map<String, Value>, OidcError> {
    let owner = ctx.owner()?.to_owned();
    let workflow_ref = ctx.workflow_ref();
    let workflow_sha = if ctx.workflow_sha.is_empty() {
        ctx.sha.clone()
    } else {
        ctx.workflow_sha.clone()
    };
    let job_workflow_ref = if ctx.job_workflow_ref.is_empty() {
        workflow_ref.clone()
    } else {
        ctx.job_workflow_ref.clone()
    };
    let job_workflow_sha = if ctx.job_workflow_sha.is_empty() {
        workflow_sha.clone()
    } else {
        ctx.job_workflow_sha.clone()
    };
    let mut m = Map::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_owned(), Value::String(v));
    };
    put("ref", ctx.ref_.clone());
    put("sha", ctx.sha.clone());
    put("repository", ctx.repository.clone());
    put("repository_owner", owner);
    put("repository_owner_id", ctx.repository_owner_id.clone());
    if let Some(e) = &ctx.enterprise {
        put("enterprise", e.clone());
    }
    if let Some(e) = &ctx.enterprise_id {
        put("enterprise_id", e.clone());
    }
    put("run_id", ctx.run_id.clone());
    put("run_number", ctx.run_number.clone());
    put("run_attempt", ctx.run_attempt.clone());
    put("repository_visibility", ctx.repository_visibility.clone());
    put("repository_id", ctx.repository_id.clone());
    put("actor_id", ctx.actor_id.clone());
    put("actor", ctx.actor.clone());
    put("workflow", ctx.workflow.clone());
    put("head_ref", ctx.head_ref.clone());
    put("base_ref", ctx.base_ref.clone());
    put("event_name", ctx.event_name.clone());
    put("ref_protected", ctx.ref_protected.to_string());
    put("ref_type", ctx.ref_type());
    put("workflow_ref", workflow_ref);
    put("workflow_sha", workflow_sha);
    if let Some(env) = &ctx.environment {
        let node = match &ctx.environment_node_id {
            Some(n) => n.clone(),
            None => {
                let d = digest::digest(
                    &digest::SHA256,
                    format!("{}:{env}", ctx.repository).as_bytes(),
                );
                let b: String = STANDARD_NO_PAD
                    .encode(d.as_ref())
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(16)
                    .collect();
                format!("EN_{b}")
            }
        };
        put("environment", env.clone());
        put("environment_node_id", node);
    }
    put("job_workflow_ref", job_workflow_ref);
    put("job_workflow_sha", job_workflow_sha);
    put("runner_environment", ctx.runner_environment.clone());
    if let Some(c) = &ctx.check_run_id {
        put("check_run_id", c.clone());
    }
    for (k, v) in &ctx.repo_properties {
        put(&format!("repo_property_{k}"), v.clone());
    }
    Ok(m)
}

/// `:` inside a value becomes `%3A`, so the `key:value` pairs of `sub` stay unambiguous.
fn escape(v: &str) -> String {
    v.replace(':', "%3A")
}

fn default_context(ctx: &JobContext) -> String {
    if let Some(env) = &ctx.environment {
        format!("environment:{}", escape(env))
    } else if ctx.event_name == "pull_request" {
        "pull_request".to_owned()
    } else {
        format!("ref:{}", escape(&ctx.ref_))
    }
}

fn repo_segment(ctx: &JobContext) -> Result<String, OidcError> {
    let (owner, name) = split_repo(&ctx.repository)?;
    if ctx.immutable_subject {
        if ctx.repository_owner_id.is_empty() || ctx.repository_id.is_empty() {
            return Err(OidcError::context(
                "the immutable subject needs repository_owner_id and repository_id",
            ));
        }
        Ok(format!(
            "repo:{owner}@{}/{name}@{}",
            ctx.repository_owner_id, ctx.repository_id
        ))
    } else {
        Ok(format!("repo:{}", ctx.repository))
    }
}

/// Keys GitHub's customisation API refuses in `include_claim_keys` (observed), or that make
/// every token request fail.
const REFUSED_TEMPLATE_KEYS: [&str; 5] =
    ["sha", "enterprise", "enterprise_id", "ref_protected", "aud"];

fn check_template_keys(keys: &[String]) -> Result<(), OidcError> {
    for (i, k) in keys.iter().enumerate() {
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(OidcError::context(format!(
                "subject template key `{k}` is not [A-Za-z0-9_]+"
            )));
        }
        if keys.iter().take(i).any(|p| p == k) {
            return Err(OidcError::context(format!(
                "subject template key `{k}` is repeated"
            )));
        }
        if REFUSED_TEMPLATE_KEYS.contains(&k.as_str()) {
            return Err(OidcError::context(format!(
                "subject template key `{k}` is refused by GitHub"
            )));
        }
    }
    Ok(())
}

fn render_subject(ctx: &JobContext, job: &Map<String, Value>) -> Result<String, OidcError> {
    let repo = repo_segment(ctx)?;
    let keys: Option<&[String]> = match &ctx.subject_template {
        None => None,
        Some(t) if t.use_default => None,
        Some(t) if !t.include_claim_keys.is_empty() => Some(&t.include_claim_keys),
        Some(t) => t.org_template.as_deref().filter(|k| !k.is_empty()),
    };
    let Some(keys) = keys else {
        return Ok(format!("{repo}:{}", default_context(ctx)));
    };
    check_template_keys(keys)?;
    let mut parts = Vec::with_capacity(keys.len());
    for k in keys {
        match k.as_str() {
            "repo" => parts.push(repo.clone()),
            "context" => parts.push(default_context(ctx)),
            other => match job.get(other) {
                Some(Value::String(v)) => parts.push(format!("{other}:{}", escape(v))),
                _ => {
                    return Err(OidcError::context(format!(
                        "subject template key `{other}` has no value for this job"
                    )));
                }
            },
        }
    }
    Ok(parts.join(":"))
}

/// The `sub` GitHub would sign for this job: default, customised, or immutable form.
pub fn subject(ctx: &JobContext) -> Result<String, OidcError> {
    let job = job_claims(ctx)?;
    render_subject(ctx, &job)
}

/// The audience GitHub uses when the job asks for none: `https://github.com/OWNER`, or
/// `https://HOSTNAME/OWNER` for a GHES issuer (`https://HOSTNAME/_services/token`).
pub fn default_audience(issuer: &str, owner: &str) -> String {
    if let Some(base) = issuer
        .trim_end_matches('/')
        .strip_suffix("/_services/token")
    {
        format!("{base}/{owner}")
    } else {
        format!("https://github.com/{owner}")
    }
}

/// The full claim set GitHub signs for this job, in GitHub's emission order: `jti`, `sub`,
/// `aud`, the job claims (all strings), then `iss`, `nbf = now - 300`, `exp = now + 300`,
/// `iat = now`. `audience` `None` or empty gives the default audience.
pub fn claims(
    ctx: &JobContext,
    issuer: &str,
    audience: Option<&str>,
    now: u64,
    jti: &str,
) -> Result<Map<String, Value>, OidcError> {
    let job = job_claims(ctx)?;
    let sub = render_subject(ctx, &job)?;
    let aud = match audience.filter(|a| !a.is_empty()) {
        Some(a) => a.to_owned(),
        None => default_audience(issuer, ctx.owner()?),
    };
    let mut m = Map::new();
    m.insert("jti".to_owned(), Value::String(jti.to_owned()));
    m.insert("sub".to_owned(), Value::String(sub));
    m.insert("aud".to_owned(), Value::String(aud));
    m.extend(job);
    m.insert("iss".to_owned(), Value::String(issuer.to_owned()));
    m.insert("nbf".to_owned(), now.saturating_sub(NOT_BEFORE_SKEW).into());
    m.insert("exp".to_owned(), now.saturating_add(TOKEN_LIFETIME).into());
    m.insert("iat".to_owned(), now.into());
    Ok(m)
}

/// A fresh `jti` (UUID v4), new for every token as on GitHub.
pub fn new_jti() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The discovery document GitHub publishes, with its 7 members; `jwks_uri` is
/// `<issuer>/.well-known/jwks`.
pub fn discovery_document(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{}/.well-known/jwks", issuer.trim_end_matches('/')),
        "subject_types_supported": ["public", "pairwise"],
        "response_types_supported": ["id_token"],
        "claims_supported": CLAIMS_SUPPORTED.as_slice(),
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid"],
    })
}

/// The runner's bearer token (`ACTIONS_ID_TOKEN_REQUEST_TOKEN`): it binds a [`JobContext`] and
/// an expiry, HMAC-SHA256 signed with a server secret, so the token endpoint needs no state.
///
/// Format: `krt1.<base64url(JSON {"exp":…,"ctx":…})>.<base64url(HMAC)>`.
#[derive(Debug, Clone, Copy)]
pub struct RequestToken;

const REQUEST_TOKEN_PREFIX: &str = "krt1.";

/// Shortest HMAC key accepted for request tokens, in bytes.
pub const MIN_REQUEST_TOKEN_KEY_LEN: usize = 32;

/// Longest request token [`RequestToken::open`] reads.
pub const MAX_REQUEST_TOKEN_LEN: usize = 64 * 1024;

#[derive(Serialize, Deserialize)]
struct RequestTokenBody {
    exp: u64,
    ctx: JobContext,
}

impl RequestToken {
    /// A random key for [`RequestToken::issue`] (32 bytes).
    pub fn new_key() -> Result<[u8; 32], OidcError> {
        let mut k = [0u8; 32];
        rand::fill(&mut k).map_err(|_| OidcError::key("random generator failed"))?;
        Ok(k)
    }

    fn check_key(key: &[u8]) -> Result<hmac::Key, OidcError> {
        if key.len() < MIN_REQUEST_TOKEN_KEY_LEN {
            return Err(OidcError::key(format!(
                "request token key of {} bytes; at least {MIN_REQUEST_TOKEN_KEY_LEN} are needed",
                key.len()
            )));
        }
        Ok(hmac::Key::new(hmac::HMAC_SHA256, key))
    }

    /// Issues a request token for `ctx`, valid until `now + ttl`.
    pub fn issue(ctx: &JobContext, key: &[u8], now: u64, ttl: u64) -> Result<String, OidcError> {
        let key = Self::check_key(key)?;
        let body = RequestTokenBody {
            exp: now.saturating_add(ttl),
            ctx: ctx.clone(),
        };
        let body = serde_json::to_vec(&body)
            .map_err(|e| OidcError::request_token(format!("encoding: {e}")))?;
        let mut out = String::from(REQUEST_TOKEN_PREFIX);
        out.push_str(&URL_SAFE_NO_PAD.encode(body));
        let tag = hmac::sign(&key, out.as_bytes());
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(tag.as_ref()));
        if out.len() > MAX_REQUEST_TOKEN_LEN {
            return Err(OidcError::request_token("job context too large"));
        }
        Ok(out)
    }

    /// Checks a request token and returns its job context. The MAC is compared in constant
    /// time before anything else is decoded; altered tokens, tokens signed with another key and
    /// expired tokens are refused.
    pub fn open(token: &str, key: &[u8], now: u64) -> Result<JobContext, OidcError> {
        let key = Self::check_key(key)?;
        if token.len() > MAX_REQUEST_TOKEN_LEN {
            return Err(OidcError::request_token("token too long"));
        }
        let (signed, tag) = token
            .rsplit_once('.')
            .ok_or_else(|| OidcError::request_token("not a keyless request token"))?;
        let Some(body) = signed.strip_prefix(REQUEST_TOKEN_PREFIX) else {
            return Err(OidcError::request_token("not a keyless request token"));
        };
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| OidcError::request_token("signature is not base64url"))?;
        hmac::verify(&key, signed.as_bytes(), &tag).map_err(|_| {
            OidcError::request_token("signature does not match (altered or unknown token)")
        })?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| OidcError::request_token("body is not base64url"))?;
        let value = parse_strict(&body)
            .map_err(|e| OidcError::request_token(format!("body is not JSON: {e}")))?;
        let body: RequestTokenBody = serde_json::from_value(value)
            .map_err(|e| OidcError::request_token(format!("body: {e}")))?;
        if now >= body.exp {
            return Err(OidcError::RequestTokenExpired {
                expired_at: body.exp,
                now,
            });
        }
        Ok(body.ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_have_the_asked_digits() {
        for d in [6, 8, 9, 11] {
            let id = derived_id("k", "n", d);
            assert_eq!(id.len(), d as usize, "{id}");
            assert!(!id.starts_with('0'));
        }
        assert_ne!(derived_id("k", "a", 9), derived_id("k", "b", 9));
    }

    #[test]
    fn escape_only_touches_colons() {
        assert_eq!(escape("a:b:c"), "a%3Ab%3Ac");
        assert_eq!(escape("refs/heads/x y"), "refs/heads/x y");
    }

    #[test]
    fn context_precedence_is_environment_then_pull_request_then_ref() {
        let mut c = JobContext::for_repo("o/r");
        c.event_name = "pull_request".into();
        c.environment = Some("e".into());
        assert_eq!(default_context(&c), "environment:e");
        c.environment = None;
        assert_eq!(default_context(&c), "pull_request");
        c.event_name = "push".into();
        assert_eq!(default_context(&c), "ref:refs/heads/main");
    }

    #[test]
    fn immutable_subject_needs_ids() {
        let mut c = JobContext::for_repo("o/r");
        c.immutable_subject = true;
        c.repository_id.clear();
        assert!(subject(&c).is_err());
    }

    #[test]
    fn pull_request_helper_sets_githubs_fields() {
        let mut c = JobContext::for_repo("o/r");
        c.set_pull_request(42, "feature/x", "main");
        let m = claims(&c, GITHUB_ISSUER, None, 1000, "j").unwrap();
        assert_eq!(m["sub"], "repo:o/r:pull_request");
        assert_eq!(m["ref"], "refs/pull/42/merge");
        assert_eq!(m["ref_type"], "branch");
        assert_eq!(m["head_ref"], "feature/x");
        assert_eq!(m["base_ref"], "main");
        assert_eq!(m["event_name"], "pull_request");
        assert_eq!(
            m["workflow_ref"],
            "o/r/.github/workflows/ci.yml@refs/pull/42/merge"
        );
    }

    #[test]
    fn enterprise_issuer_form() {
        let iss = enterprise_issuer("acme");
        assert_eq!(iss, "https://token.actions.githubusercontent.com/acme");
        assert_eq!(
            discovery_document(&iss)["jwks_uri"],
            "https://token.actions.githubusercontent.com/acme/.well-known/jwks"
        );
    }

    #[test]
    fn owner_is_derived_when_empty() {
        let mut c = JobContext::for_repo("octo/r");
        c.repository_owner.clear();
        let m = claims(&c, GITHUB_ISSUER, None, 1000, "j").unwrap();
        assert_eq!(m["repository_owner"], "octo");
        assert_eq!(m["aud"], "https://github.com/octo");
    }
}
