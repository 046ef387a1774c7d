//! Synthesised tokens: the intended caller of a statement, and mutations of it that must be
//! refused (another owner, another repository, a name-prefix sibling, another branch, a tag, a
//! pull request, another environment, another run phase, another user, a wrong audience, and the
//! same with optional claims missing).
//!
//! The intended caller is read from the statement itself (its tightest `sub` value and its other
//! pinned claims), so a probe differs from what the author meant in exactly one respect. Only
//! claims the issuer really emits and AWS really exposes are put in a probe's context.

use crate::eval::Context;
use crate::model::{Condition, Statement};
use crate::provider::Issuer;

/// What a probe changes relative to the intended caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// Another owner / organisation / group (or another namespace for Kubernetes).
    OtherOwner,
    /// Another repository / project / workspace of the same owner.
    OtherRepo,
    /// A repository whose name starts with the intended one.
    PrefixRepo,
    /// Another branch.
    OtherBranch,
    /// A tag (or, for GitLab, a tag with the branch's name).
    Tag,
    /// A branch whose name starts with the intended one.
    PrefixBranch,
    /// A pull request.
    PullRequest,
    /// Another environment.
    OtherEnv,
    /// An environment whose name starts with the intended one.
    PrefixEnv,
    /// Another run phase (Terraform Cloud plan vs apply).
    OtherPhase,
    /// Another triggering user (CircleCI).
    OtherUser,
    /// The intended caller with a token minted for another audience.
    WrongAudience,
}

/// One synthesised request.
#[derive(Debug, Clone)]
pub struct Probe {
    /// What was changed.
    pub kind: ProbeKind,
    /// The subject of the token.
    pub sub: String,
    /// Whether optional claims were left out.
    pub missing_claims: bool,
    /// The request context.
    pub ctx: Context,
}

const PROBE: &str = "keyless-probe";

fn has_wild(s: &str) -> bool {
    s.contains('*') || s.contains('?')
}

/// A concrete stand-in for a pattern part: wildcards removed, `fallback` when nothing is left.
fn concrete(part: Option<&str>, fallback: &str) -> String {
    let cleaned: String = part
        .unwrap_or("")
        .chars()
        .filter(|c| *c != '*' && *c != '?')
        .collect();
    let cleaned = cleaned.trim_matches(|c| c == ':' || c == '/').to_string();
    if cleaned.is_empty() {
        fallback.to_string()
    } else {
        cleaned
    }
}

/// A name that the pattern `raw` admits but that differs from the intended `base`: the
/// wildcards filled with probe text, or the base with a suffix when there is no wildcard.
fn sibling(raw: Option<&str>, base: &str) -> String {
    match raw {
        Some(r) if has_wild(r) => r.replace('*', PROBE).replace('?', "x"),
        _ => format!("{base}-{PROBE}"),
    }
}

/// Values of the positive string conditions on `key` in `stmt`, in order.
fn pinned<'a>(stmt: &'a Statement, key: &str) -> Vec<&'a str> {
    stmt.on_key(key)
        .filter(|c| c.positive_string() && !c.negated())
        .flat_map(|c| c.values.iter().map(String::as_str))
        .collect()
}

/// The tightest value: the first without wildcards, else the first.
fn tightest<'a>(values: &[&'a str]) -> Option<&'a str> {
    values
        .iter()
        .find(|v| !has_wild(v))
        .or(values.first())
        .copied()
}

fn baseline_value(c: &Condition) -> String {
    if c.base == "null" {
        return "keyless-baseline".into();
    }
    if c.negated() {
        return "keyless-baseline".into();
    }
    concrete(c.values.first().map(String::as_str), "keyless-baseline")
}

struct Builder<'a> {
    keep: Option<&'a [String]>,
    prefix: &'a str,
    issuer: Issuer,
    base: Context,
    probes: Vec<Probe>,
}

