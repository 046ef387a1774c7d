//! The GitHub Actions workflow `keyless setup --workflow PATH` writes.

use super::trust::Subjects;

/// What the workflow needs to know.
#[derive(Debug, Clone)]
pub struct WorkflowSpec<'a> {
    /// Who may assume the role (decides the triggers and the job's environment).
    pub subjects: &'a Subjects,
    /// The role to assume.
    pub role_arn: &'a str,
    /// `aws-region`.
    pub region: &'a str,
    /// `audience` (only written when not the default).
    pub audience: &'a str,
}

fn yaml_str(s: &str) -> String {
    // Double-quoted YAML scalar; JSON string escaping is valid YAML.
    serde_json::Value::String(s.to_owned()).to_string()
}

/// The workflow: triggers matching the trusted subjects, `permissions: id-token: write` and
/// `contents: read`, the configure-aws-credentials step with a session name carrying the run id,
/// and a `get-caller-identity` check.
pub fn render(spec: &WorkflowSpec<'_>) -> String {
    let s = spec.subjects;
    let mut y = String::new();
    y.push_str("# Written by `keyless setup`. The job may assume the role only from the refs the role trusts.\n");
    y.push_str("name: deploy\n\non:\n");
    if !s.branches.is_empty() || !s.tags.is_empty() || s.environments.is_empty() {
        y.push_str("  push:\n");
        if !s.branches.is_empty() {
            y.push_str("    branches:\n");
            for b in &s.branches {
                y.push_str(&format!(
                    "      - {}\n",
                    yaml_str(b.trim_start_matches("refs/heads/"))
                ));
            }
        }
        if !s.tags.is_empty() {
            y.push_str("    tags:\n");
            for t in &s.tags {
                y.push_str(&format!(
                    "      - {}\n",
                    yaml_str(t.trim_start_matches("refs/tags/"))
                ));
            }
        }
    }
    y.push_str(
        "  workflow_dispatch:\n\npermissions:\n  id-token: write\n  contents: read\n\njobs:\n",
    );
    let envs: Vec<&String> = if s.environments.is_empty() {
        Vec::new()
    } else {
        s.environments.iter().collect()
    };
    let jobs: Vec<(String, Option<&String>)> = if envs.is_empty() {
        vec![("deploy".to_owned(), None)]
    } else {
        envs.iter()
            .map(|e| {
                let id: String = e
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                            c
                        } else {
                            '-'
                        }
                    })
                    .collect();
                (format!("deploy-{id}"), Some(*e))
            })
            .collect()
    };
    for (id, env) in jobs {
        y.push_str(&format!("  {id}:\n    runs-on: ubuntu-latest\n"));
        if let Some(e) = env {
            y.push_str(&format!("    environment: {}\n", yaml_str(e)));
        }
        y.push_str("    steps:\n");
        y.push_str("      - uses: actions/checkout@v4\n");
        y.push_str("      - name: Get AWS credentials with OIDC\n");
        y.push_str("        uses: aws-actions/configure-aws-credentials@v6\n");
        y.push_str("        with:\n");
        y.push_str(&format!(
            "          role-to-assume: {}\n",
            yaml_str(spec.role_arn)
        ));
        y.push_str(&format!(
            "          aws-region: {}\n",
            yaml_str(spec.region)
        ));
        y.push_str(
            "          role-session-name: gha-${{ github.run_id }}-${{ github.run_attempt }}\n",
        );
        if spec.audience != super::DEFAULT_AUDIENCE {
            y.push_str(&format!(
                "          audience: {}\n",
                yaml_str(spec.audience)
            ));
        }
        y.push_str("      - name: Check the identity\n");
        y.push_str("        run: aws sts get-caller-identity\n");
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_has_permissions_triggers_and_checks() {
        let s = Subjects {
            repo: "acme/app".into(),
            branches: vec!["main".into()],
            environments: vec!["production".into()],
            tags: vec!["v*".into()],
        };
        let w = render(&WorkflowSpec {
            subjects: &s,
            role_arn: "arn:aws:iam::123456789012:role/deploy",
            region: "us-east-1",
            audience: "sts.amazonaws.com",
        });
        assert!(w.contains("permissions:\n  id-token: write\n  contents: read\n"));
        assert!(w.contains("      - \"main\"\n"));
        assert!(w.contains("      - \"v*\"\n"));
        assert!(w.contains("    environment: \"production\"\n"));
        assert!(w.contains("role-session-name: gha-${{ github.run_id }}"));
        assert!(w.contains("run: aws sts get-caller-identity"));
        assert!(!w.contains("audience:"));
    }
}
