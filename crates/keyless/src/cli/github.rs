//! `keyless github env|token|rotate-key`: talk to the dev issuer of a running `keyless serve`.

use anyhow::{Context as _, bail};
use keyless_oidc::{JobContext, SubjectTemplate};
use serde_json::{Map, Value, json};

#[derive(Debug, clap::Subcommand)]
pub enum GithubCommand {
    /// Print `export ACTIONS_ID_TOKEN_REQUEST_URL=…` and `…_TOKEN=…` for a job context.
    Env(EnvArgs),
    /// Print an ID token (RS256 JWT) for a job context, signed by the issuer's real key.
    Token(TokenArgs),
    /// Rotate the issuer's signing key (the old key stays in the JWKS for an overlap).
    RotateKey(ServerArg),
}

#[derive(Debug, clap::Args)]
pub struct ServerArg {
    /// The `keyless serve` to talk to.
    #[arg(long, default_value = "http://127.0.0.1:4566", env = "KEYLESS_SERVER")]
    pub server: String,
}

/// The GitHub job a token is for.
#[derive(Debug, clap::Args)]
pub struct JobArgs {
    #[command(flatten)]
    pub server: ServerArg,
    /// Repository, `OWNER/REPO`.
    #[arg(long)]
    pub repo: String,
    /// Git ref (`refs/heads/main`, `refs/tags/v1`); a bare name is taken as a branch.
    #[arg(long = "ref")]
    pub ref_: Option<String>,
    /// Event name (`push`, `pull_request`, `workflow_dispatch`, …).
    #[arg(long)]
    pub event: Option<String>,
    /// Deployment environment of the job.
    #[arg(long)]
    pub environment: Option<String>,
    /// Actor login.
    #[arg(long)]
    pub actor: Option<String>,
    /// Actor id.
    #[arg(long)]
    pub actor_id: Option<String>,
    /// Workflow name.
    #[arg(long)]
    pub workflow: Option<String>,
    /// Workflow file path in the repository (for `workflow_ref`).
    #[arg(long)]
    pub workflow_file: Option<String>,
    /// `job_workflow_ref` of a reusable workflow (`OWNER/REPO/.github/workflows/F.yml@REF`).
    #[arg(long)]
    pub job_workflow_ref: Option<String>,
    /// Commit sha.
    #[arg(long)]
    pub sha: Option<String>,
    /// Run id.
    #[arg(long)]
    pub run_id: Option<String>,
    /// Repository id.
    #[arg(long)]
    pub repository_id: Option<String>,
    /// Owner id.
    #[arg(long)]
    pub owner_id: Option<String>,
    /// Repository visibility (`public`, `private`, `internal`).
    #[arg(long)]
    pub visibility: Option<String>,
    /// Base ref of a pull request.
    #[arg(long)]
    pub base_ref: Option<String>,
    /// Head ref of a pull request.
    #[arg(long)]
    pub head_ref: Option<String>,
    /// Enterprise slug.
    #[arg(long)]
    pub enterprise: Option<String>,
    /// `self-hosted` or `github-hosted`.
    #[arg(long)]
    pub runner_environment: Option<String>,
    /// Use the immutable subject form `repo:OWNER@ID/REPO@ID:…`.
    #[arg(long)]
    pub immutable_subject: bool,
    /// Customised subject: the repository's `include_claim_keys`, comma-separated (e.g. `repo,context,job_workflow_ref`).
    #[arg(long, value_delimiter = ',')]
    pub sub_claim_keys: Vec<String>,
    /// Customised subject: the organisation template, applied when the repo opts out of the default without keys of its own.
    #[arg(long, value_delimiter = ',')]
    pub org_sub_claim_keys: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct EnvArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// Emulate a job without `permissions: id-token: write` (no variables are printed).
    #[arg(long)]
    pub no_id_token_permission: bool,
}

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// Audience (`aud`); default `https://github.com/OWNER` as on GitHub.
    #[arg(long)]
    pub audience: Option<String>,
    /// Set or override a claim: `NAME=JSON` (e.g. `exp=1700000000`, `iss="https://x"`); a value that is not JSON is taken as a string.
    #[arg(long = "claim")]
    pub claims: Vec<String>,
    /// Remove a claim.
    #[arg(long = "unset-claim")]
    pub unset: Vec<String>,
}

pub fn run(cmd: GithubCommand) -> anyhow::Result<u8> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match cmd {
            GithubCommand::Env(args) => env(args).await,
            GithubCommand::Token(args) => token(args).await,
            GithubCommand::RotateKey(args) => {
                let v = post(&args.server, "/_keyless/github/rotate-key", &json!({})).await?;
                println!(
                    "{}",
                    v.get("kid").and_then(Value::as_str).unwrap_or_default()
                );
                Ok(0)
            }
        }
    })
}

