//! Who is calling: an account root or an assumed-role session.

use keyless_policy::{Context, PrincipalId, PrincipalKind};

use crate::seal::Session;

/// The authenticated caller of a signed request.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The account's root user (dev key `test`, or a 12-digit access key id).
    Root {
        /// The account.
        account: String,
    },
    /// An assumed-role session opened from its sealed session token.
    Session(Box<Session>),
}

impl Caller {
    /// The caller's account.
    pub fn account(&self) -> &str {
        match self {
            Caller::Root { account } => account,
            Caller::Session(s) => &s.account,
        }
    }

    /// The caller's ARN as `GetCallerIdentity` reports it.
    pub fn arn(&self) -> String {
        match self {
            Caller::Root { account } => format!("arn:aws:iam::{account}:root"),
            Caller::Session(s) => session_arn(&s.account, &s.role_name, &s.session_name),
        }
    }

    /// The caller's user id as `GetCallerIdentity` reports it (`ROLEID:SESSION` for sessions,
    /// the account id for root).
    pub fn user_id(&self) -> String {
        match self {
            Caller::Root { account } => account.clone(),
            Caller::Session(s) => format!("{}:{}", s.role_id, s.session_name),
        }
    }

    /// Identifiers a resource or trust policy `Principal` may name to mean this caller exactly.
    pub fn exact_principal_ids(&self) -> Vec<PrincipalId> {
        match self {
            Caller::Root { account } => vec![aws_id(format!("arn:aws:iam::{account}:root"))],
            Caller::Session(s) => vec![
                aws_id(session_arn(&s.account, &s.role_name, &s.session_name)),
                aws_id(role_arn_without_path(&s.account, &s.role_name)),
                aws_id(s.role_arn.clone()),
            ],
        }
    }

    /// Adds the global request keys that describe the principal (`aws:PrincipalArn`, …).
    pub fn add_context(&self, ctx: &mut Context) {
        ctx.set("aws:PrincipalAccount", vec![self.account().to_owned()]);
        ctx.set("aws:userid", vec![self.user_id()]);
        match self {
            Caller::Root { account } => {
                ctx.set(
                    "aws:PrincipalArn",
                    vec![format!("arn:aws:iam::{account}:root")],
                );
                ctx.set("aws:PrincipalType", vec!["Account".into()]);
            }
            Caller::Session(s) => {
                ctx.set("aws:PrincipalArn", vec![s.role_arn.clone()]);
                ctx.set("aws:PrincipalType", vec!["AssumedRole".into()]);
                ctx.set("aws:TokenIssueTime", vec![keyless_wire::iso8601(s.issued)]);
                for (k, v) in &s.tags {
                    ctx.set(&format!("aws:PrincipalTag/{k}"), vec![v.clone()]);
                }
                if let Some(si) = &s.source_identity {
                    ctx.set("aws:SourceIdentity", vec![si.clone()]);
                }
                if let Some(p) = &s.federated_provider {
                    ctx.set("aws:FederatedProvider", vec![p.clone()]);
                }
            }
        }
    }
}

fn aws_id(value: String) -> PrincipalId {
    PrincipalId {
        kind: PrincipalKind::Aws,
        value,
    }
}

/// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION` (AWS leaves the role path out).
pub fn session_arn(account: &str, role_name: &str, session_name: &str) -> String {
    format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}")
}

fn role_arn_without_path(account: &str, role_name: &str) -> String {
    format!("arn:aws:iam::{account}:role/{role_name}")
}
