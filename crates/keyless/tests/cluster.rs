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

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use harness::*;

/// One cluster test at a time: the SIGKILL tests load both CPUs, and the timing bounds the others
/// check (sync interval, key activation delay) assume nodes that get to run.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The nodes' `--sync-interval`.
const INTERVAL_MS: u64 = 200;

/// How long a rotated sealing or issuer key waits before it is used at that interval (2 × 200 ms, rounded up
/// to a second, plus 2 s).
const ACTIVATION_DELAY_S: u64 = 3;

/// The `kid` in a JWT's header.
fn kid_of(jwt: &str) -> String {
    use base64::Engine as _;
    let header = jwt.split('.').next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("JWT header is base64url");
    let v: serde_json::Value = serde_json::from_slice(&bytes).expect("JWT header is JSON");
    v["kid"].as_str().unwrap_or_default().to_owned()
}

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
        caller_arn(b, &right_after).await.unwrap_or_else(|e| panic!(
            "credentials sealed by A {} ms after the rotation to {new_id} (token key {:?}), refused by B: {e}\n--- A ---\n{}\n--- B ---\n{}",
            started.elapsed().as_millis(),
            right_after.token.as_deref().and_then(|t| t.split('.').nth(1)),
            a.log(),
            b.log()
        )),
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

    // Issuer-key rotation on A. Tokens A signs right after it verify on B at once (A goes on
    // signing with the key B has until B has had time to learn the new one); after the
    // activation delay A signs with the new key, which B trusts.
    let rotated = admin_post(a, "/_keyless/github/rotate-key").await;
    let new_kid = rotated["kid"].as_str().expect("kid").to_owned();
    let started = Instant::now();
    let right_after = a.token(&[]);
    if let Err(e) = assume_web(&b.sts(), &role_arn, "right-after-kid", &right_after).await {
        panic!(
            "a token signed by A {} ms after the rotation to {new_kid} (kid {}), refused by B: {e:?}\n--- A ---\n{}\n--- B ---\n{}",
            started.elapsed().as_millis(),
            kid_of(&right_after),
            a.log(),
            b.log()
        );
    }
    loop {
        let token = a.token(&[]);
        if kid_of(&token) == new_kid {
            assume_web(&b.sts(), &role_arn, "new-kid", &token)
                .await
                .unwrap_or_else(|e| panic!("B refuses A's new key: {e:?}\n{}", b.log()));
            eprintln!(
                "the issuer key rotated on A, signing and trusted by B: after {} ms",
                started.elapsed().as_millis()
            );
            break;
        }
        let limit = bound() + Duration::from_secs(ACTIVATION_DELAY_S);
        assert!(
            started.elapsed() < limit,
            "A still signs with the old key after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    let db = format!("sqlite:{}", dir.path().join("shared.db").display());
    let (a, b) = two_nodes(dir.path(), &db);
    scenario(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgres() {
    let _one = ONE_AT_A_TIME.lock().await;
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

// ------------------------------------------------------------------ a node killed mid-load

/// Load per node: workers, and the most iterations (assume + check) each makes.
const WORKERS_PER_NODE: usize = 3;
const MAX_ITERATIONS: usize = 120;
/// How long the load runs; the kill comes at `KILL_AT`.
const LOAD_FOR: Duration = Duration::from_secs(5);
const KILL_AT: Duration = Duration::from_millis(1500);

/// What the load generator saw.
#[derive(Default)]
struct Seen {
    /// Request ids of calls that got 200.
    acked: Vec<String>,
    /// Credentials issued (with the node that issued them).
    creds: Vec<Creds>,
    /// Failed calls: (node, when the call started, what happened).
    errors: Vec<(usize, Instant, String)>,
    calls: usize,
}

/// Starts `n` nodes at once on `database`, each with its own `--data` directory under `data`.
fn nodes(data: &Path, database: &str, n: usize) -> Vec<Server> {
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let dir = data.join(format!("node{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            let database = database.to_owned();
            std::thread::spawn(move || {
                Server::start_with(
                    &dir,
                    &[
                        "--database",
                        &database,
                        "--sync-interval",
                        &format!("{INTERVAL_MS}ms"),
                    ],
                )
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn sts_at(url: &str, creds: Option<&Creds>) -> aws_sdk_sts::Client {
    let c = creds
        .cloned()
        .unwrap_or_else(|| Creds::new("test", "test", None));
    let conf = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(aws_credential_types::Credentials::new(
            c.access_key_id,
            c.secret,
            c.token,
            None,
            "cluster-test",
        ))
        .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_sdk_sts::config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(10))
                .build(),
        )
        .build();
    aws_sdk_sts::Client::from_conf(conf)
}

/// One worker: AssumeRoleWithWebIdentity on its node, then GetCallerIdentity with the new
/// credentials on the next node, until the time or the count runs out.
async fn worker(
    node: usize,
    worker: usize,
    urls: Arc<Vec<RwLock<String>>>,
    role_arn: String,
    token: String,
    until: Instant,
    seen: Arc<Mutex<Seen>>,
) {
    use aws_sdk_sts::operation::RequestId as _;
    let n = urls.len();
    for i in 0..MAX_ITERATIONS {
        if Instant::now() >= until {
            break;
        }
        let url = urls[node].read().unwrap().clone();
        let started = Instant::now();
        let session = format!("n{node}-w{worker}-{i}");
        let out = assume_web(&sts_at(&url, None), &role_arn, &session, &token).await;
        let creds = match out {
            Ok(out) => {
                let creds = Creds::from_sts(out.credentials().unwrap());
                let mut s = seen.lock().unwrap();
                s.calls += 1;
                s.acked.push(out.request_id().unwrap().to_owned());
                s.creds.push(creds.clone());
                creds
            }
            Err(e) => {
                {
                    let mut s = seen.lock().unwrap();
                    s.calls += 1;
                    s.errors.push((node, started, format!("assume: {e:?}")));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let other = (node + 1) % n;
        let url = urls[other].read().unwrap().clone();
        let started = Instant::now();
        let out = sts_at(&url, Some(&creds))
            .get_caller_identity()
            .send()
            .await;
        let mut s = seen.lock().unwrap();
        s.calls += 1;
        match out {
            Ok(out) => s.acked.push(out.request_id().unwrap().to_owned()),
            Err(e) => s.errors.push((other, started, format!("whoami: {e:?}"))),
        }
    }
}

/// Every audit record's `requestID`, counted.
fn audit_counts(store: &dyn keyless_core::Store) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for r in store
        .query_audit(&keyless_core::AuditFilter::default())
        .unwrap()
    {
        let v: serde_json::Value = serde_json::from_str(&r.record).unwrap();
        *counts
            .entry(v["requestID"].as_str().unwrap_or_default().to_owned())
            .or_insert(0) += 1;
    }
    counts
}

async fn kill_one_mid_load(
    data: &Path,
    database: &str,
    open: impl Fn() -> Box<dyn keyless_core::Store>,
) {
    let started = Instant::now();
    let mut servers = nodes(data, database, 3);
    let role_arn = tutorial_setup(&servers[0]).await;
    for s in &servers[1..] {
        within_bound("the role, on every node", || role_exists(s, "gha-deploy")).await;
    }
    // Tokens are minted once per node and reused (STS takes a token more than once).
    let tokens: Vec<String> = servers.iter().map(|s| s.token(&[])).collect();
    let urls: Arc<Vec<RwLock<String>>> =
        Arc::new(servers.iter().map(|s| RwLock::new(s.url.clone())).collect());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let load_start = Instant::now();
    let until = load_start + LOAD_FOR;
    let mut tasks = tokio::task::JoinSet::new();
    for (node, token) in tokens.iter().enumerate() {
        for w in 0..WORKERS_PER_NODE {
            tasks.spawn(worker(
                node,
                w,
                urls.clone(),
                role_arn.clone(),
                token.clone(),
                until,
                seen.clone(),
            ));
        }
    }

    // Mid-load: IAM writes on the survivors, then SIGKILL node 1 and start it again on the
    // same --data directory.
    servers[0]
        .iam()
        .create_role()
        .role_name("made-on-0")
        .assume_role_policy_document(github_trust(ACCOUNT, "repo:acme/app:ref:refs/heads/main"))
        .send()
        .await
        .expect("CreateRole on node 0 under load");
    tokio::time::sleep(KILL_AT.saturating_sub(load_start.elapsed())).await;
    let victim = 1;
    let killed_at = Instant::now();
    servers[victim].sigkill();
    eprintln!(
        "node {victim} killed after {} ms of load",
        load_start.elapsed().as_millis()
    );
    servers[2]
        .iam()
        .create_role()
        .role_name("made-on-2")
        .assume_role_policy_document(github_trust(ACCOUNT, "repo:acme/app:ref:refs/heads/main"))
        .send()
        .await
        .expect("CreateRole on node 2 while node 1 is down");
    let dir = servers[victim].data.clone();
    let database_arg = database.to_owned();
    let restarted = tokio::task::spawn_blocking(move || {
        Server::start_with(
            &dir,
            &[
                "--database",
                &database_arg,
                "--sync-interval",
                &format!("{INTERVAL_MS}ms"),
            ],
        )
    })
    .await
    .unwrap();
    let back_at = Instant::now();
    eprintln!(
        "node {victim} back after {} ms down",
        back_at.duration_since(killed_at).as_millis()
    );
    *urls[victim].write().unwrap() = restarted.url.clone();
    servers[victim] = restarted;
    servers[victim]
        .iam()
        .create_role()
        .role_name("made-on-1")
        .assume_role_policy_document(github_trust(ACCOUNT, "repo:acme/app:ref:refs/heads/main"))
        .send()
        .await
        .expect("CreateRole on the restarted node");
    while tasks.join_next().await.is_some() {}

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    eprintln!(
        "load: {} calls, {} acknowledged, {} credentials, {} errors, {} ms",
        seen.calls,
        seen.acked.len(),
        seen.creds.len(),
        seen.errors.len(),
        load_start.elapsed().as_millis()
    );
    // Errors only on the killed node, from requests in flight when it died or sent while it was
    // down.
    for (node, at, what) in &seen.errors {
        assert_eq!(*node, victim, "an error on a surviving node: {what}");
        assert!(
            *at + Duration::from_secs(1) >= killed_at && *at <= back_at,
            "an error on node {victim} outside its downtime: {what}"
        );
    }
    assert!(
        seen.acked.len() > 50,
        "too little load: {}",
        seen.acked.len()
    );

    // IAM writes made on every node are visible on every node.
    for s in &servers {
        for name in ["made-on-0", "made-on-1", "made-on-2"] {
            within_bound(&format!("{name} on {}", s.url), || role_exists(s, name)).await;
        }
    }

    // Every credential issued verifies on every node (the restarted one included).
    let clients: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
    let mut checks = tokio::task::JoinSet::new();
    for chunk in seen.creds.chunks(seen.creds.len().div_ceil(6).max(1)) {
        let chunk = chunk.to_vec();
        let clients = clients.clone();
        checks.spawn(async move {
            for creds in &chunk {
                for url in &clients {
                    let arn = sts_at(url, Some(creds))
                        .get_caller_identity()
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("credentials refused by {url}: {e:?}"))
                        .arn()
                        .unwrap_or_default()
                        .to_owned();
                    assert!(arn.contains(":assumed-role/gha-deploy/"), "{arn}");
                }
            }
        });
    }
    while let Some(r) = checks.join_next().await {
        r.unwrap();
    }

    // No acknowledged audit record is missing, none is stored twice.
    let store = open();
    let counts = audit_counts(&*store);
    let missing: Vec<&String> = seen
        .acked
        .iter()
        .filter(|id| !counts.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged records missing, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    for id in &seen.acked {
        assert_eq!(
            counts[id], 1,
            "request {id} has {} audit records",
            counts[id]
        );
    }
    eprintln!(
        "every one of {} acknowledged records stored once; test took {} ms",
        seen.acked.len(),
        started.elapsed().as_millis()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_load_on_sqlite() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let db = format!("sqlite:{}", path.display());
    kill_one_mid_load(dir.path(), &db, || {
        Box::new(keyless_store::SqliteStore::open(&path).unwrap())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_load_on_postgres() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(schema) = keyless_store::testing::TestSchema::from_env() else {
        eprintln!("skipped: {} is not set", keyless_store::testing::URL_VAR);
        return;
    };
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
    kill_one_mid_load(dir.path(), &url, || Box::new(schema.open().unwrap())).await;
}