fn context(job: &JobArgs) -> anyhow::Result<JobContext> {
    if !job.repo.contains('/') || job.repo.starts_with('/') || job.repo.ends_with('/') {
        bail!("--repo `{}` must be OWNER/REPO", job.repo);
    }
    let mut ctx = JobContext::for_repo(&job.repo);
    if let Some(r) = &job.ref_ {
        ctx.ref_ = if r.starts_with("refs/") || r.is_empty() {
            r.clone()
        } else {
            format!("refs/heads/{r}")
        };
        ctx.ref_type = String::new();
    }
    let set = |target: &mut String, v: &Option<String>| {
        if let Some(v) = v {
            *target = v.clone();
        }
    };
    set(&mut ctx.event_name, &job.event);
    set(&mut ctx.actor, &job.actor);
    set(&mut ctx.actor_id, &job.actor_id);
    set(&mut ctx.workflow, &job.workflow);
    set(&mut ctx.sha, &job.sha);
    set(&mut ctx.run_id, &job.run_id);
    set(&mut ctx.repository_id, &job.repository_id);
    set(&mut ctx.repository_owner_id, &job.owner_id);
    set(&mut ctx.repository_visibility, &job.visibility);
    set(&mut ctx.base_ref, &job.base_ref);
    set(&mut ctx.head_ref, &job.head_ref);
    set(&mut ctx.runner_environment, &job.runner_environment);
    if let Some(f) = &job.workflow_file {
        ctx.workflow_ref = format!("{}/{}@{}", job.repo, f.trim_start_matches('/'), ctx.ref_);
        ctx.job_workflow_ref = String::new();
    }
    if let Some(j) = &job.job_workflow_ref {
        ctx.job_workflow_ref = j.clone();
    }
    if ctx.event_name == "pull_request" && job.ref_.is_none() {
        ctx.ref_ = "refs/pull/1/merge".into();
        ctx.ref_type = String::new();
    }
    ctx.environment = job.environment.clone();
    ctx.enterprise = job.enterprise.clone();
    ctx.immutable_subject = job.immutable_subject;
    if !job.sub_claim_keys.is_empty() || !job.org_sub_claim_keys.is_empty() {
        ctx.subject_template = Some(SubjectTemplate {
            use_default: false,
            include_claim_keys: job.sub_claim_keys.clone(),
            org_template: (!job.org_sub_claim_keys.is_empty())
                .then(|| job.org_sub_claim_keys.clone()),
        });
    }
    keyless_oidc::subject(&ctx).map_err(|e| anyhow::anyhow!("invalid job context: {e}"))?;
    Ok(ctx)
}

async fn post(server: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
    let url = format!("{}{path}", server.trim_end_matches('/'));
    let resp = reqwest::Client::new()
        .post(&url)
        .json(body)
        .send()
        .await
        .with_context(|| {
            format!("cannot reach keyless serve at {server} (start it with `keyless serve`)")
        })?;
    let status = resp.status();
    let v: Value = resp
        .json()
        .await
        .with_context(|| format!("{url} did not answer JSON"))?;
    if !status.is_success() {
        bail!(
            "{url}: {} ({status})",
            v.get("message")
                .and_then(Value::as_str)
                .unwrap_or("refused")
        );
    }
    Ok(v)
}

async fn env(args: EnvArgs) -> anyhow::Result<u8> {
    let ctx = context(&args.job)?;
    let v = post(
        &args.job.server.server,
        "/_keyless/github/request-token",
        &json!({"context": ctx, "id_token_permission": !args.no_id_token_permission}),
    )
    .await?;
    if let (Some(url), Some(token)) = (
        v.get("url").and_then(Value::as_str),
        v.get("token").and_then(Value::as_str),
    ) {
        println!("export ACTIONS_ID_TOKEN_REQUEST_URL='{url}'");
        println!("export ACTIONS_ID_TOKEN_REQUEST_TOKEN='{token}'");
    } else {
        println!("unset ACTIONS_ID_TOKEN_REQUEST_URL ACTIONS_ID_TOKEN_REQUEST_TOKEN");
    }
    Ok(0)
}

async fn token(args: TokenArgs) -> anyhow::Result<u8> {
    let ctx = context(&args.job)?;
    let mut claims = Map::new();
    for c in &args.claims {
        let (name, value) = c
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--claim `{c}` must be NAME=JSON"))?;
        if name.is_empty() {
            bail!("--claim `{c}` has no claim name");
        }
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        claims.insert(name.to_owned(), value);
    }
    let v = post(
        &args.job.server.server,
        "/_keyless/github/token",
        &json!({"context": ctx, "audience": args.audience, "claims": claims, "unset": args.unset}),
    )
    .await?;
    println!(
        "{}",
        v.get("token").and_then(Value::as_str).unwrap_or_default()
    );
    Ok(0)
}
