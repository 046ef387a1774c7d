//! `keyless assume`: what aws-actions/configure-aws-credentials does, for any CI or shell.
//!
//! ID token (runner endpoint or file) → `AssumeRoleWithWebIdentity` → optionally `AssumeRole`
//! (role chaining) → credentials on stdout or in `$GITHUB_ENV`. Refusals are reported at once with
//! what to change; only transient failures are retried.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::client::jwt::danger_peek_claims;
use crate::client::output::{self, Format, RenderOptions};
use crate::client::retry::{self, RetryPolicy};
use crate::client::sts::{self, AssumeParams, FailureContext, Issued, Step, StsTarget};
use crate::client::{endpoint, token};

/// Longest session AWS allows for a role assumed by role chaining.
const CHAIN_LIMIT_SECONDS: i32 = 3600;

/// Options of `keyless assume`.
#[derive(Debug, clap::Args)]
pub struct AssumeArgs {
    /// Role to assume with the ID token.
    #[arg(long, env = "AWS_ROLE_ARN")]
    pub role_arn: Option<String>,
    /// Role session name (2–64 of `[\w+=,.@-]`); CloudTrail shows it.
    #[arg(long, default_value = crate::client::DEFAULT_SESSION_NAME)]
    pub session_name: String,
    /// Session length in seconds (900–43200, at most the role's MaxSessionDuration; 3600 when chaining).
    #[arg(long, default_value_t = 3600)]
    pub duration: i32,
    /// Region: signing region and default endpoint. Default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1.
    #[arg(long)]
    pub region: Option<String>,
    /// STS endpoint. Default: AWS_ENDPOINT_URL_STS, then AWS_ENDPOINT_URL (both ignored when
    /// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true), then the AWS endpoint of the region.
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// Audience to request from the runner endpoint.
    #[arg(long, default_value = crate::client::DEFAULT_AUDIENCE)]
    pub audience: String,
    /// Read the ID token from this file instead of the runner endpoint (also AWS_WEB_IDENTITY_TOKEN_FILE).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Inline session policy (JSON text, or @FILE) that narrows the session.
    #[arg(long)]
    pub inline_session_policy: Option<String>,
    /// Managed session policy ARN (repeatable).
    #[arg(long = "managed-session-policy")]
    pub managed_session_policies: Vec<String>,
    /// Then assume this role with the first credentials (role chaining, capped at 1 hour by AWS).
    #[arg(long)]
    pub chain_role_arn: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "env")]
    pub format: Format,
    /// With `--format github`: also mask the account id and the assumed-role ARN.
    #[arg(long)]
    pub mask_account_id: bool,
    /// Total tries per call, including the first (1 disables retries).
    #[arg(long, default_value_t = 6)]
    pub retry_max_attempts: u32,
    /// No retry starts later than this many seconds after the first try.
    #[arg(long, default_value_t = 60)]
    pub retry_timeout: u64,
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn valid_session_name(s: &str) -> bool {
    (2..=64).contains(&s.chars().count())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
}

