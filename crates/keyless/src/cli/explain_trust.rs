//! The trust-policy side of `keyless explain`: the condition keys STS would build from a real
//! token, a claims file or a GitHub job, and `--which-subjects`.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use base64::Engine;
use keyless_oidc::JobContext;
use keyless_policy::{Context, Decision};
use serde_json::{Map, Value};

use super::explain::ExplainArgs;

/// Where the web identity comes from.
#[derive(Debug, clap::Args)]
pub struct WebIdentityArgs {
    /// A web identity token (JWT) pasted from a failing run; decoded, not verified unless --verify.
    #[arg(long, conflicts_with_all = ["claims", "repo"])]
    pub token: Option<String>,
    /// Verify --token's signature against its issuer's JWKS (fetched over HTTPS from `iss`, or from --jwks-url).
    #[arg(long, requires = "token")]
    pub verify: bool,
    /// JWKS URL for --verify (e.g. http://127.0.0.1:4566/.well-known/jwks of a keyless serve).
    #[arg(long, requires = "verify")]
    pub jwks_url: Option<String>,
    /// A JSON file with the token's claims.
    #[arg(long, conflicts_with = "repo")]
    pub claims: Option<PathBuf>,
    /// A GitHub job instead of a token: `OWNER/REPO`.
    #[arg(long)]
    pub repo: Option<String>,
    /// The job's ref (`refs/heads/main`; a bare name is a branch).
    #[arg(long = "ref")]
    pub ref_: Option<String>,
    /// The job's event (`push`, `pull_request`, …).
    #[arg(long)]
    pub event: Option<String>,
    /// The job's environment.
    #[arg(long)]
    pub environment: Option<String>,
    /// Audience of the job's token.
    #[arg(long, default_value = "sts.amazonaws.com")]
    pub audience: String,
    /// The IAM OIDC provider ARN (default: the trust policy's only `Federated` principal, or the
    /// token issuer's provider in account 123456789012).
    #[arg(long)]
    pub provider_arn: Option<String>,
    /// List which common subjects of --repo the policy admits.
    #[arg(long, requires = "repo")]
    pub which_subjects: bool,
    /// Read the trust policy of this role from an IAM endpoint (real AWS through the standard
    /// credential chain, or a `keyless serve` with --endpoint-url).
    #[arg(long)]
    pub role: Option<String>,
    /// IAM endpoint URL for --role.
    #[arg(long, requires = "role")]
    pub endpoint_url: Option<String>,
}

/// Fetches a role's trust policy into a temporary file (deleted when dropped), so it is read,
/// located and explained like any `--policy` file.
pub(crate) fn fetch_trust_policy(
    role: &str,
    endpoint_url: Option<&str>,
) -> anyhow::Result<tempfile::NamedTempFile> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let encoded = rt.block_on(async {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(url) = endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let iam = aws_sdk_iam::Client::new(&loader.load().await);
        let out = iam
            .get_role()
            .role_name(role)
            .send()
            .await
            .map_err(super::lint::iam_error)
            .with_context(|| format!("reading role `{role}`"))?;
        out.role
            .and_then(|r| r.assume_role_policy_document)
            .ok_or_else(|| anyhow::anyhow!("role `{role}` has no trust policy"))
    })?;
    let text = percent_encoding::percent_decode_str(&encoded)
        .decode_utf8_lossy()
        .into_owned();
    let mut file = tempfile::Builder::new()
        .prefix(&format!("{role}-trust-"))
        .suffix(".json")
        .tempfile()?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    Ok(file)
}

/// Fills `ctx` (and the principal) from --token/--claims/--repo; false when none was given.
pub(crate) fn context_from_token(
    args: &ExplainArgs,
    ctx: &mut Context,
    principal: &mut Option<String>,
) -> anyhow::Result<bool> {
    let w = &args.web_identity;
    let claims = if let Some(token) = &w.token {
        let claims = danger_decode_claims(token)?;
        if w.verify {
            verify(token, &claims, w.jwks_url.as_deref())?;
        }
        claims
    } else if let Some(path) = &w.claims {
        let text = super::read_file(path)?;
        match serde_json::from_str::<Value>(&text)
            .with_context(|| format!("`{}` is not JSON", path.display()))?
        {
            Value::Object(m) => m,
            _ => bail!("`{}` must hold a JSON object of claims", path.display()),
        }
    } else if let Some(repo) = &w.repo {
        job_claims(
            repo,
            w.ref_.as_deref(),
            w.event.as_deref(),
            w.environment.as_deref(),
            &w.audience,
        )?
    } else {
        return Ok(false);
    };
    let provider = match (&w.provider_arn, principal.as_ref()) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => p.clone(),
        (None, None) => default_provider(args, &claims)?,
    };
    *principal = Some(provider.clone());
    add_claims(ctx, &provider, &claims);
    Ok(true)
}