impl Builder<'_> {
    fn key(&self, claim: &str) -> String {
        format!("{}:{claim}", self.prefix)
    }

    /// Whether the policy reads `<prefix>:<claim>` (always true without a `keep` list).
    fn kept(&self, claim: &str) -> bool {
        self.keep.is_none_or(|keys| {
            keys.iter().any(|k| {
                k.len() == self.prefix.len() + 1 + claim.len()
                    && k.get(..self.prefix.len())
                        .is_some_and(|p| p.eq_ignore_ascii_case(self.prefix))
                    && k.get(self.prefix.len() + 1..)
                        .is_some_and(|c| c.eq_ignore_ascii_case(claim))
            })
        })
    }

    fn push(&mut self, kind: ProbeKind, sub: String, changes: &[(&str, Option<String>)]) {
        let mut ctx = match self.keep {
            Some(keys) => self.base.only(keys),
            None => self.base.clone(),
        };
        ctx.set(&self.key("sub"), &sub);
        for (claim, value) in changes {
            if !self.kept(claim) {
                continue;
            }
            match value {
                Some(v) => ctx.set(&self.key(claim), v),
                None => ctx.remove(&self.key(claim)),
            }
        }
        let optional: &[&str] = match self.issuer {
            Issuer::GitHub => &["environment", "enterprise_id"],
            Issuer::GitLab => &["environment", "environment_protected", "deployment_tier"],
            _ => &[],
        };
        let optional: Vec<&str> = optional.iter().copied().filter(|c| self.kept(c)).collect();
        if optional.is_empty() {
            self.probes.push(Probe {
                kind,
                sub,
                missing_claims: false,
                ctx,
            });
            return;
        }
        let mut bare = ctx.clone();
        let mut any_removed = false;
        for claim in optional {
            if bare.get(&self.key(claim)).is_some() {
                bare.remove(&self.key(claim));
                any_removed = true;
            }
        }
        self.probes.push(Probe {
            kind,
            sub: sub.clone(),
            missing_claims: false,
            ctx,
        });
        if any_removed {
            self.probes.push(Probe {
                kind,
                sub,
                missing_claims: true,
                ctx: bare,
            });
        }
    }
}

/// Builds every probe for `stmt` trusting the provider with condition-key `prefix`.
///
/// `keep` lists the lower-cased condition keys the whole policy reads: other claims cannot
/// change a decision, so probes carry only those (`None` keeps every claim).
pub fn probes(
    stmt: &Statement,
    prefix: &str,
    issuer: Issuer,
    keep: Option<&[String]>,
) -> Vec<Probe> {
    let mut base = Context::default();
    let known = issuer.known_claims();
    // Claims the author pinned, at the value the author meant.
    for c in &stmt.conditions {
        let Some((p, claim)) = c.key.split_once(':') else {
            continue;
        };
        if !p.eq_ignore_ascii_case(prefix) || claim.eq_ignore_ascii_case("sub") {
            continue;
        }
        if !known.iter().any(|k| k.eq_ignore_ascii_case(claim)) {
            continue;
        }
        if base.get(&c.key).is_none() {
            base.set(&format!("{prefix}:{claim}"), &baseline_value(c));
        }
    }
    let aud_key = format!("{prefix}:aud");
    if base.get(&aud_key).is_none() {
        let aud = issuer
            .expected_audience()
            .and_then(|a| a.first().copied())
            .unwrap_or("sts.amazonaws.com");
        base.set(&aud_key, aud);
    }
    let subs = pinned(stmt, &format!("{prefix}:sub"));
    let sub = tightest(&subs).unwrap_or("");
    let mut b = Builder {
        keep,
        prefix,
        issuer,
        base,
        probes: Vec::new(),
    };
    match issuer {
        Issuer::GitHub => github(&mut b, stmt, sub),
        Issuer::GitLab => gitlab(&mut b, sub),
        Issuer::CircleCi => circleci(&mut b, stmt, sub),
        Issuer::Bitbucket => bitbucket(&mut b, sub),
        Issuer::TerraformCloud => terraform(&mut b, sub),
        Issuer::Kubernetes => kubernetes(&mut b, sub),
        Issuer::Buildkite | Issuer::Other => {
            let intended = concrete(Some(sub), "keyless-intended-subject");
            b.push(ProbeKind::OtherOwner, format!("{PROBE}-subject"), &[]);
            b.push(ProbeKind::PrefixRepo, format!("{intended}-{PROBE}"), &[]);
        }
    }
    // The intended subject with a token minted for someone else.
    let intended_sub = intended_subject(issuer, sub, &b);
    let mut ctx = b.base.clone();
    ctx.set(&b.key("sub"), &intended_sub);
    ctx.set(&aud_key, &format!("https://{PROBE}.example/audience"));
    b.probes.push(Probe {
        kind: ProbeKind::WrongAudience,
        sub: intended_sub,
        missing_claims: false,
        ctx,
    });
    b.probes
}

