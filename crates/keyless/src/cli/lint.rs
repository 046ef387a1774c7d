//! `keyless lint`: the rules live in `keyless-lint`; this wires them to files and to a live IAM
//! endpoint (every role, its trust policy and attached policies).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use aws_sdk_iam::error::ProvideErrorMetadata as _;
use keyless_lint::{LintArgs, Outcome};

/// Options of `keyless lint`.
#[derive(Debug, clap::Args)]
pub struct LintCli {
    #[command(flatten)]
    pub lint: LintArgs,
    /// Lint every role of a live IAM endpoint (real AWS through the standard credential chain,
    /// or a `keyless serve`), in addition to any paths.
    #[arg(long)]
    pub live: bool,
    /// IAM endpoint URL for --live (implies --live); AWS_ENDPOINT_URL_IAM / AWS_ENDPOINT_URL also work.
    #[arg(long)]
    pub endpoint_url: Option<String>,
}

pub fn run(args: &LintCli) -> anyhow::Result<u8> {
    let live = args.live || args.endpoint_url.is_some();
    if !live {
        let mut out = std::io::stdout().lock();
        return Ok(u8::try_from(keyless_lint::run(&args.lint, &mut out)).unwrap_or(2));
    }
    let mut outcome = if args.lint.paths.is_empty() {
        Outcome::default()
    } else {
        keyless_lint::lint_paths(&args.lint.paths)
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(lint_live(args.endpoint_url.as_deref(), &mut outcome))?;
    let mut out = std::io::stdout().lock();
    Ok(u8::try_from(keyless_lint::report(&args.lint, outcome, &mut out)).unwrap_or(2))
}

async fn lint_live(endpoint_url: Option<&str>, outcome: &mut Outcome) -> anyhow::Result<()> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    let iam = aws_sdk_iam::Client::new(&config);
    let mut roles = Vec::new();
    let mut pages = iam.list_roles().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(iam_error).context("listing roles")?;
        roles.extend(page.roles);
    }
    // Attached policies of every role in a few paged calls instead of one call per role: real
    // accounts have hundreds of roles and IAM throttles. Callers without
    // iam:GetAccountAuthorizationDetails get the per-role calls instead.
    let mut bulk = attachments_in_bulk(&iam).await?;
    let started = Instant::now();
    let show_progress = std::io::stderr().is_terminal();
    let total = roles.len();
    for (i, role) in roles.iter().enumerate() {
        if show_progress && started.elapsed() > Duration::from_millis(500) {
            eprint!("\rlinting role {}/{total}…", i + 1);
        }
        let name = role.role_name();
        let Some(encoded) = role.assume_role_policy_document() else {
            continue;
        };
        let trust = percent_encoding::percent_decode_str(encoded)
            .decode_utf8_lossy()
            .into_owned();
        let attached = match bulk.as_mut().and_then(|b| b.remove(name)) {
            Some(arns) => arns,
            None => attached_to(&iam, name).await?,
        };
        let max = role
            .max_session_duration()
            .and_then(|m| u64::try_from(m).ok());
        match keyless_lint::lint_role(name, &trust, &attached, max) {
            Ok(found) => {
                if !found.is_empty()
                    && let Ok(v) = serde_json::from_str::<serde_json::Value>(&trust)
                {
                    outcome.sources.insert(
                        format!("iam:role/{name}"),
                        serde_json::to_string_pretty(&v).unwrap_or_default(),
                    );
                }
                outcome.findings.extend(found);
            }
            Err(e) => outcome.errors.push(e),
        }
    }
    if show_progress && started.elapsed() > Duration::from_millis(500) {
        eprintln!();
    }
    Ok(())
}

/// Every role's attached policy ARNs by role name, from GetAccountAuthorizationDetails; `None`
/// when the caller may not call it.
async fn attachments_in_bulk(
    iam: &aws_sdk_iam::Client,
) -> anyhow::Result<Option<HashMap<String, Vec<String>>>> {
    let mut by_role = HashMap::new();
    let mut pages = iam
        .get_account_authorization_details()
        .filter(aws_sdk_iam::types::EntityType::Role)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(e) if e.code() == Some("AccessDenied") => return Ok(None),
            Err(e) => return Err(iam_error(e)).context("reading the roles' attached policies"),
        };
        for role in page.role_detail_list.unwrap_or_default() {
            let Some(name) = role.role_name else {
                continue;
            };
            let arns = role
                .attached_managed_policies
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| p.policy_arn)
                .collect();
            by_role.insert(name, arns);
        }
    }
    Ok(Some(by_role))
}

/// The policy ARNs attached to role `name`, one call (with its pages).
async fn attached_to(iam: &aws_sdk_iam::Client, name: &str) -> anyhow::Result<Vec<String>> {
    let mut arns = Vec::new();
    let mut pages = iam
        .list_attached_role_policies()
        .role_name(name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(iam_error)
            .with_context(|| format!("listing the policies attached to role `{name}`"))?;
        arns.extend(
            page.attached_policies
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| p.policy_arn),
        );
    }
    Ok(arns)
}

/// An IAM SDK error as one line: `Code: message` for a service error, the full context otherwise
/// (network, credentials, endpoint).
pub(crate) fn iam_error<E>(e: aws_sdk_iam::error::SdkError<E>) -> anyhow::Error
where
    E: aws_sdk_iam::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match e.as_service_error() {
        Some(s) => anyhow::anyhow!(
            "{}: {}",
            s.code().unwrap_or("error"),
            s.message().unwrap_or_default()
        ),
        None => anyhow::anyhow!("{}", aws_sdk_iam::error::DisplayErrorContext(e)),
    }
}
