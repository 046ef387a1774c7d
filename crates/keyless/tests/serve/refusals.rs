//! `AssumeRoleWithWebIdentity` refusals: each with AWS's error code and, where pinned, its text.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::harness::*;

const NOT_AUTHORIZED: &str = "Not authorized to perform sts:AssumeRoleWithWebIdentity";

async fn refused(server: &Server, role_arn: &str, token: &str) -> (String, String) {
    let started = std::time::Instant::now();
    let r = aws_err(assume_web(&server.sts(), role_arn, "gha-refused", token).await);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "refusal took {:?}",
        started.elapsed()
    );
    r
}

async fn assert_trust_denied(flags: &[&str]) {
    let server = Server::start();
    let role_arn = tutorial_setup(&server).await;
    let token = server.token(flags);
    let (code, message) = refused(&server, &role_arn, &token).await;
    assert_eq!(code, "AccessDenied", "{flags:?}: {message}");
    assert!(message.starts_with(NOT_AUTHORIZED), "{flags:?}: {message}");
}

#[tokio::test]
async fn pull_request_is_refused() {
    assert_trust_denied(&["--event", "pull_request"]).await;
}

#[tokio::test]
async fn other_branch_is_refused() {
    assert_trust_denied(&["--ref", "refs/heads/feature"]).await;
}

#[tokio::test]
async fn tag_is_refused() {
    assert_trust_denied(&["--ref", "refs/tags/v1.0.0"]).await;
}

#[tokio::test]
async fn other_repo_is_refused() {
    assert_trust_denied(&["--repo", "acme/other"]).await;
}

#[tokio::test]
async fn other_owner_is_refused() {
    assert_trust_denied(&["--repo", "evil/app"]).await;
}

#[tokio::test]
async fn environment_subject_is_refused_by_a_ref_pin() {
    assert_trust_denied(&["--environment", "prod"]).await;
}

#[tokio::test]
async fn opaque_errors_give_aws_text_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(dir.path(), &["--opaque-errors"]);
    let role_arn = tutorial_setup(&server).await;
    let token = server.token(&["--event", "pull_request"]);
    let (code, message) = refused(&server, &role_arn, &token).await;
    assert_eq!(code, "AccessDenied");
    assert_eq!(message, NOT_AUTHORIZED);
}

#[tokio::test]
async fn unknown_role_is_the_same_access_denied() {
    let server = Server::start();
    tutorial_setup(&server).await;
    let token = server.token(&[]);
    let (code, message) = refused(
        &server,
        "arn:aws:iam::123456789012:role/no-such-role",
        &token,
    )
    .await;
    assert_eq!(code, "AccessDenied", "{message}");
    assert!(message.starts_with(NOT_AUTHORIZED), "{message}");
}

#[tokio::test]
async fn wrong_audience_is_invalid_identity_token() {
    let server = Server::start();
    let role_arn = tutorial_setup(&server).await;
    // The default audience of a GitHub token: the owner's URL, not registered on the provider.
    let token = server.token(&["--audience", "https://github.com/acme"]);
    let (code, message) = refused(&server, &role_arn, &token).await;
    assert_eq!(code, "InvalidIdentityToken");
    assert_eq!(message, "Incorrect token audience");
}

#[tokio::test]
async fn missing_audience_is_invalid_identity_token() {
    let server = Server::start();
    let role_arn = tutorial_setup(&server).await;
    let token = server.token(&["--unset-claim", "aud"]);
    let (code, message) = refused(&server, &role_arn, &token).await;
    assert_eq!(code, "InvalidIdentityToken", "{message}");
    assert!(message.contains("aud"), "{message}");
}

#[tokio::test]
async fn expired_token_is_expired_token_exception() {
    let server = Server::start();
    let role_arn = tutorial_setup(&server).await;
    let t = now();
    let exp = format!("exp={}", t - 600);
    let iat = format!("iat={}", t - 1200);
    let nbf = format!("nbf={}", t - 1200);
    let token = server.token(&["--claim", &exp, "--claim", &iat, "--claim", &nbf]);
    let (code, message) = refused(&server, &role_arn, &token).await;
    assert_eq!(code, "ExpiredTokenException", "{message}");
    assert!(message.starts_with("Token expired"), "{message}");
    assert!(
        message.contains(&(t - 600).to_string()),
        "message names the exp: {message}"
    );
}