fn intended_subject(issuer: Issuer, sub: &str, b: &Builder<'_>) -> String {
    if !sub.is_empty() && !has_wild(sub) {
        return sub.to_string();
    }
    match issuer {
        Issuer::GitHub => {
            let p = GhSub::parse(sub, b);
            format!("repo:{}/{}:{}", p.owner, p.repo, p.ctx)
        }
        _ => concrete(Some(sub), "keyless-intended-subject"),
    }
}

struct GhSub {
    owner: String,
    repo: String,
    ctx: String,
    raw_repo: Option<String>,
    raw_ctx: Option<String>,
}

impl GhSub {
    fn parse(sub: &str, b: &Builder<'_>) -> GhSub {
        let repository = b
            .base
            .get(&b.key("repository"))
            .and_then(|v| v.first())
            .cloned();
        let (ro, rr) = repository
            .as_deref()
            .and_then(|r| r.split_once('/'))
            .map_or((None, None), |(o, r)| {
                (Some(o.to_string()), Some(r.to_string()))
            });
        let rest = sub.strip_prefix("repo:");
        let (owner_part, after) = match rest.and_then(|r| r.split_once('/')) {
            Some((o, a)) => (Some(o), Some(a)),
            None => (rest, None),
        };
        let (repo_part, ctx_part) = match after.and_then(|a| a.split_once(':')) {
            Some((r, c)) => (Some(r), Some(c)),
            None => (after, None),
        };
        let owner = if owner_part.is_some_and(|o| !has_wild(o) && !o.is_empty()) {
            concrete(owner_part, "keyless-owner")
        } else {
            ro.unwrap_or_else(|| "keyless-owner".into())
        };
        let repo = if repo_part.is_some_and(|r| !r.is_empty() && r != "*") {
            concrete(repo_part, "keyless-repo")
        } else {
            rr.unwrap_or_else(|| "keyless-repo".into())
        };
        let ctx = match ctx_part {
            Some(c) if c.starts_with("environment:") => {
                format!(
                    "environment:{}",
                    concrete(c.strip_prefix("environment:"), "production")
                )
            }
            Some(c) if c.starts_with("ref:refs/tags/") => {
                format!(
                    "ref:refs/tags/{}",
                    concrete(c.strip_prefix("ref:refs/tags/"), "v1.0.0")
                )
            }
            Some(c) if c.starts_with("ref:refs/heads/") => {
                format!(
                    "ref:refs/heads/{}",
                    concrete(c.strip_prefix("ref:refs/heads/"), "main")
                )
            }
            Some("pull_request") => "pull_request".into(),
            Some(c) if !has_wild(c) && !c.is_empty() => c.to_string(),
            _ => "ref:refs/heads/main".into(),
        };
        GhSub {
            owner,
            repo,
            ctx,
            raw_repo: repo_part.map(str::to_string),
            raw_ctx: ctx_part.map(str::to_string),
        }
    }
}

