//! The IAM subset through `aws-sdk-iam`: providers, roles, inline and managed policies, simulation.

use aws_sdk_iam::types::{PolicyEvaluationDecisionType, Tag};

use crate::harness::*;

fn decode(s: &str) -> String {
    // The SDK hands documents back as the wire carries them: URL-encoded (RFC 3986).
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
            out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8 document")
}

/// A one-statement identity policy allowing `action` on everything.
fn doc(action: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"*"}}]}}"#
    )
}

fn json_eq(a: &str, b: &str) -> bool {
    let a: serde_json::Value = serde_json::from_str(a).expect("json a");
    let b: serde_json::Value = serde_json::from_str(b).expect("json b");
    a == b
}

#[tokio::test]
async fn oidc_provider_lifecycle() {
    let server = Server::start();
    let iam = server.iam();
    let arn = create_github_provider(&iam).await;
    assert_eq!(arn, PROVIDER_ARN);

    let p = iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(&arn)
        .send()
        .await
        .expect("GetOpenIDConnectProvider");
    assert_eq!(
        p.url(),
        Some("token.actions.githubusercontent.com"),
        "Url without the scheme"
    );
    assert_eq!(p.client_id_list(), ["sts.amazonaws.com"]);
    assert_eq!(
        p.thumbprint_list(),
        ["6938fd4d98bab03faadb97b34396831e3780aea1"]
    );
    assert!(p.create_date().is_some());

    let (code, message) = aws_err(
        iam.create_open_id_connect_provider()
            .url(GITHUB_ISSUER)
            .client_id_list(AUDIENCE)
            .send()
            .await,
    );
    assert_eq!(code, "EntityAlreadyExists", "{message}");

    let second = iam
        .create_open_id_connect_provider()
        .url("https://auth.example.com/tenant")
        .client_id_list("app")
        .thumbprint_list("0000000000000000000000000000000000000000")
        .send()
        .await
        .expect("second provider")
        .open_id_connect_provider_arn()
        .expect("arn")
        .to_owned();
    assert_eq!(
        second,
        "arn:aws:iam::123456789012:oidc-provider/auth.example.com/tenant"
    );
    let list = iam
        .list_open_id_connect_providers()
        .send()
        .await
        .expect("ListOpenIDConnectProviders");
    let mut arns: Vec<&str> = list
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|e| e.arn())
        .collect();
    arns.sort_unstable();
    assert_eq!(arns, [second.as_str(), arn.as_str()]);

    iam.add_client_id_to_open_id_connect_provider()
        .open_id_connect_provider_arn(&arn)
        .client_id("https://github.com/acme")
        .send()
        .await
        .expect("AddClientID");
    // Idempotent.
    iam.add_client_id_to_open_id_connect_provider()
        .open_id_connect_provider_arn(&arn)
        .client_id("https://github.com/acme")
        .send()
        .await
        .expect("AddClientID again");
    let p = iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(&arn)
        .send()
        .await
        .expect("get");
    let mut ids = p.client_id_list().to_vec();
    ids.sort();
    assert_eq!(ids, ["https://github.com/acme", "sts.amazonaws.com"]);
    iam.remove_client_id_from_open_id_connect_provider()
        .open_id_connect_provider_arn(&arn)
        .client_id("sts.amazonaws.com")
        .send()
        .await
        .expect("RemoveClientID");
    let p = iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(&arn)
        .send()
        .await
        .expect("get");
    assert_eq!(p.client_id_list(), ["https://github.com/acme"]);

    let thumbs = [
        "1111111111111111111111111111111111111111",
        "2222222222222222222222222222222222222222",
    ];
    iam.update_open_id_connect_provider_thumbprint()
        .open_id_connect_provider_arn(&arn)
        .set_thumbprint_list(Some(thumbs.iter().map(|s| s.to_string()).collect()))
        .send()
        .await
        .expect("UpdateThumbprint");
    let p = iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(&arn)
        .send()
        .await
        .expect("get");
    assert_eq!(p.thumbprint_list(), thumbs);

    let (code, message) = aws_err(
        iam.update_open_id_connect_provider_thumbprint()
            .open_id_connect_provider_arn(&arn)
            .thumbprint_list("short")
            .send()
            .await,
    );
    assert!(
        code == "InvalidInput" || code == "ValidationError",
        "{code}: {message}"
    );

    iam.delete_open_id_connect_provider()
        .open_id_connect_provider_arn(&second)
        .send()
        .await
        .expect("Delete");
    let (code, _) = aws_err(
        iam.get_open_id_connect_provider()
            .open_id_connect_provider_arn(&second)
            .send()
            .await,
    );
    assert_eq!(code, "NoSuchEntity");
}

#[tokio::test]
async fn provider_client_id_change_affects_web_identity() {
    let server = Server::start();
    let iam = server.iam();
    let role_arn = tutorial_setup(&server).await;
    let token = server.token(&[]);
    assume_web(&server.sts(), &role_arn, "before", &token)
        .await
        .expect("audience registered");
    iam.remove_client_id_from_open_id_connect_provider()
        .open_id_connect_provider_arn(PROVIDER_ARN)
        .client_id(AUDIENCE)
        .send()
        .await
        .expect("remove");
    let (code, message) = aws_err(assume_web(&server.sts(), &role_arn, "after", &token).await);
    assert_eq!(code, "InvalidIdentityToken");
    assert_eq!(message, "Incorrect token audience");
    iam.delete_open_id_connect_provider()
        .open_id_connect_provider_arn(PROVIDER_ARN)
        .send()
        .await
        .expect("delete");
    let (code, message) = aws_err(assume_web(&server.sts(), &role_arn, "gone", &token).await);
    assert_eq!(code, "InvalidIdentityToken");
    assert!(
        message.starts_with("No OpenIDConnect provider found in your account for"),
        "{message}"
    );
}

