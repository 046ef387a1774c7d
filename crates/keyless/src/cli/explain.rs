//! `keyless explain`: evaluate one request against policy documents and print the decision with
//! its trace.

use std::path::{Path, PathBuf};

use anyhow::bail;
use keyless_policy::{
    Context, Decision, Named, Policy, PolicyKind, PolicySet, PrincipalId, PrincipalKind, Request,
};

use super::read_file;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// Identity policy (a document with a `Principal` counts as the resource or trust policy).
    #[arg(long = "policy", required_unless_present = "role")]
    pub policies: Vec<PathBuf>,
    /// Resource-based or trust policy.
    #[arg(long)]
    pub resource_policy: Option<PathBuf>,
    /// Permissions boundary.
    #[arg(long)]
    pub boundary: Option<PathBuf>,
    /// Session policy (repeatable).
    #[arg(long = "session-policy")]
    pub session_policies: Vec<PathBuf>,
    /// Action, e.g. `s3:GetObject`; `sts:AssumeRoleWithWebIdentity` when a token, claims or
    /// job are given.
    #[arg(long)]
    pub action: Option<String>,
    /// Resource ARN (default `*`).
    #[arg(long, default_value = "*")]
    pub resource: String,
    /// Principal: an ARN (an `oidc-provider`/`saml-provider` ARN is a federated principal, a
    /// `*.amazonaws.com` name a service).
    #[arg(long)]
    pub principal: Option<String>,
    /// Condition key value `KEY=VALUE`; repeat a key for a multi-valued key.
    #[arg(long = "context")]
    pub context: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    #[command(flatten)]
    pub web_identity: super::explain_trust::WebIdentityArgs,
}

struct Loaded {
    name: String,
    policy: Policy,
}

fn load(path: &Path, kind: PolicyKind) -> anyhow::Result<Loaded> {
    let text = read_file(path)?;
    let name = path.display().to_string();
    match keyless_policy::parse(&text, kind) {
        Ok(policy) => Ok(Loaded { name, policy }),
        Err(errors) => {
            let lines: Vec<String> = errors
                .errors
                .iter()
                .map(|e| {
                    format!(
                        "{name}:{}:{}: {} (at {})",
                        e.line, e.column, e.message, e.path
                    )
                })
                .collect();
            bail!("invalid policy document\n{}", lines.join("\n"))
        }
    }
}

/// A `--policy` document that names a principal is the resource/trust policy.
pub(crate) fn has_principal(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| {
            let st = v.get("Statement")?.clone();
            let list = if st.is_array() {
                st.as_array()?.clone()
            } else {
                vec![st]
            };
            Some(
                list.iter()
                    .any(|s| s.get("Principal").is_some() || s.get("NotPrincipal").is_some()),
            )
        })
        .unwrap_or(false)
}

pub fn run(mut args: ExplainArgs) -> anyhow::Result<u8> {
    let _fetched = match args.web_identity.role.clone() {
        Some(role) => {
            let file = super::explain_trust::fetch_trust_policy(
                &role,
                args.web_identity.endpoint_url.as_deref(),
            )?;
            args.policies.push(file.path().to_path_buf());
            Some(file)
        }
        None => None,
    };
    if args.web_identity.which_subjects {
        return super::explain_trust::which_subjects(&args);
    }
    let mut ctx = Context::new();
    let mut principal_arg = args.principal.clone();
    let action =
        match super::explain_trust::context_from_token(&args, &mut ctx, &mut principal_arg)? {
            true => args
                .action
                .clone()
                .unwrap_or_else(|| "sts:AssumeRoleWithWebIdentity".into()),
            false => args.action.clone().ok_or_else(|| {
                anyhow::anyhow!(
                    "--action is required (or give --token, --claims or --repo for a trust policy)"
                )
            })?,
        };
    check_action(&action)?;
    let eval = evaluate(&args, &action, principal_arg.as_deref(), ctx)?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&eval.trace)?),
        Format::Text => print!("{}", eval.trace.to_text()),
    }
    Ok(if eval.decision == Decision::Allow {
        0
    } else {
        1
    })
}

