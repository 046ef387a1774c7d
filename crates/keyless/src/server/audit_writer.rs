//! Group commit for audit records: handlers hand a record over and wait until it is committed;
//! one writer thread commits everything that queued up meanwhile in a single transaction, so
//! durability costs one commit per batch, not per request.

use std::io::Write;
use std::sync::Arc;

use keyless_core::Store;
use keyless_core::store::AuditRow;
use tokio::sync::{mpsc, oneshot};

type Ack = oneshot::Sender<Result<(), String>>;

/// Largest batch committed at once.
const MAX_BATCH: usize = 1024;

/// Where audit records are also written as JSON lines.
pub enum JsonLines {
    /// Standard output.
    Stdout,
    /// A file, appended to.
    File(std::fs::File),
}

/// Handle to the writer thread.
#[derive(Clone)]
pub struct AuditWriter {
    tx: mpsc::Sender<(AuditRow, Ack)>,
}

impl AuditWriter {
    /// Starts the writer thread.
    pub fn start(store: Arc<dyn Store>, mut sink: Option<JsonLines>) -> Self {
        let (tx, mut rx) = mpsc::channel::<(AuditRow, Ack)>(8192);
        std::thread::Builder::new()
            .name("keyless-audit".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(item) => batch.push(item),
                            Err(_) => break,
                        }
                    }
                    let (rows, acks): (Vec<AuditRow>, Vec<Ack>) = batch.into_iter().unzip();
                    let result = store.append_audit(&rows).map_err(|e| e.to_string());
                    if result.is_ok() {
                        if let Some(sink) = sink.as_mut() {
                            write_lines(sink, &rows);
                        }
                    }
                    for ack in acks {
                        let _ = ack.send(result.clone());
                    }
                }
            })
            .ok();
        Self { tx }
    }

    /// Queues a record and waits for its commit.
    pub async fn append(&self, row: AuditRow) -> Result<(), String> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send((row, ack))
            .await
            .map_err(|_| "audit writer stopped".to_owned())?;
        done.await.map_err(|_| "audit writer stopped".to_owned())?
    }
}

fn write_lines(sink: &mut JsonLines, rows: &[AuditRow]) {
    let mut buf = String::new();
    for r in rows {
        buf.push_str(&r.record);
        buf.push('\n');
    }
    let res = match sink {
        JsonLines::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(buf.as_bytes()).and_then(|()| out.flush())
        }
        JsonLines::File(f) => f.write_all(buf.as_bytes()),
    };
    if let Err(e) = res {
        tracing::warn!(error = %e, "could not write the audit log");
    }
}
