//! Signed calls with issued credentials: SigV4 and session-token checks, role chaining, session
//! policies, `ExternalId`, cross-account chaining and authorisation of IAM calls.

use crate::harness::*;

/// Tutorial set-up plus an inline policy on `gha-deploy`; returns the web-identity session creds.
async fn deploy_session(
    server: &Server,
    inline: Option<&str>,
    session_policy: Option<&str>,
    session: &str,
) -> Creds {
    let role_arn = tutorial_setup(server).await;
    if let Some(doc) = inline {
        server
            .iam()
            .put_role_policy()
            .role_name("gha-deploy")
            .policy_name("inline")
            .policy_document(doc)
            .send()
            .await
            .expect("PutRolePolicy");
    }
    let token = server.token(&[]);
    let out = server
        .sts()
        .assume_role_with_web_identity()
        .role_arn(role_arn)
        .role_session_name(session)
        .web_identity_token(token)
        .set_policy(session_policy.map(str::to_owned))
        .send()
        .await
        .expect("AssumeRoleWithWebIdentity");
    if session_policy.is_some() {
        assert!(
            out.packed_policy_size().is_some_and(|p| p > 0 && p <= 100),
            "PackedPolicySize {:?}",
            out.packed_policy_size()
        );
    }
    Creds::from_sts(out.credentials().expect("credentials"))
}

fn flip_middle(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test]
async fn tampered_session_token_is_invalid_client_token_id() {
    let server = Server::start();
    let creds = deploy_session(&server, None, None, "s1").await;
    let mut bad = creds.clone();
    bad.token = creds.token.as_deref().map(flip_middle);
    assert_ne!(bad.token, creds.token);
    let (code, message) = aws_err(server.sts_with(&bad).get_caller_identity().send().await);
    assert_eq!(code, "InvalidClientTokenId", "{message}");
    // Truncated token, too.
    bad.token = creds.token.as_deref().map(|t| t[..t.len() / 2].to_owned());
    let (code, _) = aws_err(server.sts_with(&bad).get_caller_identity().send().await);
    assert_eq!(code, "InvalidClientTokenId");
    // The genuine credentials still work.
    server
        .sts_with(&creds)
        .get_caller_identity()
        .send()
        .await
        .expect("genuine creds");
}

#[tokio::test]
async fn temporary_key_without_or_with_foreign_token() {
    let server = Server::start();
    let a = deploy_session(&server, None, None, "s-a").await;
    let token = server.token(&[]);
    let b = Creds::from_sts(
        assume_web(
            &server.sts(),
            "arn:aws:iam::123456789012:role/gha-deploy",
            "s-b",
            &token,
        )
        .await
        .expect("second session")
        .credentials()
        .expect("creds"),
    );
    let without = Creds::new(&a.access_key_id, &a.secret, None);
    let (code, message) = aws_err(server.sts_with(&without).get_caller_identity().send().await);
    assert_eq!(code, "InvalidClientTokenId", "{message}");
    // A's key and secret with B's (genuine) token.
    let mixed = Creds::new(&a.access_key_id, &a.secret, b.token.as_deref());
    let (code, message) = aws_err(server.sts_with(&mixed).get_caller_identity().send().await);
    assert_eq!(code, "InvalidClientTokenId", "{message}");
}

#[tokio::test]
async fn wrong_secret_is_signature_does_not_match() {
    let server = Server::start();
    let (code, message) = aws_err(
        server
            .sts_with(&Creds::new("test", "not-the-secret", None))
            .get_caller_identity()
            .send()
            .await,
    );
    assert_eq!(code, "SignatureDoesNotMatch", "{message}");
    let (code, _) = aws_err(
        server
            .iam_with(&Creds::new("test", "wrong", None))
            .list_roles()
            .send()
            .await,
    );
    assert_eq!(code, "SignatureDoesNotMatch");
    // Session credentials with the wrong secret, too.
    let creds = deploy_session(&server, None, None, "s1").await;
    let bad = Creds::new(
        &creds.access_key_id,
        "0000000000000000000000000000000000000000",
        creds.token.as_deref(),
    );
    let (code, _) = aws_err(server.sts_with(&bad).get_caller_identity().send().await);
    assert_eq!(code, "SignatureDoesNotMatch");
}

#[tokio::test]
async fn unknown_access_key_is_invalid_client_token_id() {
    let server = Server::start();
    let (code, message) = aws_err(
        server
            .sts_with(&Creds::new("AKIAIOSFODNN7EXAMPLE", "test", None))
            .get_caller_identity()
            .send()
            .await,
    );
    assert_eq!(code, "InvalidClientTokenId", "{message}");
}