fn with_id(name: &str, template: &str, id: &str) -> String {
    if template.contains('@') {
        format!("{name}@{id}")
    } else {
        name.to_string()
    }
}

fn github(b: &mut Builder<'_>, stmt: &Statement, sub: &str) {
    let p = GhSub::parse(sub, b);
    let (owner, repo, ctx) = (p.owner.clone(), p.repo.clone(), p.ctx.clone());
    let bare_owner = owner.split('@').next().unwrap_or(&owner).to_string();
    let bare_repo = repo.split('@').next().unwrap_or(&repo).to_string();
    // Derived claims, unless the author pinned them.
    let derived = [
        ("repository", format!("{bare_owner}/{bare_repo}")),
        ("repository_owner_id", "1000001".to_string()),
        ("repository_id", "1000002".to_string()),
        ("actor", "octocat".to_string()),
        ("actor_id", "583231".to_string()),
        ("workflow", "Deploy".to_string()),
        (
            "job_workflow_ref",
            format!("{bare_owner}/{bare_repo}/.github/workflows/deploy.yml@refs/heads/main"),
        ),
    ];
    for (claim, value) in derived {
        if b.base.get(&b.key(claim)).is_none() {
            b.base.set(&b.key(claim), &value);
        }
    }
    let ref_of = |ctx: &str| -> Option<String> { ctx.strip_prefix("ref:").map(str::to_string) };
    if b.base.get(&b.key("ref")).is_none() {
        let r = ref_of(&ctx).unwrap_or_else(|| "refs/heads/main".into());
        b.base.set(&b.key("ref"), &r);
    }
    if let Some(env) = ctx.strip_prefix("environment:") {
        if b.base.get(&b.key("environment")).is_none() {
            b.base.set(&b.key("environment"), env);
        }
    } else if !stmt.on_key(&b.key("environment")).any(|_| true) {
        b.base.remove(&b.key("environment"));
    }
    let jwr = b
        .base
        .get(&b.key("job_workflow_ref"))
        .and_then(|v| v.first())
        .cloned()
        .unwrap_or_default();
    let other_owner = with_id(&format!("{PROBE}-owner"), &owner, "990000001");
    let foreign_jwr = jwr.replacen(&format!("{bare_owner}/"), &format!("{PROBE}-owner/"), 1);
    let foreign_jwr = if foreign_jwr == jwr {
        format!("{PROBE}-owner/{PROBE}-repo/.github/workflows/deploy.yml@refs/heads/main")
    } else {
        foreign_jwr
    };
    b.push(
        ProbeKind::OtherOwner,
        format!("repo:{other_owner}/{repo}:{ctx}"),
        &[
            ("repository", Some(format!("{PROBE}-owner/{bare_repo}"))),
            ("repository_owner_id", Some("990000001".into())),
            ("repository_id", Some("990000002".into())),
            ("enterprise_id", None),
            ("job_workflow_ref", Some(foreign_jwr)),
        ],
    );
    let other_repo = with_id(&format!("{PROBE}-repo"), &repo, "990000003");
    b.push(
        ProbeKind::OtherRepo,
        format!("repo:{owner}/{other_repo}:{ctx}"),
        &[
            ("repository", Some(format!("{bare_owner}/{PROBE}-repo"))),
            ("repository_id", Some("990000003".into())),
        ],
    );
    let raw_repo = p.raw_repo.as_deref().filter(|r| r.len() > 1);
    let sib = sibling(raw_repo, &bare_repo);
    let prefix_repo = with_id(&sib, &repo, "990000004");
    b.push(
        ProbeKind::PrefixRepo,
        format!("repo:{owner}/{prefix_repo}:{ctx}"),
        &[
            ("repository", Some(format!("{bare_owner}/{sib}"))),
            ("repository_id", Some("990000004".into())),
        ],
    );
    let head = format!("repo:{owner}/{repo}");
    let branch = format!("refs/heads/{PROBE}-branch");
    b.push(
        ProbeKind::OtherBranch,
        format!("{head}:ref:{branch}"),
        &[("ref", Some(branch.clone())), ("environment", None)],
    );
    let tag = format!("refs/tags/{PROBE}-tag");
    b.push(
        ProbeKind::Tag,
        format!("{head}:ref:{tag}"),
        &[("ref", Some(tag.clone())), ("environment", None)],
    );
    let raw_ctx = p.raw_ctx.as_deref();
    if let Some(name) = ctx.strip_prefix("ref:refs/heads/") {
        let r = format!(
            "refs/heads/{}",
            sibling(
                raw_ctx.and_then(|c| c.strip_prefix("ref:refs/heads/")),
                name
            )
        );
        b.push(
            ProbeKind::PrefixBranch,
            format!("{head}:ref:{r}"),
            &[("ref", Some(r.clone())), ("environment", None)],
        );
    }
    if let Some(name) = ctx.strip_prefix("ref:refs/tags/") {
        let r = format!(
            "refs/tags/{}",
            sibling(raw_ctx.and_then(|c| c.strip_prefix("ref:refs/tags/")), name)
        );
        b.push(
            ProbeKind::PrefixBranch,
            format!("{head}:ref:{r}"),
            &[("ref", Some(r.clone())), ("environment", None)],
        );
    }
    b.push(
        ProbeKind::PullRequest,
        format!("{head}:pull_request"),
        &[
            ("ref", Some("refs/pull/1/merge".into())),
            ("environment", None),
        ],
    );
    let env = format!("{PROBE}-env");
    b.push(
        ProbeKind::OtherEnv,
        format!("{head}:environment:{env}"),
        &[("environment", Some(env.clone()))],
    );
    if let Some(name) = ctx.strip_prefix("environment:") {
        let e = sibling(raw_ctx.and_then(|c| c.strip_prefix("environment:")), name);
        b.push(
            ProbeKind::PrefixEnv,
            format!("{head}:environment:{e}"),
            &[("environment", Some(e.clone()))],
        );
    }
}

