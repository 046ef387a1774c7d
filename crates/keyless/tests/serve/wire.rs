//! The awsQuery wire seen raw: GET form, XML envelope and namespaces, request ids, versions.

use crate::harness::*;

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn get_form_of_assume_role_with_web_identity() {
    let server = Server::start();
    let role_arn = tutorial_setup(&server).await;
    let token = server.token(&[]);
    let url = format!(
        "{}/?Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn={}&RoleSessionName=get-form&WebIdentityToken={}",
        server.url,
        enc(&role_arn),
        enc(&token)
    );
    let resp = reqwest::get(&url).await.expect("GET");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers().get("x-amzn-requestid").is_some(),
        "x-amzn-RequestId header"
    );
    let ct = content_type(&resp);
    assert!(ct.starts_with("text/xml"), "{ct}");
    let body = resp.text().await.expect("body");
    assert!(body.contains(r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">"#), "{body}");
    assert!(body.contains("<AssumeRoleWithWebIdentityResult>"), "{body}");
    assert!(
        body.contains("<ResponseMetadata><RequestId>") || body.contains("<RequestId>"),
        "{body}"
    );
    assert!(body.contains("<Provider>arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com</Provider>"), "{body}");
    assert!(body.contains("<SubjectFromWebIdentityToken>repo:acme/app:ref:refs/heads/main</SubjectFromWebIdentityToken>"), "{body}");
    assert!(
        !body.contains("PackedPolicySize"),
        "absent without session policy: {body}"
    );
}

#[tokio::test]
async fn error_documents_carry_the_service_namespace() {
    let server = Server::start();
    let client = reqwest::Client::new();
    let iam = client
        .post(format!("{}/", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("Action=ListRoles&Version=2010-05-08")
        .send()
        .await
        .expect("post")
        .text()
        .await
        .expect("body");
    assert!(
        iam.contains(r#"<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">"#),
        "{iam}"
    );
    let sts = client
        .post(format!("{}/", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleSessionName=s1&WebIdentityToken=abcd")
        .send()
        .await
        .expect("post")
        .text()
        .await
        .expect("body");
    assert!(
        sts.contains(r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">"#),
        "{sts}"
    );
}

#[tokio::test]
async fn wrong_version_is_invalid_action() {
    let server = Server::start();
    let resp = reqwest::Client::new()
        .post(format!("{}/", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("Action=AssumeRoleWithWebIdentity&Version=2010-05-08&RoleSessionName=s1&WebIdentityToken=abcd&RoleArn=arn:aws:iam::123456789012:role/x")
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 400);
    let body = resp.text().await.expect("body");
    assert!(body.contains("<Code>InvalidAction</Code>"), "{body}");
    assert!(
        body.contains("Could not find operation AssumeRoleWithWebIdentity for version 2010-05-08"),
        "{body}"
    );
}
