//! What an operator scrapes: `/health`, `/ready`, `/metrics`.

use crate::harness::*;

/// The value of the sample whose line starts with `prefix` (name and labels), if present.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn health_ready_and_metrics_count_what_happened() {
    let server = Server::start();
    let (status, body) = blocking_get(&format!("{}/health", server.url)).expect("health");
    assert_eq!((status, body.as_str()), (200, "ok"));
    // Ready once the database answers and the issuer key (generated after the port opens on a
    // first start) is loaded: within moments, not never.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, body) = blocking_get(&format!("{}/ready", server.url)).expect("ready");
        if status == 200 {
            assert_eq!(body, "ready");
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(body.starts_with("not ready: "), "{body}");
        assert!(
            std::time::Instant::now() < deadline,
            "not ready after 20 s: {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    let role_arn = tutorial_setup(&server).await;
    let sts = server.sts();
    let token = server.token(&[]);
    assume_web(&sts, &role_arn, "ok-1", &token)
        .await
        .expect("assume");
    assume_web(&sts, &role_arn, "ok-2", &token)
        .await
        .expect("assume");
    let pr = server.token(&["--event", "pull_request"]);
    let (code, _) = aws_err(assume_web(&sts, &role_arn, "pr", &pr).await);
    assert_eq!(code, "AccessDenied");
    let bad = aws_err(assume_web(&sts, &role_arn, "bad", "not-a-jwt").await).0;
    assert_eq!(bad, "InvalidIdentityToken");

    let resp = reqwest::get(format!("{}/metrics", server.url))
        .await
        .expect("metrics");
    assert_eq!(resp.status().as_u16(), 200);
    let ct = content_type(&resp);
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let text = resp.text().await.expect("body");
    let requests = |outcome: &str| {
        sample(
            &text,
            &format!(
                "keyless_requests_total{{service=\"sts\",action=\"AssumeRoleWithWebIdentity\",outcome=\"{outcome}\"}}"
            ),
        )
    };
    assert_eq!(requests("ok"), Some(2.0), "{text}");
    assert_eq!(requests("AccessDenied"), Some(1.0), "{text}");
    assert_eq!(requests("InvalidIdentityToken"), Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "keyless_request_duration_seconds_count{action=\"AssumeRoleWithWebIdentity\"}"
        ),
        Some(4.0),
        "{text}"
    );
    // The tutorial's IAM calls are counted under their own actions.
    assert_eq!(
        sample(
            &text,
            "keyless_requests_total{service=\"iam\",action=\"CreateRole\",outcome=\"ok\"}"
        ),
        Some(1.0),
        "{text}"
    );
    // The dev issuer's keys are local: three lookups that reached key selection, no fetch.
    assert!(
        sample(&text, "keyless_jwks_cache_hits_total").is_some_and(|v| v >= 3.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "keyless_jwks_fetches_total"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(sample(&text, "keyless_audit_queue"), Some(0.0), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
}
