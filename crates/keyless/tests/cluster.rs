//! Several `keyless serve` nodes on one database: two real processes on one SQLite file (always)
//! and on PostgreSQL (when `KEYLESS_TEST_POSTGRES_URL` names a server; `eval "$(bash
//! scripts/ci-postgres.sh)"` starts one). Credentials issued by one node work on the other, IAM
//! changes made on one are seen by the other within the documented bound (`--sync-interval` plus
//! one poll), and key rotations on one node reach the other.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "serve/harness.rs"]
mod harness;

use std::path::Path;
use std::time::{Duration, Instant};

use harness::*;

/// The nodes' `--sync-interval`.
const INTERVAL_MS: u64 = 200;

/// How long a rotated sealing key waits before sealing at that interval (2 × 200 ms, rounded up
/// to a second, plus 2 s).
const ACTIVATION_DELAY_S: u64 = 3;

/// The documented bound is the interval plus one poll; the slack absorbs a loaded test machine
/// (two CPUs shared by parallel builds), not the design.
fn bound() -> Duration {
    Duration::from_millis(INTERVAL_MS) + Duration::from_secs(3)
}

/// Starts two nodes at the same moment on `database` (both race to create the first keys).
fn two_nodes(data: &Path, database: &str) -> (Server, Server) {
    let interval = format!("{INTERVAL_MS}ms");
    let start = |dir: std::path::PathBuf, database: String, interval: String| {
        std::thread::spawn(move || {
            Server::start_with(
                &dir,
                &["--database", &database, "--sync-interval", &interval],
            )
        })
    };
    let a = start(data.join("a"), database.to_owned(), interval.clone());
    let b = start(data.join("b"), database.to_owned(), interval);
    (a.join().expect("node A"), b.join().expect("node B"))
}