fn add_claims(ctx: &mut Context, provider: &str, claims: &Map<String, Value>) {
    let prefix = provider
        .split_once(":oidc-provider/")
        .map(|(_, p)| p)
        .unwrap_or(provider);
    let s = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    if let Some(aud) = claims.get("aud") {
        let auds: Vec<String> = match aud {
            Value::Array(a) => a.iter().filter_map(s).collect(),
            other => s(other).into_iter().collect(),
        };
        if let Some(first) = auds.into_iter().next() {
            ctx.set(&format!("{prefix}:aud"), vec![first]);
        }
    }
    for key in ["sub", "azp"] {
        if let Some(v) = claims.get(key).and_then(s) {
            ctx.set(&format!("{prefix}:{key}"), vec![v]);
        }
    }
    if keyless_core::sts::is_github_prefix(prefix) {
        for key in keyless_core::sts::GITHUB_CLAIM_KEYS {
            if let Some(v) = claims.get(*key).and_then(s) {
                ctx.set(&format!("{prefix}:{key}"), vec![v]);
            }
        }
    }
}

fn default_provider(args: &ExplainArgs, claims: &Map<String, Value>) -> anyhow::Result<String> {
    // The trust policy's only Federated principal, if it has exactly one.
    let mut found: Vec<String> = Vec::new();
    for p in &args.policies {
        let text = super::read_file(p)?;
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            let statements = match v.get("Statement") {
                Some(Value::Array(a)) => a.clone(),
                Some(o) => vec![o.clone()],
                None => vec![],
            };
            for st in statements {
                match st.pointer("/Principal/Federated") {
                    Some(Value::String(f)) => found.push(f.clone()),
                    Some(Value::Array(a)) => {
                        found.extend(a.iter().filter_map(|x| x.as_str().map(str::to_owned)))
                    }
                    _ => {}
                }
            }
        }
    }
    found.sort();
    found.dedup();
    if found.len() == 1 {
        return Ok(found.remove(0));
    }
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or(keyless_oidc::GITHUB_ISSUER);
    Ok(format!(
        "arn:aws:iam::123456789012:oidc-provider/{}",
        iss.trim_start_matches("https://")
    ))
}

/// Decodes a JWT's claims WITHOUT verifying it: explain shows what a token would be let do;
/// `--verify` is the check that it is genuine.
fn danger_decode_claims(token: &str) -> anyhow::Result<Map<String, Value>> {
    let payload = token.trim().split('.').nth(1).ok_or_else(|| {
        anyhow::anyhow!("--token is not a JWT (expected three dot-separated parts)")
    })?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| anyhow::anyhow!("--token: the claims part is not base64url"))?;
    match serde_json::from_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("--token: the claims are not JSON: {e}"))?
    {
        Value::Object(m) => Ok(m),
        _ => bail!("--token: the claims are not a JSON object"),
    }
}

fn verify(token: &str, claims: &Map<String, Value>, jwks_url: Option<&str>) -> anyhow::Result<()> {
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow::anyhow!("--token has no `iss`"))?
        .to_owned();
    let aud: Vec<String> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => vec![],
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let jwks = rt.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        let url = match jwks_url {
            Some(u) => u.to_owned(),
            None => {
                let disco = http
                    .get(keyless_oidc::discovery::discovery_url(&iss))
                    .send()
                    .await?
                    .bytes()
                    .await?;
                keyless_oidc::jwks_uri_from_discovery(&disco, &iss)?
            }
        };
        anyhow::Ok(http.get(&url).send().await?.bytes().await?)
    })?;
    let keys = keyless_oidc::KeySet::from_jwks_json(&jwks)?;
    let now = keyless_core::Clock::now(&keyless_core::SystemClock);
    keyless_oidc::verify(
        token,
        &keys,
        &keyless_oidc::Expectations::new(&iss, &aud, now),
    )
    .map_err(|e| anyhow::anyhow!("token verification failed: {e} ({})", e.sts_code()))?;
    eprintln!("token verified: signature, issuer and times are valid");
    Ok(())
}