const CHAINED_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/gha-deploy"},"Action":"sts:AssumeRole"}]}"#;

#[tokio::test]
async fn role_chaining_is_capped_at_one_hour() {
    let server = Server::start();
    let creds = deploy_session(&server, Some(&allow(&["sts:AssumeRole"])), None, "first").await;
    let chained = create_role(&server.iam(), "chained", CHAINED_TRUST, Some(43200)).await;
    let sts = server.sts_with(&creds);
    let (code, message) = aws_err(
        sts.assume_role()
            .role_arn(chained.arn())
            .role_session_name("second")
            .duration_seconds(7200)
            .send()
            .await,
    );
    assert_eq!(code, "ValidationError");
    assert_eq!(
        message,
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
    );

    let out = sts
        .assume_role()
        .role_arn(chained.arn())
        .role_session_name("second")
        .duration_seconds(3600)
        .send()
        .await
        .expect("chained 1 h");
    let c = out.credentials().expect("creds");
    assert!(c.access_key_id().starts_with("ASIA"));
    let user = out.assumed_role_user().expect("user");
    assert_eq!(
        user.arn(),
        "arn:aws:sts::123456789012:assumed-role/chained/second"
    );
    assert_eq!(
        user.assumed_role_id(),
        format!("{}:second", chained.role_id())
    );
    let me = server
        .sts_with(&Creds::from_sts(c))
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    assert_eq!(
        me.arn(),
        Some("arn:aws:sts::123456789012:assumed-role/chained/second")
    );

    // The root is not a role session: 2 hours are fine for it when the trust allows the account.
    let root_trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
    let long = create_role(&server.iam(), "long", root_trust, Some(43200)).await;
    server
        .sts()
        .assume_role()
        .role_arn(long.arn())
        .role_session_name("root-2h")
        .duration_seconds(7200)
        .send()
        .await
        .expect("root may take 2 h");
}

#[tokio::test]
async fn session_policy_narrows_the_role() {
    let server = Server::start();
    let role_policy = allow(&["iam:ListRoles", "s3:GetObject"]);
    // Without a session policy the role's own policy allows ListRoles.
    let wide = deploy_session(&server, Some(&role_policy), None, "wide").await;
    let roles = server
        .iam_with(&wide)
        .list_roles()
        .send()
        .await
        .expect("ListRoles with the role's policy");
    assert!(roles.roles().iter().any(|r| r.role_name() == "gha-deploy"));

    let token = server.token(&[]);
    let out = server
        .sts()
        .assume_role_with_web_identity()
        .role_arn("arn:aws:iam::123456789012:role/gha-deploy")
        .role_session_name("narrow")
        .web_identity_token(token)
        .policy(allow(&["s3:GetObject"]))
        .send()
        .await
        .expect("AssumeRoleWithWebIdentity with a session policy");
    assert!(
        out.packed_policy_size().is_some(),
        "PackedPolicySize with a session policy"
    );
    let narrow = Creds::from_sts(out.credentials().expect("creds"));
    let (code, message) = aws_err(server.iam_with(&narrow).list_roles().send().await);
    assert_eq!(code, "AccessDenied");
    assert!(
        message.starts_with("User: arn:aws:sts::123456789012:assumed-role/gha-deploy/narrow is not authorized to perform: iam:ListRoles"),
        "{message}"
    );
    // GetCallerIdentity needs no permission.
    server
        .sts_with(&narrow)
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity is never denied");
}

#[tokio::test]
async fn session_policy_cannot_widen_the_role() {
    let server = Server::start();
    let token = server.token(&[]);
    tutorial_setup(&server).await;
    let out = server
        .sts()
        .assume_role_with_web_identity()
        .role_arn("arn:aws:iam::123456789012:role/gha-deploy")
        .role_session_name("widen")
        .web_identity_token(token)
        .policy(allow(&["iam:*"]))
        .send()
        .await
        .expect("assume");
    let creds = Creds::from_sts(out.credentials().expect("creds"));
    let (code, _) = aws_err(server.iam_with(&creds).list_roles().send().await);
    assert_eq!(code, "AccessDenied");
}

#[tokio::test]
async fn malformed_session_policy() {
    let server = Server::start();
    let role_arn = tutorial_setup(&server).await;
    let token = server.token(&[]);
    let (code, message) = aws_err(
        server
            .sts()
            .assume_role_with_web_identity()
            .role_arn(role_arn)
            .role_session_name("bad-policy")
            .web_identity_token(token)
            .policy("{ not json")
            .send()
            .await,
    );
    assert_eq!(code, "MalformedPolicyDocument", "{message}");
}

