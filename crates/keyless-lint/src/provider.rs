//! Which issuer a trust policy talks to, which claim keys AWS exposes for it, and the shapes of
//! its subjects.

/// A family of OIDC issuers with its own subject format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issuer {
    /// GitHub Actions (`token.actions.githubusercontent.com`, enterprise slugs, GHE.com).
    GitHub,
    /// GitLab CI (gitlab.com or a self-managed instance).
    GitLab,
    /// CircleCI (`oidc.circleci.com/org/<id>`).
    CircleCi,
    /// Bitbucket Pipelines (`api.bitbucket.org/2.0/workspaces/…`).
    Bitbucket,
    /// HCP Terraform / Terraform Cloud (`app.terraform.io`).
    TerraformCloud,
    /// Kubernetes service accounts (EKS IRSA and others).
    Kubernetes,
    /// Buildkite (`agent.buildkite.com`).
    Buildkite,
    /// A built-in or unknown issuer (Google, Cognito, …).
    Other,
}

impl Issuer {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Issuer::GitHub => "GitHub Actions",
            Issuer::GitLab => "GitLab CI",
            Issuer::CircleCi => "CircleCI",
            Issuer::Bitbucket => "Bitbucket Pipelines",
            Issuer::TerraformCloud => "Terraform Cloud",
            Issuer::Kubernetes => "Kubernetes",
            Issuer::Buildkite => "Buildkite",
            Issuer::Other => "this issuer",
        }
    }

    /// Claim keys AWS puts in the request context for this issuer (after `<prefix>:`).
    pub fn known_claims(self) -> &'static [&'static str] {
        match self {
            Issuer::GitHub => &[
                "aud",
                "sub",
                "actor",
                "actor_id",
                "enterprise_id",
                "environment",
                "job_workflow_ref",
                "ref",
                "repository",
                "repository_id",
                "repository_owner_id",
                "workflow",
            ],
            Issuer::GitLab => &[
                "aud",
                "sub",
                "amr",
                "project_id",
                "namespace_id",
                "namespace_path",
                "project_path",
                "user_id",
                "user_login",
                "user_email",
                "pipeline_id",
                "pipeline_source",
                "job_id",
                "ref",
                "ref_type",
                "ref_path",
                "ref_protected",
                "environment",
                "environment_protected",
                "deployment_tier",
                "runner_id",
                "runner_environment",
                "sha",
                "ci_config_ref_uri",
                "ci_config_sha",
                "project_visibility",
            ],
            Issuer::CircleCi => &["aud", "sub", "amr", "oidc.circleci.com/project-id"],
            Issuer::Buildkite => &[
                "aud",
                "sub",
                "amr",
                "organization_slug",
                "organization_id",
                "pipeline_slug",
                "pipeline_id",
                "build_branch",
                "build_tag",
                "build_commit",
                "step_key",
            ],
            Issuer::Bitbucket | Issuer::TerraformCloud | Issuer::Kubernetes => {
                &["aud", "sub", "amr"]
            }
            Issuer::Other => &[
                "aud",
                "sub",
                "amr",
                "azp",
                "email",
                "oaud",
                "app_id",
                "id",
                "user_id",
                "google/organization_number",
                "rpst_id",
            ],
        }
    }

    /// Claims that are real in the token but that AWS does not expose as condition keys.
    pub fn unexposed_claims(self) -> &'static [&'static str] {
        match self {
            Issuer::GitHub => &[
                "sha",
                "run_id",
                "run_number",
                "run_attempt",
                "event_name",
                "workflow_ref",
                "workflow_sha",
                "job_workflow_sha",
                "repository_owner",
                "repository_visibility",
                "ref_type",
                "ref_protected",
                "head_ref",
                "base_ref",
                "runner_environment",
                "environment_node_id",
                "enterprise",
                "check_run_id",
                "jti",
                "iss",
            ],
            Issuer::CircleCi => &[
                "oidc.circleci.com/ssh-rerun",
                "oidc.circleci.com/context-ids",
                "oidc.circleci.com/vcs-origin",
                "oidc.circleci.com/vcs-ref",
            ],
            Issuer::Bitbucket => &[
                "repositoryUuid",
                "stepUuid",
                "branchName",
                "deploymentEnvironmentUuid",
                "workspaceUuid",
                "pipelineUuid",
            ],
            Issuer::TerraformCloud => &[
                "terraform_organization_id",
                "terraform_organization_name",
                "terraform_project_id",
                "terraform_workspace_id",
                "terraform_workspace_name",
                "terraform_run_phase",
                "terraform_run_id",
                "terraform_full_workspace",
            ],
            _ => &[],
        }
    }

    /// The audience a correctly configured client asks for, when there is one fixed value.
    pub fn expected_audience(self) -> Option<&'static [&'static str]> {
        match self {
            Issuer::GitHub => Some(&["sts.amazonaws.com", "sts.amazonaws.com.cn"]),
            _ => None,
        }
    }
}