#[tokio::test]
async fn roles_create_get_list_paginate_update_delete() {
    let server = Server::start();
    let iam = server.iam();
    let trust = github_trust(ACCOUNT, "repo:acme/app:ref:refs/heads/main");
    let created = iam
        .create_role()
        .role_name("r0")
        .path("/ci/")
        .description("first role")
        .assume_role_policy_document(&trust)
        .tags(
            Tag::builder()
                .key("team")
                .value("platform")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("CreateRole")
        .role()
        .expect("role")
        .clone();
    assert_eq!(created.arn(), "arn:aws:iam::123456789012:role/ci/r0");
    assert_eq!(created.path(), "/ci/");
    assert!(created.role_id().starts_with("AROA"));
    assert_eq!(created.max_session_duration(), Some(3600));
    assert!(json_eq(
        &decode(created.assume_role_policy_document().expect("doc")),
        &trust
    ));

    let (code, message) = aws_err(
        iam.create_role()
            .role_name("R0")
            .assume_role_policy_document(&trust)
            .send()
            .await,
    );
    assert_eq!(
        code, "EntityAlreadyExists",
        "names are unique case-insensitively: {message}"
    );

    for i in 1..5 {
        create_role(&iam, &format!("r{i}"), &trust, None).await;
    }
    let got = iam
        .get_role()
        .role_name("r0")
        .send()
        .await
        .expect("GetRole")
        .role()
        .expect("role")
        .clone();
    assert_eq!(got.role_id(), created.role_id());
    assert_eq!(got.description(), Some("first role"));
    assert!(
        got.tags()
            .iter()
            .any(|t| t.key() == "team" && t.value() == "platform")
    );
    assert!(json_eq(
        &decode(got.assume_role_policy_document().expect("doc")),
        &trust
    ));

    // Pagination: 5 roles, 2 per page.
    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = iam
            .list_roles()
            .max_items(2)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("ListRoles");
        pages += 1;
        assert!(page.roles().len() <= 2, "page of {}", page.roles().len());
        names.extend(page.roles().iter().map(|r| r.role_name().to_owned()));
        if page.is_truncated() {
            marker = Some(
                page.marker()
                    .expect("truncated page has a Marker")
                    .to_owned(),
            );
            assert!(!page.roles().is_empty());
        } else {
            assert!(page.marker().is_none(), "last page has no Marker");
            break;
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    names.sort();
    assert_eq!(names, ["r0", "r1", "r2", "r3", "r4"]);

    iam.update_role()
        .role_name("r1")
        .description("changed")
        .max_session_duration(7200)
        .send()
        .await
        .expect("UpdateRole");
    let r1 = iam
        .get_role()
        .role_name("r1")
        .send()
        .await
        .expect("GetRole")
        .role()
        .expect("role")
        .clone();
    assert_eq!(r1.description(), Some("changed"));
    assert_eq!(r1.max_session_duration(), Some(7200));
    let (code, message) = aws_err(
        iam.update_role()
            .role_name("r1")
            .max_session_duration(43201)
            .send()
            .await,
    );
    assert!(
        code == "ValidationError" || code == "InvalidInput",
        "{code}: {message}"
    );

    // DeleteConflict while policies are attached or inline.
    iam.attach_role_policy()
        .role_name("r2")
        .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .send()
        .await
        .expect("attach");
    let (code, message) = aws_err(iam.delete_role().role_name("r2").send().await);
    assert_eq!(code, "DeleteConflict");
    assert_eq!(
        message,
        "Cannot delete entity, must detach all policies first."
    );
    iam.detach_role_policy()
        .role_name("r2")
        .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .send()
        .await
        .expect("detach");
    iam.put_role_policy()
        .role_name("r2")
        .policy_name("p")
        .policy_document(allow(&["s3:GetObject"]))
        .send()
        .await
        .expect("put");
    let (code, message) = aws_err(iam.delete_role().role_name("r2").send().await);
    assert_eq!(code, "DeleteConflict");
    assert_eq!(message, "Cannot delete entity, must delete policies first.");
    iam.delete_role_policy()
        .role_name("r2")
        .policy_name("p")
        .send()
        .await
        .expect("delete inline");
    iam.delete_role()
        .role_name("r2")
        .send()
        .await
        .expect("DeleteRole");
    let (code, _) = aws_err(iam.get_role().role_name("r2").send().await);
    assert_eq!(code, "NoSuchEntity");
    let (code, _) = aws_err(iam.delete_role().role_name("r2").send().await);
    assert_eq!(code, "NoSuchEntity");
}

#[tokio::test]
async fn update_assume_role_policy_changes_who_may_assume() {
    let server = Server::start();
    let iam = server.iam();
    let role_arn = tutorial_setup(&server).await;
    let dev = server.token(&["--ref", "refs/heads/dev"]);
    let (code, _) = aws_err(assume_web(&server.sts(), &role_arn, "dev1", &dev).await);
    assert_eq!(code, "AccessDenied");
    let new_trust = github_trust(ACCOUNT, "repo:acme/app:ref:refs/heads/dev");
    iam.update_assume_role_policy()
        .role_name("gha-deploy")
        .policy_document(&new_trust)
        .send()
        .await
        .expect("UpdateAssumeRolePolicy");
    let role = iam
        .get_role()
        .role_name("gha-deploy")
        .send()
        .await
        .expect("get")
        .role()
        .expect("role")
        .clone();
    assert!(json_eq(
        &decode(role.assume_role_policy_document().expect("doc")),
        &new_trust
    ));
    assume_web(&server.sts(), &role_arn, "dev2", &dev)
        .await
        .expect("dev branch now trusted");
    let main = server.token(&[]);
    let (code, _) = aws_err(assume_web(&server.sts(), &role_arn, "main", &main).await);
    assert_eq!(code, "AccessDenied");
}

const GUARDRAIL: &str = "Trust policy with trusted principal arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com must evaluate, using StringEquals, StringLike or StringEqualsIgnoreCase, token.actions.githubusercontent.com:sub or token.actions.githubusercontent.com:job_workflow_ref which is not scoped to all.";

#[tokio::test]
async fn github_guardrail_refuses_unscoped_trust() {
    let server = Server::start();
    let iam = server.iam();
    let aud_only = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"}}}]}"#;
    let star = github_trust(ACCOUNT, "*").replace("StringEquals", "StringLike");
    let repo_cond = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"token.actions.githubusercontent.com:repository":"acme/app"}}}]}"#;
    for (name, doc) in [
        ("aud-only", aud_only.to_owned()),
        ("star", star),
        ("repository-only", repo_cond.to_owned()),
    ] {
        let (code, message) = aws_err(
            iam.create_role()
                .role_name(name)
                .assume_role_policy_document(&doc)
                .send()
                .await,
        );
        assert_eq!(code, "MalformedPolicyDocument", "{name}");
        assert_eq!(message, GUARDRAIL, "{name}");
        let (code, _) = aws_err(iam.get_role().role_name(name).send().await);
        assert_eq!(code, "NoSuchEntity", "{name}: no partial write");
    }
    // A scoped wildcard is accepted, as on AWS.
    let org = github_trust(ACCOUNT, "repo:acme/*").replace("StringEquals", "StringLike");
    create_role(&iam, "org-wide", &org, None).await;
    // UpdateAssumeRolePolicy applies the guardrail too, and keeps the old document.
    let (code, message) = aws_err(
        iam.update_assume_role_policy()
            .role_name("org-wide")
            .policy_document(aud_only)
            .send()
            .await,
    );
    assert_eq!(code, "MalformedPolicyDocument");
    assert_eq!(message, GUARDRAIL);
    let role = iam
        .get_role()
        .role_name("org-wide")
        .send()
        .await
        .expect("get")
        .role()
        .expect("role")
        .clone();
    assert!(json_eq(
        &decode(role.assume_role_policy_document().expect("doc")),
        &org
    ));
}