/// Polls `check` until it passes; returns how long that took, or panics after `bound()`.
async fn within_bound<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            let took = started.elapsed();
            eprintln!("{what}: seen after {} ms", took.as_millis());
            return took;
        }
        if started.elapsed() > bound() {
            panic!("{what}: not seen within {:?}", bound());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// POSTs to a loopback admin endpoint and returns the JSON answer.
async fn admin_post(server: &Server, path: &str) -> serde_json::Value {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", server.url))
        .send()
        .await
        .expect("admin call");
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.expect("json")
}

async fn role_exists(server: &Server, name: &str) -> bool {
    server.iam().get_role().role_name(name).send().await.is_ok()
}

async fn caller_arn(server: &Server, creds: &Creds) -> Result<String, String> {
    server
        .sts_with(creds)
        .get_caller_identity()
        .send()
        .await
        .map(|o| o.arn().unwrap_or_default().to_owned())
        .map_err(|e| format!("{e:?}"))
}

async fn assume(server: &Server, token_from: &Server, role_arn: &str, session: &str) -> Creds {
    let token = token_from.token(&[]);
    let out = assume_web(&server.sts(), role_arn, session, &token)
        .await
        .unwrap_or_else(|e| panic!("assume {session}: {e:?}\n{}", server.log()));
    Creds::from_sts(out.credentials().expect("credentials"))
}

async fn scenario(a: &Server, b: &Server) {
    // Both nodes started on an empty database at once and agree on the first keys: a token
    // minted by either issuer is accepted by the other, credentials sealed by either open on the
    // other. Set-up first, on A; B sees it within the bound.
    let role_arn = tutorial_setup(a).await;
    within_bound("a role created on A, on B", || role_exists(b, "gha-deploy")).await;

    let from_a = assume(a, a, &role_arn, "sealed-on-a").await;
    assert_eq!(
        caller_arn(b, &from_a).await.unwrap(),
        "arn:aws:sts::123456789012:assumed-role/gha-deploy/sealed-on-a"
    );
    // B's issuer key is A's (one first key): B's token works on A, A's on B.
    let with_b_token = assume(a, b, &role_arn, "b-token-on-a").await;
    assert!(caller_arn(b, &with_b_token).await.is_ok());
    let with_a_token = assume(b, a, &role_arn, "a-token-on-b").await;
    assert!(caller_arn(a, &with_a_token).await.is_ok());

    // An IAM change on B (an update) reaches A.
    b.iam()
        .update_role()
        .role_name("gha-deploy")
        .description("changed on B")
        .send()
        .await
        .expect("UpdateRole on B");
    within_bound("a role update on B, on A", || async {
        a.iam()
            .get_role()
            .role_name("gha-deploy")
            .send()
            .await
            .ok()
            .and_then(|r| r.role().and_then(|r| r.description().map(str::to_owned)))
            .as_deref()
            == Some("changed on B")
    })
    .await;

    // Sealing-key rotation on A. Credentials A issues right after it open on B at once (A goes
    // on sealing with the key B knows until B has had time to learn the new one); after the
    // activation delay B seals with the new key, which A opens; credentials sealed before the
    // rotation keep working on both.
    let rotated = admin_post(a, "/_keyless/rotate-sealing-key").await;
    let new_id = rotated["id"].as_str().expect("id").to_owned();
    let started = Instant::now();
    let right_after = assume(a, a, &role_arn, "right-after").await;
    assert_eq!(
        caller_arn(b, &right_after).await.unwrap(),
        "arn:aws:sts::123456789012:assumed-role/gha-deploy/right-after"
    );
    let from_b = loop {
        let creds = assume(b, b, &role_arn, "sealed-on-b").await;
        if creds
            .token
            .as_deref()
            .is_some_and(|t| t.contains(&format!(".{new_id}.")))
        {
            eprintln!(
                "the sealing key rotated on A, used by B: after {} ms",
                started.elapsed().as_millis()
            );
            break creds;
        }
        let limit = bound() + Duration::from_secs(ACTIVATION_DELAY_S);
        assert!(
            started.elapsed() < limit,
            "B still seals with the old key after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        caller_arn(a, &from_b).await.unwrap(),
        "arn:aws:sts::123456789012:assumed-role/gha-deploy/sealed-on-b"
    );
    assert!(caller_arn(b, &from_a).await.is_ok(), "old credentials on B");
    assert!(caller_arn(a, &from_a).await.is_ok(), "old credentials on A");

    // Issuer-key rotation on A: B accepts tokens signed with A's new key.
    admin_post(a, "/_keyless/github/rotate-key").await;
    within_bound("the issuer key rotated on A, trusted by B", || async {
        let token = a.token(&[]);
        assume_web(&b.sts(), &role_arn, "new-kid", &token)
            .await
            .is_ok()
    })
    .await;
    // ...and signs with it itself: its JWKS is A's.
    within_bound("the issuer key rotated on A, published by B", || async {
        let ja = blocking_get(&format!("{}/.well-known/jwks", a.url))
            .unwrap()
            .1;
        let jb = blocking_get(&format!("{}/.well-known/jwks", b.url))
            .unwrap()
            .1;
        let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        let keys = |v: serde_json::Value| v["keys"].as_array().map_or(0, Vec::len);
        parse(&ja) == parse(&jb) && keys(parse(&jb)) == 2
    })
    .await;

    // A deletion on A reaches B.
    let iam = a.iam();
    iam.detach_role_policy()
        .role_name("gha-deploy")
        .policy_arn("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
        .send()
        .await
        .expect("detach");
    iam.delete_role()
        .role_name("gha-deploy")
        .send()
        .await
        .expect("DeleteRole on A");
    within_bound("a role deleted on A, gone on B", || async {
        !role_exists(b, "gha-deploy").await
    })
    .await;
    let token = a.token(&[]);
    let (code, _) = aws_err(assume_web(&b.sts(), &role_arn, "gone", &token).await);
    assert_eq!(code, "AccessDenied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    let db = format!("sqlite:{}", dir.path().join("shared.db").display());
    let (a, b) = two_nodes(dir.path(), &db);
    scenario(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgres() {
    let Some(schema) = keyless_store::testing::TestSchema::from_env() else {
        eprintln!("skipped: {} is not set", keyless_store::testing::URL_VAR);
        return;
    };
    // `serve` uses the first schema of the search path: give these nodes a schema of their own.
    schema
        .scalar(&format!("CREATE SCHEMA \"{}\"", schema.name()))
        .unwrap();
    let separator = if schema.url().contains('?') { '&' } else { '?' };
    let url = format!(
        "{}{separator}options=-c%20search_path%3D{}",
        schema.url(),
        schema.name()
    );
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(dir.path(), &url);
    scenario(&a, &b).await;
}
