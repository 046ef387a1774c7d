//! Helpers for tests that need a PostgreSQL server (not a stable API).
//!
//! `KEYLESS_TEST_POSTGRES_URL` names the server; each test gets a fresh schema of its own, dropped
//! when the helper is, so tests running in parallel never see each other's rows.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyless_core::store::StoreError;
use tokio_postgres::{Config, NoTls};

use crate::{PgOptions, PgStore};

/// The variable naming the test server.
pub const URL_VAR: &str = "KEYLESS_TEST_POSTGRES_URL";

/// A fresh schema on the test server.
#[derive(Debug)]
pub struct TestSchema {
    url: String,
    name: String,
}

impl TestSchema {
    /// A new schema name on the server named by [`URL_VAR`], or `None` when it is unset.
    #[expect(
        clippy::disallowed_methods,
        reason = "the time only makes the schema name unique across test runs"
    )]
    pub fn from_env() -> Option<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let url = std::env::var(URL_VAR)
            .ok()
            .filter(|u| !u.trim().is_empty())?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "keyless_test_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        Some(Self { url, name })
    }

    /// The server URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The schema name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Options placing the store in this schema, with short timeouts.
    pub fn options(&self) -> PgOptions {
        PgOptions {
            schema: Some(self.name.clone()),
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            connections: 2,
            ..PgOptions::default()
        }
    }

    /// Opens a store on this schema.
    pub fn open(&self) -> Result<PgStore, StoreError> {
        PgStore::open(&self.url, self.options())
    }

    /// Host and port of the server (TCP only).
    pub fn host_port(&self) -> Option<(String, u16)> {
        let config: Config = self.url.parse().ok()?;
        let host = match config.get_hosts().first()? {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(_) => return None,
        };
        Some((host, config.get_ports().first().copied().unwrap_or(5432)))
    }

    /// A connection string for the same user and database reached at `host:port` instead (for a
    /// proxy in front of the server).
    pub fn via(&self, host: &str, port: u16) -> Option<String> {
        let config: Config = self.url.parse().ok()?;
        let quote = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"));
        let mut out = format!("host={} port={port}", quote(host));
        if let Some(user) = config.get_user() {
            out.push_str(&format!(" user={}", quote(user)));
        }
        if let Some(pw) = config.get_password() {
            out.push_str(&format!(
                " password={}",
                quote(&String::from_utf8_lossy(pw))
            ));
        }
        if let Some(db) = config.get_dbname() {
            out.push_str(&format!(" dbname={}", quote(db)));
        }
        Some(out)
    }

    /// A `postgres://` URL reaching the server at `127.0.0.1:port` (a [`Proxy`]) with
    /// `search_path` set to this schema: what `keyless serve --database` takes.
    pub fn url_via(&self, port: u16) -> Option<String> {
        let (host, upstream) = self.host_port()?;
        let via = self.url.replacen(
            &format!("{host}:{upstream}"),
            &format!("127.0.0.1:{port}"),
            1,
        );
        if via == self.url {
            return None;
        }
        let separator = if via.contains('?') { '&' } else { '?' };
        Some(format!(
            "{via}{separator}options=-c%20search_path%3D{}",
            self.name
        ))
    }

    /// Runs `sql` in this schema and returns the first column of the first row as an integer.
    pub fn scalar(&self, sql: &str) -> Result<i64, String> {
        admin(&self.url, &self.name, sql)
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let _ = admin(
            &self.url,
            "public",
            &format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name),
        );
    }
}

/// Runs one statement on its own thread and runtime (safe from any context).
fn admin(url: &str, schema: &str, sql: &str) -> Result<i64, String> {
    let url = url.to_owned();
    let setup = format!("SET search_path TO \"{schema}\"");
    let sql = sql.to_owned();
    let thread = std::thread::spawn(move || -> Result<i64, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async move {
            let config: Config = url.parse().map_err(|e| format!("{e}"))?;
            let (client, connection) =
                tokio::time::timeout(Duration::from_secs(5), config.connect(NoTls))
                    .await
                    .map_err(|_| "connect timed out".to_string())?
                    .map_err(|e| e.to_string())?;
            let driver = tokio::spawn(connection);
            client
                .batch_execute(&setup)
                .await
                .map_err(|e| e.to_string())?;
            let rows = client.simple_query(&sql).await.map_err(|e| e.to_string())?;
            drop(client);
            let _ = driver.await;
            for msg in rows {
                if let tokio_postgres::SimpleQueryMessage::Row(row) = msg {
                    return row
                        .get(0)
                        .unwrap_or("0")
                        .parse::<i64>()
                        .map_err(|e| e.to_string());
                }
            }
            Ok(0)
        })
    });
    thread
        .join()
        .map_err(|_| "admin thread panicked".to_string())?
}

/// What a [`Proxy`] does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Pass bytes through (after the configured delay).
    Forward = 0,
    /// Cut every open connection and refuse new ones (accept, then close): a database down.
    Refuse = 1,
    /// Hold every byte: a database that stopped answering.
    Stall = 2,
}

/// A TCP proxy on loopback in front of the test server that a test can slow down, stall or cut,
/// so a store or a node sees a slow, silent or unreachable database.
#[derive(Debug)]
pub struct Proxy {
    /// The loopback port it listens on.
    pub port: u16,
    state: Arc<ProxyState>,
}

#[derive(Debug)]
struct ProxyState {
    mode: AtomicU8,
    delay_ms: AtomicU64,
    stop: AtomicBool,
    conns: Mutex<Vec<TcpStream>>,
}

impl ProxyState {
    fn mode_is(&self, mode: ProxyMode) -> bool {
        self.mode.load(Ordering::SeqCst) == mode as u8
    }
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream` (host, port).
    pub fn start(upstream: (String, u16)) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(ProxyState {
            mode: AtomicU8::new(ProxyMode::Forward as u8),
            delay_ms: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
        });
        let st = state.clone();
        std::thread::spawn(move || {
            while !st.stop.load(Ordering::SeqCst) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                if st.mode_is(ProxyMode::Refuse) {
                    continue;
                }
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect((upstream.0.as_str(), upstream.1)) else {
                    continue;
                };
                let (Ok(c1), Ok(c2), Ok(s1), Ok(s2)) = (
                    client.try_clone(),
                    client.try_clone(),
                    server.try_clone(),
                    server.try_clone(),
                ) else {
                    continue;
                };
                if let Ok(mut conns) = st.conns.lock() {
                    conns.extend([c1, s1]);
                }
                for (from, to) in [(c2, s2), (server, client)] {
                    let st = st.clone();
                    std::thread::spawn(move || pump(from, to, &st));
                }
            }
        });
        Ok(Proxy { port, state })
    }

    /// Switches mode; [`ProxyMode::Refuse`] also cuts every open connection.
    pub fn set(&self, mode: ProxyMode) {
        self.state.mode.store(mode as u8, Ordering::SeqCst);
        if mode == ProxyMode::Refuse
            && let Ok(mut conns) = self.state.conns.lock()
        {
            for c in conns.drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }

    /// Every chunk, in either direction, waits this long before it is passed on.
    pub fn delay(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.state.delay_ms.store(ms, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.set(ProxyMode::Refuse);
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, st: &ProxyState) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = vec![0u8; 16384];
    while !st.stop.load(Ordering::SeqCst) {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => break,
        };
        let delay = st.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
        // Stalled: hold the bytes, as a server that stopped answering would.
        while st.mode_is(ProxyMode::Stall) && !st.stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let chunk = buf.get(..n).unwrap_or_default();
        if st.mode_is(ProxyMode::Refuse) || to.write_all(chunk).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
