//! Helpers shared by the integration tests.

use keyless_policy::{
    Context, Evaluation, Named, Policy, PolicyKind, PolicySet, PrincipalId, PrincipalKind, Request,
    evaluate, parse,
};

pub const GITHUB_PROVIDER: &str =
    "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";
pub const ROLE: &str = "arn:aws:iam::123456789012:role/deploy";

pub fn policy(text: &str, kind: PolicyKind) -> Policy {
    match parse(text, kind) {
        Ok(p) => p,
        Err(e) => panic!("policy did not parse:\n{e}\n{text}"),
    }
}

pub fn github_trust(sub: &str) -> String {
    format!(
        r#"{{
  "Version": "2012-10-17",
  "Statement": [
    {{
      "Sid": "GitHubMain",
      "Effect": "Allow",
      "Principal": {{"Federated": "{GITHUB_PROVIDER}"}},
      "Action": "sts:AssumeRoleWithWebIdentity",
      "Condition": {{
        "StringEquals": {{
          "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
          "token.actions.githubusercontent.com:sub": "{sub}"
        }}
      }}
    }}
  ]
}}"#
    )
}

pub fn github_context(sub: &str) -> Context {
    let mut c = Context::new();
    c.insert(
        "token.actions.githubusercontent.com:aud",
        "sts.amazonaws.com",
    );
    c.insert("token.actions.githubusercontent.com:sub", sub);
    c
}

/// Evaluates a trust policy for AssumeRoleWithWebIdentity from the GitHub provider.
pub fn assume_web_identity(trust: &Policy, context: &Context) -> Evaluation {
    let principal = [PrincipalId::new(PrincipalKind::Federated, GITHUB_PROVIDER)];
    let set = PolicySet {
        resource: Some(Named {
            name: "trust",
            policy: trust,
        }),
        ..PolicySet::default()
    };
    evaluate(
        &set,
        &Request {
            principal: &principal,
            action: "sts:AssumeRoleWithWebIdentity",
            resource: ROLE,
            context,
        },
    )
}
