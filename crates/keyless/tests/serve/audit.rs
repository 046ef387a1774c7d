//! Audit: CloudTrail-format records read back with `keyless audit --format json`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::harness::*;

fn audit(data: &Path, extra: &[&str]) -> Vec<Value> {
    let out = Command::new(BIN)
        .arg("audit")
        .arg("--data")
        .arg(data)
        .args(["--format", "json"])
        .args(extra)
        .env_remove("KEYLESS_DATA")
        .env_remove("KEYLESS_DATABASE")
        .output()
        .expect("run keyless audit");
    assert!(
        out.status.success(),
        "keyless audit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not one JSON record per line ({e}): {l}"))
        })
        .collect()
}

fn by_session<'a>(records: &'a [Value], event: &str, session: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| {
            r["eventName"] == event
                && r.pointer("/requestParameters/roleSessionName")
                    .and_then(Value::as_str)
                    == Some(session)
        })
        .collect()
}

fn mentions_subject(r: &Value, sub: &str) -> bool {
    r.pointer("/additionalEventData/subject")
        .and_then(Value::as_str)
        == Some(sub)
        || r.pointer("/userIdentity/userName").and_then(Value::as_str) == Some(sub)
}

#[tokio::test]
async fn web_identity_success_and_denial_are_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start_in(dir.path());
    let role_arn = tutorial_setup(&server).await;
    let ok = server.token(&[]);
    let out = assume_web(&server.sts(), &role_arn, "gha-ok", &ok)
        .await
        .expect("assume");
    let creds = Creds::from_sts(out.credentials().expect("creds"));
    server
        .sts_with(&creds)
        .get_caller_identity()
        .send()
        .await
        .expect("gci");
    let pr = server.token(&["--event", "pull_request"]);
    let (code, _) = aws_err(assume_web(&server.sts(), &role_arn, "gha-denied", &pr).await);
    assert_eq!(code, "AccessDenied");

    // While the server runs.
    let records = audit(dir.path(), &[]);
    let success = by_session(&records, "AssumeRoleWithWebIdentity", "gha-ok");
    assert_eq!(success.len(), 1, "one record for the success: {records:#?}");
    let s = success[0];
    assert_eq!(s["eventSource"], "sts.amazonaws.com");
    assert!(s.get("errorCode").is_none(), "no errorCode on success: {s}");
    assert!(
        mentions_subject(s, "repo:acme/app:ref:refs/heads/main"),
        "subject in the record: {s}"
    );
    assert_eq!(
        s.pointer("/requestParameters/roleArn")
            .and_then(Value::as_str),
        Some(role_arn.as_str()),
        "{s}"
    );
    assert!(
        !s.to_string().contains(&ok),
        "the token itself must not be logged"
    );
    assert!(
        !s.to_string().contains(&creds.secret),
        "the secret must not be logged"
    );

    let denial = by_session(&records, "AssumeRoleWithWebIdentity", "gha-denied");
    assert_eq!(denial.len(), 1, "one record for the denial: {records:#?}");
    let d = denial[0];
    assert_eq!(d["errorCode"], "AccessDenied");
    assert!(
        d["errorMessage"].as_str().is_some_and(
            |m| m.starts_with("Not authorized to perform sts:AssumeRoleWithWebIdentity")
        ),
        "{d}"
    );
    assert!(
        mentions_subject(d, "repo:acme/app:pull_request"),
        "subject in the denial: {d}"
    );
    assert!(
        d.pointer("/additionalEventData/denialReason").is_some()
            || d.pointer("/additionalEventData/explanation").is_some(),
        "the policy engine's explanation: {d}"
    );

    // The session's later calls and IAM calls are recorded too.
    assert!(
        records.iter().any(|r| r["eventName"] == "GetCallerIdentity"
            && r.pointer("/userIdentity/arn").and_then(Value::as_str)
                == Some("arn:aws:sts::123456789012:assumed-role/gha-deploy/gha-ok")),
        "{records:#?}"
    );
    assert!(
        records
            .iter()
            .any(|r| r["eventName"] == "CreateRole" && r["eventSource"] == "iam.amazonaws.com")
    );
    assert!(
        records
            .iter()
            .all(|r| r.get("eventTime").is_some() && r.get("requestID").is_some())
    );

    // Filters.
    let denied = audit(dir.path(), &["--denied"]);
    assert!(
        !denied.is_empty() && denied.iter().all(|r| r.get("errorCode").is_some()),
        "{denied:#?}"
    );
    let session = audit(dir.path(), &["--session", "gha-ok"]);
    assert!(!session.is_empty());
    assert!(
        session.iter().all(|r| r.to_string().contains("gha-ok")),
        "{session:#?}"
    );
    let subject = audit(dir.path(), &["--subject", "repo:acme/app:pull_request"]);
    assert_eq!(subject.len(), 1, "{subject:#?}");
    assert_eq!(subject[0]["errorCode"], "AccessDenied");

    // After the server stops, the same records are there.
    assert!(server.stop());
    let after = audit(dir.path(), &[]);
    assert_eq!(after.len(), records.len());
    assert_eq!(
        by_session(&after, "AssumeRoleWithWebIdentity", "gha-denied").len(),
        1
    );
}

#[tokio::test]
async fn signature_failures_are_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_in(dir.path());
    let (code, _) = aws_err(
        server
            .sts_with(&Creds::new("test", "wrong", None))
            .get_caller_identity()
            .send()
            .await,
    );
    assert_eq!(code, "SignatureDoesNotMatch");
    let records = audit(dir.path(), &["--denied"]);
    assert!(
        records
            .iter()
            .any(|r| r["eventName"] == "GetCallerIdentity"
                && r["errorCode"] == "SignatureDoesNotMatch"),
        "{records:#?}"
    );
}

#[tokio::test]
async fn get_access_key_info_records_the_key_asked_about() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_in(dir.path());
    let info = server
        .sts()
        .get_access_key_info()
        .access_key_id("111111111111")
        .send()
        .await
        .expect("GetAccessKeyInfo");
    assert_eq!(info.account(), Some("111111111111"));
    let records = audit(dir.path(), &[]);
    let asked: Vec<_> = records
        .iter()
        .filter(|r| r["eventName"] == "GetAccessKeyInfo")
        .collect();
    assert_eq!(asked.len(), 1, "{records:#?}");
    assert_eq!(
        asked[0].pointer("/requestParameters/accessKeyId"),
        Some(&Value::from("111111111111"))
    );
}

/// Querying a database that is not there is an input error, and leaves nothing behind.
#[test]
fn audit_of_a_missing_database_exits_2_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.db");
    let url = format!("sqlite:{}", missing.display());
    for args in [
        vec!["audit", "--database", url.as_str()],
        vec!["audit", "--data", dir.path().to_str().expect("utf-8 path")],
    ] {
        let out = Command::new(BIN)
            .args(&args)
            .output()
            .expect("run keyless audit");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("no keyless database"), "{stderr}");
    }
    assert!(!missing.exists(), "the query created {}", missing.display());
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
}
