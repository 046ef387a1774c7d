//! Accepting and serving connections, and counting them exactly: the busy audit writer waits for
//! more records only while a connection that has no call in its batch is open (see
//! `audit_writer`). Each connection's task holds its place in the count, so it is counted down
//! whatever way the connection ends (closed, reset, timed out, shut down).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::Service as _;

/// How many connections are open; cheap to clone and to read.
#[derive(Debug, Clone, Default)]
pub struct OpenConnections(Arc<AtomicUsize>);

impl OpenConnections {
    /// Connections open now.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// Counts one more open connection until the result is dropped.
    pub(crate) fn open(&self) -> Open {
        Open::count(&self.0)
    }
}

/// One open connection (or call in progress); counts it down when dropped.
#[derive(Debug)]
pub(crate) struct Open(Arc<AtomicUsize>);

impl Open {
    fn count(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Open(counter.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Time limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a client may take to send a request's headers. hyper runs the same timer while
    /// a kept-alive connection waits for its next request, so it is also how long an idle
    /// connection stays open. Without it, a client that stops halfway through its headers
    /// would hold its connection (and a clean stop) forever.
    pub header_timeout: Duration,
    /// After the stop signal, how long calls in progress get to finish before the server stops
    /// anyway. A call cut off here was never answered, so its client retries it; no
    /// acknowledged audit record depends on it. A connection with no call in progress (idle, or
    /// a client still sending its headers) gets only [`IDLE_CLOSE`].
    pub shutdown_grace: Duration,
}

/// After the stop signal, how long a connection with no call in progress stays open: long
/// enough to finish writing an answer its call has just produced.
pub const IDLE_CLOSE: Duration = Duration::from_millis(200);

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` over HTTP/1.1 until `stop` completes, then lets open connections
/// finish their calls for up to [`Limits::shutdown_grace`].
///
/// Why not `axum::serve`: it gives hyper no timer, so there is no header timeout, and its
/// graceful stop waits for every connection however long a client stalls. Each connection
/// counts in `open` while it lives (the audit writer's batching reads it) and its requests carry
/// `ConnectInfo<SocketAddr>`, as with `into_make_service_with_connect_info`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    open: OpenConnections,
    limits: Limits,
    stop: impl Future<Output = ()>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let mut connections = JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, remote) = tokio::select! {
            () = &mut stop => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
        };
        let counted = open.open();
        let app = app.clone();
        let in_call = Arc::new(AtomicUsize::new(0));
        let calls = in_call.clone();
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(remote));
            let call = Open::count(&calls);
            // `Router` is always ready, so it may be called without `poll_ready`.
            let answer = app.clone().call(req.map(Body::new));
            async move {
                let response = answer.await;
                drop(call);
                response
            }
        });
        let http = http.clone();
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            let _counted = counted;
            let conn = http.serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = stopping.wait_for(|s| *s) => {}
            }
            // Answers the call in progress, if any, then closes.
            conn.as_mut().graceful_shutdown();
            let allowed = if in_call.load(Ordering::SeqCst) > 0 {
                limits.shutdown_grace
            } else {
                IDLE_CLOSE
            };
            let _ = tokio::time::timeout(allowed, conn).await;
        });
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    let all_closed = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.shutdown_grace, all_closed)
        .await
        .is_err()
    {
        tracing::warn!(
            still_open = connections.len(),
            "connections still busy {:?} after the stop signal; closing them",
            limits.shutdown_grace
        );
        connections.shutdown().await;
    }
}

/// An `accept` that failed: a connection that went away before it was accepted is no concern;
/// anything else (out of file descriptors, most likely) is logged, and accepting pauses a
/// moment instead of spinning.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "could not accept a connection");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::net::SocketAddr;
    use std::time::Instant;

    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::oneshot;

    use super::*;

    async fn until(open: &OpenConnections, n: usize) {
        for _ in 0..500 {
            if open.get() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{} connections counted, expected {n}", open.get());
    }

    /// A server with a `/` that answers at once, a `/slow` that answers after 300 ms, a `/stuck`
    /// that answers after 5 s and a `/peer` that names the client's address; stopped by sending on the returned channel.
    async fn start(
        limits: Limits,
    ) -> (
        SocketAddr,
        OpenConnections,
        oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = OpenConnections::default();
        let app = Router::new()
            .route("/", get(|| async { "ok" }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "slow"
                }),
            )
            .route(
                "/stuck",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "stuck"
                }),
            )
            .route(
                "/peer",
                get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
            );
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, app, open.clone(), limits, async {
            let _ = stop_rx.await;
        }));
        (addr, open, stop_tx, server)
    }

    async fn get_on(client: &mut TcpStream, path: &str) -> String {
        client
            .write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = client.read(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[tokio::test]
    async fn connections_count_while_open_whatever_they_serve() {
        let (addr, open, _stop, _server) = start(Limits::default()).await;
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        until(&open, 3).await;
        // Requests on a kept-alive connection do not count it again.
        let mut first = clients.remove(0);
        for _ in 0..2 {
            assert!(get_on(&mut first, "/").await.starts_with("HTTP/1.1 200"));
        }
        assert_eq!(open.get(), 3);
        let me = first.local_addr().unwrap().to_string();
        assert!(get_on(&mut first, "/peer").await.ends_with(&me));
        drop(clients);
        until(&open, 1).await;
        drop(first);
        until(&open, 0).await;
    }

    #[tokio::test]
    async fn a_client_stalled_in_its_headers_is_closed_after_the_header_timeout() {
        let limits = Limits {
            header_timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        let (addr, open, _stop, _server) = start(limits).await;
        let mut stalled = TcpStream::connect(addr).await.unwrap();
        stalled
            .write_all(b"POST / HTTP/1.1\r\nhost: x\r\nx-partial")
            .await
            .unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(5), stalled.read(&mut buf))
            .await
            .expect("the server closes the stalled connection")
            .unwrap_or(0);
        assert!(started.elapsed() >= Duration::from_millis(250));
        // Closed, with at most hyper's bare timeout answer.
        assert!(n == 0 || buf.starts_with(b"HTTP/1.1 408"), "{n} bytes");
        until(&open, 0).await;
    }

    #[tokio::test]
    async fn stopping_answers_calls_in_progress_and_gives_up_on_stalled_clients() {
        let (addr, open, stop, server) = start(Limits::default()).await;
        let mut stalled = TcpStream::connect(addr).await.unwrap();
        stalled
            .write_all(b"POST / HTTP/1.1\r\nhost: x\r\nx-partial")
            .await
            .unwrap();
        let mut busy = TcpStream::connect(addr).await.unwrap();
        busy.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        until(&open, 2).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        stop.send(()).unwrap();
        let mut buf = [0u8; 512];
        let n = busy.read(&mut buf).await.unwrap();
        assert!(
            String::from_utf8_lossy(&buf[..n]).ends_with("slow"),
            "the call in progress is answered"
        );
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "no new connections once stopping"
        );
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the server stops despite the stalled client")
            .unwrap();
        // The stalled client has no call in progress: it does not hold the stop for the grace.
        let took = started.elapsed();
        assert!(
            took < Limits::default().shutdown_grace / 2,
            "stopped after {took:?}"
        );
        assert_eq!(open.get(), 0);
    }

    #[tokio::test]
    async fn a_call_that_outlasts_the_grace_is_cut_off() {
        let limits = Limits {
            shutdown_grace: Duration::from_millis(100),
            ..Limits::default()
        };
        let (addr, open, stop, server) = start(limits).await;
        let mut busy = TcpStream::connect(addr).await.unwrap();
        busy.write_all(b"GET /stuck HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        until(&open, 1).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = Instant::now();
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("stops")
            .unwrap();
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(90) && took < Duration::from_secs(4),
            "stopped after {took:?}: after the grace, before the 5 s call could finish"
        );
        let mut buf = [0u8; 64];
        assert_eq!(busy.read(&mut buf).await.unwrap_or(0), 0, "no answer");
    }
}