struct GlSub {
    head: String,
    path: String,
    ref_type: String,
    git_ref: String,
}

fn gitlab(b: &mut Builder<'_>, sub: &str) {
    let by_id = sub.starts_with("project_id:");
    let body = sub
        .strip_prefix("project_path:")
        .or_else(|| sub.strip_prefix("project_id:"))
        .unwrap_or("");
    let (path_part, rest) = match body.split_once(":ref_type:") {
        Some((p, r)) => (p, Some(r)),
        None => (body, None),
    };
    let (rt_part, ref_part) = match rest.and_then(|r| r.split_once(":ref:")) {
        Some((t, r)) => (Some(t), Some(r)),
        None => (rest, None),
    };
    let pinned_path = b
        .base
        .get(&b.key("project_path"))
        .and_then(|v| v.first())
        .cloned();
    let s = GlSub {
        head: if by_id {
            "project_id".into()
        } else {
            "project_path".into()
        },
        path: if by_id {
            concrete(Some(path_part), "4242")
        } else if path_part.is_empty() || path_part == "*" {
            pinned_path.unwrap_or_else(|| "group/project".into())
        } else {
            let c = concrete(Some(path_part), "group/project");
            if c.contains('/') {
                c
            } else {
                format!("{c}/project")
            }
        },
        ref_type: match rt_part {
            Some("tag") => "tag".into(),
            _ => "branch".into(),
        },
        git_ref: concrete(ref_part, "main"),
    };
    let (group, project) = s
        .path
        .rsplit_once('/')
        .map_or(("group".to_string(), s.path.clone()), |(g, p)| {
            (g.to_string(), p.to_string())
        });
    let derived = [
        (
            "project_path",
            if by_id {
                "group/project".to_string()
            } else {
                s.path.clone()
            },
        ),
        ("namespace_path", group.clone()),
        (
            "project_id",
            if by_id { s.path.clone() } else { "4242".into() },
        ),
        ("namespace_id", "4243".to_string()),
        ("ref", s.git_ref.clone()),
        ("ref_type", s.ref_type.clone()),
        ("ref_protected", "true".to_string()),
        ("pipeline_source", "push".to_string()),
    ];
    for (claim, value) in derived {
        if b.base.get(&b.key(claim)).is_none() {
            b.base.set(&b.key(claim), &value);
        }
    }
    let render =
        |head: &str, path: &str, rt: &str, r: &str| format!("{head}:{path}:ref_type:{rt}:ref:{r}");
    let path_sib = sibling(
        Some(path_part).filter(|p| p.len() > 1 && !p.ends_with("/*") && !p.contains(':')),
        &s.path,
    );
    let ref_sib = sibling(ref_part.filter(|r| r.len() > 1), &s.git_ref);
    if by_id {
        b.push(
            ProbeKind::OtherRepo,
            render("project_id", "990000002", &s.ref_type, &s.git_ref),
            &[
                ("project_id", Some("990000002".into())),
                ("project_path", Some(format!("{group}/{PROBE}-project"))),
            ],
        );
    } else {
        b.push(
            ProbeKind::OtherOwner,
            render(
                &s.head,
                &format!("{PROBE}-group/{project}"),
                &s.ref_type,
                &s.git_ref,
            ),
            &[
                ("project_path", Some(format!("{PROBE}-group/{project}"))),
                ("namespace_path", Some(format!("{PROBE}-group"))),
                ("project_id", Some("990000001".into())),
                ("namespace_id", Some("990000001".into())),
            ],
        );
        b.push(
            ProbeKind::OtherRepo,
            render(
                &s.head,
                &format!("{group}/{PROBE}-project"),
                &s.ref_type,
                &s.git_ref,
            ),
            &[
                ("project_path", Some(format!("{group}/{PROBE}-project"))),
                ("project_id", Some("990000002".into())),
            ],
        );
        b.push(
            ProbeKind::PrefixRepo,
            render(&s.head, &path_sib, &s.ref_type, &s.git_ref),
            &[
                ("project_path", Some(path_sib.clone())),
                ("project_id", Some("990000003".into())),
            ],
        );
    }
    let unprotected = ("ref_protected", Some("false".to_string()));
    b.push(
        ProbeKind::OtherBranch,
        render(&s.head, &s.path, "branch", &format!("{PROBE}-branch")),
        &[
            ("ref", Some(format!("{PROBE}-branch"))),
            ("ref_type", Some("branch".into())),
            unprotected.clone(),
        ],
    );
    let other_type = if s.ref_type == "tag" { "branch" } else { "tag" };
    b.push(
        ProbeKind::Tag,
        render(&s.head, &s.path, other_type, &s.git_ref),
        &[("ref_type", Some(other_type.into())), unprotected.clone()],
    );
    b.push(
        ProbeKind::PrefixBranch,
        render(&s.head, &s.path, &s.ref_type, &ref_sib),
        &[("ref", Some(ref_sib.clone())), unprotected],
    );
}

