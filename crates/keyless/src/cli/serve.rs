//! `keyless serve`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use keyless_core::iam::Iam;
use keyless_core::keys::{IssuerKeys, SealingKeys};
use keyless_core::sts::{Sts, StsConfig};
use keyless_core::{Clock, Store, SystemClock};
use keyless_store::SqliteStore;

use crate::server::audit_writer::{AuditWriter, JsonLines};
use crate::server::connections::{Limits, OpenConnections};
use crate::server::keysource::ServerKeySource;
use crate::server::{AppState, ServeConfig, router};

/// Options of `keyless serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4566", env = "KEYLESS_LISTEN")]
    pub listen: SocketAddr,
    /// Directory holding the SQLite database (created if absent). With a PostgreSQL
    /// `--database`, it holds the node's audit spool (`audit-spool.db`): audit records the
    /// database could not take in time, kept durably until they are moved to it.
    #[arg(long, default_value = ".keyless", env = "KEYLESS_DATA")]
    pub data: PathBuf,
    /// Database URL instead of the file in --data (`sqlite:PATH` or `postgres://USER:PASSWORD@HOST:PORT/DB`).
    #[arg(long, env = "KEYLESS_DATABASE")]
    pub database: Option<String>,
    /// Account whose root the dev key pair is.
    #[arg(long, default_value = "123456789012")]
    pub account_id: String,
    /// Access key id of the dev account root.
    #[arg(long, default_value = "test")]
    pub root_access_key: String,
    /// Secret of the dev account root (also of 12-digit access key ids).
    #[arg(long, default_value = "test")]
    pub root_secret: String,
    /// `iss` of the dev GitHub issuer.
    #[arg(long, default_value = keyless_oidc::GITHUB_ISSUER)]
    pub issuer: String,
    /// Turn the dev GitHub issuer off (tokens then come only from real issuers).
    #[arg(long)]
    pub no_dev_issuer: bool,
    /// Let non-loopback clients mint tokens. Dangerous: anyone who reaches the port can mint.
    #[arg(long)]
    pub danger_allow_remote_issuer: bool,
    /// Give AWS's exact `AccessDenied` text, without keyless's one-line reason.
    #[arg(long)]
    pub opaque_errors: bool,
    /// Also write audit records as JSON lines to FILE (`-` for standard output).
    #[arg(long)]
    pub audit_log: Option<String>,
    /// How often to pick up changes other nodes sharing the database made (IAM entities, sealing
    /// and issuer keys), e.g. `1s` or `250ms`. A change made on one node is in effect on every
    /// node within this interval plus one poll's duration; a rotated sealing key starts sealing
    /// after twice the interval plus 2 s. Give every node the same value.
    #[arg(long, default_value = "1s", env = "KEYLESS_SYNC_INTERVAL", value_parser = crate::server::sync::parse_interval)]
    pub sync_interval: std::time::Duration,
}

/// Opens the store named by `--data`/`--database`.
pub(crate) fn open_store(
    data: &std::path::Path,
    database: Option<&str>,
) -> anyhow::Result<Arc<dyn Store>> {
    Ok(open_store_parts(data, database)?.0)
}

/// The file a `sqlite:PATH` (or `sqlite://PATH`) database URL names.
pub(crate) fn sqlite_path(url: &str) -> Option<&str> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
}

/// The store, and the same store as PostgreSQL when it is one.
type StoreParts = (Arc<dyn Store>, Option<Arc<keyless_store::PgStore>>);

/// Opens the store named by `--data`/`--database`; also returns it as PostgreSQL when it is
/// (the audit writer then spools what PostgreSQL cannot take).
fn open_store_parts(data: &std::path::Path, database: Option<&str>) -> anyhow::Result<StoreParts> {
    let store: Arc<dyn Store> = match database {
        None => Arc::new(SqliteStore::open_dir(data)?),
        Some(url) => {
            if let Some(path) = sqlite_path(url) {
                Arc::new(SqliteStore::open(std::path::Path::new(path))?)
            } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                // The URL may hold a password: name the database by what the store prints.
                let pg = Arc::new(
                    keyless_store::PgStore::open(url, keyless_store::PgOptions::default())
                        .context("opening the PostgreSQL database given by --database")?,
                );
                return Ok((pg.clone(), Some(pg)));
            } else {
                anyhow::bail!(
                    "unsupported --database: use sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DB"
                )
            }
        }
    };
    Ok((store, None))
}

