//! A TCP proxy in front of the test PostgreSQL server that a test can slow down, stall or cut,
//! so `keyless serve` sees a slow, silent or unreachable database (loopback only).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Pass bytes through (after the configured delay).
    Forward = 0,
    /// Cut every open connection and refuse new ones (accept, then close): a database down.
    Refuse = 1,
    /// Hold every byte: a database that stopped answering.
    Stall = 2,
}

pub struct Proxy {
    pub port: u16,
    state: Arc<State>,
}

struct State {
    mode: AtomicU8,
    delay_ms: AtomicU64,
    stop: AtomicBool,
    conns: Mutex<Vec<TcpStream>>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub fn start(upstream: (String, u16)) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            mode: AtomicU8::new(Mode::Forward as u8),
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
                if st.mode.load(Ordering::SeqCst) == Mode::Refuse as u8 {
                    drop(client);
                    continue;
                }
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect((upstream.0.as_str(), upstream.1)) else {
                    continue;
                };
                {
                    let mut conns = st.conns.lock().unwrap();
                    conns.push(client.try_clone().unwrap());
                    conns.push(server.try_clone().unwrap());
                }
                for (from, to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let st = st.clone();
                    std::thread::spawn(move || pump(from, to, &st));
                }
            }
        });
        Proxy { port, state }
    }

    pub fn set(&self, mode: Mode) {
        self.state.mode.store(mode as u8, Ordering::SeqCst);
        if mode == Mode::Refuse {
            for c in self.state.conns.lock().unwrap().drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }

    /// Every chunk, in either direction, waits this long before it is passed on.
    pub fn delay(&self, d: Duration) {
        self.state
            .delay_ms
            .store(u64::try_from(d.as_millis()).unwrap(), Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.set(Mode::Refuse);
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, st: &State) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 16384];
    loop {
        if st.stop.load(Ordering::SeqCst) {
            break;
        }
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
        while st.mode.load(Ordering::SeqCst) == Mode::Stall as u8 && !st.stop.load(Ordering::SeqCst)
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        if st.mode.load(Ordering::SeqCst) == Mode::Refuse as u8 || to.write_all(&buf[..n]).is_err()
        {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// `url` (a `postgres://` URL of the test server) with its host and port replaced by the proxy's,
/// and `search_path` set to `schema` (what `keyless serve --database` takes).
pub fn url_via(url: &str, upstream: &(String, u16), proxy_port: u16, schema: &str) -> String {
    let via = url.replacen(
        &format!("{}:{}", upstream.0, upstream.1),
        &format!("127.0.0.1:{proxy_port}"),
        1,
    );
    assert_ne!(via, url, "the test URL must name host:port explicitly");
    with_search_path(&via, schema)
}

/// `url` with `search_path` set to `schema`.
pub fn with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}
