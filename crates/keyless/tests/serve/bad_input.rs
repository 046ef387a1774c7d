//! Bad input over raw HTTP: always an AWS error document, never a 5xx, never a dead server.

use crate::harness::*;

struct Raw {
    status: u16,
    body: String,
    request_id: Option<String>,
}

async fn post(server: &Server, body: Vec<u8>) -> Raw {
    let resp = reqwest::Client::new()
        .post(format!("{}/", server.url))
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = resp.status().as_u16();
    let request_id = resp
        .headers()
        .get("x-amzn-requestid")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.text().await.unwrap_or_default();
    Raw {
        status,
        body,
        request_id,
    }
}

fn code_of(body: &str) -> Option<String> {
    let start = body.find("<Code>")? + "<Code>".len();
    let end = body[start..].find("</Code>")? + start;
    Some(body[start..end].to_owned())
}

/// An AWS error document with a 4xx status and a request id; returns its code.
fn assert_aws_error(r: &Raw, what: &str) -> String {
    assert!(
        (400..500).contains(&r.status),
        "{what}: status {} body {}",
        r.status,
        r.body
    );
    assert!(
        r.body.contains("<ErrorResponse"),
        "{what}: not an AWS error document: {}",
        r.body
    );
    assert!(r.body.contains("<Type>Sender</Type>"), "{what}: {}", r.body);
    assert!(r.body.contains("<RequestId>"), "{what}: {}", r.body);
    assert!(r.request_id.is_some(), "{what}: no x-amzn-RequestId header");
    code_of(&r.body).unwrap_or_else(|| panic!("{what}: no <Code>: {}", r.body))
}

async fn still_serving(server: &mut Server) {
    assert!(server.alive(), "the server process died\n{}", server.log());
    server
        .sts()
        .get_caller_identity()
        .send()
        .await
        .expect("server still answers GetCallerIdentity");
}

#[tokio::test]
async fn garbage_body() {
    let mut server = Server::start();
    for body in [
        &b"\x00\x01\x02garbage%%%==&&=&"[..],
        b"{\"json\": true}",
        b"Action",
        b"=",
        b"%zz%",
        b"",
    ] {
        let r = post(&server, body.to_vec()).await;
        assert_aws_error(&r, &format!("{body:?}"));
        still_serving(&mut server).await;
    }
}

#[tokio::test]
async fn unknown_action() {
    let mut server = Server::start();
    let r = post(&server, b"Action=FlyToTheMoon&Version=2011-06-15".to_vec()).await;
    assert_eq!(assert_aws_error(&r, "unknown action"), "InvalidAction");
    assert!(r.body.contains("FlyToTheMoon"), "{}", r.body);
    assert_eq!(r.status, 400);
    // GET form too.
    let (status, body) =
        blocking_get(&format!("{}/?Action=Nope&Version=2011-06-15", server.url)).expect("GET");
    assert_eq!(status, 400);
    assert_eq!(code_of(&body).as_deref(), Some("InvalidAction"), "{body}");
    still_serving(&mut server).await;
}

