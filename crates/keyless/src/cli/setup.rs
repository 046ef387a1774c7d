//! `keyless setup`: the OIDC tutorial in one command — provider, tightly scoped role,
//! least-privilege policy, workflow — idempotent, with a plan printed before anything changes.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_sdk_iam::config::Region;

use crate::client::iam::{self, Desired};
use crate::client::trust::{self, Permissions, Scope, Subjects};
use crate::client::{diff, workflow};

/// Options of `keyless setup`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("subject").required(true).multiple(true).args(["branch", "environment", "tag"])))]
#[command(group(clap::ArgGroup::new("permissions").multiple(false).args(["s3_bucket", "ecr_repository", "ssm_parameter", "policy"])))]
pub struct SetupArgs {
    /// The repository whose workflows may assume the role, `OWNER/REPO` (GitHub's exact casing).
    #[arg(long)]
    pub repo: String,
    /// Trust pushes to this branch (repeatable): `sub` `repo:OWNER/REPO:ref:refs/heads/B`.
    #[arg(long)]
    pub branch: Vec<String>,
    /// Trust jobs in this deployment environment (repeatable): `repo:OWNER/REPO:environment:E`.
    #[arg(long)]
    pub environment: Vec<String>,
    /// Trust tags matching this pattern (repeatable, `StringLike`): `repo:OWNER/REPO:ref:refs/tags/P`.
    #[arg(long)]
    pub tag: Vec<String>,
    /// Role name.
    #[arg(long)]
    pub role_name: String,
    /// Permissions: sync to this S3 bucket (list, get, put, delete objects).
    #[arg(long)]
    pub s3_bucket: Option<String>,
    /// Permissions: push images to this ECR repository.
    #[arg(long)]
    pub ecr_repository: Option<String>,
    /// With --ecr-repository: also update this ECS service (ARN).
    #[arg(long, requires = "ecr_repository")]
    pub ecs_service: Option<String>,
    /// Permissions: read this SSM parameter.
    #[arg(long)]
    pub ssm_parameter: Option<String>,
    /// Permissions: this identity policy file (JSON).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// The role's MaxSessionDuration in seconds (3600–43200).
    #[arg(long)]
    pub max_session_duration: Option<i32>,
    /// IAM/STS endpoint (else AWS_ENDPOINT_URL_IAM / AWS_ENDPOINT_URL / the AWS default).
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// Region for regional ARNs and the workflow (else the standard chain, else us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    /// The token audience to register and require.
    #[arg(long, default_value = crate::client::DEFAULT_AUDIENCE)]
    pub audience: String,
    /// The issuer (GitHub Enterprise issuers differ).
    #[arg(long, default_value = crate::client::GITHUB_ISSUER)]
    pub issuer: String,
    /// Only print the plan.
    #[arg(long)]
    pub dry_run: bool,
    /// Also write a GitHub Actions workflow using the role to this path.
    #[arg(long)]
    pub workflow: Option<PathBuf>,
    /// Apply without asking.
    #[arg(long)]
    pub yes: bool,
    /// Allow owner-wide or wildcard subjects for a role that can write (dangerous).
    #[arg(long)]
    pub allow_wide_trust: bool,
}

fn valid_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
}

/// Runs `keyless setup`.
pub fn run(args: SetupArgs) -> anyhow::Result<u8> {
    let Some((owner, name)) = args.repo.split_once('/') else {
        bail!("`--repo {}` must be OWNER/REPO", args.repo);
    };
    if owner.is_empty() || name.is_empty() || name.contains('/') {
        bail!("`--repo {}` must be OWNER/REPO", args.repo);
    }
    if !valid_name(&args.role_name) {
        bail!(
            "invalid role name `{}`: 1–64 characters of letters, digits and `_+=,.@-`",
            args.role_name
        );
    }
    if let Some(m) = args.max_session_duration
        && !(3600..=43200).contains(&m)
    {
        bail!("`--max-session-duration {m}` is out of range: IAM accepts 3600 to 43200 seconds");
    }
    if !args.issuer.starts_with("https://") {
        bail!("`--issuer {}` must be an https:// URL", args.issuer);
    }
    for v in args.branch.iter().chain(&args.environment).chain(&args.tag) {
        if v.is_empty() || v.contains(char::is_whitespace) {
            bail!("`{v}` is not a valid branch, environment or tag");
        }
    }
    let permissions = if let Some(b) = &args.s3_bucket {
        Some(Permissions::S3Bucket(b.clone()))
    } else if let Some(r) = &args.ecr_repository {
        Some(Permissions::Ecr {
            repository: r.clone(),
            ecs_service: args.ecs_service.clone(),
        })
    } else if let Some(p) = &args.ssm_parameter {
        Some(Permissions::SsmParameter(p.clone()))
    } else if let Some(path) = &args.policy {
        Some(Permissions::File(super::read_file(path)?))
    } else {
        None
    };
    let subjects = Subjects {
        repo: args.repo.clone(),
        branches: args.branch.clone(),
        environments: args.environment.clone(),
        tags: args.tag.clone(),
    };

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(run_async(args, subjects, permissions))
}

