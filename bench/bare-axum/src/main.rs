//! Answers every GET and POST of `/` with the same 600 bytes: the most a Rust HTTP server does
//! here with no work per request, so keyless's figures can be read against today's host.

use axum::Router;
use axum::routing::get;

/// The body: 600 bytes, about the size of a small STS answer.
const BODY: &str = concat!(
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz",
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz",
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz",
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz",
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz",
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmn",
);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18777".into());
    let app = Router::new().route("/", get(|| async { BODY }).post(|| async { BODY }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("bare-axum on http://{addr}/ ({} bytes)", BODY.len());
    axum::serve(listener, app).await?;
    Ok(())
}
