//! The documents `keyless setup` writes: the tightest trust policy for the requested subjects, and
//! least-privilege permission templates for the common deploy targets.

use serde_json::{Value, json};

/// Who may assume the role.
#[derive(Debug, Clone, Default)]
pub struct Subjects {
    /// `OWNER/REPO`.
    pub repo: String,
    /// Branch names (`main`), exact unless they contain a wildcard.
    pub branches: Vec<String>,
    /// Deployment environment names.
    pub environments: Vec<String>,
    /// Tag patterns (`v*`).
    pub tags: Vec<String>,
}

fn has_wildcard(s: &str) -> bool {
    s.contains('*') || s.contains('?')
}

impl Subjects {
    /// `sub` values that must match exactly (`StringEquals`).
    pub fn exact(&self) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|s| !has_wildcard(s))
            .collect()
    }

    /// `sub` patterns (`StringLike`).
    pub fn patterns(&self) -> Vec<String> {
        self.all().into_iter().filter(|s| has_wildcard(s)).collect()
    }

    fn all(&self) -> Vec<String> {
        let r = &self.repo;
        let mut out = Vec::new();
        for b in &self.branches {
            let b = b.trim_start_matches("refs/heads/");
            out.push(format!("repo:{r}:ref:refs/heads/{b}"));
        }
        for e in &self.environments {
            out.push(format!("repo:{r}:environment:{e}"));
        }
        for t in &self.tags {
            let t = t.trim_start_matches("refs/tags/");
            out.push(format!("repo:{r}:ref:refs/tags/{t}"));
        }
        out.dedup();
        out
    }

    /// Why this request is wider than one repository's named refs, if it is: an owner-wide repo
    /// pattern, a wildcard branch or environment (anyone with write access can create one), or a
    /// tag pattern that matches every tag.
    pub fn wideness(&self) -> Vec<String> {
        let mut why = Vec::new();
        if has_wildcard(&self.repo) {
            why.push(format!(
                "`--repo {}` is a wildcard: every matching repository of the owner could assume the role",
                self.repo
            ));
        }
        for b in self.branches.iter().filter(|b| has_wildcard(b)) {
            why.push(format!(
                "`--branch {b}` is a wildcard: anyone who can push a matching branch could assume the role"
            ));
        }
        for e in self.environments.iter().filter(|e| has_wildcard(e)) {
            why.push(format!(
                "`--environment {e}` is a wildcard: any matching environment, with or without protection rules, could assume the role"
            ));
        }
        for t in self.tags.iter().filter(|t| {
            t.trim_start_matches("refs/tags/")
                .chars()
                .all(|c| c == '*' || c == '?')
        }) {
            why.push(format!(
                "`--tag {t}` matches every tag: anyone who can push a tag could assume the role"
            ));
        }
        why
    }
}

/// The trust policy: one statement with `StringEquals` on `aud` and the exact subjects, and, only
/// when patterns were asked for, a second with `StringEquals` on `aud` and `StringLike` on them
/// (one statement for both would AND the two `sub` conditions and admit nothing).
pub fn trust_policy(provider_arn: &str, issuer_host: &str, audience: &str, s: &Subjects) -> Value {
    let aud_key = format!("{issuer_host}:aud");
    let sub_key = format!("{issuer_host}:sub");
    let one_or_many = |v: Vec<String>| -> Value {
        match v.as_slice() {
            [one] => Value::String(one.clone()),
            _ => Value::from(v),
        }
    };
    let mut statements = Vec::new();
    let exact = s.exact();
    if !exact.is_empty() {
        statements.push(json!({
            "Sid": "GitHubActionsExact",
            "Effect": "Allow",
            "Principal": { "Federated": provider_arn },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": { aud_key.clone(): audience, sub_key.clone(): one_or_many(exact) }
            }
        }));
    }
    let patterns = s.patterns();
    if !patterns.is_empty() {
        statements.push(json!({
            "Sid": "GitHubActionsPatterns",
            "Effect": "Allow",
            "Principal": { "Federated": provider_arn },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": { aud_key: audience },
                "StringLike": { sub_key: one_or_many(patterns) }
            }
        }));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// The permission template to attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permissions {
    /// Sync a site to one bucket: list it, read/write/delete its objects.
    S3Bucket(String),
    /// Push images to one ECR repository; optionally roll one ECS service.
    Ecr {
        /// Repository name.
        repository: String,
        /// ECS service ARN to update.
        ecs_service: Option<String>,
    },
    /// Read one SSM parameter.
    SsmParameter(String),
    /// The user's own policy document (JSON text).
    File(String),
}