fn circleci(b: &mut Builder<'_>, stmt: &Statement, sub: &str) {
    let org_from_prefix = b.prefix.rsplit('/').next().unwrap_or("org").to_string();
    let seg = |name: &str| -> Option<String> {
        let mut parts = sub.split('/');
        while let Some(p) = parts.next() {
            if p == name {
                return parts.next().map(str::to_string);
            }
        }
        None
    };
    let pinned_project = pinned(stmt, &b.key("oidc.circleci.com/project-id"))
        .first()
        .map(|s| s.to_string());
    let org = seg("org")
        .filter(|s| !has_wild(s))
        .unwrap_or(org_from_prefix);
    let project = seg("project")
        .filter(|s| !has_wild(s))
        .or(pinned_project)
        .unwrap_or_else(|| "project-uuid".into());
    let user = seg("user")
        .filter(|s| !has_wild(s))
        .unwrap_or_else(|| "user-uuid".into());
    let vcs = sub
        .find("/vcs-origin/")
        .and_then(|i| sub.get(i..))
        .map(|t| concrete(Some(t), ""))
        .unwrap_or_default();
    let tail = if vcs.is_empty() {
        String::new()
    } else {
        format!("/{vcs}")
    };
    if b.base.get(&b.key("oidc.circleci.com/project-id")).is_none() {
        b.base.set(&b.key("oidc.circleci.com/project-id"), &project);
    }
    let render = |p: &str, u: &str, t: &str| format!("org/{org}/project/{p}/user/{u}{t}");
    let probe_uuid = "99999999-0000-4000-8000-000000000001";
    b.push(
        ProbeKind::OtherRepo,
        render(probe_uuid, &user, &tail),
        &[("oidc.circleci.com/project-id", Some(probe_uuid.into()))],
    );
    b.push(
        ProbeKind::OtherUser,
        render(&project, "99999999-0000-4000-8000-000000000002", &tail),
        &[],
    );
    if !tail.is_empty() {
        let keep_origin = tail.split("/vcs-ref/").next().unwrap_or("").to_string();
        b.push(
            ProbeKind::OtherBranch,
            render(
                &project,
                &user,
                &format!("{keep_origin}/vcs-ref/refs/heads/{PROBE}-branch"),
            ),
            &[],
        );
    }
}

