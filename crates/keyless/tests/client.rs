//! End-to-end tests of `keyless setup` and `keyless assume`: the real `keyless serve` binary on a
//! free loopback port, the real `keyless` client commands, `aws-sdk-sts`/`aws-sdk-iam` to check
//! the results, and tiny local HTTP servers that fail on purpose to observe retries.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_keyless");
const ACCOUNT: &str = "123456789012";

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A `keyless serve` child, killed on drop.
struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new(BIN)
            .args(["serve", "--data"])
            .arg(dir.path())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let s = Server {
            child,
            port,
            _dir: dir,
        };
        s.wait_ready();
        s
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Polls `GET /health` until it answers 200; never a fixed sleep.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((200, _)) = http_get(self.port, "/health", &[]) {
                return;
            }
            assert!(Instant::now() < deadline, "keyless serve not ready in 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_get(port: u16, path: &str, headers: &[(&str, &str)]) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let status = buf
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, buf))
}

/// Runs `keyless ARGS` with a clean environment (no AWS or runner variables leak in from the
/// machine) plus `env`.
fn keyless(args: &[&str], env: &[(&str, &str)]) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut c = Command::new(BIN);
    c.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("ACTIONS_") || k.starts_with("GITHUB_") {
            c.env_remove(k);
        }
    }
    c.env("HOME", home.path());
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    drop(home);
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const ROOT: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
    ("AWS_REGION", "us-east-1"),
];

fn setup(server: &Server, extra: &[&str]) -> Output {
    let url = server.url();
    let mut args = vec![
        "setup",
        "--repo",
        "acme/app",
        "--branch",
        "main",
        "--role-name",
        "deploy",
        "--s3-bucket",
        "acme-site",
        "--endpoint-url",
        &url,
    ];
    args.extend_from_slice(extra);
    keyless(&args, ROOT)
}

/// `keyless github env` → the two runner variables.
fn runner_env(server: &Server, git_ref: &str) -> Vec<(String, String)> {
    let out = keyless(
        &[
            "github",
            "env",
            "--server",
            &server.url(),
            "--repo",
            "acme/app",
            "--ref",
            git_ref,
        ],
        &[],
    );
    assert!(out.status.success(), "github env: {}", text(&out.stderr));
    parse_exports(&text(&out.stdout)).into_iter().collect()
}

/// Parses `export NAME=value` / `export NAME='value'` lines.
fn parse_exports(s: &str) -> HashMap<String, String> {
    s.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .or_else(|| v.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
                .unwrap_or(v);
            (k.to_owned(), v.replace(r"'\''", "'"))
        })
        .collect()
}

fn assume(role: &str, extra: &[&str], env: &[(String, String)]) -> Output {
    let mut args = vec!["assume", "--role-arn", role];
    args.extend_from_slice(extra);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    keyless(&args, &env)
}

fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn sts_with(url: &str, key: &str, secret: &str, token: Option<&str>) -> aws_sdk_sts::Client {
    let conf = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            key,
            secret,
            token.map(str::to_owned),
            None,
            "test",
        ))
        .build();
    aws_sdk_sts::Client::from_conf(conf)
}

fn iam_client(url: &str) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new("us-east-1"))
            .endpoint_url(url)
            .credentials_provider(aws_sdk_iam::config::Credentials::new(
                "test", "test", None, None, "t",
            ))
            .build(),
    )
}

fn caller_arn(url: &str, creds: &HashMap<String, String>) -> String {
    let c = sts_with(
        url,
        &creds["AWS_ACCESS_KEY_ID"],
        &creds["AWS_SECRET_ACCESS_KEY"],
        Some(&creds["AWS_SESSION_TOKEN"]),
    );
    runtime()
        .block_on(c.get_caller_identity().send())
        .unwrap()
        .arn()
        .unwrap()
        .to_owned()
}