#[tokio::test]
async fn iam_calls_are_authorised_with_aws_denial_text() {
    let server = Server::start();
    // The tutorial role has S3 read-only only.
    let creds = deploy_session(&server, None, None, "s3-only").await;
    let (code, message) = aws_err(
        server
            .iam_with(&creds)
            .create_role()
            .role_name("escalate")
            .assume_role_policy_document(CHAINED_TRUST)
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied");
    assert!(
        message.starts_with(
            "User: arn:aws:sts::123456789012:assumed-role/gha-deploy/s3-only is not authorized to perform: iam:CreateRole on resource: arn:aws:iam::123456789012:role/escalate"
        ),
        "{message}"
    );
    // Nothing was created.
    let (code, _) = aws_err(server.iam().get_role().role_name("escalate").send().await);
    assert_eq!(code, "NoSuchEntity");
}

#[tokio::test]
async fn explicit_deny_still_allows_get_caller_identity() {
    let server = Server::start();
    let deny_all =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;
    let creds = deploy_session(&server, Some(deny_all), None, "denied").await;
    let me = server
        .sts_with(&creds)
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    assert_eq!(
        me.arn(),
        Some("arn:aws:sts::123456789012:assumed-role/gha-deploy/denied")
    );
    let (code, _) = aws_err(
        server
            .iam_with(&creds)
            .get_role()
            .role_name("gha-deploy")
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied");
}

const EXTERNAL_ID_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"s3cr3t-id"}}}]}"#;

