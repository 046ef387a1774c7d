//! The test harness: the real `keyless` binary on a free loopback port, AWS SDK clients pointed at
//! it, tokens minted by `keyless github token`, and helpers that turn SDK errors into
//! (code, message) pairs so every test asserts on AWS's error codes.

#![allow(dead_code)]

use std::fmt::Debug;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_sts::config::{BehaviorVersion, Region};
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_keyless");
/// The default account of a dev server.
pub const ACCOUNT: &str = "123456789012";
/// GitHub's issuer, which the dev issuer's tokens carry by default.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The audience `configure-aws-credentials` asks for.
pub const AUDIENCE: &str = "sts.amazonaws.com";
/// The provider ARN in the default account.
pub const PROVIDER_ARN: &str =
    "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";

/// A running `keyless serve`; killed when dropped.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The `--data` directory (owned by `_data` unless the caller passed its own).
    pub data: PathBuf,
    _data: Option<tempfile::TempDir>,
    log: PathBuf,
    _logdir: tempfile::TempDir,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

impl Server {
    /// Starts a server on a fresh data directory.
    pub fn start() -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Server::start_in(dir.path());
        s._data = Some(dir);
        s
    }

    /// Starts a server on an existing data directory (the caller keeps the directory alive).
    pub fn start_in(data: &Path) -> Server {
        Server::start_with(data, &[])
    }

    /// Starts a server with extra `serve` flags.
    pub fn start_with(data: &Path, extra: &[&str]) -> Server {
        let logdir = tempfile::tempdir().expect("tempdir");
        let log = logdir.path().join("server.log");
        // The free port may be taken between our probe and the server's bind: retry a few times.
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            let url = format!("http://127.0.0.1:{port}");
            let stderr = std::fs::File::create(&log).expect("log file");
            let child = Command::new(BIN)
                .arg("serve")
                .arg("--data")
                .arg(data)
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .args(extra)
                .env_remove("KEYLESS_LISTEN")
                .env_remove("KEYLESS_DATA")
                .env_remove("KEYLESS_DATABASE")
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("spawn keyless serve");
            let mut server = Server {
                child: Some(child),
                url,
                data: data.to_path_buf(),
                _data: None,
                log: log.clone(),
                _logdir: tempfile::tempdir().expect("tempdir"),
            };
            match server.wait_ready() {
                Ok(()) => {
                    server._logdir = logdir;
                    return server;
                }
                Err(e) => {
                    last_err = e;
                    server.kill();
                }
            }
        }
        panic!(
            "keyless serve did not become ready: {last_err}\n--- server log ---\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Polls `GET /health` until it answers 200 (never a fixed sleep).
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let health = format!("{}/health", self.url);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("server exited early with {status}"));
            }
            if let Ok(resp) = blocking_get(&health) {
                // Another test's server may hold the port this one failed to bind (tests run in
                // parallel): only this server's own "listening" line proves the answer is its.
                let listening = format!("listening on {} ", self.url);
                if resp.0 == 200 && self.log().contains(&listening) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err("no 200 from /health within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The server's stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for a clean exit; returns whether the exit status was success.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return false;
                }
            }
        }
    }

    /// Kills the process with SIGKILL (no clean shutdown) and waits for it to be gone.
    pub fn sigkill(&mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// STS client with the dev root key pair `test`/`test`.
    pub fn sts(&self) -> aws_sdk_sts::Client {
        self.sts_with(&Creds::new("test", "test", None))
    }

    /// STS client with the given credentials.
    pub fn sts_with(&self, c: &Creds) -> aws_sdk_sts::Client {
        let conf = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(c.provider())
            .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_sts::Client::from_conf(conf)
    }

    /// IAM client with the dev root key pair `test`/`test`.
    pub fn iam(&self) -> aws_sdk_iam::Client {
        self.iam_with(&Creds::new("test", "test", None))
    }

    /// IAM client with the given credentials.
    pub fn iam_with(&self, c: &Creds) -> aws_sdk_iam::Client {
        let conf = aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(c.provider())
            .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_iam::Client::from_conf(conf)
    }

    /// A GitHub ID token for `acme/app` on `refs/heads/main` with audience `sts.amazonaws.com`,
    /// changed by `extra` flags of `keyless github token` (`--event`, `--claim`, …; a later
    /// `--repo`/`--ref`/`--audience` overrides the default).
    pub fn token(&self, extra: &[&str]) -> String {
        let mut args: Vec<String> = vec![
            "github".into(),
            "token".into(),
            "--server".into(),
            self.url.clone(),
        ];
        let has = |flag: &str| extra.contains(&flag);
        if !has("--repo") {
            args.extend(["--repo".into(), "acme/app".into()]);
        }
        if !has("--ref") && !has("--event") {
            args.extend(["--ref".into(), "refs/heads/main".into()]);
        }
        if !has("--audience") {
            args.extend(["--audience".into(), AUDIENCE.into()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let out = Command::new(BIN)
            .args(&args)
            .output()
            .expect("run keyless github token");
        assert!(
            out.status.success(),
            "keyless github token {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let t = String::from_utf8(out.stdout)
            .expect("utf-8 token")
            .trim()
            .to_owned();
        assert_eq!(t.split('.').count(), 3, "not a JWT: {t}");
        t
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A blocking GET returning (status, body), with a short timeout.
pub fn blocking_get(url: &str) -> Result<(u16, String), String> {
    // A tiny HTTP/1.1 client over std, so readiness polling needs no runtime.
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").ok_or("not http")?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let addr: std::net::SocketAddr = host.parse().map_err(|e| format!("{e}"))?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200))
        .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or("no status line")?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// A key pair, optionally with a session token.
#[derive(Debug, Clone)]
pub struct Creds {
    pub access_key_id: String,
    pub secret: String,
    pub token: Option<String>,
}

impl Creds {
    pub fn new(ak: &str, sk: &str, token: Option<&str>) -> Creds {
        Creds {
            access_key_id: ak.into(),
            secret: sk.into(),
            token: token.map(str::to_owned),
        }
    }

    fn provider(&self) -> Credentials {
        Credentials::new(
            self.access_key_id.clone(),
            self.secret.clone(),
            self.token.clone(),
            None,
            "keyless-test",
        )
    }

    /// From STS's `Credentials` element.
    pub fn from_sts(c: &aws_sdk_sts::types::Credentials) -> Creds {
        Creds::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token()),
        )
    }
}

/// The AWS error code and message of a failed SDK call; panics (with the details) if the call
/// succeeded or failed without an AWS error document.
pub fn aws_err<T: Debug, E: ProvideErrorMetadata + Debug, R: Debug>(
    r: Result<T, SdkError<E, R>>,
) -> (String, String) {
    match r {
        Ok(v) => panic!("expected an AWS error, got success: {v:?}"),
        Err(SdkError::ServiceError(se)) => {
            let e = se.err();
            (
                e.code().unwrap_or_default().to_owned(),
                e.message().unwrap_or_default().to_owned(),
            )
        }
        Err(other) => panic!("expected an AWS error document, got {other:?}"),
    }
}

/// The trust policy of the tutorial: the GitHub provider, audience `sts.amazonaws.com`, `sub`
/// pinned to `repo:acme/app:ref:refs/heads/main`.
pub fn github_trust(account: &str, sub: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com","token.actions.githubusercontent.com:sub":"{sub}"}}}}}}]}}"#
    )
}

/// An identity policy allowing `actions` on `*`.
pub fn allow(actions: &[&str]) -> String {
    let list: Vec<String> = actions.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":[{}],"Resource":"*"}}]}}"#,
        list.join(",")
    )
}

/// Creates the GitHub provider (audience `sts.amazonaws.com`) with the given client; returns its ARN.
pub async fn create_github_provider(iam: &aws_sdk_iam::Client) -> String {
    iam.create_open_id_connect_provider()
        .url(GITHUB_ISSUER)
        .client_id_list(AUDIENCE)
        .thumbprint_list("6938fd4d98bab03faadb97b34396831e3780aea1")
        .send()
        .await
        .expect("CreateOpenIDConnectProvider")
        .open_id_connect_provider_arn()
        .expect("provider ARN")
        .to_owned()
}

/// Creates a role with a trust policy; returns the role.
pub async fn create_role(
    iam: &aws_sdk_iam::Client,
    name: &str,
    trust: &str,
    max_session: Option<i32>,
) -> aws_sdk_iam::types::Role {
    iam.create_role()
        .role_name(name)
        .assume_role_policy_document(trust)
        .set_max_session_duration(max_session)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateRole {name}: {e:?}"))
        .role()
        .expect("role")
        .clone()
}

/// The tutorial's set-up: provider, role `gha-deploy` trusting main of acme/app, S3 read-only
/// attached. Returns the role ARN.
pub async fn tutorial_setup(server: &Server) -> String {
    let iam = server.iam();
    create_github_provider(&iam).await;
    let role = create_role(
        &iam,
        "gha-deploy",
        &github_trust(ACCOUNT, "repo:acme/app:ref:refs/heads/main"),
        None,
    )
    .await;
    iam.attach_role_policy()
        .role_name("gha-deploy")
        .policy_arn("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
        .send()
        .await
        .expect("AttachRolePolicy");
    role.arn().to_owned()
}

/// `AssumeRoleWithWebIdentity` with default duration.
pub async fn assume_web(
    sts: &aws_sdk_sts::Client,
    role_arn: &str,
    session: &str,
    token: &str,
) -> Result<
    aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityOutput,
    SdkError<
        aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityError,
        aws_sdk_sts::config::http::HttpResponse,
    >,
> {
    sts.assume_role_with_web_identity()
        .role_arn(role_arn)
        .role_session_name(session)
        .web_identity_token(token)
        .send()
        .await
}

/// Current Unix time.
/// The response's `Content-Type` ("" when absent or not text).
pub fn content_type(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

pub fn now() -> u64 {
    keyless_core::Clock::now(&keyless_core::SystemClock)
}
