//! The README/tutorial path: provider, role pinned to main, S3 read-only, a GitHub token,
//! `AssumeRoleWithWebIdentity`, then `GetCallerIdentity` with the issued credentials.

use crate::harness::*;

fn is_base32_upper(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))
}

#[tokio::test]
async fn tutorial_path_issues_credentials_that_identify_the_session() {
    let server = Server::start();
    let role_arn = tutorial_setup(&server).await;
    assert_eq!(role_arn, "arn:aws:iam::123456789012:role/gha-deploy");
    let role = server
        .iam()
        .get_role()
        .role_name("gha-deploy")
        .send()
        .await
        .expect("GetRole");
    let role_id = role.role().expect("role").role_id().to_owned();
    assert!(
        role_id.starts_with("AROA") && role_id.len() == 21 && is_base32_upper(&role_id),
        "role id {role_id}"
    );

    let token = server.token(&[]);
    let out = assume_web(&server.sts(), &role_arn, "gha-1234", &token)
        .await
        .expect("AssumeRoleWithWebIdentity");

    let c = out.credentials().expect("credentials");
    assert!(
        c.access_key_id().starts_with("ASIA"),
        "{}",
        c.access_key_id()
    );
    assert_eq!(c.access_key_id().len(), 20);
    assert!(is_base32_upper(c.access_key_id()), "{}", c.access_key_id());
    assert_eq!(c.secret_access_key().len(), 40);
    assert!(!c.session_token().is_empty());
    let exp = c.expiration().secs() as u64;
    let now = now();
    assert!(
        exp > now + 3500 && exp <= now + 3610,
        "default duration is 3600 s: expiration {exp}, now {now}"
    );

    assert_eq!(out.provider(), Some(PROVIDER_ARN));
    assert_eq!(out.audience(), Some(AUDIENCE));
    assert_eq!(
        out.subject_from_web_identity_token(),
        Some("repo:acme/app:ref:refs/heads/main")
    );
    assert_eq!(
        out.packed_policy_size(),
        None,
        "no session policy, no PackedPolicySize"
    );
    let user = out.assumed_role_user().expect("AssumedRoleUser");
    assert_eq!(
        user.arn(),
        "arn:aws:sts::123456789012:assumed-role/gha-deploy/gha-1234"
    );
    assert_eq!(user.assumed_role_id(), format!("{role_id}:gha-1234"));

    let me = server
        .sts_with(&Creds::from_sts(c))
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    assert_eq!(me.user_id(), Some(format!("{role_id}:gha-1234").as_str()));
    assert_eq!(me.account(), Some(ACCOUNT));
    assert_eq!(
        me.arn(),
        Some("arn:aws:sts::123456789012:assumed-role/gha-deploy/gha-1234")
    );
}

#[tokio::test]
async fn root_caller_identity_and_other_accounts() {
    let server = Server::start();
    let me = server
        .sts()
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    assert_eq!(me.account(), Some(ACCOUNT));
    assert_eq!(me.arn(), Some("arn:aws:iam::123456789012:root"));

    let other = server
        .sts_with(&Creds::new("111111111111", "test", None))
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    assert_eq!(other.account(), Some("111111111111"));
    assert_eq!(other.arn(), Some("arn:aws:iam::111111111111:root"));
}

#[tokio::test]
async fn environment_subject_and_explicit_duration() {
    let server = Server::start();
    let iam = server.iam();
    create_github_provider(&iam).await;
    let role = create_role(
        &iam,
        "prod-deploy",
        &github_trust(ACCOUNT, "repo:acme/app:environment:prod"),
        Some(7200),
    )
    .await;
    assert_eq!(role.max_session_duration(), Some(7200));
    let token = server.token(&["--environment", "prod"]);
    let out = server
        .sts()
        .assume_role_with_web_identity()
        .role_arn(role.arn())
        .role_session_name("env-run")
        .web_identity_token(&token)
        .duration_seconds(7200)
        .send()
        .await
        .expect("AssumeRoleWithWebIdentity");
    assert_eq!(
        out.subject_from_web_identity_token(),
        Some("repo:acme/app:environment:prod")
    );
    let exp = out.credentials().expect("creds").expiration().secs() as u64;
    assert!(
        exp > now() + 7100 && exp <= now() + 7210,
        "expiration {exp}"
    );
}

fn jwks_kids(server: &Server) -> Vec<String> {
    let (status, body) = blocking_get(&format!("{}/.well-known/jwks", server.url)).expect("jwks");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("jwks JSON");
    v["keys"]
        .as_array()
        .expect("keys array")
        .iter()
        .filter_map(|k| k["kid"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn dev_issuer_discovery_and_jwks() {
    let server = Server::start();
    let (status, body) = blocking_get(&format!("{}/.well-known/openid-configuration", server.url))
        .expect("discovery");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("discovery JSON");
    assert_eq!(v["issuer"], GITHUB_ISSUER);
    assert!(
        v["id_token_signing_alg_values_supported"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "RS256")),
        "{v}"
    );
    // The token's kid is published.
    let token = server.token(&[]);
    let header = token.split('.').next().expect("header");
    use base64::Engine as _;
    let h: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .expect("b64"),
    )
    .expect("header JSON");
    assert_eq!(h["alg"], "RS256");
    let kid = h["kid"].as_str().expect("kid").to_owned();
    assert!(jwks_kids(&server).contains(&kid), "kid {kid} in the JWKS");
}

#[tokio::test]
async fn jwks_has_a_key_before_any_token() {
    let server = Server::start();
    assert!(
        !jwks_kids(&server).is_empty(),
        "a fresh issuer publishes its signing key"
    );
}

#[tokio::test]
async fn sigterm_stops_cleanly() {
    let mut server = Server::start();
    server
        .sts()
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    assert!(
        server.stop(),
        "SIGTERM must end the server with exit status 0\n{}",
        server.log()
    );
}