/// The audit writer: straight to the store, or for PostgreSQL with the local spool in
/// `<--data>/audit-spool.db` behind it.
fn audit_writer(
    data: &std::path::Path,
    store: Arc<dyn Store>,
    pg: Option<Arc<keyless_store::PgStore>>,
    sink: Option<JsonLines>,
    metrics: &crate::server::metrics::Metrics,
    connections: &OpenConnections,
) -> anyhow::Result<AuditWriter> {
    let waiting = metrics.audit_queue.clone();
    let Some(pg) = pg else {
        return Ok(AuditWriter::start(
            store,
            sink,
            waiting,
            connections.clone(),
        ));
    };
    std::fs::create_dir_all(data)
        .with_context(|| format!("cannot create the --data directory `{}`", data.display()))?;
    let path = data.join("audit-spool.db");
    let spool = keyless_store::AuditSpool::open(&path)
        .with_context(|| format!("opening the audit spool `{}`", path.display()))?;
    let primary = pg
        .audit_connection()
        .context("starting the audit writer's PostgreSQL connection")?;
    Ok(AuditWriter::start_spooled(
        Arc::new(std::sync::Mutex::new(primary)),
        spool,
        sink,
        waiting,
        metrics.audit_spooled.clone(),
        connections.clone(),
    ))
}

pub fn run(args: ServeArgs) -> anyhow::Result<u8> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KEYLESS_LOG")
                .unwrap_or_else(|_| "keyless=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if !keyless_core::model::is_account_id(&args.account_id) {
        anyhow::bail!("--account-id `{}` must be 12 digits", args.account_id);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<u8> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (store, pg) = open_store_parts(&args.data, args.database.as_deref())?;
    let now = clock.now();
    // Read before loading, so no write by another node falls between the load and the feed.
    let feed_start = store
        .latest_change()
        .context("reading the change feed position")?;
    let iam = Arc::new(Iam::load(store.clone(), clock.clone()).context("loading IAM state")?);
    let sealing = Arc::new(SealingKeys::load(store.clone(), now).context("loading sealing keys")?);
    let issuer_keys =
        Arc::new(IssuerKeys::load_deferred(store.clone()).context("loading issuer keys")?);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local_addr = listener.local_addr()?;
    let dev_issuer = !args.no_dev_issuer;
    if dev_issuer && !local_addr.ip().is_loopback() && !args.danger_allow_remote_issuer {
        tracing::warn!(
            "listening on {local_addr}: the dev GitHub issuer's minting endpoints answer loopback clients only"
        );
    }
    let metrics = Arc::new(crate::server::metrics::Metrics::new());
    let keys = Arc::new(
        ServerKeySource::new(dev_issuer.then(|| args.issuer.clone()), issuer_keys.clone())?
            .with_counters(metrics.jwks.clone()),
    );
    let config = StsConfig {
        default_account: args.account_id.clone(),
        root_access_key: args.root_access_key.clone(),
        root_secret: args.root_secret.clone(),
        explain_denials: !args.opaque_errors,
        ..StsConfig::default()
    };
    let sts = Arc::new(Sts::new(
        iam.clone(),
        sealing.clone(),
        keys,
        clock.clone(),
        config,
    ));
    let sink = match args.audit_log.as_deref() {
        None => None,
        Some("-") => Some(JsonLines::Stdout),
        Some(path) => Some(JsonLines::File(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open --audit-log `{path}`"))?,
        )),
    };
    let request_token_key = sealing.derive_key("runner-request-token")?;
    let connections = OpenConnections::default();
    let audit = audit_writer(&args.data, store.clone(), pg, sink, &metrics, &connections)?;
    let state = Arc::new(AppState {
        sts,
        iam,
        issuer_keys,
        sealing,
        store: store.clone(),
        clock,
        audit,
        sigv4_keys: keyless_wire::SigningKeyCache::new(),
        request_token_key,
        config: ServeConfig {
            issuer: args.issuer.clone(),
            danger_allow_remote_issuer: args.danger_allow_remote_issuer,
            local_addr,
            no_dev_issuer: !dev_issuer,
        },
        metrics: metrics.clone(),
    });
    tracing::info!(%local_addr, account = %args.account_id, issuer = %args.issuer, "keyless serve ready");
    eprintln!(
        "keyless serve listening on http://{local_addr} (account {}, dev issuer {})",
        args.account_id,
        if dev_issuer {
            args.issuer.as_str()
        } else {
            "off"
        }
    );
    let delay = crate::server::sync::activation_delay(args.sync_interval);
    state.sealing.set_activation_delay(delay);
    state.issuer_keys.set_activation_delay(delay);
    crate::server::sync::spawn(
        crate::server::sync::Followers {
            store: state.store.clone(),
            iam: state.iam.clone(),
            sealing: state.sealing.clone(),
            issuer_keys: state.issuer_keys.clone(),
        },
        feed_start,
        args.sync_interval,
        state.metrics.clone(),
    );
    if dev_issuer {
        // The first start generates the issuer's RSA key after the port is open, so the server
        // is ready at once; minting waits the moment it takes.
        let keys = state.issuer_keys.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = keys.ensure_signing_key(SystemClock.now()) {
                tracing::error!(error = %e, "could not create the issuer's signing key");
            }
        });
    }
    crate::server::connections::serve(
        listener,
        router(state),
        connections,
        Limits::default(),
        shutdown_signal(),
    )
    .await;
    Ok(0)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