async fn run_async(
    args: SetupArgs,
    subjects: Subjects,
    permissions: Option<Permissions>,
) -> anyhow::Result<u8> {
    let region_chain = match &args.region {
        Some(r) => RegionProviderChain::first_try(Region::new(r.clone())),
        None => RegionProviderChain::default_provider(),
    }
    .or_else(Region::from_static("us-east-1"));
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(region_chain);
    if let Some(url) = &args.endpoint_url {
        loader = loader.endpoint_url(url.clone());
    }
    let shared = loader.load().await;
    let region = shared
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "us-east-1".to_owned());
    let sts = aws_sdk_sts::Client::new(&shared);
    let iam_client = aws_sdk_iam::Client::new(&shared);

    let who = match sts.get_caller_identity().send().await {
        Ok(w) => w,
        Err(e) => {
            use aws_sdk_sts::error::ProvideErrorMetadata as _;
            let detail = match (e.code(), e.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                _ => aws_sdk_sts::error::DisplayErrorContext(&e).to_string(),
            };
            bail!(
                "cannot find out which AWS account to set up (STS GetCallerIdentity failed): {detail}\n  help: give credentials through the standard chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, SSO, …) and, for keyless serve, `--endpoint-url` or AWS_ENDPOINT_URL"
            );
        }
    };
    let account = who.account().unwrap_or_default().to_owned();
    if account.is_empty() {
        bail!("STS GetCallerIdentity returned no account id");
    }
    let host = iam::issuer_host(&args.issuer).to_owned();
    let provider_arn = format!("arn:aws:iam::{account}:oidc-provider/{host}");
    let trust_doc = trust::trust_policy(&provider_arn, &host, &args.audience, &subjects);
    let scope = Scope {
        account: &account,
        region: &region,
    };
    let perm_doc = match &permissions {
        Some(p) => Some((p.label(), p.document(&scope).map_err(anyhow::Error::msg)?)),
        None => None,
    };
    let writes = match (&permissions, &perm_doc) {
        (Some(p), Some((_, d))) => p.writes(d),
        _ => false,
    };

    // Refuse wide trust for a role that can write.
    let wide = subjects.wideness();
    if !wide.is_empty() {
        let list = wide.join("\n  ");
        if writes && !args.allow_wide_trust {
            eprintln!(
                "error: refusing to create a role that can write with wide trust:\n  {list}\n  help: name the exact branches/environments, or pass `--allow-wide-trust` if you really mean it"
            );
            return Ok(1);
        }
        eprintln!("warning: wide trust:\n  {list}");
    }

    // Lint what we are about to create. Findings the request itself explains (a tag pattern is
    // a prefix wildcard by design) are warnings; only a critical one (anyone on the issuer) stops.
    let trust_text = serde_json::to_string_pretty(&trust_doc)?;
    match keyless_lint::lint_document("trust-policy.json", &trust_text) {
        Ok(findings) => {
            let mut blocking = 0;
            for f in &findings {
                if f.severity >= keyless_lint::Severity::Medium {
                    eprintln!("lint: {} [{}] {}", f.severity, f.rule, f.message);
                }
                if f.severity >= keyless_lint::Severity::Critical {
                    blocking += 1;
                }
            }
            if blocking > 0 && !args.allow_wide_trust {
                eprintln!(
                    "error: the trust policy has {blocking} critical lint finding(s); refusing\n  help: narrow the subjects, or pass `--allow-wide-trust`"
                );
                return Ok(1);
            }
        }
        Err(e) => eprintln!("warning: the linter could not read the trust policy: {e}"),
    }

    let desired = Desired {
        issuer: args.issuer.clone(),
        audience: args.audience.clone(),
        role_name: args.role_name.clone(),
        trust: trust_doc,
        max_session_duration: args.max_session_duration,
        permissions: perm_doc,
    };
    let current = match iam::read_current(&iam_client, &desired).await {
        Ok(c) => c,
        Err(e) => return Ok(report_iam(&e)),
    };
    let changes = iam::plan(&desired, &current);
    let role_arn = current
        .role
        .as_ref()
        .map(|r| r.arn.clone())
        .unwrap_or_else(|| format!("arn:aws:iam::{account}:role/{}", args.role_name));

    // The workflow file is part of the plan.
    let workflow_change = match &args.workflow {
        Some(path) => {
            let new = workflow::render(&workflow::WorkflowSpec {
                subjects: &subjects,
                role_arn: &role_arn,
                region: &region,
                audience: &args.audience,
            });
            let old = std::fs::read_to_string(path).ok();
            (old.as_deref() != Some(new.as_str())).then_some((path.clone(), old, new))
        }
        None => None,
    };

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "plan for role `{}` in account {account} (as {}):",
        args.role_name,
        who.arn().unwrap_or("?")
    )?;
    if changes.is_empty() && workflow_change.is_none() {
        writeln!(
            out,
            "  no changes: the OIDC provider, the role and its policy are up to date"
        )?;
        writeln!(out, "role: {role_arn}")?;
        return Ok(0);
    }
    for c in &changes {
        write!(out, "{}", iam::render_change(c))?;
    }
    if let Some((path, old, new)) = &workflow_change {
        match old {
            None => write!(
                out,
                "  + write workflow `{}`:\n{}",
                path.display(),
                diff::render_new(new, "      ")
            )?,
            Some(old) => write!(
                out,
                "  ~ update workflow `{}`:\n{}",
                path.display(),
                diff::render(old, new, "      ", 2)
            )?,
        }
    }
    let total = changes.len() + usize::from(workflow_change.is_some());
    if args.dry_run {
        writeln!(out, "dry run: {total} change(s) planned, nothing applied")?;
        return Ok(0);
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "{total} change(s) planned; pass `--yes` to apply them without a prompt (or `--dry-run` to only plan)"
            );
        }
        write!(out, "apply {total} change(s)? [y/N] ")?;
        out.flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            writeln!(out, "nothing applied")?;
            return Ok(1);
        }
    }
    drop(out);
    if let Err(e) = iam::apply(&iam_client, &changes).await {
        return Ok(report_iam(&e));
    }
    if let Some((path, _, new)) = &workflow_change {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create `{}`", dir.display()))?;
        }
        // Write to a sibling file then rename: never a half-written workflow.
        let tmp = path.with_extension("yml.keyless-tmp");
        std::fs::write(&tmp, new).with_context(|| format!("cannot write `{}`", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "applied {total} change(s)")?;
    writeln!(out, "role: {role_arn}")?;
    writeln!(
        out,
        "next: in the job, `keyless assume --role-arn {role_arn}` (or aws-actions/configure-aws-credentials with role-to-assume)"
    )?;
    Ok(0)
}

/// Prints an IAM failure with a hint; returns the exit status (1: the service refused).
fn report_iam(e: &iam::IamFailure) -> u8 {
    let help = match e.code.as_deref() {
        Some("AccessDenied") => {
            "\n  help: the credentials need iam:*OpenIDConnectProvider*, iam:CreateRole, iam:GetRole, iam:UpdateAssumeRolePolicy, iam:UpdateRole, iam:PutRolePolicy, iam:GetRolePolicy"
        }
        Some("MalformedPolicyDocument") => {
            "\n  help: IAM rejected the document; run `keyless lint` on it for the reason"
        }
        _ => "",
    };
    eprintln!("error: {e}{help}");
    1
}
