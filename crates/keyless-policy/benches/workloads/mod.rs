//! The workloads both benchmark binaries measure.
#![allow(dead_code)]

pub const PROVIDER: &str =
    "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";

pub fn two_kb_policy() -> String {
    let mut statements = Vec::new();
    let mut i = 0;
    loop {
        statements.push(format!(
            r#"    {{
      "Sid": "Stmt{i}",
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject", "s3:List*"],
      "Resource": ["arn:aws:s3:::bucket-{i}", "arn:aws:s3:::bucket-{i}/*"],
      "Condition": {{"StringEquals": {{"aws:RequestedRegion": "eu-west-1"}}, "Bool": {{"aws:SecureTransport": "true"}}}}
    }}"#
        ));
        let text = format!(
            "{{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n{}\n  ]\n}}",
            statements.join(",\n")
        );
        if text.len() >= 2048 {
            return text;
        }
        i += 1;
    }
}

pub fn github_trust() -> String {
    format!(
        r#"{{
  "Version": "2012-10-17",
  "Statement": [{{
    "Sid": "GitHubMain",
    "Effect": "Allow",
    "Principal": {{"Federated": "{PROVIDER}"}},
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {{
      "StringEquals": {{"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}},
      "StringLike": {{"token.actions.githubusercontent.com:sub": "repo:acme/app:ref:refs/heads/*"}}
    }}
  }}]
}}"#
    )
}

pub fn twenty_statements() -> String {
    let services = [
        "s3", "ec2", "iam", "logs", "sqs", "sns", "dynamodb", "lambda", "kms", "ssm",
    ];
    let mut statements = Vec::new();
    for i in 0..20 {
        let svc = services[i % services.len()];
        let effect = if i == 7 { "Deny" } else { "Allow" };
        statements.push(format!(
            r#"{{"Sid":"S{i}","Effect":"{effect}","Action":["{svc}:Get*","{svc}:List*","{svc}:Describe*"],"Resource":["arn:aws:{svc}:*:123456789012:thing-{i}/*","arn:aws:{svc}:eu-*:123456789012:other-{i}*"],"Condition":{{"StringLike":{{"aws:PrincipalTag/team":"team-{i}*"}}}}}}"#
        ));
    }
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}