#[test]
fn setup_then_assume_then_refusal() {
    let server = Server::start();
    let url = server.url();
    let work = tempfile::tempdir().unwrap();
    let wf = work.path().join(".github/workflows/deploy.yml");
    let wf_s = wf.to_str().unwrap();

    // First run creates everything and prints the plan.
    let out = setup(&server, &["--yes", "--workflow", wf_s]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("+ create OIDC provider `https://token.actions.githubusercontent.com`"),
        "{stdout}"
    );
    assert!(stdout.contains("+ create role `deploy`"), "{stdout}");
    assert!(
        stdout.contains("+ put inline policy `keyless-deploy`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("repo:acme/app:ref:refs/heads/main"),
        "{stdout}"
    );
    let workflow = std::fs::read_to_string(&wf).unwrap();
    assert!(workflow.contains("id-token: write"));
    assert!(workflow.contains(&role_arn("deploy")));

    // Second run: nothing to do.
    let out = setup(&server, &["--yes", "--workflow", wf_s]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("no changes"), "{stdout}");

    // A dry run of a wider request shows the diff and changes nothing.
    let out = setup(&server, &["--branch", "release", "--dry-run"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("~ update trust policy of role `deploy`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+ ") && stdout.contains("refs/heads/release"),
        "{stdout}"
    );
    assert!(stdout.contains("dry run"), "{stdout}");
    let out = setup(&server, &["--yes"]);
    assert!(
        text(&out.stdout).contains("no changes"),
        "{}",
        text(&out.stdout)
    );

    // Without --yes and without a terminal, nothing is applied.
    let out = setup(&server, &["--branch", "release"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--yes"));

    // The job on main gets credentials; GetCallerIdentity shows the assumed role.
    let env = runner_env(&server, "refs/heads/main");
    let out = assume(
        &role_arn("deploy"),
        &["--endpoint-url", &url, "--format", "env"],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let creds = parse_exports(&text(&out.stdout));
    assert!(creds["AWS_ACCESS_KEY_ID"].starts_with("ASIA"));
    let arn = caller_arn(&url, &creds);
    assert!(
        arn.starts_with(&format!("arn:aws:sts::{ACCOUNT}:assumed-role/deploy/")),
        "{arn}"
    );
    // Secrets never reach stderr.
    let stderr = text(&out.stderr);
    assert!(!stderr.contains(&creds["AWS_SECRET_ACCESS_KEY"]));
    assert!(!stderr.contains(&creds["AWS_SESSION_TOKEN"]));

    // Endpoint from the environment: AWS_ENDPOINT_URL_STS wins over a dead AWS_ENDPOINT_URL.
    let mut env2 = env.clone();
    env2.push((
        "AWS_ENDPOINT_URL".into(),
        format!("http://127.0.0.1:{}", free_port()),
    ));
    env2.push(("AWS_ENDPOINT_URL_STS".into(), url.clone()));
    let out = assume(&role_arn("deploy"), &["--session-name", "gha-42"], &env2);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let arn = caller_arn(&url, &parse_exports(&text(&out.stdout)));
    assert!(arn.ends_with("assumed-role/deploy/gha-42"), "{arn}");

    // credential-process output is the AWS CLI's document.
    let out = assume(
        &role_arn("deploy"),
        &["--endpoint-url", &url, "--format", "credential-process"],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["Version"], 1);
    assert!(doc["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
    assert_eq!(doc["SecretAccessKey"].as_str().unwrap().len(), 40);
    assert!(doc["SessionToken"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(doc["Expiration"].as_str().unwrap().ends_with('Z'));

    // --format github appends to $GITHUB_ENV / $GITHUB_OUTPUT and masks the secrets.
    let gh_env = work.path().join("github_env");
    let gh_out = work.path().join("github_output");
    let mut env3 = env.clone();
    env3.push(("GITHUB_ENV".into(), gh_env.to_str().unwrap().into()));
    env3.push(("GITHUB_OUTPUT".into(), gh_out.to_str().unwrap().into()));
    let out = assume(
        &role_arn("deploy"),
        &["--endpoint-url", &url, "--format", "github"],
        &env3,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(&gh_env).unwrap();
    let secret = written
        .lines()
        .find_map(|l| l.strip_prefix("AWS_SECRET_ACCESS_KEY="))
        .unwrap();
    assert!(text(&out.stdout).contains(&format!("::add-mask::{secret}")));
    // The ID token, key id, secret and session token are masked; nothing else is printed.
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
    assert!(
        stdout.lines().all(|l| l.starts_with("::add-mask::")),
        "{stdout}"
    );
    assert!(
        std::fs::read_to_string(&gh_out)
            .unwrap()
            .contains(&format!("aws-account-id={ACCOUNT}"))
    );

    // Another branch is refused, at once, with the subject and a pointer to `keyless explain`.
    let dev = runner_env(&server, "refs/heads/dev");
    let started = Instant::now();
    let out = assume(&role_arn("deploy"), &["--endpoint-url", &url], &dev);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("Not authorized to perform sts:AssumeRoleWithWebIdentity"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`repo:acme/app:ref:refs/heads/dev`"),
        "{stderr}"
    );
    assert!(stderr.contains("keyless explain"), "{stderr}");
    assert!(
        !stderr.contains("retry"),
        "AccessDenied must not be retried: {stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(out.stdout.is_empty());

    // A wrong audience has its own message.
    let out = assume(
        &role_arn("deploy"),
        &[
            "--endpoint-url",
            &url,
            "--audience",
            "https://github.com/acme",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is not a client id of the OIDC provider"),
        "{}",
        text(&out.stderr)
    );

    // No runner variables: the job lacks the permission (usage error, exit 2).
    let out = assume(&role_arn("deploy"), &["--endpoint-url", &url], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("permissions: id-token: write"),
        "{}",
        text(&out.stderr)
    );
}

fn github_token(server: &Server, extra: &[&str]) -> String {
    let url = server.url();
    let mut args = vec![
        "github",
        "token",
        "--server",
        &url,
        "--repo",
        "acme/app",
        "--ref",
        "refs/heads/main",
        "--audience",
        "sts.amazonaws.com",
    ];
    args.extend_from_slice(extra);
    let out = keyless(&args, &[]);
    assert!(out.status.success(), "github token: {}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

#[test]
fn token_file_expiry_chaining_and_unreachable() {
    let server = Server::start();
    let url = server.url();
    let out = setup(&server, &["--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dir = tempfile::tempdir().unwrap();

    // Token file (GitLab/Kubernetes style), via AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN.
    let file = dir.path().join("token");
    std::fs::write(&file, github_token(&server, &[])).unwrap();
    let env = [
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE".to_owned(),
            file.to_str().unwrap().to_owned(),
        ),
        ("AWS_ROLE_ARN".to_owned(), role_arn("deploy")),
    ];
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = keyless(
        &["assume", "--endpoint-url", &url, "--format", "json"],
        &env_ref,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["AccountId"], ACCOUNT);
    assert_eq!(
        doc["SubjectFromWebIdentityToken"],
        "repo:acme/app:ref:refs/heads/main"
    );

    // An expired token: its own message, exit 1.
    let expired = dir.path().join("expired");
    std::fs::write(
        &expired,
        github_token(
            &server,
            &[
                "--claim", "exp=1000", "--claim", "iat=900", "--claim", "nbf=900",
            ],
        ),
    )
    .unwrap();
    let out = keyless(
        &[
            "assume",
            "--role-arn",
            &role_arn("deploy"),
            "--endpoint-url",
            &url,
            "--token-file",
            expired.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("expired"),
        "{}",
        text(&out.stderr)
    );

    // Role chaining: a second role trusting the first role's sessions.
    let iam = iam_client(&url);
    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": role_arn("deploy")}, "Action": "sts:AssumeRole"}]
    });
    runtime()
        .block_on(
            iam.create_role()
                .role_name("target")
                .assume_role_policy_document(trust.to_string())
                .max_session_duration(43200)
                .send(),
        )
        .unwrap();
    let token_arg = ["--token-file", file.to_str().unwrap()];
    let deploy = role_arn("deploy");
    let mut args = vec!["assume", "--role-arn", &deploy];
    let target = role_arn("target");
    args.extend_from_slice(&[
        "--endpoint-url",
        &url,
        "--chain-role-arn",
        &target,
        "--format",
        "json",
    ]);
    args.extend_from_slice(&token_arg);
    let out = keyless(&args, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doc["AssumedRoleArn"]
            .as_str()
            .unwrap()
            .contains(":assumed-role/target/"),
        "{doc}"
    );

    // Chaining is capped at 1 hour, even for a role allowing 12.
    let mut long = args.clone();
    long.extend_from_slice(&["--duration", "7200"]);
    let out = keyless(&long, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("1 hour"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());

    // Unreachable endpoint: bounded retries, then its own message.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let out = keyless(
        &[
            "assume",
            "--role-arn",
            &role_arn("deploy"),
            "--endpoint-url",
            &dead,
            "--token-file",
            file.to_str().unwrap(),
            "--retry-max-attempts",
            "3",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("cannot reach STS"), "{stderr}");
    assert!(stderr.contains("after 3 attempt(s)"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn wide_trust_is_refused_for_a_writing_role() {
    let server = Server::start();
    let url = server.url();
    let out = keyless(
        &[
            "setup",
            "--repo",
            "acme/app",
            "--branch",
            "*",
            "--role-name",
            "wide",
            "--s3-bucket",
            "b",
            "--endpoint-url",
            &url,
            "--yes",
        ],
        ROOT,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("--allow-wide-trust"),
        "{}",
        text(&out.stderr)
    );
    // Nothing was created.
    let out = keyless(
        &[
            "setup",
            "--repo",
            "acme/app",
            "--branch",
            "main",
            "--role-name",
            "wide",
            "--endpoint-url",
            &url,
            "--dry-run",
        ],
        ROOT,
    );
    assert!(
        text(&out.stdout).contains("+ create role `wide`"),
        "{}",
        text(&out.stdout)
    );
    // An existing provider without the audience gets it added, and nothing else changes there.
    let iam = iam_client(&url);
    runtime()
        .block_on(
            iam.create_open_id_connect_provider()
                .url("https://token.actions.githubusercontent.com")
                .client_id_list("https://github.com/acme")
                .send(),
        )
        .unwrap();
    let out = keyless(
        &[
            "setup",
            "--repo",
            "acme/app",
            "--branch",
            "main",
            "--role-name",
            "narrow",
            "--endpoint-url",
            &url,
            "--yes",
        ],
        ROOT,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("~ add audience `sts.amazonaws.com` to OIDC provider"),
        "{stdout}"
    );
    assert!(!stdout.contains("create OIDC provider"), "{stdout}");
    let got = runtime()
        .block_on(
            iam.get_open_id_connect_provider()
                .open_id_connect_provider_arn(format!(
                    "arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
                ))
                .send(),
        )
        .unwrap();
    let mut ids = got.client_id_list().to_vec();
    ids.sort();
    assert_eq!(ids, ["https://github.com/acme", "sts.amazonaws.com"]);

    // Usage errors exit 2.
    let out = keyless(
        &[
            "setup",
            "--repo",
            "acme",
            "--branch",
            "main",
            "--role-name",
            "x",
        ],
        ROOT,
    );
    assert_eq!(out.status.code(), Some(2));
    let out = keyless(&["setup", "--repo", "acme/app", "--role-name", "x"], ROOT);
    assert_eq!(out.status.code(), Some(2));
}

/// A local HTTP server that answers 503 to the first `failures` requests, then forwards each
/// request to `upstream` (or answers `canned` when given). Counts the requests.
fn flaky(
    upstream: u16,
    failures: usize,
    canned: Option<(u16, &'static str)>,
) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let c2 = Arc::clone(&count);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let n = c2.fetch_add(1, Ordering::SeqCst);
            let Some(req) = read_request(&mut stream) else {
                continue;
            };
            if n < failures {
                respond(
                    &mut stream,
                    503,
                    "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>try again</Message></Error><RequestId>r</RequestId></ErrorResponse>",
                );
            } else if let Some((status, body)) = canned {
                respond(&mut stream, status, body);
            } else {
                forward(&mut stream, upstream, &req);
            }
        }
    });
    (port, count)
}

fn read_request(s: &mut TcpStream) -> Option<Vec<u8>> {
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    // Ask the upstream to close after answering, so its answer can be read to the end.
    let head_text = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut new_head: String = head_text
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:") && !l.is_empty())
        .map(|l| format!("{l}\r\n"))
        .collect();
    new_head.push_str("Connection: close\r\n\r\n");
    let mut out = new_head.into_bytes();
    out.extend_from_slice(&buf[head_end..]);
    Some(out)
}

fn respond(s: &mut TcpStream, status: u16, body: &str) {
    let reason = if status == 503 {
        "Service Unavailable"
    } else {
        "Error"
    };
    let _ = write!(
        s,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.flush();
}

fn forward(s: &mut TcpStream, upstream: u16, req: &[u8]) {
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    let _ = up.write_all(req);
    let mut resp = Vec::new();
    let _ = up.read_to_end(&mut resp);
    let _ = s.write_all(&resp);
    let _ = s.flush();
}

#[test]
fn transient_failures_are_retried_and_refusals_are_not() {
    let server = Server::start();
    let out = setup(&server, &["--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let env = runner_env(&server, "refs/heads/main");

    // STS answers 503 twice, then the real server answers.
    let (port, count) = flaky(server.port, 2, None);
    let proxy = format!("http://127.0.0.1:{port}");
    let out = assume(&role_arn("deploy"), &["--endpoint-url", &proxy], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(count.load(Ordering::SeqCst), 3, "{stderr}");
    assert!(
        stderr.contains("retry AssumeRoleWithWebIdentity: attempt 1 of 6 failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("retry AssumeRoleWithWebIdentity: attempt 2 of 6 failed"),
        "{stderr}"
    );
    let creds = parse_exports(&text(&out.stdout));
    assert!(caller_arn(&server.url(), &creds).contains(":assumed-role/deploy/"));

    // The runner endpoint answers 503 once, then the real one answers.
    let (rport, rcount) = flaky(server.port, 1, None);
    let runner: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| {
            let v = if k == "ACTIONS_ID_TOKEN_REQUEST_URL" {
                v.replace(
                    &format!("127.0.0.1:{}", server.port),
                    &format!("127.0.0.1:{rport}"),
                )
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    let out = assume(
        &role_arn("deploy"),
        &["--endpoint-url", &server.url()],
        &runner,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(rcount.load(Ordering::SeqCst), 2);
    assert!(text(&out.stderr).contains("retry getIDToken: attempt 1 of 6 failed"));

    // Attempts are bounded: always 503 → exactly --retry-max-attempts calls.
    let (port, count) = flaky(server.port, usize::MAX, None);
    let out = assume(
        &role_arn("deploy"),
        &[
            "--endpoint-url",
            &format!("http://127.0.0.1:{port}"),
            "--retry-max-attempts",
            "3",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(count.load(Ordering::SeqCst), 3);

    // A refusal is answered at once: one call, no retry.
    let denied = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error><RequestId>r</RequestId></ErrorResponse>";
    let (port, count) = flaky(server.port, 0, Some((403, denied)));
    let out = assume(
        &role_arn("deploy"),
        &["--endpoint-url", &format!("http://127.0.0.1:{port}")],
        &env,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert!(text(&out.stderr).contains("refused"));
}
