//! State: restarts keep roles, providers, sealing keys and issuer keys; concurrent requests.

use crate::harness::*;

#[tokio::test]
async fn restart_keeps_state_and_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut first = Server::start_in(dir.path());
    let role_arn = tutorial_setup(&first).await;
    first
        .iam()
        .put_role_policy()
        .role_name("gha-deploy")
        .policy_name("list")
        .policy_document(allow(&["iam:ListRoles"]))
        .send()
        .await
        .expect("put");
    let token = first.token(&[]);
    let out = assume_web(&first.sts(), &role_arn, "before-restart", &token)
        .await
        .expect("assume");
    let creds = Creds::from_sts(out.credentials().expect("creds"));
    let role_id = first
        .iam()
        .get_role()
        .role_name("gha-deploy")
        .send()
        .await
        .expect("get")
        .role()
        .expect("r")
        .role_id()
        .to_owned();
    // A token minted before the restart, used only after it.
    let later_token = first.token(&[]);
    assert!(first.stop(), "clean stop on SIGTERM\n{}", first.log());

    let second = Server::start_in(dir.path());
    let iam = second.iam();
    let role = iam
        .get_role()
        .role_name("gha-deploy")
        .send()
        .await
        .expect("role survives")
        .role()
        .expect("r")
        .clone();
    assert_eq!(role.role_id(), role_id);
    let p = iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(PROVIDER_ARN)
        .send()
        .await
        .expect("provider survives");
    assert_eq!(p.client_id_list(), [AUDIENCE]);
    let attached = iam
        .list_attached_role_policies()
        .role_name("gha-deploy")
        .send()
        .await
        .expect("attachments survive");
    assert_eq!(attached.attached_policies().len(), 1);

    // Credentials issued before the restart still verify (sealing keys persisted) and are still authorised.
    let me = second
        .sts_with(&creds)
        .get_caller_identity()
        .send()
        .await
        .expect("old credentials after restart");
    assert_eq!(
        me.arn(),
        Some("arn:aws:sts::123456789012:assumed-role/gha-deploy/before-restart")
    );
    assert_eq!(
        me.user_id(),
        Some(format!("{role_id}:before-restart").as_str())
    );
    second
        .iam_with(&creds)
        .list_roles()
        .send()
        .await
        .expect("old session still authorised by the role policy");

    // A token from the issuer before the restart still verifies (issuer keys persisted).
    assume_web(&second.sts(), &role_arn, "after-restart", &later_token)
        .await
        .expect("old token after restart");
}

#[tokio::test]
async fn empty_existing_data_dir_is_fine() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(std::fs::read_dir(dir.path()).expect("read_dir").count(), 0);
    let server = Server::start_in(dir.path());
    server
        .sts()
        .get_caller_identity()
        .send()
        .await
        .expect("ready on an empty directory");
}

#[tokio::test]
async fn concurrent_requests_are_safe() {
    let server = Server::start();
    let role_arn = tutorial_setup(&server).await;
    let token = server.token(&[]);
    let sts = server.sts();
    let iam = server.iam();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let sts = sts.clone();
        let iam = iam.clone();
        let role_arn = role_arn.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            if i % 3 == 0 {
                let name = format!("conc-{i}");
                iam.create_role()
                    .role_name(&name)
                    .assume_role_policy_document(github_trust(
                        ACCOUNT,
                        "repo:acme/app:ref:refs/heads/main",
                    ))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("{e:?}"))
            } else {
                sts.assume_role_with_web_identity()
                    .role_arn(role_arn)
                    .role_session_name(format!("conc-{i}"))
                    .web_identity_token(token)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("{e:?}"))
            }
        }));
    }
    for t in tasks {
        t.await.expect("task").expect("concurrent call");
    }
    let roles = iam.list_roles().send().await.expect("list");
    assert_eq!(roles.roles().len(), 1 + 8);
}