/// Classifies an IAM OIDC provider prefix (the provider URL without `https://`).
pub fn issuer_of_prefix(prefix: &str) -> Issuer {
    let p = prefix.to_ascii_lowercase();
    if p.starts_with("token.actions.githubusercontent.com")
        || (p.starts_with("token.actions.") && p.contains(".ghe.com"))
        || p.starts_with("github.com/enterprises/")
    {
        Issuer::GitHub
    } else if p.starts_with("oidc.circleci.com") {
        Issuer::CircleCi
    } else if p.starts_with("api.bitbucket.org") {
        Issuer::Bitbucket
    } else if p.starts_with("app.terraform.io") || p.contains("terraform") {
        Issuer::TerraformCloud
    } else if p.starts_with("oidc.eks.") || p.contains("kubernetes") || p.contains(".k8s.") {
        Issuer::Kubernetes
    } else if p.starts_with("agent.buildkite.com") {
        Issuer::Buildkite
    } else if p.starts_with("gitlab.") || p.contains("gitlab") {
        Issuer::GitLab
    } else {
        Issuer::Other
    }
}

/// The condition-key prefix of a federated principal value (ARN or built-in name).
pub fn prefix_of_principal(federated: &str) -> Option<String> {
    if let Some(idx) = federated.find(":oidc-provider/") {
        let rest = federated.get(idx + ":oidc-provider/".len()..)?;
        let rest = rest.strip_prefix("https://").unwrap_or(rest);
        return Some(rest.trim_end_matches('/').to_string());
    }
    if federated.contains(":saml-provider/") {
        return None;
    }
    match federated {
        "accounts.google.com"
        | "graph.facebook.com"
        | "www.amazon.com"
        | "cognito-identity.amazonaws.com" => Some(federated.to_string()),
        _ => None,
    }
}

/// Recognises the issuer from a subject value's shape.
pub fn issuer_of_subject(sub: &str) -> Option<Issuer> {
    if sub.starts_with("repo:") {
        Some(Issuer::GitHub)
    } else if sub.starts_with("project_path:") || sub.starts_with("project_id:") {
        Some(Issuer::GitLab)
    } else if sub.starts_with("org/") && sub.contains("/project/") {
        Some(Issuer::CircleCi)
    } else if sub.starts_with('{') && sub.contains("}:")
        || (sub.starts_with('{') && sub.ends_with('}'))
    {
        Some(Issuer::Bitbucket)
    } else if sub.starts_with("organization:") && sub.contains(":workspace:")
        || sub.starts_with("organization:") && sub.contains(":project:")
    {
        Some(Issuer::TerraformCloud)
    } else if sub.starts_with("system:serviceaccount:") {
        Some(Issuer::Kubernetes)
    } else {
        None
    }
}

/// Splits a condition key into (prefix, claim) at the first `:`.
pub fn split_key(key: &str) -> Option<(&str, &str)> {
    key.split_once(':')
}

/// Whether a key prefix is a global AWS one (`aws:`, `sts:` …) rather than an issuer.
pub fn is_global_prefix(prefix: &str) -> bool {
    matches!(
        prefix.to_ascii_lowercase().as_str(),
        "aws" | "sts" | "iam" | "saml" | "ec2" | "s3" | "kms" | "organizations"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_come_from_provider_arns() {
        assert_eq!(
            prefix_of_principal(
                "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
            )
            .as_deref(),
            Some("token.actions.githubusercontent.com")
        );
        assert_eq!(
            issuer_of_prefix("oidc.circleci.com/org/abc"),
            Issuer::CircleCi
        );
        assert_eq!(issuer_of_prefix("gitlab.example.com"), Issuer::GitLab);
        assert_eq!(
            issuer_of_prefix("oidc.eks.eu-west-1.amazonaws.com/id/ABC"),
            Issuer::Kubernetes
        );
    }

    #[test]
    fn subject_shapes() {
        assert_eq!(issuer_of_subject("repo:a/b:*"), Some(Issuer::GitHub));
        assert_eq!(
            issuer_of_subject("project_path:g/p:ref_type:branch:ref:main"),
            Some(Issuer::GitLab)
        );
        assert_eq!(
            issuer_of_subject("system:serviceaccount:ns:sa"),
            Some(Issuer::Kubernetes)
        );
        assert_eq!(issuer_of_subject("{a}:{b}"), Some(Issuer::Bitbucket));
        assert_eq!(issuer_of_subject("anything"), None);
    }
}