#[tokio::test]
async fn missing_parameter() {
    let mut server = Server::start();
    let r = post(&server, b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleSessionName=s1&WebIdentityToken=abcd".to_vec()).await;
    assert_eq!(assert_aws_error(&r, "missing RoleArn"), "MissingParameter");
    assert!(
        r.body
            .contains("The request must contain the parameter RoleArn"),
        "{}",
        r.body
    );
    assert_eq!(r.status, 400);
    still_serving(&mut server).await;
}

#[tokio::test]
async fn unsigned_signed_action_is_missing_authentication_token() {
    let mut server = Server::start();
    let r = post(
        &server,
        b"Action=GetCallerIdentity&Version=2011-06-15".to_vec(),
    )
    .await;
    assert_eq!(
        assert_aws_error(&r, "unsigned"),
        "MissingAuthenticationToken"
    );
    assert_eq!(r.status, 403);
    let r = post(&server, b"Action=ListRoles&Version=2010-05-08".to_vec()).await;
    assert_eq!(
        assert_aws_error(&r, "unsigned IAM"),
        "MissingAuthenticationToken"
    );
    still_serving(&mut server).await;
}

#[tokio::test]
async fn ten_megabyte_body() {
    let mut server = Server::start();
    let mut body = b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleSessionName=s1&RoleArn=arn:aws:iam::123456789012:role/x&WebIdentityToken=".to_vec();
    body.resize(10 * 1024 * 1024, b'a');
    let started = std::time::Instant::now();
    let r = post(&server, body).await;
    let code = assert_aws_error(&r, "10 MB body");
    assert!(!code.is_empty());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    still_serving(&mut server).await;
}

#[tokio::test]
async fn invalid_utf8() {
    let mut server = Server::start();
    let r = post(&server, b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleSessionName=\xff\xfe&RoleArn=arn:aws:iam::123456789012:role/x&WebIdentityToken=abcd".to_vec()).await;
    assert_aws_error(&r, "invalid UTF-8 value");
    let r = post(&server, b"Action=Get\xc3\x28CallerIdentity".to_vec()).await;
    assert_aws_error(&r, "invalid UTF-8 action");
    // Percent-encoded invalid UTF-8, too.
    let r = post(&server, b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleSessionName=%FF%FE&RoleArn=arn:aws:iam::123456789012:role/x&WebIdentityToken=abcd".to_vec()).await;
    assert_aws_error(&r, "percent-encoded invalid UTF-8");
    still_serving(&mut server).await;
}

#[tokio::test]
async fn too_many_parameters_and_oversize_values() {
    let mut server = Server::start();
    let mut body = String::from("Action=ListRoles&Version=2010-05-08");
    for i in 0..5000 {
        body.push_str(&format!("&P{i}=v"));
    }
    let r = post(&server, body.into_bytes()).await;
    assert_aws_error(&r, "5000 parameters");
    still_serving(&mut server).await;

    // Oversize values through the SDK: session name of 65, token of 20001 characters.
    let role_arn = "arn:aws:iam::123456789012:role/x";
    let (code, message) =
        aws_err(assume_web(&server.sts(), role_arn, &"a".repeat(65), "abcd.efgh.ijkl").await);
    assert_eq!(code, "ValidationError");
    assert!(
        message.contains("roleSessionName") && message.contains("less than or equal to 64"),
        "{message}"
    );
    let (code, message) =
        aws_err(assume_web(&server.sts(), role_arn, "s1", &"a".repeat(20001)).await);
    assert_eq!(code, "ValidationError", "{message}");
    still_serving(&mut server).await;
}

#[tokio::test]
async fn malformed_arns() {
    let mut server = Server::start();
    let iam = server.iam();
    for arn in [
        "not-an-arn",
        "arn:aws:iam::12345:policy/x",
        "arn:aws:iam::123456789012:role/x",
        "",
    ] {
        let (code, message) = aws_err(iam.get_policy().policy_arn(arn).send().await);
        assert!(
            matches!(
                code.as_str(),
                "InvalidInput" | "ValidationError" | "NoSuchEntity"
            ),
            "{arn}: {code}: {message}"
        );
        if arn != "arn:aws:iam::123456789012:role/x" && !arn.is_empty() {
            assert_ne!(
                code, "NoSuchEntity",
                "{arn}: a malformed ARN is invalid input, not a missing entity"
            );
        }
    }
    let (code, message) = aws_err(
        iam.get_open_id_connect_provider()
            .open_id_connect_provider_arn("arn:aws:iam::123456789012:role/x")
            .send()
            .await,
    );
    assert!(
        matches!(
            code.as_str(),
            "InvalidInput" | "ValidationError" | "NoSuchEntity"
        ),
        "{code}: {message}"
    );
    let (code, message) = aws_err(
        server
            .sts()
            .assume_role()
            .role_arn("arn:::::")
            .role_session_name("s1")
            .send()
            .await,
    );
    assert_eq!(code, "ValidationError", "{message}");
    still_serving(&mut server).await;
}

#[tokio::test]
async fn invalid_names_and_documents() {
    let mut server = Server::start();
    let iam = server.iam();
    let trust = github_trust(ACCOUNT, "repo:acme/app:ref:refs/heads/main");
    for name in ["has space", "slash/inside", &"x".repeat(65)] {
        let (code, message) = aws_err(
            iam.create_role()
                .role_name(name)
                .assume_role_policy_document(&trust)
                .send()
                .await,
        );
        assert!(
            code == "ValidationError" || code == "InvalidInput",
            "{name}: {code}: {message}"
        );
    }
    // 200 kB policy document.
    let huge = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}"}}]}}"#,
        "b".repeat(200_000)
    );
    let (code, message) = aws_err(
        iam.create_policy()
            .policy_name("huge")
            .policy_document(huge)
            .send()
            .await,
    );
    assert!(
        matches!(
            code.as_str(),
            "ValidationError" | "LimitExceeded" | "MalformedPolicyDocument"
        ),
        "{code}: {message}"
    );
    still_serving(&mut server).await;
}

#[tokio::test]
async fn malformed_arns_are_client_errors() {
    let mut server = Server::start();
    let iam = server.iam();
    for arn in [
        "not-an-arn",
        "arn:aws:iam::12345:policy/x",
        "arn:",
        "arn:aws:iam::123456789012:policy/../../x",
    ] {
        let (code, message) = aws_err(iam.get_policy().policy_arn(arn).send().await);
        assert!(
            matches!(
                code.as_str(),
                "InvalidInput" | "ValidationError" | "NoSuchEntity"
            ),
            "{arn}: {code}: {message}"
        );
        let (code, message) = aws_err(
            iam.attach_role_policy()
                .role_name("nobody")
                .policy_arn(arn)
                .send()
                .await,
        );
        assert!(
            matches!(
                code.as_str(),
                "InvalidInput" | "ValidationError" | "NoSuchEntity"
            ),
            "{arn}: {code}: {message}"
        );
    }
    let (code, message) = aws_err(
        server
            .sts()
            .assume_role()
            .role_arn("arn:::::")
            .role_session_name("s1")
            .send()
            .await,
    );
    assert_eq!(code, "ValidationError", "{message}");
    still_serving(&mut server).await;
}
