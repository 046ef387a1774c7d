//! The dev GitHub Actions issuer: discovery, JWKS, the runner token endpoint, and loopback-only
//! admin calls that `keyless github env|token|rotate-key` use.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use keyless_oidc::JobContext;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::AppState;

/// Runner request tokens live as long as a GitHub job may (6 hours).
const REQUEST_TOKEN_TTL: u64 = 6 * 3600;

fn json_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"message": message.into()}))).into_response()
}

/// Anyone who reaches the minting endpoints can mint tokens, so they answer loopback only.
#[expect(
    clippy::result_large_err,
    reason = "the error is the refusal to send, built only for a refused request and handed straight to axum"
)]
fn loopback_only(state: &AppState, peer: &SocketAddr) -> Result<(), Response> {
    if peer.ip().is_loopback() || state.config.danger_allow_remote_issuer {
        Ok(())
    } else {
        Err(json_error(
            StatusCode::FORBIDDEN,
            "the dev GitHub issuer answers loopback clients only (see --danger-allow-remote-issuer)",
        ))
    }
}

pub(crate) async fn discovery(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(keyless_oidc::discovery_document(&state.config.issuer))
}

pub(crate) async fn jwks(State(state): State<Arc<AppState>>) -> Json<Value> {
    // On a first start the key is still being generated: publish it, not an empty set.
    let _ = wait_for_signing_key(&state).await;
    Json(state.issuer_keys.jwks())
}

#[derive(Deserialize)]
pub(crate) struct RunnerQuery {
    audience: Option<String>,
}

/// `GET /_github/idtoken?api-version=2.0&audience=…` with `Authorization: Bearer <request token>`.
pub(crate) async fn runner_token(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<RunnerQuery>,
) -> Response {
    if let Err(r) = loopback_only(&state, &peer) {
        return r;
    }
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return json_error(
            StatusCode::UNAUTHORIZED,
            "missing Authorization: Bearer <ACTIONS_ID_TOKEN_REQUEST_TOKEN>",
        );
    };
    let Some(bearer) = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
    else {
        return json_error(
            StatusCode::UNAUTHORIZED,
            "the Authorization header must be `Bearer <token>`",
        );
    };
    if let Err(r) = wait_for_signing_key(&state).await {
        return r;
    }
    let now = state.clock.now();
    let ctx = match keyless_oidc::RequestToken::open(bearer.trim(), &state.request_token_key, now) {
        Ok(ctx) => ctx,
        Err(e) => {
            return json_error(
                StatusCode::UNAUTHORIZED,
                format!("request token refused: {e}"),
            );
        }
    };
    match mint(
        &state,
        &ctx,
        query.audience.as_deref(),
        &Map::new(),
        &[],
        now,
    ) {
        Ok(jwt) => Json(json!({"count": 1, "value": jwt})).into_response(),
        Err(r) => r,
    }
}

/// Waits (briefly) for the issuer's first key, generated in the background on a first start.
async fn wait_for_signing_key(state: &AppState) -> Result<(), Response> {
    for _ in 0..500 {
        if state.issuer_keys.signing_key().is_ok() {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    Err(json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the issuer has no signing key yet; try again",
    ))
}

#[expect(
    clippy::result_large_err,
    reason = "the error is the refusal to send, built only for a refused request and handed straight to axum"
)]
fn mint(
    state: &AppState,
    ctx: &JobContext,
    audience: Option<&str>,
    overrides: &Map<String, Value>,
    unset: &[String],
    now: u64,
) -> Result<String, Response> {
    let mut claims = keyless_oidc::claims(
        ctx,
        &state.config.issuer,
        audience,
        now,
        &keyless_oidc::github::new_jti(),
    )
    .map_err(|e| {
        json_error(
            StatusCode::BAD_REQUEST,
            format!("cannot build the token for this job: {e}"),
        )
    })?;
    for (k, v) in overrides {
        claims.insert(k.clone(), v.clone());
    }
    for k in unset {
        claims.remove(k);
    }
    let key = state
        .issuer_keys
        .signing_key_at(now)
        .map_err(|e| json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    key.sign(&claims)
        .map_err(|e| json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

#[derive(Deserialize)]
pub(crate) struct RequestTokenBody {
    context: JobContext,
    #[serde(default)]
    id_token_permission: Option<bool>,
}

/// Issues a runner request token and URL for a job context.
pub(crate) async fn admin_request_token(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<RequestTokenBody>,
) -> Response {
    if let Err(r) = loopback_only(&state, &peer) {
        return r;
    }
    if body.id_token_permission == Some(false) {
        // As on GitHub: without `id-token: write` the job gets no request URL at all.
        return Json(json!({})).into_response();
    }
    if let Err(e) = keyless_oidc::subject(&body.context) {
        return json_error(StatusCode::BAD_REQUEST, format!("invalid job context: {e}"));
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| state.config.local_addr.to_string());
    match keyless_oidc::RequestToken::issue(
        &body.context,
        &state.request_token_key,
        state.clock.now(),
        REQUEST_TOKEN_TTL,
    ) {
        Ok(token) => Json(json!({
            "url": format!("http://{host}/_github/idtoken?api-version=2.0"),
            "token": token,
        }))
        .into_response(),
        Err(e) => json_error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

#[derive(Deserialize)]
pub(crate) struct TokenBody {
    context: JobContext,
    audience: Option<String>,
    #[serde(default)]
    claims: Map<String, Value>,
    #[serde(default)]
    unset: Vec<String>,
}

/// Mints an ID token directly (for `keyless github token`).
pub(crate) async fn admin_token(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<TokenBody>,
) -> Response {
    if let Err(r) = loopback_only(&state, &peer) {
        return r;
    }
    if let Err(r) = wait_for_signing_key(&state).await {
        return r;
    }
    match mint(
        &state,
        &body.context,
        body.audience.as_deref(),
        &body.claims,
        &body.unset,
        state.clock.now(),
    ) {
        Ok(jwt) => Json(json!({"token": jwt})).into_response(),
        Err(r) => r,
    }
}

/// Rotates the issuer's signing key; the old key stays in the JWKS for an overlap.
pub(crate) async fn admin_rotate_key(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if let Err(r) = loopback_only(&state, &peer) {
        return r;
    }
    match state.issuer_keys.rotate(state.clock.now()) {
        Ok(kid) => Json(json!({"kid": kid, "jwks": state.issuer_keys.jwks()})).into_response(),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Rotates the session sealing key; credentials sealed with the old key keep working until they
/// expire.
pub(crate) async fn admin_rotate_sealing_key(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if let Err(r) = loopback_only(&state, &peer) {
        return r;
    }
    match state.sealing.rotate(state.clock.now()) {
        Ok(id) => Json(json!({"id": id, "kept": state.sealing.ids()})).into_response(),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