/// Runs `keyless assume`.
pub fn run(args: AssumeArgs) -> anyhow::Result<u8> {
    // Input checks first: a usage error never costs a network round trip.
    let Some(role_arn) = args.role_arn.clone().filter(|r| !r.is_empty()) else {
        bail!(
            "no role to assume\n  help: pass `--role-arn arn:aws:iam::ACCOUNT:role/NAME` or set AWS_ROLE_ARN"
        );
    };
    if !role_arn.starts_with("arn:") {
        bail!(
            "`{role_arn}` is not a role ARN\n  help: it looks like `arn:aws:iam::123456789012:role/deploy`"
        );
    }
    if !valid_session_name(&args.session_name) {
        bail!(
            "invalid session name `{}`: it must be 2–64 characters of letters, digits and `_+=,.@-`",
            args.session_name
        );
    }
    if !(900..=43200).contains(&args.duration) {
        bail!(
            "`--duration {}` is out of range: STS accepts 900 to 43200 seconds",
            args.duration
        );
    }
    if args.chain_role_arn.is_some() && args.duration > CHAIN_LIMIT_SECONDS {
        bail!(
            "`--duration {}` with `--chain-role-arn`: AWS caps sessions assumed by role chaining at 1 hour\n  help: use `--duration 3600` or less",
            args.duration
        );
    }
    let inline_policy = match &args.inline_session_policy {
        Some(p) if p.starts_with('@') => Some(super::read_file(std::path::Path::new(
            p.trim_start_matches('@'),
        ))?),
        other => other.clone(),
    };
    if let Some(p) = &inline_policy {
        serde_json::from_str::<serde_json::Value>(p)
            .map_err(|e| anyhow::anyhow!("the inline session policy is not JSON: {e}"))?;
    }
    let region = args
        .region
        .clone()
        .or_else(|| env_var("AWS_REGION"))
        .or_else(|| env_var("AWS_DEFAULT_REGION"))
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "us-east-1".to_owned());
    if !region
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        bail!("region `{region}` is not valid (lower-case letters, digits and `-`)");
    }
    let resolved = endpoint::resolve(args.endpoint_url.as_deref(), &env_var);
    let source = token::source(args.token_file.as_deref(), &env_var)?;
    if args.format == Format::Github && env_var("GITHUB_ENV").is_none_or(|v| v.is_empty()) {
        bail!(
            "`--format github` writes to $GITHUB_ENV, which is not set: run it inside a GitHub Actions step, or use `--format env`"
        );
    }
    let policy = RetryPolicy {
        max_attempts: args.retry_max_attempts.max(1),
        total: Duration::from_secs(args.retry_timeout),
        ..RetryPolicy::default()
    };

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let target = StsTarget {
        region: region.clone(),
        endpoint: resolved.as_ref().map(|(u, _)| u.clone()),
    };
    let endpoint_note = resolved.as_ref().map(|(u, s)| (u.as_str(), s.as_str()));

    let outcome = rt.block_on(async {
        let id_token = match token::fetch(&source, &args.audience, &policy).await {
            Ok(t) => t,
            Err(e @ token::TokenError::NoSource { .. })
            | Err(e @ token::TokenError::File { .. }) => {
                return Err(anyhow::Error::new(e));
            }
            Err(e) => return Ok(Err((e.to_string(), 1))),
        };
        if args.format == Format::Github {
            // As @actions/core does for every fetched token: the runner hides it from the log.
            println!("::add-mask::{}", id_token.expose());
        }
        let claims = danger_peek_claims(id_token.expose());
        let first = AssumeParams {
            role_arn: role_arn.clone(),
            session_name: args.session_name.clone(),
            // The first hop of a chain only lives long enough to make the second call.
            duration: if args.chain_role_arn.is_some() {
                900
            } else {
                args.duration
            },
            policy: if args.chain_role_arn.is_some() {
                None
            } else {
                inline_policy.clone()
            },
            policy_arns: if args.chain_role_arn.is_some() {
                Vec::new()
            } else {
                args.managed_session_policies.clone()
            },
        };
        let client = sts::client(&target, None);
        let (result, attempts) = retry::run(
            &policy,
            "AssumeRoleWithWebIdentity",
            || sts::assume_with_web_identity(&client, &first, &id_token),
            sts::classify,
            |e| e.to_string(),
        )
        .await;
        let issued = match result {
            Ok(i) => i,
            Err(f) => {
                let cx = FailureContext {
                    step: Step::WebIdentity,
                    role_arn: &role_arn,
                    endpoint: endpoint_note,
                    claims: claims.as_ref(),
                    first_arn: None,
                    attempts,
                    now: now_epoch(),
                };
                return Ok(Err(sts::explain(&f, &cx)));
            }
        };
        let Some(chain_arn) = &args.chain_role_arn else {
            return Ok(Ok(issued));
        };
        let second = AssumeParams {
            role_arn: chain_arn.clone(),
            session_name: args.session_name.clone(),
            duration: args.duration,
            policy: inline_policy.clone(),
            policy_arns: args.managed_session_policies.clone(),
        };
        let chained_client = sts::client(&target, Some(&issued));
        let (result, attempts) = retry::run(
            &policy,
            "AssumeRole",
            || sts::assume_role(&chained_client, &second),
            sts::classify,
            |e| e.to_string(),
        )
        .await;
        match result {
            Ok(i) => Ok(Ok(i)),
            Err(f) => {
                let cx = FailureContext {
                    step: Step::Chain,
                    role_arn: chain_arn,
                    endpoint: endpoint_note,
                    claims: claims.as_ref(),
                    first_arn: Some(&issued.assumed_role_arn),
                    attempts,
                    now: now_epoch(),
                };
                Ok(Err(sts::explain(&f, &cx)))
            }
        }
    })?;

    let issued: Issued = match outcome {
        Ok(i) => i,
        Err((message, 2)) => bail!(message),
        Err((message, code)) => {
            eprintln!("error: {message}");
            return Ok(code);
        }
    };
    let rendered = output::render(
        args.format,
        &issued,
        &region,
        RenderOptions {
            mask_account_id: args.mask_account_id,
        },
    )
    .map_err(anyhow::Error::msg)?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(rendered.stdout.as_bytes())?;
    stdout.flush()?;
    if let Some(env) = &rendered.github_env {
        append("GITHUB_ENV", env)?;
    }
    if let Some(out) = &rendered.github_output
        && env_var("GITHUB_OUTPUT").is_some_and(|v| !v.is_empty())
    {
        append("GITHUB_OUTPUT", out)?;
    }
    eprintln!("authenticated as assumedRoleId {}", issued.assumed_role_id);
    Ok(0)
}

fn append(var: &str, text: &str) -> anyhow::Result<()> {
    let path = env_var(var).unwrap_or_default();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .with_context(|| format!("cannot open ${var} (`{path}`)"))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot write ${var} (`{path}`)"))
}

fn now_epoch() -> i64 {
    i64::try_from(keyless_core::Clock::now(&keyless_core::SystemClock)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_follow_sts_rules() {
        assert!(valid_session_name("GitHubActions"));
        assert!(valid_session_name("gha-123_4=5,6.7@8"));
        assert!(!valid_session_name("a"));
        assert!(!valid_session_name("dependabot[bot]"));
        assert!(!valid_session_name("has space"));
        assert!(!valid_session_name(&"x".repeat(65)));
    }
}