/// Where ARNs are built.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    /// Account id.
    pub account: &'a str,
    /// Region of regional resources (ECR, SSM).
    pub region: &'a str,
}

impl Permissions {
    /// The identity policy document.
    pub fn document(&self, scope: &Scope<'_>) -> Result<Value, String> {
        let (acct, region) = (scope.account, scope.region);
        Ok(match self {
            Permissions::S3Bucket(b) => json!({
                "Version": "2012-10-17",
                "Statement": [
                    { "Sid": "ListBucket", "Effect": "Allow", "Action": "s3:ListBucket",
                      "Resource": format!("arn:aws:s3:::{b}") },
                    { "Sid": "WriteObjects", "Effect": "Allow",
                      "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                      "Resource": format!("arn:aws:s3:::{b}/*") }
                ]
            }),
            Permissions::Ecr {
                repository,
                ecs_service,
            } => {
                let mut st = vec![
                    json!({ "Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*" }),
                    json!({ "Sid": "EcrPush", "Effect": "Allow",
                      "Action": [
                        "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload",
                        "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"
                      ],
                      "Resource": format!("arn:aws:ecr:{region}:{acct}:repository/{repository}") }),
                ];
                if let Some(svc) = ecs_service {
                    st.push(json!({ "Sid": "EcsDeploy", "Effect": "Allow",
                        "Action": ["ecs:DescribeServices", "ecs:UpdateService"], "Resource": svc }));
                }
                json!({ "Version": "2012-10-17", "Statement": st })
            }
            Permissions::SsmParameter(name) => json!({
                "Version": "2012-10-17",
                "Statement": [
                    { "Sid": "ReadParameter", "Effect": "Allow",
                      "Action": ["ssm:GetParameter", "ssm:GetParameters"],
                      "Resource": format!("arn:aws:ssm:{region}:{acct}:parameter/{}", name.trim_start_matches('/')) }
                ]
            }),
            Permissions::File(text) => {
                keyless_policy::parse(text, keyless_policy::PolicyKind::Identity)
                    .map_err(|e| format!("the policy file is not a valid identity policy: {e}"))?;
                serde_json::from_str(text)
                    .map_err(|e| format!("the policy file is not JSON: {e}"))?
            }
        })
    }

    /// Whether the role can change anything (then wide trust is refused without
    /// `--allow-wide-trust`). A user policy counts as writing unless every action is a read
    /// (`Get*`, `List*`, `Describe*`, `BatchGet*`).
    pub fn writes(&self, doc: &Value) -> bool {
        match self {
            Permissions::SsmParameter(_) => false,
            Permissions::S3Bucket(_) | Permissions::Ecr { .. } => true,
            Permissions::File(_) => !all_actions_read_only(doc),
        }
    }

    /// Short name for the plan and the inline policy.
    pub fn label(&self) -> String {
        match self {
            Permissions::S3Bucket(b) => format!("S3 deploy to bucket `{b}`"),
            Permissions::Ecr {
                repository,
                ecs_service: None,
            } => format!("ECR push to `{repository}`"),
            Permissions::Ecr {
                repository,
                ecs_service: Some(s),
            } => format!("ECR push to `{repository}` and ECS update of `{s}`"),
            Permissions::SsmParameter(p) => format!("read of SSM parameter `{p}`"),
            Permissions::File(_) => "the given policy file".to_owned(),
        }
    }
}

fn all_actions_read_only(doc: &Value) -> bool {
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => return false,
    };
    statements.iter().all(|st| {
        if st.get("Effect").and_then(Value::as_str) == Some("Deny") {
            return true;
        }
        if st.get("NotAction").is_some() {
            return false;
        }
        let actions: Vec<&str> = match st.get("Action") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => return false,
        };
        actions.iter().all(|a| {
            let verb = a.split(':').nth(1).unwrap_or("*");
            ["Get", "List", "Describe", "BatchGet"]
                .iter()
                .any(|p| verb.starts_with(p) && !verb.contains('*'))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";
    const HOST: &str = "token.actions.githubusercontent.com";

    fn subjects() -> Subjects {
        Subjects {
            repo: "acme/app".into(),
            branches: vec!["main".into()],
            environments: vec!["production".into()],
            tags: vec!["v*".into()],
        }
    }

    #[test]
    fn exact_subjects_use_string_equals_and_tags_string_like() {
        let p = trust_policy(ARN, HOST, "sts.amazonaws.com", &subjects());
        let st = p["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 2);
        let eq = &st[0]["Condition"]["StringEquals"];
        assert_eq!(eq[format!("{HOST}:aud")], "sts.amazonaws.com");
        assert_eq!(
            eq[format!("{HOST}:sub")],
            json!([
                "repo:acme/app:ref:refs/heads/main",
                "repo:acme/app:environment:production"
            ])
        );
        assert!(st[0]["Condition"].get("StringLike").is_none());
        assert_eq!(
            st[1]["Condition"]["StringLike"][format!("{HOST}:sub")],
            "repo:acme/app:ref:refs/tags/v*"
        );
        assert_eq!(
            st[1]["Condition"]["StringEquals"][format!("{HOST}:aud")],
            "sts.amazonaws.com"
        );
    }

    #[test]
    fn one_branch_gives_one_statement_with_a_string() {
        let s = Subjects {
            repo: "acme/app".into(),
            branches: vec!["refs/heads/main".into()],
            ..Subjects::default()
        };
        let p = trust_policy(ARN, HOST, "sts.amazonaws.com", &s);
        assert_eq!(p["Statement"].as_array().unwrap().len(), 1);
        assert_eq!(
            p["Statement"][0]["Condition"]["StringEquals"][format!("{HOST}:sub")],
            "repo:acme/app:ref:refs/heads/main"
        );
    }

    #[test]
    fn wideness_is_detected() {
        assert!(subjects().wideness().is_empty());
        let owner = Subjects {
            repo: "acme/*".into(),
            branches: vec!["main".into()],
            ..Subjects::default()
        };
        assert_eq!(owner.wideness().len(), 1);
        let branch = Subjects {
            repo: "acme/app".into(),
            branches: vec!["*".into()],
            ..Subjects::default()
        };
        assert_eq!(branch.wideness().len(), 1);
        let tag = Subjects {
            repo: "acme/app".into(),
            tags: vec!["*".into()],
            ..Subjects::default()
        };
        assert_eq!(tag.wideness().len(), 1);
    }

    #[test]
    fn templates_are_scoped_to_one_resource() {
        let scope = Scope {
            account: "123456789012",
            region: "eu-west-1",
        };
        let s3 = Permissions::S3Bucket("site".into())
            .document(&scope)
            .unwrap();
        assert_eq!(s3["Statement"][1]["Resource"], "arn:aws:s3:::site/*");
        let ssm = Permissions::SsmParameter("/app/db".into())
            .document(&scope)
            .unwrap();
        assert_eq!(
            ssm["Statement"][0]["Resource"],
            "arn:aws:ssm:eu-west-1:123456789012:parameter/app/db"
        );
        let ecr = Permissions::Ecr {
            repository: "web".into(),
            ecs_service: Some("arn:aws:ecs:eu-west-1:123456789012:service/c/web".into()),
        }
        .document(&scope)
        .unwrap();
        assert_eq!(ecr["Statement"].as_array().unwrap().len(), 3);
        assert!(!Permissions::SsmParameter("x".into()).writes(&ssm));
        assert!(Permissions::S3Bucket("x".into()).writes(&s3));
    }

    #[test]
    fn user_policy_read_only_detection() {
        let ro = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":"*"}]}"#;
        let rw = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        let scope = Scope {
            account: "1",
            region: "r",
        };
        let p = Permissions::File(ro.into());
        assert!(!p.writes(&p.document(&scope).unwrap()));
        let p = Permissions::File(rw.into());
        assert!(p.writes(&p.document(&scope).unwrap()));
        assert!(Permissions::File("{".into()).document(&scope).is_err());
    }
}