fn bitbucket(b: &mut Builder<'_>, sub: &str) {
    let segs: Vec<&str> = sub.split(':').collect();
    let uuid = |i: usize, fallback: &str| -> String {
        segs.get(i)
            .filter(|s| !has_wild(s) && !s.is_empty())
            .map_or(fallback.to_string(), |s| s.to_string())
    };
    let repo = uuid(0, "{00000000-0000-4000-8000-00000000000a}");
    let probe_repo = "{99999999-0000-4000-8000-000000000003}";
    let probe_env = "{99999999-0000-4000-8000-000000000004}";
    let probe_step = "{99999999-0000-4000-8000-000000000005}";
    let env = if segs.len() >= 3 {
        Some(uuid(1, "{00000000-0000-4000-8000-00000000000b}"))
    } else {
        None
    };
    match &env {
        Some(e) => {
            b.push(
                ProbeKind::OtherRepo,
                format!("{probe_repo}:{e}:{probe_step}"),
                &[],
            );
            b.push(
                ProbeKind::OtherEnv,
                format!("{repo}:{probe_env}:{probe_step}"),
                &[],
            );
            b.push(ProbeKind::OtherEnv, format!("{repo}:{probe_step}"), &[]);
        }
        None => {
            b.push(
                ProbeKind::OtherRepo,
                format!("{probe_repo}:{probe_step}"),
                &[],
            );
            b.push(
                ProbeKind::OtherEnv,
                format!("{repo}:{probe_env}:{probe_step}"),
                &[],
            );
        }
    }
}

