//! The server's open connections, counted exactly: the busy audit writer waits for more records
//! only while a connection that has no call in its batch is open (see `audit_writer`).
//!
//! Counted by wrapping the service axum makes for each connection: hyper drops it, with every
//! clone of it, when the connection ends, so a guard inside it counts the connection down
//! whatever way it ends (closed, reset, timed out, shut down).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

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
        self.0.fetch_add(1, Ordering::SeqCst);
        Open(self.0.clone())
    }
}

/// One open connection; counts it down when dropped.
#[derive(Debug)]
pub(crate) struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A make-service whose per-connection services count as open connections while they live.
#[derive(Debug, Clone)]
pub struct Counting<M> {
    inner: M,
    open: OpenConnections,
}

impl<M> Counting<M> {
    /// Wraps `inner` (e.g. `into_make_service_with_connect_info`), counting into `open`.
    pub fn new(inner: M, open: OpenConnections) -> Self {
        Self { inner, open }
    }
}

impl<T, M> tower::Service<T> for Counting<M>
where
    M: tower::Service<T>,
    M::Future: Send + 'static,
{
    type Response = Counted<M::Response>;
    type Error = M::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, connection: T) -> Self::Future {
        // Counted from here: a connection whose service is never made is counted down with
        // the future that would have made it.
        let open = self.open.open();
        let made = self.inner.call(connection);
        Box::pin(async move {
            let inner = made.await?;
            Ok(Counted {
                inner,
                _open: Arc::new(open),
            })
        })
    }
}

/// A connection's service: the router's, plus the connection's place in the count.
#[derive(Debug, Clone)]
pub struct Counted<S> {
    inner: S,
    _open: Arc<Open>,
}

impl<S, R> tower::Service<R> for Counted<S>
where
    S: tower::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::net::SocketAddr;
    use std::time::Duration;

    use axum::Router;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

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

    #[tokio::test]
    async fn connections_count_while_open_whatever_they_serve() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = OpenConnections::default();
        let app = Router::new().route("/", get(|| async { "ok" }));
        let served = Counting::new(
            app.into_make_service_with_connect_info::<SocketAddr>(),
            open.clone(),
        );
        tokio::spawn(async move { axum::serve(listener, served).await });
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        until(&open, 3).await;
        // Requests on a kept-alive connection do not count it again.
        let mut first = clients.remove(0);
        for _ in 0..2 {
            first
                .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .unwrap();
            let mut buf = [0u8; 256];
            let n = first.read(&mut buf).await.unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        }
        assert_eq!(open.get(), 3);
        drop(clients);
        until(&open, 1).await;
        drop(first);
        until(&open, 0).await;
    }
}