#[tokio::test]
async fn other_issuer_has_no_provider() {
    let server = Server::start();
    let role_arn = tutorial_setup(&server).await;
    let token = server.token(&["--claim", r#"iss="https://token.example.com""#]);
    let (code, message) = refused(&server, &role_arn, &token).await;
    assert_eq!(code, "InvalidIdentityToken");
    assert_eq!(
        message,
        "No OpenIDConnect provider found in your account for https://token.example.com"
    );
}

#[tokio::test]
async fn no_provider_in_the_roles_account() {
    let server = Server::start();
    let iam = server.iam();
    // A role but no provider at all.
    let role = create_role(
        &iam,
        "gha-deploy",
        &github_trust(ACCOUNT, "repo:acme/app:ref:refs/heads/main"),
        None,
    )
    .await;
    let token = server.token(&[]);
    let (code, message) = refused(&server, role.arn(), &token).await;
    assert_eq!(code, "InvalidIdentityToken");
    assert_eq!(
        message,
        format!("No OpenIDConnect provider found in your account for {GITHUB_ISSUER}")
    );
}

#[tokio::test]
async fn garbage_token_is_not_a_jwt() {
    let server = Server::start();
    let role_arn = tutorial_setup(&server).await;
    let (code, message) = refused(&server, &role_arn, "this-is-not-a-jwt").await;
    assert_eq!(code, "InvalidIdentityToken");
    assert!(
        message.starts_with("The ID Token provided is not a valid JWT"),
        "{message}"
    );
}

fn split(token: &str) -> (String, String, String) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    (
        parts[0].to_owned(),
        parts[1].to_owned(),
        parts[2].to_owned(),
    )
}

#[tokio::test]
async fn unsigned_alg_none_token_is_refused() {
    let server = Server::start();
    let role_arn = tutorial_setup(&server).await;
    let (_, payload, _) = split(&server.token(&[]));
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        let (code, message) = refused(&server, &role_arn, &token).await;
        assert_eq!(code, "InvalidIdentityToken", "{token}: {message}");
    }
}

#[tokio::test]
async fn tampered_payload_fails_the_signature() {
    let server = Server::start();
    let role_arn = tutorial_setup(&server).await;
    // A pull-request token whose payload is rewritten to claim main: the signature no longer fits.
    let (header, payload, sig) = split(&server.token(&["--event", "pull_request"]));
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(&payload).expect("base64url payload"))
        .expect("utf-8");
    let forged = claims.replace(
        "repo:acme/app:pull_request",
        "repo:acme/app:ref:refs/heads/main",
    );
    assert_ne!(forged, claims, "payload carried the pull_request subject");
    let token = format!(
        "{header}.{}.{sig}",
        URL_SAFE_NO_PAD.encode(forged.as_bytes())
    );
    let (code, message) = refused(&server, &role_arn, &token).await;
    assert_eq!(code, "InvalidIdentityToken", "{message}");

    // A signature lifted from another genuine token does not fit either.
    let (_, _, other_sig) = split(&server.token(&["--ref", "refs/heads/dev"]));
    let (h, p, _) = split(&server.token(&[]));
    let (code, message) = refused(&server, &role_arn, &format!("{h}.{p}.{other_sig}")).await;
    assert_eq!(code, "InvalidIdentityToken", "{message}");
}

#[tokio::test]
async fn unknown_kid_is_refused() {
    let server = Server::start();
    let role_arn = tutorial_setup(&server).await;
    let (header, payload, sig) = split(&server.token(&[]));
    let h = String::from_utf8(URL_SAFE_NO_PAD.decode(&header).expect("b64")).expect("utf-8");
    let mut v: serde_json::Value = serde_json::from_str(&h).expect("header JSON");
    v["kid"] = serde_json::Value::String("no-such-key".into());
    let token = format!(
        "{}.{payload}.{sig}",
        URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    );
    let (code, message) = refused(&server, &role_arn, &token).await;
    assert_eq!(code, "InvalidIdentityToken", "{message}");
}

