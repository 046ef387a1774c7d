//! Helpers for tests that need a PostgreSQL server (not a stable API).
//!
//! `KEYLESS_TEST_POSTGRES_URL` names the server; each test gets a fresh schema of its own, dropped
//! when the helper is, so tests running in parallel never see each other's rows.

use std::sync::atomic::{AtomicU64, Ordering};
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