fn terraform(b: &mut Builder<'_>, sub: &str) {
    let raw_field = |name: &str| -> Option<String> {
        let marker = format!("{name}:");
        let idx = sub.find(&marker)?;
        let rest = sub.get(idx + marker.len()..)?;
        rest.split(':').next().map(str::to_string)
    };
    let field = |name: &str| -> Option<String> {
        raw_field(name).filter(|v| !has_wild(v) && !v.is_empty())
    };
    let org = field("organization").unwrap_or_else(|| "org".into());
    let project = field("project").unwrap_or_else(|| "Default Project".into());
    let ws = field("workspace").unwrap_or_else(|| "workspace".into());
    let phase = field("run_phase").unwrap_or_else(|| "apply".into());
    let render = |o: &str, p: &str, w: &str, ph: &str| {
        format!("organization:{o}:project:{p}:workspace:{w}:run_phase:{ph}")
    };
    b.push(
        ProbeKind::OtherOwner,
        render(&format!("{PROBE}-org"), &project, &ws, &phase),
        &[],
    );
    b.push(
        ProbeKind::OtherRepo,
        render(&org, &project, &format!("{PROBE}-workspace"), &phase),
        &[],
    );
    b.push(
        ProbeKind::OtherRepo,
        render(&org, &format!("{PROBE}-project"), &ws, &phase),
        &[],
    );
    let raw_ws = raw_field("workspace").filter(|w| w.len() > 1);
    b.push(
        ProbeKind::PrefixRepo,
        render(&org, &project, &sibling(raw_ws.as_deref(), &ws), &phase),
        &[],
    );
    let other_phase = if phase == "plan" { "apply" } else { "plan" };
    b.push(
        ProbeKind::OtherPhase,
        render(&org, &project, &ws, other_phase),
        &[],
    );
}

fn kubernetes(b: &mut Builder<'_>, sub: &str) {
    let rest = sub.strip_prefix("system:serviceaccount:").unwrap_or("");
    let (ns, sa) = rest.split_once(':').unwrap_or((rest, ""));
    let raw_sa = Some(sa).filter(|s| s.len() > 1);
    let ns = concrete(Some(ns), "default");
    let sa_base = concrete(Some(sa), "deployer");
    let sib = sibling(raw_sa, &sa_base);
    let sa = sa_base;
    b.push(
        ProbeKind::OtherOwner,
        format!("system:serviceaccount:{PROBE}-ns:{sa}"),
        &[],
    );
    b.push(
        ProbeKind::OtherRepo,
        format!("system:serviceaccount:{ns}:{PROBE}-sa"),
        &[],
    );
    b.push(
        ProbeKind::PrefixRepo,
        format!("system:serviceaccount:{ns}:{sib}"),
        &[],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siblings_fill_the_wildcard_or_extend_the_name() {
        assert_eq!(
            sibling(Some("release/*"), "release"),
            "release/keyless-probe"
        );
        assert_eq!(sibling(Some("main?"), "main"), "mainx");
        assert_eq!(sibling(Some("main"), "main"), "main-keyless-probe");
        assert_eq!(sibling(None, "app"), "app-keyless-probe");
    }

    #[test]
    fn concrete_parts_drop_wildcards() {
        assert_eq!(concrete(Some("app*"), "x"), "app");
        assert_eq!(concrete(Some("*"), "x"), "x");
        assert_eq!(concrete(None, "x"), "x");
    }

    #[test]
    fn github_probes_change_one_thing() {
        let doc = serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": {"Federated": "p"}, "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {"token.actions.githubusercontent.com:sub": "repo:acme/app:environment:prod"}}}]});
        let policy = crate::model::Policy::from_value(&doc);
        let ps = probes(
            &policy.statements[0],
            "token.actions.githubusercontent.com",
            Issuer::GitHub,
            None,
        );
        let sub = |k: ProbeKind| {
            ps.iter()
                .find(|p| p.kind == k)
                .map(|p| p.sub.clone())
                .unwrap_or_default()
        };
        assert_eq!(
            sub(ProbeKind::OtherOwner),
            "repo:keyless-probe-owner/app:environment:prod"
        );
        assert_eq!(
            sub(ProbeKind::OtherRepo),
            "repo:acme/keyless-probe-repo:environment:prod"
        );
        assert_eq!(sub(ProbeKind::PullRequest), "repo:acme/app:pull_request");
        assert_eq!(
            sub(ProbeKind::PrefixEnv),
            "repo:acme/app:environment:prod-keyless-probe"
        );
        assert_eq!(
            sub(ProbeKind::WrongAudience),
            "repo:acme/app:environment:prod"
        );
    }
}