#[tokio::test]
async fn duration_above_max_session_duration() {
    let server = Server::start();
    let role_arn = tutorial_setup(&server).await;
    let token = server.token(&[]);
    let (code, message) = aws_err(
        server
            .sts()
            .assume_role_with_web_identity()
            .role_arn(&role_arn)
            .role_session_name("too-long")
            .web_identity_token(&token)
            .duration_seconds(7200)
            .send()
            .await,
    );
    assert_eq!(code, "ValidationError");
    assert_eq!(
        message,
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
    );
}

#[tokio::test]
async fn duration_out_of_range() {
    let server = Server::start();
    let role_arn = tutorial_setup(&server).await;
    let token = server.token(&[]);
    for (d, constraint) in [
        (899, "greater than or equal to 900"),
        (43201, "less than or equal to 43200"),
    ] {
        let (code, message) = aws_err(
            server
                .sts()
                .assume_role_with_web_identity()
                .role_arn(&role_arn)
                .role_session_name("bad-duration")
                .web_identity_token(&token)
                .duration_seconds(d)
                .send()
                .await,
        );
        assert_eq!(code, "ValidationError", "{d}: {message}");
        assert!(
            message.contains("durationSeconds") && message.contains(constraint),
            "{d}: {message}"
        );
    }
}

#[tokio::test]
async fn bot_session_name_is_a_validation_error() {
    let server = Server::start();
    let role_arn = tutorial_setup(&server).await;
    let token = server.token(&[]);
    let (code, message) =
        aws_err(assume_web(&server.sts(), &role_arn, "dependabot[bot]", &token).await);
    assert_eq!(code, "ValidationError");
    assert_eq!(
        message,
        "1 validation error detected: Value 'dependabot[bot]' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
    );
}

#[tokio::test]
async fn malformed_role_arn_is_a_validation_error() {
    let server = Server::start();
    tutorial_setup(&server).await;
    let token = server.token(&[]);
    let (code, message) = aws_err(
        assume_web(
            &server.sts(),
            "arn:aws:iam::123456789012:user/someone",
            "s1",
            &token,
        )
        .await,
    );
    assert_eq!(code, "ValidationError", "{message}");
}

#[tokio::test]
async fn future_nbf_and_non_integer_dates_are_invalid() {
    let server = Server::start();
    let role_arn = tutorial_setup(&server).await;
    let nbf = format!("nbf={}", now() + 3600);
    let token = server.token(&["--claim", &nbf]);
    let (code, message) = refused(&server, &role_arn, &token).await;
    assert_eq!(code, "InvalidIdentityToken", "nbf an hour ahead: {message}");
    let exp = format!(r#"exp="{}""#, now() + 600);
    let token = server.token(&["--claim", &exp]);
    let (code, message) = refused(&server, &role_arn, &token).await;
    assert_eq!(code, "InvalidIdentityToken", "exp as a string: {message}");
}

#[tokio::test]
async fn managed_session_policy_narrows_too() {
    let server = Server::start();
    let role_arn = tutorial_setup(&server).await;
    server
        .iam()
        .put_role_policy()
        .role_name("gha-deploy")
        .policy_name("list")
        .policy_document(allow(&["iam:ListRoles", "iam:GetRole"]))
        .send()
        .await
        .expect("put");
    let p = server
        .iam()
        .create_policy()
        .policy_name("get-only")
        .policy_document(allow(&["iam:GetRole"]))
        .send()
        .await
        .expect("create");
    let arn = p.policy().and_then(|p| p.arn()).expect("arn").to_owned();
    let token = server.token(&[]);
    let out = server
        .sts()
        .assume_role_with_web_identity()
        .role_arn(role_arn)
        .role_session_name("arns")
        .web_identity_token(token)
        .policy_arns(
            aws_sdk_sts::types::PolicyDescriptorType::builder()
                .arn(arn)
                .build(),
        )
        .send()
        .await
        .expect("assume with PolicyArns");
    let creds = Creds::from_sts(out.credentials().expect("creds"));
    server
        .iam_with(&creds)
        .get_role()
        .role_name("gha-deploy")
        .send()
        .await
        .expect("GetRole allowed by both");
    let (code, _) = aws_err(server.iam_with(&creds).list_roles().send().await);
    assert_eq!(code, "AccessDenied");
}