#[tokio::test]
async fn assume_role_with_external_id() {
    let server = Server::start();
    let role = create_role(&server.iam(), "ext", EXTERNAL_ID_TRUST, None).await;
    let sts = server.sts();
    let out = sts
        .assume_role()
        .role_arn(role.arn())
        .role_session_name("ok")
        .external_id("s3cr3t-id")
        .send()
        .await
        .expect("right ExternalId");
    assert_eq!(
        out.assumed_role_user().expect("user").arn(),
        "arn:aws:sts::123456789012:assumed-role/ext/ok"
    );
    let expected = "User: arn:aws:iam::123456789012:root is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/ext";
    let (code, message) = aws_err(
        sts.assume_role()
            .role_arn(role.arn())
            .role_session_name("bad")
            .external_id("wrong-id")
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied");
    assert!(message.starts_with(expected), "{message}");
    let (code, message) = aws_err(
        sts.assume_role()
            .role_arn(role.arn())
            .role_session_name("none")
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied");
    assert!(message.starts_with(expected), "{message}");
}

#[tokio::test]
async fn cross_account_chaining_with_external_id() {
    let server = Server::start();
    let prod_root = Creds::new("111111111111", "test", None);
    let prod_trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/gha-deploy"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"prod-ext"}}}]}"#;
    let prod = create_role(&server.iam_with(&prod_root), "prod", prod_trust, None).await;
    assert_eq!(prod.arn(), "arn:aws:iam::111111111111:role/prod");

    // The deploy role has no identity policy allowing sts:AssumeRole yet: cross-account needs both sides.
    let creds = deploy_session(&server, None, None, "deploy").await;
    let (code, message) = aws_err(
        server
            .sts_with(&creds)
            .assume_role()
            .role_arn(prod.arn())
            .role_session_name("hop")
            .external_id("prod-ext")
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied", "{message}");
    assert!(message.contains("is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111111111111:role/prod"), "{message}");

    let hop_policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::111111111111:role/prod"}]}"#;
    server
        .iam()
        .put_role_policy()
        .role_name("gha-deploy")
        .policy_name("hop")
        .policy_document(hop_policy)
        .send()
        .await
        .expect("PutRolePolicy");
    let sts = server.sts_with(&creds);
    let (code, message) = aws_err(
        sts.assume_role()
            .role_arn(prod.arn())
            .role_session_name("hop")
            .external_id("wrong")
            .send()
            .await,
    );
    assert_eq!(code, "AccessDenied", "{message}");
    let out = sts
        .assume_role()
        .role_arn(prod.arn())
        .role_session_name("hop")
        .external_id("prod-ext")
        .send()
        .await
        .expect("cross-account hop");
    assert_eq!(
        out.assumed_role_user().expect("user").arn(),
        "arn:aws:sts::111111111111:assumed-role/prod/hop"
    );
    let me = server
        .sts_with(&Creds::from_sts(out.credentials().expect("creds")))
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    assert_eq!(me.account(), Some("111111111111"));
    assert_eq!(
        me.arn(),
        Some("arn:aws:sts::111111111111:assumed-role/prod/hop")
    );
    assert_eq!(
        me.user_id(),
        Some(format!("{}:hop", prod.role_id()).as_str())
    );

    // Roles of one account are invisible to the other.
    let (code, _) = aws_err(server.iam().get_role().role_name("prod").send().await);
    assert_eq!(code, "NoSuchEntity");

    // GetAccessKeyInfo names each key's account, whoever asks, as AWS reads it from the id.
    let hop_key = out.credentials().expect("creds").access_key_id().to_owned();
    for (key, account) in [
        (creds.access_key_id.as_str(), "123456789012"),
        (hop_key.as_str(), "111111111111"),
        ("test", "123456789012"),
        ("111111111111", "111111111111"),
    ] {
        for asker in [server.sts(), server.sts_with(&prod_root)] {
            let info = asker
                .get_access_key_info()
                .access_key_id(key)
                .send()
                .await
                .expect("GetAccessKeyInfo");
            assert_eq!(info.account(), Some(account), "{key}");
        }
    }
}

/// A long-term key with a session token (a stale AWS_SESSION_TOKEN beside `test`/`test`) is
/// refused as on AWS, whether the token is junk or a genuine session's.
#[tokio::test]
async fn root_key_with_a_session_token_is_invalid_client_token_id() {
    let server = Server::start();
    let session = deploy_session(&server, None, None, "s-root").await;
    for (key, token) in [
        ("test", "garbage"),
        ("111122223333", "garbage"),
        ("test", session.token.as_deref().expect("token")),
    ] {
        let creds = Creds::new(key, "test", Some(token));
        let (code, message) = aws_err(server.sts_with(&creds).get_caller_identity().send().await);
        assert_eq!(code, "InvalidClientTokenId", "{key}: {message}");
        assert_eq!(
            message,
            "The security token included in the request is invalid."
        );
        let (code, _) = aws_err(server.iam_with(&creds).list_roles().send().await);
        assert_eq!(code, "InvalidClientTokenId", "{key} on IAM");
    }
    // Without the token the same keys are the roots they always were.
    let root = Creds::new("111122223333", "test", None);
    let me = server
        .sts_with(&root)
        .get_caller_identity()
        .send()
        .await
        .expect("root");
    assert_eq!(me.arn(), Some("arn:aws:iam::111122223333:root"));
}

/// Parameters AWS's model constrains are refused with `ValidationError` naming them, before
/// anything is looked up; session tag keys are case-insensitive, so `a` and `A` are one key twice.
#[tokio::test]
async fn assume_role_parameters_are_checked_as_aws_models_them() {
    use aws_sdk_sts::types::{PolicyDescriptorType, ProvidedContext, Tag};
    let server = Server::start();
    let sts = server.sts();
    let role = "arn:aws:iam::123456789012:role/anything";
    let assume = || {
        sts.assume_role()
            .role_arn(role)
            .role_session_name("session")
    };
    let cases = [
        (assume().token_code("12ab"), "tokenCode"),
        (assume().token_code("1234567"), "tokenCode"),
        (assume().serial_number("x"), "serialNumber"),
        (
            assume().provided_contexts(
                ProvidedContext::builder()
                    .provider_arn("arn:aws:iam::aws:contextProvider/IdentityCenter")
                    .context_assertion("x")
                    .build(),
            ),
            "providedContexts.1.member.contextAssertion",
        ),
        (
            assume().policy_arns(PolicyDescriptorType::builder().arn("arn:x").build()),
            "policyArns.1.member.arn",
        ),
    ];
    for (call, field) in cases {
        let (code, message) = aws_err(call.send().await);
        assert_eq!(code, "ValidationError", "{field}: {message}");
        assert!(
            message.contains(&format!("'{field}'")),
            "{field}: {message}"
        );
    }
    let tag = |k: &str| Tag::builder().key(k).value("v").build().expect("tag");
    let (code, message) = aws_err(assume().tags(tag("team")).tags(tag("Team")).send().await);
    assert_eq!(code, "InvalidParameterValue");
    assert!(message.contains("Duplicate tag keys"), "{message}");

    // GetAccessKeyInfo: AWS's key ids are 16-128 word characters; keyless's own dev keys too.
    for bad in ["AKIA123", "AKIAIOSFODNN7EXAMPL-"] {
        let (code, _) = aws_err(sts.get_access_key_info().access_key_id(bad).send().await);
        assert_eq!(code, "ValidationError", "{bad}");
    }
    for own in ["test", "111111111111"] {
        sts.get_access_key_info()
            .access_key_id(own)
            .send()
            .await
            .expect("GetAccessKeyInfo of a keyless key");
    }
}