#[tokio::test]
async fn malformed_policy_documents() {
    let server = Server::start();
    let iam = server.iam();
    let (code, message) = aws_err(
        iam.create_role()
            .role_name("bad")
            .assume_role_policy_document("{\"Version\":")
            .send()
            .await,
    );
    assert_eq!(code, "MalformedPolicyDocument", "{message}");
    assert!(!message.is_empty());
    // A trust policy with a Resource.
    let with_resource = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole","Resource":"*"}]}"#;
    let (code, message) = aws_err(
        iam.create_role()
            .role_name("bad")
            .assume_role_policy_document(with_resource)
            .send()
            .await,
    );
    assert_eq!(code, "MalformedPolicyDocument", "{message}");

    create_role(&iam, "ok", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#, None).await;
    let (code, message) = aws_err(
        iam.put_role_policy()
            .role_name("ok")
            .policy_name("p")
            .policy_document("not json at all")
            .send()
            .await,
    );
    assert_eq!(code, "MalformedPolicyDocument", "{message}");
    // An identity policy with a Principal.
    let with_principal = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#;
    let (code, message) = aws_err(
        iam.put_role_policy()
            .role_name("ok")
            .policy_name("p")
            .policy_document(with_principal)
            .send()
            .await,
    );
    assert_eq!(code, "MalformedPolicyDocument", "{message}");
    let no_resource =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#;
    let (code, message) = aws_err(
        iam.create_policy()
            .policy_name("nores")
            .policy_document(no_resource)
            .send()
            .await,
    );
    assert_eq!(code, "MalformedPolicyDocument", "{message}");
    let names = iam
        .list_role_policies()
        .role_name("ok")
        .send()
        .await
        .expect("list");
    assert!(
        names.policy_names().is_empty(),
        "nothing written: {:?}",
        names.policy_names()
    );
}

#[tokio::test]
async fn inline_role_policies() {
    let server = Server::start();
    let iam = server.iam();
    tutorial_setup(&server).await;
    // Characters that must survive URL-encoding: spaces, quotes, slashes, `+`, `%`, `&`, `=`, newlines.
    let doc = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{\"Sid\": \"ReadDeploy\", \"Effect\": \"Allow\", \"Action\": [\"s3:GetObject\"], \"Resource\": \"arn:aws:s3:::deploy-bucket/a+b%20c&d=e/*\"}]\n}";
    iam.put_role_policy()
        .role_name("gha-deploy")
        .policy_name("deploy")
        .policy_document(doc)
        .send()
        .await
        .expect("PutRolePolicy");
    iam.put_role_policy()
        .role_name("gha-deploy")
        .policy_name("other")
        .policy_document(allow(&["s3:ListBucket"]))
        .send()
        .await
        .expect("PutRolePolicy 2");
    let got = iam
        .get_role_policy()
        .role_name("gha-deploy")
        .policy_name("deploy")
        .send()
        .await
        .expect("GetRolePolicy");
    assert_eq!(got.role_name(), "gha-deploy");
    assert_eq!(got.policy_name(), "deploy");
    let raw = got.policy_document();
    assert!(
        raw.contains("%22") || raw.contains("%7B"),
        "returned URL-encoded as AWS does: {raw}"
    );
    assert_eq!(decode(raw), doc, "decodes to the text as submitted");
    let mut names = iam
        .list_role_policies()
        .role_name("gha-deploy")
        .send()
        .await
        .expect("ListRolePolicies")
        .policy_names()
        .to_vec();
    names.sort();
    assert_eq!(names, ["deploy", "other"]);
    let first = iam
        .list_role_policies()
        .role_name("gha-deploy")
        .max_items(1)
        .send()
        .await
        .expect("ListRolePolicies page 1");
    assert_eq!(first.policy_names(), ["deploy"]);
    assert!(first.is_truncated());
    let rest = iam
        .list_role_policies()
        .role_name("gha-deploy")
        .max_items(1)
        .marker(first.marker().expect("marker"))
        .send()
        .await
        .expect("ListRolePolicies page 2");
    assert_eq!(rest.policy_names(), ["other"]);
    assert!(!rest.is_truncated());
    // Same name replaces.
    iam.put_role_policy()
        .role_name("gha-deploy")
        .policy_name("deploy")
        .policy_document(allow(&["s3:PutObject"]))
        .send()
        .await
        .expect("replace");
    let got = iam
        .get_role_policy()
        .role_name("gha-deploy")
        .policy_name("deploy")
        .send()
        .await
        .expect("get");
    assert!(json_eq(
        &decode(got.policy_document()),
        &allow(&["s3:PutObject"])
    ));
    iam.delete_role_policy()
        .role_name("gha-deploy")
        .policy_name("deploy")
        .send()
        .await
        .expect("DeleteRolePolicy");
    let (code, _) = aws_err(
        iam.get_role_policy()
            .role_name("gha-deploy")
            .policy_name("deploy")
            .send()
            .await,
    );
    assert_eq!(code, "NoSuchEntity");
    let (code, _) = aws_err(
        iam.delete_role_policy()
            .role_name("gha-deploy")
            .policy_name("deploy")
            .send()
            .await,
    );
    assert_eq!(code, "NoSuchEntity");
    let (code, _) = aws_err(
        iam.put_role_policy()
            .role_name("no-such-role")
            .policy_name("x")
            .policy_document(allow(&["s3:*"]))
            .send()
            .await,
    );
    assert_eq!(code, "NoSuchEntity");
}

#[tokio::test]
async fn managed_policies() {
    let server = Server::start();
    let iam = server.iam();
    tutorial_setup(&server).await;
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::deploy-bucket/*"}]}"#;
    let p = iam
        .create_policy()
        .policy_name("deploy-read")
        .path("/ci/")
        .description("read the deploy bucket")
        .policy_document(doc)
        .send()
        .await
        .expect("CreatePolicy")
        .policy()
        .expect("policy")
        .clone();
    let arn = p.arn().expect("arn").to_owned();
    assert_eq!(arn, "arn:aws:iam::123456789012:policy/ci/deploy-read");
    assert!(p.policy_id().expect("id").starts_with("ANPA"));
    assert_eq!(p.default_version_id(), Some("v1"));
    assert_eq!(p.attachment_count(), Some(0));
    let (code, _) = aws_err(
        iam.create_policy()
            .policy_name("deploy-read")
            .path("/ci/")
            .policy_document(doc)
            .send()
            .await,
    );
    assert_eq!(code, "EntityAlreadyExists");

    let got = iam
        .get_policy()
        .policy_arn(&arn)
        .send()
        .await
        .expect("GetPolicy")
        .policy()
        .expect("policy")
        .clone();
    assert_eq!(got.policy_name(), Some("deploy-read"));
    assert_eq!(got.policy_id(), p.policy_id());
    let v = iam
        .get_policy_version()
        .policy_arn(&arn)
        .version_id("v1")
        .send()
        .await
        .expect("GetPolicyVersion")
        .policy_version()
        .expect("v")
        .clone();
    assert_eq!(v.version_id(), Some("v1"));
    assert!(v.is_default_version());
    assert_eq!(decode(v.document().expect("document")), doc);
    let (code, _) = aws_err(
        iam.get_policy_version()
            .policy_arn(&arn)
            .version_id("v9")
            .send()
            .await,
    );
    assert_eq!(code, "NoSuchEntity");

    iam.attach_role_policy()
        .role_name("gha-deploy")
        .policy_arn(&arn)
        .send()
        .await
        .expect("AttachRolePolicy");
    let attached = iam
        .list_attached_role_policies()
        .role_name("gha-deploy")
        .send()
        .await
        .expect("ListAttachedRolePolicies");
    let mut arns: Vec<&str> = attached
        .attached_policies()
        .iter()
        .filter_map(|a| a.policy_arn())
        .collect();
    arns.sort_unstable();
    assert_eq!(
        arns,
        [
            "arn:aws:iam::123456789012:policy/ci/deploy-read",
            "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
        ]
    );
    assert!(
        attached
            .attached_policies()
            .iter()
            .any(|a| a.policy_name() == Some("AmazonS3ReadOnlyAccess"))
    );
    // PathPrefix narrows to the policies under a path; MaxItems pages.
    let under_ci = iam
        .list_attached_role_policies()
        .role_name("gha-deploy")
        .path_prefix("/ci/")
        .send()
        .await
        .expect("ListAttachedRolePolicies /ci/");
    let names: Vec<&str> = under_ci
        .attached_policies()
        .iter()
        .filter_map(|a| a.policy_name())
        .collect();
    assert_eq!(names, ["deploy-read"]);
    let first = iam
        .list_attached_role_policies()
        .role_name("gha-deploy")
        .max_items(1)
        .send()
        .await
        .expect("ListAttachedRolePolicies page 1");
    assert_eq!(first.attached_policies().len(), 1);
    assert!(first.is_truncated());
    let rest = iam
        .list_attached_role_policies()
        .role_name("gha-deploy")
        .marker(first.marker().expect("marker"))
        .send()
        .await
        .expect("ListAttachedRolePolicies page 2");
    assert_eq!(rest.attached_policies().len(), 1);
    assert!(!rest.is_truncated());
    assert_ne!(
        first.attached_policies()[0].policy_arn(),
        rest.attached_policies()[0].policy_arn()
    );
    let got = iam
        .get_policy()
        .policy_arn(&arn)
        .send()
        .await
        .expect("GetPolicy")
        .policy()
        .expect("policy")
        .clone();
    assert_eq!(got.attachment_count(), Some(1));
    let (code, message) = aws_err(iam.delete_policy().policy_arn(&arn).send().await);
    assert_eq!(code, "DeleteConflict");
    assert_eq!(message, "Cannot delete a policy attached to entities.");

    iam.detach_role_policy()
        .role_name("gha-deploy")
        .policy_arn(&arn)
        .send()
        .await
        .expect("DetachRolePolicy");
    let attached = iam
        .list_attached_role_policies()
        .role_name("gha-deploy")
        .send()
        .await
        .expect("list");
    assert_eq!(attached.attached_policies().len(), 1);
    let (code, _) = aws_err(
        iam.detach_role_policy()
            .role_name("gha-deploy")
            .policy_arn(&arn)
            .send()
            .await,
    );
    assert_eq!(code, "NoSuchEntity");
    let (code, _) = aws_err(
        iam.attach_role_policy()
            .role_name("gha-deploy")
            .policy_arn("arn:aws:iam::123456789012:policy/nope")
            .send()
            .await,
    );
    assert_eq!(code, "NoSuchEntity");

    // AWS-managed policies exist with real documents.
    let s3 = iam
        .get_policy()
        .policy_arn("arn:aws:iam::aws:policy/AmazonS3FullAccess")
        .send()
        .await
        .expect("AWS managed")
        .policy()
        .expect("p")
        .clone();
    let ver = s3.default_version_id().expect("default version").to_owned();
    let d = iam
        .get_policy_version()
        .policy_arn("arn:aws:iam::aws:policy/AmazonS3FullAccess")
        .version_id(&ver)
        .send()
        .await
        .expect("version");
    assert!(decode(d.policy_version().expect("v").document().expect("doc")).contains("s3:*"));
    iam.delete_policy()
        .policy_arn(&arn)
        .send()
        .await
        .expect("DeletePolicy");
    let (code, _) = aws_err(iam.get_policy().policy_arn(&arn).send().await);
    assert_eq!(code, "NoSuchEntity");
}

#[tokio::test]
async fn managed_policy_grants_through_attachment() {
    let server = Server::start();
    let iam = server.iam();
    let role_arn = tutorial_setup(&server).await;
    let p = iam
        .create_policy()
        .policy_name("list-roles")
        .policy_document(allow(&["iam:ListRoles"]))
        .send()
        .await
        .expect("CreatePolicy");
    let arn = p.policy().and_then(|p| p.arn()).expect("arn").to_owned();
    let token = server.token(&[]);
    let creds = Creds::from_sts(
        assume_web(&server.sts(), &role_arn, "m1", &token)
            .await
            .expect("assume")
            .credentials()
            .expect("c"),
    );
    let (code, _) = aws_err(server.iam_with(&creds).list_roles().send().await);
    assert_eq!(code, "AccessDenied");
    iam.attach_role_policy()
        .role_name("gha-deploy")
        .policy_arn(&arn)
        .send()
        .await
        .expect("attach");
    server
        .iam_with(&creds)
        .list_roles()
        .send()
        .await
        .expect("allowed by the attached policy, for an existing session too");
}

#[tokio::test]
async fn simulate_principal_and_custom_policy() {
    let server = Server::start();
    let iam = server.iam();
    let role_arn = tutorial_setup(&server).await;
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Sid":"NoDelete","Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}]}"#;
    iam.put_role_policy()
        .role_name("gha-deploy")
        .policy_name("deny")
        .policy_document(deny)
        .send()
        .await
        .expect("put");
    let out = iam
        .simulate_principal_policy()
        .policy_source_arn(&role_arn)
        .action_names("s3:GetObject")
        .action_names("iam:CreateRole")
        .action_names("s3:DeleteObject")
        .resource_arns("arn:aws:s3:::bucket/key")
        .send()
        .await
        .expect("SimulatePrincipalPolicy");
    let decision = |name: &str| {
        out.evaluation_results()
            .iter()
            .find(|r| r.eval_action_name() == name)
            .unwrap_or_else(|| panic!("no result for {name}: {out:?}"))
            .clone()
    };
    assert_eq!(
        decision("s3:GetObject").eval_decision(),
        &PolicyEvaluationDecisionType::Allowed
    );
    assert!(
        !decision("s3:GetObject").matched_statements().is_empty(),
        "the allowing statement is named"
    );
    assert_eq!(
        decision("iam:CreateRole").eval_decision(),
        &PolicyEvaluationDecisionType::ImplicitDeny
    );
    assert_eq!(
        decision("s3:DeleteObject").eval_decision(),
        &PolicyEvaluationDecisionType::ExplicitDeny
    );

    let custom = iam
        .simulate_custom_policy()
        .policy_input_list(allow(&["sqs:SendMessage"]))
        .action_names("sqs:SendMessage")
        .action_names("sqs:DeleteQueue")
        .send()
        .await
        .expect("SimulateCustomPolicy");
    let d = |name: &str| {
        custom
            .evaluation_results()
            .iter()
            .find(|r| r.eval_action_name() == name)
            .map(|r| r.eval_decision().clone())
    };
    assert_eq!(
        d("sqs:SendMessage"),
        Some(PolicyEvaluationDecisionType::Allowed)
    );
    assert_eq!(
        d("sqs:DeleteQueue"),
        Some(PolicyEvaluationDecisionType::ImplicitDeny)
    );
}

#[tokio::test]
async fn role_tags_and_permissions_boundary() {
    let server = Server::start();
    let iam = server.iam();
    let role_arn = tutorial_setup(&server).await;
    iam.tag_role()
        .role_name("gha-deploy")
        .tags(
            Tag::builder()
                .key("env")
                .value("prod")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("TagRole");
    let tags = iam
        .list_role_tags()
        .role_name("gha-deploy")
        .send()
        .await
        .expect("ListRoleTags");
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "env" && t.value() == "prod")
    );
    iam.untag_role()
        .role_name("gha-deploy")
        .tag_keys("env")
        .send()
        .await
        .expect("UntagRole");
    let tags = iam
        .list_role_tags()
        .role_name("gha-deploy")
        .send()
        .await
        .expect("ListRoleTags");
    assert!(tags.tags().is_empty());

    // A boundary that allows only s3: iam:ListRoles from the role's policy no longer counts.
    iam.put_role_policy()
        .role_name("gha-deploy")
        .policy_name("list")
        .policy_document(allow(&["iam:ListRoles"]))
        .send()
        .await
        .expect("put");
    iam.put_role_permissions_boundary()
        .role_name("gha-deploy")
        .permissions_boundary("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
        .send()
        .await
        .expect("PutRolePermissionsBoundary");
    // The role attaches this policy (tutorial_setup) and now also uses it as its boundary:
    // listed once without a usage filter, and under each filter.
    let users = |usage: Option<aws_sdk_iam::types::PolicyUsageType>| {
        iam.list_entities_for_policy()
            .policy_arn("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
            .set_policy_usage_filter(usage)
            .send()
    };
    let all = users(None).await.expect("ListEntitiesForPolicy");
    assert_eq!(all.policy_roles().len(), 1);
    assert_eq!(all.policy_roles()[0].role_name(), Some("gha-deploy"));
    for usage in [
        aws_sdk_iam::types::PolicyUsageType::PermissionsPolicy,
        aws_sdk_iam::types::PolicyUsageType::PermissionsBoundary,
    ] {
        let one = users(Some(usage))
            .await
            .expect("ListEntitiesForPolicy filtered");
        assert_eq!(one.policy_roles().len(), 1);
    }
    let role = iam
        .get_role()
        .role_name("gha-deploy")
        .send()
        .await
        .expect("get")
        .role()
        .expect("r")
        .clone();
    assert_eq!(
        role.permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn()),
        Some("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    );
    let token = server.token(&[]);
    let creds = Creds::from_sts(
        assume_web(&server.sts(), &role_arn, "bounded", &token)
            .await
            .expect("assume")
            .credentials()
            .expect("c"),
    );
    let (code, _) = aws_err(server.iam_with(&creds).list_roles().send().await);
    assert_eq!(code, "AccessDenied");
    iam.delete_role_permissions_boundary()
        .role_name("gha-deploy")
        .send()
        .await
        .expect("DeleteRolePermissionsBoundary");
    server
        .iam_with(&creds)
        .list_roles()
        .send()
        .await
        .expect("allowed without the boundary");
}

#[tokio::test]
async fn malformed_policy_documents_use_aws_text() {
    let server = Server::start();
    let iam = server.iam();
    let with_resource = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole","Resource":"*"}]}"#;
    let (_, m1) = aws_err(
        iam.create_role()
            .role_name("bad")
            .assume_role_policy_document(with_resource)
            .send()
            .await,
    );
    create_role(&iam, "ok", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#, None).await;
    let with_principal = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#;
    let (_, m2) = aws_err(
        iam.put_role_policy()
            .role_name("ok")
            .policy_name("p")
            .policy_document(with_principal)
            .send()
            .await,
    );
    let no_resource =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#;
    let (_, m3) = aws_err(
        iam.create_policy()
            .policy_name("nores")
            .policy_document(no_resource)
            .send()
            .await,
    );
    let failures: Vec<String> = [
        (m1, "Has prohibited field Resource"),
        (m2, "Has prohibited field Principal"),
        (m3, "Policy statement must contain resources."),
    ]
    .into_iter()
    .filter(|(m, want)| !m.contains(want))
    .map(|(m, want)| format!("want `{want}` in `{m}`"))
    .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn provider_input_validation() {
    let server = Server::start();
    let iam = server.iam();
    let (code, message) = aws_err(
        iam.create_open_id_connect_provider()
            .url("http://insecure.example.com")
            .client_id_list("a")
            .send()
            .await,
    );
    assert!(
        matches!(code.as_str(), "InvalidInput" | "ValidationError"),
        "http URL: {code}: {message}"
    );
    let six: Vec<String> = (0..6).map(|i| format!("{i}").repeat(40)).collect();
    let (code, message) = aws_err(
        iam.create_open_id_connect_provider()
            .url("https://six.example.com")
            .client_id_list("a")
            .set_thumbprint_list(Some(six))
            .send()
            .await,
    );
    assert!(
        matches!(
            code.as_str(),
            "InvalidInput" | "ValidationError" | "LimitExceeded"
        ),
        "6 thumbprints: {code}: {message}"
    );
    let (code, _) = aws_err(
        iam.delete_open_id_connect_provider()
            .open_id_connect_provider_arn(
                "arn:aws:iam::123456789012:oidc-provider/nope.example.com",
            )
            .send()
            .await,
    );
    assert_eq!(code, "NoSuchEntity");
    let list = iam
        .list_open_id_connect_providers()
        .send()
        .await
        .expect("list");
    assert!(
        list.open_id_connect_provider_list().is_empty(),
        "nothing was created"
    );
}

/// What a tool updating a managed policy does (Terraform: create a version as default, delete
/// the oldest once five exist; before deleting the policy, delete every other version).
#[tokio::test]
async fn policy_versions_tags_and_entities() {
    let server = Server::start();
    let iam = server.iam();
    let role_arn = tutorial_setup(&server).await;
    let arn = iam
        .create_policy()
        .policy_name("deploy-write")
        .policy_document(doc("s3:GetObject"))
        .tags(
            Tag::builder()
                .key("team")
                .value("platform")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("CreatePolicy")
        .policy()
        .and_then(|p| p.arn())
        .expect("arn")
        .to_owned();
    iam.attach_role_policy()
        .role_name("gha-deploy")
        .policy_arn(&arn)
        .send()
        .await
        .expect("AttachRolePolicy");
    let v2 = iam
        .create_policy_version()
        .policy_arn(&arn)
        .policy_document(doc("s3:PutObject"))
        .send()
        .await
        .expect("CreatePolicyVersion");
    assert_eq!(v2.policy_version().and_then(|v| v.version_id()), Some("v2"));
    let may_put = || async {
        let out = iam
            .simulate_principal_policy()
            .policy_source_arn(&role_arn)
            .action_names("s3:PutObject")
            .resource_arns("arn:aws:s3:::bucket/key")
            .send()
            .await
            .expect("SimulatePrincipalPolicy");
        out.evaluation_results()[0].eval_decision().clone()
    };
    assert_eq!(may_put().await, PolicyEvaluationDecisionType::ImplicitDeny);
    iam.set_default_policy_version()
        .policy_arn(&arn)
        .version_id("v2")
        .send()
        .await
        .expect("SetDefaultPolicyVersion");
    assert_eq!(may_put().await, PolicyEvaluationDecisionType::Allowed);
    let versions = iam
        .list_policy_versions()
        .policy_arn(&arn)
        .send()
        .await
        .expect("ListPolicyVersions");
    let listed: Vec<(&str, bool)> = versions
        .versions()
        .iter()
        .map(|v| (v.version_id().unwrap_or_default(), v.is_default_version()))
        .collect();
    assert_eq!(listed, [("v2", true), ("v1", false)]);
    let first = iam
        .list_policy_versions()
        .policy_arn(&arn)
        .max_items(1)
        .send()
        .await
        .expect("ListPolicyVersions page 1");
    assert_eq!(first.versions()[0].version_id(), Some("v2"));
    assert!(first.is_truncated());
    let rest = iam
        .list_policy_versions()
        .policy_arn(&arn)
        .max_items(1)
        .marker(first.marker().expect("marker"))
        .send()
        .await
        .expect("ListPolicyVersions page 2");
    assert_eq!(rest.versions()[0].version_id(), Some("v1"));
    assert!(!rest.is_truncated());
    let (code, _) = aws_err(
        iam.list_policy_versions()
            .policy_arn(&arn)
            .max_items(0)
            .send()
            .await,
    );
    assert_eq!(code, "ValidationError");

    let (code, message) = aws_err(
        iam.delete_policy_version()
            .policy_arn(&arn)
            .version_id("v2")
            .send()
            .await,
    );
    assert_eq!(code, "DeleteConflict");
    assert_eq!(message, "Cannot delete the default version of a policy.");
    let (code, message) = aws_err(
        iam.delete_policy_version()
            .policy_arn(&arn)
            .version_id("version-1")
            .send()
            .await,
    );
    assert_eq!(code, "ValidationError");
    assert!(message.contains("versionId"), "{message}");
    let (code, _) = aws_err(
        iam.set_default_policy_version()
            .policy_arn(&arn)
            .version_id("v7")
            .send()
            .await,
    );
    assert_eq!(code, "NoSuchEntity");

    // Who uses the policy: the role attaching it, nobody as a boundary.
    let entities = iam
        .list_entities_for_policy()
        .policy_arn(&arn)
        .send()
        .await
        .expect("ListEntitiesForPolicy");
    let roles: Vec<&str> = entities
        .policy_roles()
        .iter()
        .filter_map(|r| r.role_name())
        .collect();
    assert_eq!(roles, ["gha-deploy"]);
    assert!(
        entities.policy_roles()[0]
            .role_id()
            .expect("id")
            .starts_with("AROA")
    );
    assert!(entities.policy_users().is_empty() && entities.policy_groups().is_empty());
    let elsewhere = iam
        .list_entities_for_policy()
        .policy_arn(&arn)
        .path_prefix("/elsewhere/")
        .send()
        .await
        .expect("ListEntitiesForPolicy elsewhere");
    assert!(elsewhere.policy_roles().is_empty());
    let (code, message) = aws_err(
        iam.list_entities_for_policy()
            .policy_arn(&arn)
            .path_prefix("no-slash")
            .send()
            .await,
    );
    assert_eq!(code, "ValidationError");
    assert!(message.contains("pathPrefix"), "{message}");
    let as_boundary = iam
        .list_entities_for_policy()
        .policy_arn(&arn)
        .policy_usage_filter(aws_sdk_iam::types::PolicyUsageType::PermissionsBoundary)
        .send()
        .await
        .expect("ListEntitiesForPolicy boundary");
    assert!(as_boundary.policy_roles().is_empty());

    // Tags on the policy and on the provider.
    // A policy's tag keys differ by case (a role's do not); the list is sorted by key.
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().expect("tag");
    iam.tag_policy()
        .policy_arn(&arn)
        .tags(tag("cost-centre", "42"))
        .tags(tag("Team", "ops"))
        .send()
        .await
        .expect("TagPolicy");
    let first = iam
        .list_policy_tags()
        .policy_arn(&arn)
        .max_items(2)
        .send()
        .await
        .expect("ListPolicyTags page 1");
    let pairs: Vec<(&str, &str)> = first.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(pairs, [("Team", "ops"), ("cost-centre", "42")]);
    assert!(first.is_truncated());
    let rest = iam
        .list_policy_tags()
        .policy_arn(&arn)
        .marker(first.marker().expect("marker"))
        .send()
        .await
        .expect("ListPolicyTags page 2");
    let pairs: Vec<(&str, &str)> = rest.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(pairs, [("team", "platform")]);
    // Listing policies gives no tags; GetPolicy does.
    let listed = iam
        .list_policies()
        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
        .send()
        .await
        .expect("ListPolicies");
    assert!(listed.policies().iter().all(|p| p.tags().is_empty()));
    let got = iam
        .get_policy()
        .policy_arn(&arn)
        .send()
        .await
        .expect("GetPolicy");
    assert_eq!(got.policy().map(|p| p.tags().len()), Some(3));
    iam.untag_policy()
        .policy_arn(&arn)
        .tag_keys("TEAM")
        .send()
        .await
        .expect("UntagPolicy TEAM");
    iam.untag_policy()
        .policy_arn(&arn)
        .tag_keys("team")
        .tag_keys("Team")
        .send()
        .await
        .expect("UntagPolicy");
    let tags = iam
        .list_policy_tags()
        .policy_arn(&arn)
        .send()
        .await
        .expect("ListPolicyTags");
    let pairs: Vec<(&str, &str)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(pairs, [("cost-centre", "42")]);
    let (code, message) = aws_err(
        iam.tag_policy()
            .policy_arn(&arn)
            .tags(tag("not*allowed", "x"))
            .send()
            .await,
    );
    assert_eq!(code, "ValidationError");
    assert!(message.contains("tags.1.member.key"), "{message}");
    iam.tag_open_id_connect_provider()
        .open_id_connect_provider_arn(PROVIDER_ARN)
        .tags(
            Tag::builder()
                .key("owner")
                .value("ci")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("TagOpenIDConnectProvider");
    let tags = iam
        .list_open_id_connect_provider_tags()
        .open_id_connect_provider_arn(PROVIDER_ARN)
        .send()
        .await
        .expect("ListOpenIDConnectProviderTags");
    assert_eq!(tags.tags().len(), 1);
    assert_eq!(tags.tags()[0].key(), "owner");
    iam.untag_open_id_connect_provider()
        .open_id_connect_provider_arn(PROVIDER_ARN)
        .tag_keys("owner")
        .send()
        .await
        .expect("UntagOpenIDConnectProvider");
    let got = iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(PROVIDER_ARN)
        .send()
        .await
        .expect("GetOpenIDConnectProvider");
    assert!(got.tags().is_empty());

    // Deleting a role as tools do: instance profiles first (keyless has none).
    let profiles = iam
        .list_instance_profiles_for_role()
        .role_name("gha-deploy")
        .send()
        .await
        .expect("ListInstanceProfilesForRole");
    assert!(profiles.instance_profiles().is_empty());
    let (code, _) = aws_err(
        iam.list_instance_profiles_for_role()
            .role_name("gha-deploy")
            .max_items(1001)
            .send()
            .await,
    );
    assert_eq!(code, "ValidationError");
    let (code, _) = aws_err(
        iam.list_instance_profiles_for_role()
            .role_name("no-such-role")
            .send()
            .await,
    );
    assert_eq!(code, "NoSuchEntity");

    // Deleting the policy: detach, delete the other versions, then the policy.
    iam.detach_role_policy()
        .role_name("gha-deploy")
        .policy_arn(&arn)
        .send()
        .await
        .expect("DetachRolePolicy");
    let (code, message) = aws_err(iam.delete_policy().policy_arn(&arn).send().await);
    assert_eq!(code, "DeleteConflict");
    assert!(message.contains("more than one version"), "{message}");
    iam.delete_policy_version()
        .policy_arn(&arn)
        .version_id("v1")
        .send()
        .await
        .expect("DeletePolicyVersion");
    iam.delete_policy()
        .policy_arn(&arn)
        .send()
        .await
        .expect("DeletePolicy");
}

/// The snapshot security tools take of an account: every role with its policies inline, every
/// managed policy in use with all its versions.
#[tokio::test]
async fn account_authorization_details() {
    use aws_sdk_iam::types::EntityType;
    let server = Server::start();
    let iam = server.iam();
    tutorial_setup(&server).await;
    create_role(
        &iam,
        "unused",
        &github_trust(ACCOUNT, "repo:acme/other:ref:refs/heads/main"),
        None,
    )
    .await;
    let inline = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}]}"#;
    iam.put_role_policy()
        .role_name("gha-deploy")
        .policy_name("no-delete")
        .policy_document(inline)
        .send()
        .await
        .expect("PutRolePolicy");
    let arn = iam
        .create_policy()
        .policy_name("ci-boundary")
        .policy_document(doc("s3:*"))
        .send()
        .await
        .expect("CreatePolicy")
        .policy()
        .and_then(|p| p.arn())
        .expect("arn")
        .to_owned();
    iam.create_policy_version()
        .policy_arn(&arn)
        .policy_document(doc("s3:Get*"))
        .set_as_default(true)
        .send()
        .await
        .expect("CreatePolicyVersion");
    iam.put_role_permissions_boundary()
        .role_name("gha-deploy")
        .permissions_boundary(&arn)
        .send()
        .await
        .expect("PutRolePermissionsBoundary");

    // Another account's use of an AWS managed policy is that account's business.
    let other = server.iam_with(&Creds::new("222222222222", "test", None));
    create_role(
        &other,
        "elsewhere",
        &github_trust("222222222222", "repo:acme/app:ref:refs/heads/main"),
        None,
    )
    .await;
    other
        .attach_role_policy()
        .role_name("elsewhere")
        .policy_arn("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
        .send()
        .await
        .expect("AttachRolePolicy in the other account");
    let s3_read = iam
        .get_policy()
        .policy_arn("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
        .send()
        .await
        .expect("GetPolicy");
    assert_eq!(s3_read.policy().and_then(|p| p.attachment_count()), Some(1));

    let all = iam
        .get_account_authorization_details()
        .send()
        .await
        .expect("GetAccountAuthorizationDetails");
    assert!(!all.is_truncated());
    let roles: Vec<&str> = all
        .role_detail_list()
        .iter()
        .filter_map(|r| r.role_name())
        .collect();
    assert_eq!(roles, ["gha-deploy", "unused"]);
    let deploy = &all.role_detail_list()[0];
    assert!(decode(deploy.assume_role_policy_document().expect("trust")).contains("repo:acme/app"));
    let inline_listed = &deploy.role_policy_list()[0];
    assert_eq!(inline_listed.policy_name(), Some("no-delete"));
    assert_eq!(
        decode(inline_listed.policy_document().expect("doc")),
        inline
    );
    let attached: Vec<&str> = deploy
        .attached_managed_policies()
        .iter()
        .filter_map(|a| a.policy_name())
        .collect();
    assert_eq!(attached, ["AmazonS3ReadOnlyAccess"]);
    assert_eq!(
        deploy
            .permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn()),
        Some(arn.as_str())
    );
    // Policies: the account's own, and the AWS managed ones in use — not the whole catalogue.
    let policies: Vec<&str> = all
        .policies()
        .iter()
        .filter_map(|p| p.policy_name())
        .collect();
    assert_eq!(policies, ["ci-boundary", "AmazonS3ReadOnlyAccess"]);
    let boundary = &all.policies()[0];
    assert_eq!(boundary.permissions_boundary_usage_count(), Some(1));
    assert_eq!(boundary.default_version_id(), Some("v2"));
    let versions: Vec<(&str, bool, String)> = boundary
        .policy_version_list()
        .iter()
        .map(|v| {
            (
                v.version_id().unwrap_or_default(),
                v.is_default_version(),
                decode(v.document().unwrap_or_default()),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [("v2", true, doc("s3:Get*")), ("v1", false, doc("s3:*"))]
    );
    assert_eq!(all.policies()[1].attachment_count(), Some(1));

    // Filters, and pages of one entity each covering the same set.
    let only_roles = iam
        .get_account_authorization_details()
        .filter(EntityType::Role)
        .send()
        .await
        .expect("filter Role");
    assert_eq!(only_roles.role_detail_list().len(), 2);
    assert!(only_roles.policies().is_empty());
    let local = iam
        .get_account_authorization_details()
        .filter(EntityType::LocalManagedPolicy)
        .send()
        .await
        .expect("filter LocalManagedPolicy");
    assert!(local.role_detail_list().is_empty());
    assert_eq!(local.policies().len(), 1);
    let (code, message) = aws_err(
        iam.get_account_authorization_details()
            .filter(EntityType::from("Roles"))
            .send()
            .await,
    );
    assert_eq!(code, "ValidationError");
    assert!(message.contains("'Roles'"), "{message}");
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..10 {
        let page = iam
            .get_account_authorization_details()
            .max_items(1)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("page");
        seen.extend(
            page.role_detail_list()
                .iter()
                .filter_map(|r| r.role_name().map(str::to_owned)),
        );
        seen.extend(
            page.policies()
                .iter()
                .filter_map(|p| p.policy_name().map(str::to_owned)),
        );
        marker = page.marker().map(str::to_owned);
        if !page.is_truncated() {
            break;
        }
    }
    assert_eq!(
        seen,
        [
            "gha-deploy",
            "unused",
            "ci-boundary",
            "AmazonS3ReadOnlyAccess"
        ]
    );
}

/// `keyless lint --endpoint-url` reads every role's attachments in bulk, and per role when the
/// caller may not call GetAccountAuthorizationDetails: the same findings either way.
#[tokio::test]
async fn live_lint_reads_attachments_in_bulk_or_per_role() {
    let server = Server::start();
    let iam = server.iam();
    tutorial_setup(&server).await;
    create_role(
        &iam,
        "wide",
        &github_trust(ACCOUNT, "repo:acme/*").replace("StringEquals", "StringLike"),
        None,
    )
    .await;
    iam.attach_role_policy()
        .role_name("wide")
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .expect("AttachRolePolicy");
    iam.put_role_policy()
        .role_name("gha-deploy")
        .policy_name("list-only")
        .policy_document(allow(&["iam:ListRoles", "iam:ListAttachedRolePolicies"]))
        .send()
        .await
        .expect("PutRolePolicy");
    let creds = assume_web(
        &server.sts(),
        &format!("arn:aws:iam::{ACCOUNT}:role/gha-deploy"),
        "lint",
        &server.token(&[]),
    )
    .await
    .expect("assume");
    let session = Creds::from_sts(creds.credentials().expect("credentials"));
    let (code, _) = aws_err(
        server
            .iam_with(&session)
            .get_account_authorization_details()
            .send()
            .await,
    );
    assert_eq!(
        code, "AccessDenied",
        "the session must take the per-role path"
    );

    let lint = |c: &Creds| {
        let mut cmd = std::process::Command::new(BIN);
        cmd.args(["lint", "--endpoint-url", &server.url, "--format", "json"])
            .env("AWS_ACCESS_KEY_ID", &c.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &c.secret)
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_PROFILE");
        match &c.token {
            Some(t) => cmd.env("AWS_SESSION_TOKEN", t),
            None => cmd.env_remove("AWS_SESSION_TOKEN"),
        };
        let out = cmd.output().expect("run keyless lint");
        let findings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "lint output is not JSON ({e}): {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let mut rules: Vec<String> = findings
            .as_array()
            .expect("an array of findings")
            .iter()
            .map(|f| {
                format!(
                    "{} {}",
                    f["rule"].as_str().unwrap_or_default(),
                    f["location"]["file"].as_str().unwrap_or_default()
                )
            })
            .collect();
        rules.sort();
        (out.status.code(), rules)
    };
    let (root_exit, root_rules) = lint(&Creds::new("test", "test", None));
    assert_eq!(root_exit, Some(1), "findings exit 1");
    assert!(
        root_rules
            .iter()
            .any(|r| r.starts_with("KL021") && r.contains("wide")),
        "the admin policy attached to the wide role is found: {root_rules:?}"
    );
    let (session_exit, session_rules) = lint(&session);
    assert_eq!(session_exit, Some(1));
    assert_eq!(session_rules, root_rules);
}

#[tokio::test]
async fn list_policies_filters_and_pages() {
    use aws_sdk_iam::types::{PolicyScopeType, PolicyUsageType};
    let server = Server::start();
    let iam = server.iam();
    tutorial_setup(&server).await;
    for (name, path) in [
        ("ci-a", "/ci/"),
        ("ci-b", "/ci/"),
        ("ci-c", "/ci/"),
        ("other", "/"),
    ] {
        iam.create_policy()
            .policy_name(name)
            .path(path)
            .policy_document(doc("s3:GetObject"))
            .send()
            .await
            .expect("CreatePolicy");
    }
    iam.put_role_permissions_boundary()
        .role_name("gha-deploy")
        .permissions_boundary("arn:aws:iam::123456789012:policy/ci/ci-b")
        .send()
        .await
        .expect("boundary");
    let names = |out: &aws_sdk_iam::operation::list_policies::ListPoliciesOutput| -> Vec<String> {
        out.policies()
            .iter()
            .filter_map(|p| p.policy_name().map(str::to_owned))
            .collect()
    };
    let local = iam
        .list_policies()
        .scope(PolicyScopeType::Local)
        .send()
        .await
        .expect("Local");
    assert_eq!(names(&local), ["ci-a", "ci-b", "ci-c", "other"]);
    let aws = iam
        .list_policies()
        .scope(PolicyScopeType::Aws)
        .send()
        .await
        .expect("AWS");
    assert!(names(&aws).contains(&"AdministratorAccess".to_owned()));
    assert!(!names(&aws).contains(&"ci-a".to_owned()));
    let attached = iam
        .list_policies()
        .only_attached(true)
        .send()
        .await
        .expect("OnlyAttached");
    assert_eq!(names(&attached), ["AmazonS3ReadOnlyAccess"]);
    let boundaries = iam
        .list_policies()
        .policy_usage_filter(PolicyUsageType::PermissionsBoundary)
        .send()
        .await
        .expect("PermissionsBoundary");
    assert_eq!(names(&boundaries), ["ci-b"]);

    // Pages of two under /ci/, walked with the markers.
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = iam
            .list_policies()
            .path_prefix("/ci/")
            .max_items(2)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("page");
        pages += 1;
        seen.extend(names(&page));
        marker = page.marker().map(str::to_owned);
        if !page.is_truncated() {
            break;
        }
        assert!(pages < 5, "the markers do not advance");
    }
    assert_eq!(seen, ["ci-a", "ci-b", "ci-c"]);
    assert_eq!(pages, 2);
    let (code, _) = aws_err(iam.list_policies().max_items(0).send().await);
    assert_eq!(code, "ValidationError");
}