fn job_claims(
    repo: &str,
    ref_: Option<&str>,
    event: Option<&str>,
    environment: Option<&str>,
    audience: &str,
) -> anyhow::Result<Map<String, Value>> {
    if !repo.contains('/') {
        bail!("--repo `{repo}` must be OWNER/REPO");
    }
    let mut ctx = JobContext::for_repo(repo);
    if let Some(r) = ref_ {
        ctx.ref_ = if r.starts_with("refs/") {
            r.to_owned()
        } else {
            format!("refs/heads/{r}")
        };
        ctx.ref_type = String::new();
    }
    if let Some(e) = event {
        ctx.event_name = e.to_owned();
        if e == "pull_request" && ref_.is_none() {
            ctx.ref_ = "refs/pull/1/merge".into();
            ctx.ref_type = String::new();
        }
    }
    ctx.environment = environment.map(str::to_owned);
    let now = keyless_core::Clock::now(&keyless_core::SystemClock);
    keyless_oidc::claims(
        &ctx,
        keyless_oidc::GITHUB_ISSUER,
        Some(audience),
        now,
        "explain",
    )
    .map_err(|e| anyhow::anyhow!("invalid job: {e}"))
}

/// `--which-subjects`: the common subject shapes for a repository, and which the policy admits.
pub(crate) fn which_subjects(args: &ExplainArgs) -> anyhow::Result<u8> {
    let w = &args.web_identity;
    let repo = w.repo.as_deref().unwrap_or_default();
    let (owner, name) = repo
        .split_once('/')
        .ok_or_else(|| anyhow::anyhow!("--repo `{repo}` must be OWNER/REPO"))?;
    let other_repo = format!("{owner}/{name}-other");
    let fork = format!("attacker/{name}");
    // (label, repository, ref, event, environment)
    type Case<'a> = (
        String,
        String,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "default branch".into(),
            repo.into(),
            Some("refs/heads/main"),
            None,
            None,
        ),
        (
            "feature branch".into(),
            repo.into(),
            Some("refs/heads/feature/x"),
            None,
            None,
        ),
        (
            "release tag".into(),
            repo.into(),
            Some("refs/tags/v1.0.0"),
            None,
            None,
        ),
        (
            "pull request".into(),
            repo.into(),
            None,
            Some("pull_request"),
            None,
        ),
        (
            "environment production".into(),
            repo.into(),
            Some("refs/heads/main"),
            None,
            Some("production"),
        ),
        (
            "environment staging".into(),
            repo.into(),
            Some("refs/heads/main"),
            None,
            Some("staging"),
        ),
        (
            format!("another repo of {owner}"),
            other_repo,
            Some("refs/heads/main"),
            None,
            None,
        ),
        (
            "a fork's pull request".into(),
            fork.clone(),
            None,
            Some("pull_request"),
            None,
        ),
        (
            "another owner, same repo name".into(),
            fork,
            Some("refs/heads/main"),
            None,
            None,
        ),
    ];
    let mut rows = Vec::new();
    let mut admitted_any = false;
    for (label, r, ref_, event, env) in cases {
        let claims = job_claims(&r, ref_, event, env, &w.audience)?;
        let mut ctx = Context::new();
        let mut principal = args.principal.clone();
        let provider = match (&w.provider_arn, principal.take()) {
            (Some(p), _) => p.clone(),
            (None, Some(p)) => p,
            (None, None) => default_provider(args, &claims)?,
        };
        add_claims(&mut ctx, &provider, &claims);
        let action = args
            .action
            .clone()
            .unwrap_or_else(|| "sts:AssumeRoleWithWebIdentity".into());
        let eval = super::explain::evaluate(args, &action, Some(&provider), ctx)?;
        let allowed = eval.decision == Decision::Allow;
        admitted_any |= allowed;
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        rows.push(serde_json::json!({"case": label, "sub": sub, "admitted": allowed}));
    }
    match args.format {
        super::explain::Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        super::explain::Format::Text => {
            for r in &rows {
                println!(
                    "{:8} {:32} {}",
                    if r["admitted"].as_bool() == Some(true) {
                        "ADMITTED"
                    } else {
                        "refused"
                    },
                    r["case"].as_str().unwrap_or_default(),
                    r["sub"].as_str().unwrap_or_default()
                );
            }
        }
    }
    Ok(if admitted_any { 0 } else { 1 })
}
