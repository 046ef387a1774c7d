//! AWS's write-time guardrail for GitHub's issuer (AWS reference §4.6).
//!
//! `CreateRole` and `UpdateAssumeRolePolicy` refuse an `Allow` of `sts:AssumeRoleWithWebIdentity`
//! trusting a `token.actions.githubusercontent.com` provider unless the statement tests
//! `<prefix>:sub` or `<prefix>:job_workflow_ref` with `StringEquals`, `StringLike` or
//! `StringEqualsIgnoreCase` at something narrower than everything. AWS looks only at the first
//! value of a list; we refuse a statement if *any* value is scoped to all, which AWS documents as
//! acceptable strictness and which closes the "tight value, then `*`" hole.

use keyless_policy::{BaseOperator, Effect, Policy, PrincipalKind, PrincipalSpec};

use crate::error::CoreError;

const GITHUB_HOST: &str = "token.actions.githubusercontent.com";

/// Refuses trust policies that AWS's GitHub guardrail refuses.
pub fn check_github_trust(policy: &Policy) -> Result<(), CoreError> {
    for st in policy.statements() {
        if st.effect != Effect::Allow {
            continue;
        }
        let Some(PrincipalSpec::Map(entries)) = &st.principal else {
            continue;
        };
        let covers_web_identity = st.action.as_ref().is_some_and(|actions| {
            actions
                .iter()
                .any(|a| keyless_policy::action_matches(a, "sts:AssumeRoleWithWebIdentity"))
        });
        if !covers_web_identity {
            continue;
        }
        for entry in entries
            .iter()
            .filter(|e| e.kind == PrincipalKind::Federated)
        {
            for arn in &entry.values {
                let Some(prefix) = github_prefix(arn) else {
                    continue;
                };
                if !has_scoped_subject(st, prefix) {
                    return Err(CoreError::MalformedPolicyDocument(format!(
                        "Trust policy with trusted principal {arn} must evaluate, using StringEquals, StringLike or StringEqualsIgnoreCase, {prefix}:sub or {prefix}:job_workflow_ref which is not scoped to all."
                    )));
                }
            }
        }
    }
    Ok(())
}

/// `token.actions.githubusercontent.com[/slug]` when `arn` is a GitHub provider ARN.
fn github_prefix(arn: &str) -> Option<&str> {
    let (_, prefix) = arn.split_once(":oidc-provider/")?;
    (prefix == GITHUB_HOST
        || prefix
            .strip_prefix(GITHUB_HOST)
            .is_some_and(|r| r.starts_with('/')))
    .then_some(prefix)
}

fn has_scoped_subject(st: &keyless_policy::Statement, prefix: &str) -> bool {
    let sub = format!("{prefix}:sub");
    let jwr = format!("{prefix}:job_workflow_ref");
    st.conditions.iter().any(|c| {
        matches!(
            c.operator.base,
            BaseOperator::StringEquals
                | BaseOperator::StringLike
                | BaseOperator::StringEqualsIgnoreCase
        ) && c.operator.qualifier.is_none()
            && !c.operator.if_exists
            && (c.key.eq_ignore_ascii_case(&sub) || c.key.eq_ignore_ascii_case(&jwr))
            && !c.values.is_empty()
            && c.values
                .iter()
                .all(|v| !v.is_empty() && !v.chars().all(|ch| ch == '*'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyless_policy::PolicyKind;

    fn trust(condition: &str) -> Policy {
        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{condition}}}]}}"#
        );
        keyless_policy::parse(&doc, PolicyKind::Trust).unwrap()
    }

    #[test]
    fn audience_only_is_refused_with_aws_message() {
        let err = check_github_trust(&trust(
            r#"{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"}}"#,
        ))
        .unwrap_err();
        assert_eq!(err.code(), "MalformedPolicyDocument");
        assert!(err.to_string().contains("must evaluate, using StringEquals, StringLike or StringEqualsIgnoreCase, token.actions.githubusercontent.com:sub or token.actions.githubusercontent.com:job_workflow_ref which is not scoped to all."));
    }

    #[test]
    fn star_subject_is_refused_and_repo_star_accepted_like_aws() {
        assert!(
            check_github_trust(&trust(
                r#"{"StringLike":{"token.actions.githubusercontent.com:sub":"*"}}"#
            ))
            .is_err()
        );
        assert!(
            check_github_trust(&trust(
                r#"{"StringLike":{"token.actions.githubusercontent.com:sub":"repo:*"}}"#
            ))
            .is_ok()
        );
    }

    #[test]
    fn later_star_in_list_is_refused_stricter_than_aws() {
        assert!(check_github_trust(&trust(r#"{"StringLike":{"token.actions.githubusercontent.com:sub":["repo:acme/app:ref:refs/heads/main","*"]}}"#)).is_err());
    }

    #[test]
    fn job_workflow_ref_counts_and_repository_does_not() {
        assert!(check_github_trust(&trust(r#"{"StringEquals":{"token.actions.githubusercontent.com:job_workflow_ref":"acme/ci/.github/workflows/d.yml@refs/heads/main"}}"#)).is_ok());
        assert!(
            check_github_trust(&trust(
                r#"{"StringEquals":{"token.actions.githubusercontent.com:repository":"acme/app"}}"#
            ))
            .is_err()
        );
    }

    #[test]
    fn other_providers_are_not_checked() {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/gitlab.com"},"Action":"sts:AssumeRoleWithWebIdentity"}]}"#;
        assert!(
            check_github_trust(&keyless_policy::parse(doc, PolicyKind::Trust).unwrap()).is_ok()
        );
    }
}