/// Loads the documents and evaluates one request.
pub(crate) fn evaluate(
    args: &ExplainArgs,
    action: &str,
    principal: Option<&str>,
    mut ctx: Context,
) -> anyhow::Result<keyless_policy::Evaluation> {
    let mut identity = Vec::new();
    let mut resource = match &args.resource_policy {
        Some(p) => Some(load(p, resource_kind(action))?),
        None => None,
    };
    for p in &args.policies {
        let text = read_file(p)?;
        if has_principal(&text) {
            if resource.is_some() {
                bail!(
                    "`{}` names a Principal, but a resource or trust policy was already given",
                    p.display()
                );
            }
            resource = Some(load(p, resource_kind(action))?);
        } else {
            identity.push(load(p, PolicyKind::Identity)?);
        }
    }
    let boundary = match &args.boundary {
        Some(p) => Some(load(p, PolicyKind::Identity)?),
        None => None,
    };
    let mut session = Vec::new();
    for p in &args.session_policies {
        session.push(load(p, PolicyKind::Identity)?);
    }
    for c in &args.context {
        let (k, v) = c
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--context `{c}` must be KEY=VALUE"))?;
        if k.is_empty() {
            bail!("--context `{c}` has an empty key");
        }
        ctx.insert(k, v);
    }
    let principal: Vec<PrincipalId> = principal.iter().map(|p| principal_id(p)).collect();
    let set = PolicySet {
        identity: identity
            .iter()
            .map(|l| Named {
                name: &l.name,
                policy: &l.policy,
            })
            .collect(),
        resource: resource.as_ref().map(|l| Named {
            name: &l.name,
            policy: &l.policy,
        }),
        boundary: boundary.as_ref().map(|l| Named {
            name: &l.name,
            policy: &l.policy,
        }),
        session: (!session.is_empty()).then(|| {
            session
                .iter()
                .map(|l| Named {
                    name: &l.name,
                    policy: &l.policy,
                })
                .collect()
        }),
    };
    Ok(keyless_policy::evaluate(
        &set,
        &Request {
            principal: &principal,
            action,
            resource: &args.resource,
            context: &ctx,
        },
    ))
}

/// A request names one action, `service:Name` (policies may use wildcards; a request may not).
fn check_action(action: &str) -> anyhow::Result<()> {
    let word = |w: &str, extra: char| {
        !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == extra)
    };
    match action.split_once(':') {
        Some((service, name)) if word(service, '-') && word(name, '_') => Ok(()),
        _ => anyhow::bail!(
            "--action `{action}`: give one action as SERVICE:ACTION, e.g. s3:GetObject or sts:AssumeRoleWithWebIdentity"
        ),
    }
}

fn resource_kind(action: &str) -> PolicyKind {
    if action.to_ascii_lowercase().starts_with("sts:assumerole")
        || action.eq_ignore_ascii_case("sts:TagSession")
        || action.eq_ignore_ascii_case("sts:SetSourceIdentity")
    {
        PolicyKind::Trust
    } else {
        PolicyKind::Resource
    }
}

fn principal_id(p: &str) -> PrincipalId {
    let kind = if p.contains(":oidc-provider/")
        || p.contains(":saml-provider/")
        || matches!(
            p,
            "accounts.google.com"
                | "graph.facebook.com"
                | "www.amazon.com"
                | "cognito-identity.amazonaws.com"
        ) {
        PrincipalKind::Federated
    } else if p.ends_with(".amazonaws.com") {
        PrincipalKind::Service
    } else {
        PrincipalKind::Aws
    };
    let value = if keyless_core::model::is_account_id(p) {
        format!("arn:aws:iam::{p}:root")
    } else {
        p.to_owned()
    };
    PrincipalId { kind, value }
}

#[cfg(test)]
mod tests {
    use super::check_action;

    #[test]
    fn a_request_names_exactly_one_action() {
        for ok in [
            "s3:GetObject",
            "sts:AssumeRoleWithWebIdentity",
            "execute-api:Invoke",
        ] {
            assert!(check_action(ok).is_ok(), "{ok}");
        }
        for bad in [
            "notanaction",
            "s3:*",
            "s3:Get*",
            ":GetObject",
            "s3:",
            "s3:a:b",
            "",
        ] {
            let e = check_action(bad).expect_err(bad).to_string();
            assert!(e.contains("SERVICE:ACTION"), "{e}");
        }
    }
}
