//! A `keyless serve` node on PostgreSQL whose database becomes slow, silent, then unreachable,
//! then comes back (a TCP proxy the test controls sits in between). Needs
//! `KEYLESS_TEST_POSTGRES_URL` (`eval "$(bash scripts/ci-postgres.sh)"`); skipped without it.
//!
//! What must hold: STS calls that need no database round trip keep answering from the node's
//! memory (their audit records go to the local spool), IAM writes fail with `ServiceUnavailable`
//! within a bound, `/ready` says 503; once the database returns the node is ready again by
//! itself, IAM writes work, and every acknowledged call's audit record is in PostgreSQL exactly
//! once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "serve/harness.rs"]
mod harness;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_sts::operation::RequestId as _;
use harness::*;
use keyless_core::Store as _;
use keyless_store::testing::{Proxy, ProxyMode};

/// Status of `GET url`, with a generous client timeout (the server bounds `/ready` itself).
async fn status(url: &str) -> u16 {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Runs `f`, fails if it took longer than `bound`, returns its value.
async fn within<T>(what: &str, bound: Duration, f: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let v = f.await;
    let took = started.elapsed();
    eprintln!("{what}: {} ms", took.as_millis());
    assert!(took < bound, "{what} took {took:?}, more than {bound:?}");
    v
}

/// AssumeRoleWithWebIdentity that must succeed within `bound`; records its request id.
async fn assume_ok(
    node: &Server,
    role_arn: &str,
    session: &str,
    token: &str,
    bound: Duration,
    acked: &mut Vec<String>,
) -> Creds {
    let out = within(
        &format!("AssumeRoleWithWebIdentity `{session}`"),
        bound,
        assume_web(&node.sts(), role_arn, session, token),
    )
    .await
    .unwrap_or_else(|e| panic!("assume {session}: {e:?}\n{}", node.log()));
    acked.push(out.request_id().expect("request id").to_owned());
    Creds::from_sts(out.credentials().expect("credentials"))
}

async fn whoami_ok(node: &Server, creds: &Creds, bound: Duration, acked: &mut Vec<String>) {
    let out = within(
        "GetCallerIdentity",
        bound,
        node.sts_with(creds).get_caller_identity().send(),
    )
    .await
    .unwrap_or_else(|e| panic!("GetCallerIdentity: {e:?}\n{}", node.log()));
    assert!(out.arn().unwrap().contains(":assumed-role/gha-deploy/"));
    acked.push(out.request_id().expect("request id").to_owned());
}

async fn create_role_result(node: &Server, name: &str) -> Result<(), (String, String)> {
    create_role_at(&node.url, name).await
}

async fn create_role_at(url: &str, name: &str) -> Result<(), (String, String)> {
    let conf = aws_sdk_iam::Config::builder()
        .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
        .region(aws_sdk_iam::config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(aws_credential_types::Credentials::new(
            "test",
            "test",
            None,
            None,
            "outage-test",
        ))
        .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled())
        .build();
    let r = aws_sdk_iam::Client::from_conf(conf)
        .create_role()
        .role_name(name)
        .assume_role_policy_document(github_trust(ACCOUNT, "repo:acme/app:ref:refs/heads/main"))
        .send()
        .await;
    match r {
        Ok(_) => Ok(()),
        Err(e) => Err(aws_err::<(), _, _>(Err(e))),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_slow_down_and_back() {
    let Some(schema) = keyless_store::testing::TestSchema::from_env() else {
        eprintln!("skipped: {} is not set", keyless_store::testing::URL_VAR);
        return;
    };
    schema
        .scalar(&format!("CREATE SCHEMA \"{}\"", schema.name()))
        .unwrap();
    let proxy = Proxy::start(schema.host_port().expect("a TCP server URL")).unwrap();
    let url = schema
        .url_via(proxy.port)
        .expect("the test URL names host:port");
    let dir = tempfile::tempdir().unwrap();
    let node = Server::start_with(
        dir.path(),
        &["--database", &url, "--sync-interval", "200ms"],
    );
    let role_arn = tutorial_setup(&node).await;
    // Tokens minted while healthy (minting needs no database either, but keep the phases clean).
    let tokens: Vec<String> = (0..8).map(|_| node.token(&[])).collect();
    let mut acked: Vec<String> = Vec::new();
    let quick = Duration::from_secs(2);

    // Healthy.
    let creds = assume_ok(&node, &role_arn, "healthy", &tokens[0], quick, &mut acked).await;
    whoami_ok(&node, &creds, quick, &mut acked).await;
    assert_eq!(status(&format!("{}/ready", node.url)).await, 200);

    // Slow: every packet waits 150 ms each way. Calls are slower but answer.
    proxy.delay(Duration::from_millis(150));
    let slow = Duration::from_secs(6);
    assume_ok(&node, &role_arn, "slow", &tokens[1], slow, &mut acked).await;
    whoami_ok(&node, &creds, slow, &mut acked).await;
    proxy.delay(Duration::ZERO);

    // Stalled: the first batch waits for PostgreSQL at most 2 s (plus a grace) and is spooled;
    // later ones go straight to the spool behind it.
    proxy.set(ProxyMode::Stall);
    // An IAM write waits for the stalled database (until the connection is cut below); the
    // node's readers do not wait for it.
    let stalled_write = {
        let url = node.url.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let r = create_role_at(&url, "made-while-stalled").await;
            (r, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assume_ok(
        &node,
        &role_arn,
        "stalled",
        &tokens[2],
        Duration::from_secs(5),
        &mut acked,
    )
    .await;
    assume_ok(&node, &role_arn, "stalled-2", &tokens[3], quick, &mut acked).await;
    whoami_ok(&node, &creds, quick, &mut acked).await;
    let ready = within("/ready while stalled", Duration::from_secs(6), async {
        status(&format!("{}/ready", node.url)).await
    })
    .await;
    assert_eq!(ready, 503);

    // Down: connections cut and refused.
    proxy.set(ProxyMode::Refuse);
    let (r, took) = stalled_write.await.unwrap();
    let (code, _) = r.expect_err("an IAM write during the stall");
    assert_eq!(code, "ServiceUnavailable");
    eprintln!(
        "CreateRole during the stall: ServiceUnavailable after {} ms",
        took.as_millis()
    );
    assert!(took < Duration::from_secs(16), "{took:?}");
    let during = assume_ok(&node, &role_arn, "down", &tokens[4], quick, &mut acked).await;
    whoami_ok(&node, &during, quick, &mut acked).await;
    whoami_ok(&node, &creds, quick, &mut acked).await;
    let refused = within(
        "CreateRole while down",
        Duration::from_secs(5),
        create_role_result(&node, "made-during-outage"),
    )
    .await;
    let (code, message) = refused.expect_err("CreateRole must fail while the database is down");
    assert_eq!(code, "ServiceUnavailable", "{message}");
    let ready = within("/ready while down", Duration::from_secs(6), async {
        status(&format!("{}/ready", node.url)).await
    })
    .await;
    assert_eq!(ready, 503);
    // The operator sees it in the metrics: failed IAM writes and readiness queries.
    let metrics = reqwest::get(format!("{}/metrics", node.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for op in ["iam_write", "ready"] {
        let line = format!("keyless_database_errors_total{{operation=\"{op}\"}} ");
        let count: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(line.as_str()))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        assert!(count >= 1.0, "no {op} database error counted:\n{metrics}");
    }
    let spool_path = dir.path().join("audit-spool.db");
    let spooled = keyless_store::AuditSpool::open(&spool_path)
        .unwrap()
        .len()
        .unwrap();
    eprintln!("records spooled during the outage: {spooled}");
    assert!(spooled >= 6, "only {spooled} records in the spool");
    let gauge = metric(&node.url, "keyless_audit_spooled").await;
    assert!(
        gauge >= spooled as f64,
        "keyless_audit_spooled {gauge} below the {spooled} records in the spool"
    );

    // Back: ready again by itself, IAM writes work (the refused one was not half-made), and
    // every acknowledged record reaches PostgreSQL exactly once.
    proxy.set(ProxyMode::Forward);
    let back = Instant::now();
    while status(&format!("{}/ready", node.url)).await != 200 {
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "not ready 15 s after the database returned\n{}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("ready again after {} ms", back.elapsed().as_millis());
    within(
        "CreateRole after the outage",
        Duration::from_secs(5),
        create_role_result(&node, "made-during-outage"),
    )
    .await
    .unwrap_or_else(|e| panic!("CreateRole after the outage: {e:?}\n{}", node.log()));
    let after = assume_ok(&node, &role_arn, "after", &tokens[5], quick, &mut acked).await;
    whoami_ok(&node, &after, quick, &mut acked).await;

    let store = schema.open().unwrap();
    let counts = loop {
        let rows = store
            .query_audit(&keyless_core::AuditFilter::default())
            .unwrap();
        let mut counts: HashMap<String, usize> = HashMap::new();
        for r in &rows {
            let v: serde_json::Value = serde_json::from_str(&r.record).unwrap();
            *counts
                .entry(v["requestID"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        if acked.iter().all(|id| counts.contains_key(id)) {
            break counts;
        }
        assert!(
            back.elapsed() < Duration::from_secs(20),
            "acknowledged records still missing from PostgreSQL\n{}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "all {} acknowledged records in PostgreSQL after {} ms ({} records in all)",
        acked.len(),
        back.elapsed().as_millis(),
        counts.values().sum::<usize>()
    );
    for (id, n) in &counts {
        assert_eq!(*n, 1, "request {id} has {n} audit records");
    }
    let spool = keyless_store::AuditSpool::open(&spool_path).unwrap();
    while spool.len().unwrap() > 0 || metric(&node.url, "keyless_audit_spooled").await != 0.0 {
        assert!(
            back.elapsed() < Duration::from_secs(20),
            "records left in the spool ({} by the gauge)",
            metric(&node.url, "keyless_audit_spooled").await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of the unlabelled metric `name` on the node's `/metrics` (0 when absent).
async fn metric(url: &str, name: &str) -> f64 {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// A node killed (SIGKILL) while the database is down leaves acknowledged records in its spool;
/// started again on the same `--data` once the database is back, it moves them to PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spool_left_by_a_killed_node_reaches_the_database_at_restart() {
    let Some(schema) = keyless_store::testing::TestSchema::from_env() else {
        eprintln!("skipped: {} is not set", keyless_store::testing::URL_VAR);
        return;
    };
    schema
        .scalar(&format!("CREATE SCHEMA \"{}\"", schema.name()))
        .unwrap();
    let proxy = Proxy::start(schema.host_port().expect("a TCP server URL")).unwrap();
    let url = schema
        .url_via(proxy.port)
        .expect("the test URL names host:port");
    let dir = tempfile::tempdir().unwrap();
    let args = ["--database", url.as_str(), "--sync-interval", "200ms"];
    let mut node = Server::start_with(dir.path(), &args);
    let role_arn = tutorial_setup(&node).await;
    let token = node.token(&[]);
    let mut acked = Vec::new();
    let quick = Duration::from_secs(2);
    let creds = assume_ok(&node, &role_arn, "warm", &token, quick, &mut acked).await;

    proxy.set(ProxyMode::Refuse);
    for i in 0..5 {
        assume_ok(
            &node,
            &role_arn,
            &format!("down-{i}"),
            &token,
            quick,
            &mut acked,
        )
        .await;
        whoami_ok(&node, &creds, quick, &mut acked).await;
    }
    node.sigkill();
    let spool_path = dir.path().join("audit-spool.db");
    let left = keyless_store::AuditSpool::open(&spool_path)
        .unwrap()
        .len()
        .unwrap();
    assert!(left >= 10, "{left} records in the spool of the killed node");

    proxy.set(ProxyMode::Forward);
    let node = Server::start_with(dir.path(), &args);
    let store = schema.open().unwrap();
    let started = Instant::now();
    loop {
        let rows = store
            .query_audit(&keyless_core::AuditFilter::default())
            .unwrap();
        let mut counts: HashMap<String, usize> = HashMap::new();
        for r in &rows {
            let v: serde_json::Value = serde_json::from_str(&r.record).unwrap();
            *counts
                .entry(v["requestID"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        if acked.iter().all(|id| counts.contains_key(id)) {
            assert!(counts.values().all(|n| *n == 1), "a record stored twice");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the spooled records did not reach PostgreSQL\n{}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "{left} spooled records in PostgreSQL {} ms after the restart",
        started.elapsed().as_millis()
    );
}
