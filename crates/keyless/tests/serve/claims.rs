//! Token claims in trust policies: GitHub's provider-specific condition keys, session tags
//! (needing `sts:TagSession`) and source identity (needing `sts:SetSourceIdentity`).

use crate::harness::*;

fn trust(extra_actions: &[&str], conditions: &str) -> String {
    let mut actions = vec!["\"sts:AssumeRoleWithWebIdentity\"".to_owned()];
    actions.extend(extra_actions.iter().map(|a| format!("\"{a}\"")));
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{PROVIDER_ARN}"}},"Action":[{}],"Condition":{conditions}}}]}}"#,
        actions.join(",")
    )
}

#[tokio::test]
async fn github_condition_keys_in_trust_policies() {
    let server = Server::start();
    let iam = server.iam();
    create_github_provider(&iam).await;
    let cond = r#"{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com","token.actions.githubusercontent.com:repository":"acme/app","token.actions.githubusercontent.com:environment":"prod"},"StringLike":{"token.actions.githubusercontent.com:sub":"repo:acme/app:*"}}"#;
    let role = create_role(&iam, "env-keys", &trust(&[], cond), None).await;
    let prod = server.token(&["--environment", "prod"]);
    assume_web(&server.sts(), role.arn(), "prod", &prod)
        .await
        .expect("environment prod of acme/app");
    let staging = server.token(&["--environment", "staging"]);
    let (code, _) = aws_err(assume_web(&server.sts(), role.arn(), "staging", &staging).await);
    assert_eq!(code, "AccessDenied");
    let other = server.token(&["--repo", "acme/other", "--environment", "prod"]);
    let (code, _) = aws_err(assume_web(&server.sts(), role.arn(), "other", &other).await);
    assert_eq!(code, "AccessDenied");

    let jwr = r#"{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com","token.actions.githubusercontent.com:job_workflow_ref":"acme/shared/.github/workflows/deploy.yml@refs/heads/main"}}"#;
    let role = create_role(&iam, "reusable", &trust(&[], jwr), None).await;
    let ok = server.token(&[
        "--job-workflow-ref",
        "acme/shared/.github/workflows/deploy.yml@refs/heads/main",
    ]);
    assume_web(&server.sts(), role.arn(), "reusable", &ok)
        .await
        .expect("pinned reusable workflow");
    let bad = server.token(&[
        "--job-workflow-ref",
        "acme/shared/.github/workflows/deploy.yml@refs/heads/dev",
    ]);
    let (code, _) = aws_err(assume_web(&server.sts(), role.arn(), "reusable-dev", &bad).await);
    assert_eq!(code, "AccessDenied");
}

const SUB_MAIN: &str = r#"{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com","token.actions.githubusercontent.com:sub":"repo:acme/app:ref:refs/heads/main"}}"#;

#[tokio::test]
async fn session_tags_need_tag_session() {
    let server = Server::start();
    let iam = server.iam();
    create_github_provider(&iam).await;
    let tags = r#"https://aws.amazon.com/tags={"principal_tags":{"team":["platform"]},"transitive_tag_keys":["team"]}"#;
    let token = server.token(&["--claim", tags]);
    let without = create_role(&iam, "no-tags", &trust(&[], SUB_MAIN), None).await;
    let (code, message) = aws_err(assume_web(&server.sts(), without.arn(), "tagged", &token).await);
    assert_eq!(
        code, "AccessDenied",
        "a tagged token needs sts:TagSession: {message}"
    );
    let with = create_role(&iam, "tags", &trust(&["sts:TagSession"], SUB_MAIN), None).await;
    // The tag is usable as aws:PrincipalTag in the role's policy.
    let by_tag = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListRoles","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"platform"}}}]}"#;
    iam.put_role_policy()
        .role_name("tags")
        .policy_name("by-tag")
        .policy_document(by_tag)
        .send()
        .await
        .expect("put");
    let out = assume_web(&server.sts(), with.arn(), "tagged", &token)
        .await
        .expect("with sts:TagSession");
    assert!(
        out.packed_policy_size().is_some(),
        "tags count in PackedPolicySize"
    );
    let creds = Creds::from_sts(out.credentials().expect("creds"));
    server
        .iam_with(&creds)
        .list_roles()
        .send()
        .await
        .expect("allowed by aws:PrincipalTag/team");
    // Without tags the same role's policy does not apply.
    let plain = server.token(&[]);
    let creds = Creds::from_sts(
        assume_web(&server.sts(), with.arn(), "plain", &plain)
            .await
            .expect("assume")
            .credentials()
            .expect("c"),
    );
    let (code, _) = aws_err(server.iam_with(&creds).list_roles().send().await);
    assert_eq!(code, "AccessDenied");
}

#[tokio::test]
async fn source_identity_needs_set_source_identity() {
    let server = Server::start();
    let iam = server.iam();
    create_github_provider(&iam).await;
    let token = server.token(&[
        "--claim",
        r#"https://aws.amazon.com/source_identity="octocat""#,
    ]);
    let without = create_role(&iam, "no-si", &trust(&[], SUB_MAIN), None).await;
    let (code, _) = aws_err(assume_web(&server.sts(), without.arn(), "si", &token).await);
    assert_eq!(code, "AccessDenied");
    let with = create_role(
        &iam,
        "si",
        &trust(&["sts:SetSourceIdentity"], SUB_MAIN),
        None,
    )
    .await;
    let out = assume_web(&server.sts(), with.arn(), "si", &token)
        .await
        .expect("with sts:SetSourceIdentity");
    assert_eq!(out.source_identity(), Some("octocat"));
}
