//! The HTTP server: one port for STS, IAM, the dev GitHub issuer and the runner endpoint.
//!
//! Handlers hold no rules: they decode with `keyless-wire`, call `keyless-core`, and render with
//! `keyless-wire`.

pub mod audit_writer;
mod aws;
pub mod connections;
mod github;
mod iam;
pub mod keysource;
pub mod metrics;
mod sts;
pub mod sync;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use keyless_core::iam::Iam;
use keyless_core::keys::{IssuerKeys, SealingKeys};
use keyless_core::sts::Sts;
use keyless_core::{Clock, Store};
use keyless_wire::SigningKeyCache;

/// Settings of a running server.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The `iss` of the dev GitHub issuer.
    pub issuer: String,
    /// Let non-loopback clients mint tokens (dangerous: anyone who reaches it can mint).
    pub danger_allow_remote_issuer: bool,
    /// The address the server is bound to (the runner URL points here).
    pub local_addr: SocketAddr,
    /// The dev issuer is off (`--no-dev-issuer`): no issuer key is needed to be ready.
    pub no_dev_issuer: bool,
}

/// Shared state of all handlers.
pub struct AppState {
    /// STS.
    pub sts: Arc<Sts>,
    /// IAM.
    pub iam: Arc<Iam>,
    /// The dev issuer's keys.
    pub issuer_keys: Arc<IssuerKeys>,
    /// Session sealing keys.
    pub sealing: Arc<SealingKeys>,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Audit records go here.
    pub audit: audit_writer::AuditWriter,
    /// Derived SigV4 signing keys.
    pub sigv4_keys: SigningKeyCache,
    /// Key for runner request tokens.
    pub request_token_key: Vec<u8>,
    /// Settings.
    pub config: ServeConfig,
    /// Prometheus metrics.
    pub metrics: Arc<metrics::Metrics>,
}

/// The router with every route.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", post(aws::handle).get(aws::handle))
        .route("/.well-known/openid-configuration", get(github::discovery))
        .route("/.well-known/jwks", get(github::jwks))
        .route("/_github/idtoken", get(github::runner_token))
        .route(
            "/_keyless/github/request-token",
            post(github::admin_request_token),
        )
        .route("/_keyless/github/token", post(github::admin_token))
        .route(
            "/_keyless/github/rotate-key",
            post(github::admin_rotate_key),
        )
        .route(
            "/_keyless/rotate-sealing-key",
            post(github::admin_rotate_sealing_key),
        )
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics_text))
        .fallback(aws::handle)
        .with_state(state)
}

async fn ready(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
) -> (axum::http::StatusCode, &'static str) {
    let store = state.store.clone();
    // The database must answer a real query, within a bound: a stalled database is not ready.
    let ping = tokio::task::spawn_blocking(move || {
        store
            .query_audit(&keyless_core::AuditFilter {
                limit: Some(1),
                ..Default::default()
            })
            .is_ok()
    });
    let db_ok = matches!(
        tokio::time::timeout(std::time::Duration::from_secs(3), ping).await,
        Ok(Ok(true))
    );
    if !db_ok {
        state.metrics.db_error("ready");
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the database does not answer",
        );
    }
    if state.issuer_keys.signing_key().is_err() && !state.config.no_dev_issuer {
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the issuer key is not loaded yet",
        );
    }
    (axum::http::StatusCode::OK, "ready")
}

async fn metrics_text(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
}
