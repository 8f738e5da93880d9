//! Group commit for inbound webhooks. Concurrent webhooks queue here and a
//! writer task stores up to [`MAX_BATCH`] of them in one transaction, so the
//! per-transaction cost (BEGIN/COMMIT, the SQLite writer lock, a PostgreSQL
//! round trip) is shared. Each webhook still gets its own outcome and is
//! acknowledged only after the transaction holding it committed.
//!
//! If a batch fails, its webhooks are retried one transaction each, so one
//! bad webhook cannot fail its neighbours.

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use super::{Db, InboundItem, InboundOutcome, StorageError};
use crate::crypto::TenantCipher;

/// Most webhooks committed together.
pub const MAX_BATCH: usize = 64;

struct Job {
    cipher: TenantCipher,
    channel_id: String,
    items: Vec<InboundItem>,
    reply: oneshot::Sender<Result<InboundOutcome, StorageError>>,
}

/// Handle to the writer tasks.
#[derive(Clone)]
pub struct InboundWriter {
    tx: mpsc::Sender<Job>,
}

impl InboundWriter {
    /// Start `workers` writer tasks on `db` (one is right for SQLite, which
    /// has a single writer anyway; several let PostgreSQL commit in
    /// parallel).
    pub fn start(db: Db, workers: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>(4 * MAX_BATCH);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..workers.max(1) {
            let (db, rx) = (db.clone(), rx.clone());
            tokio::spawn(async move {
                loop {
                    let mut batch = Vec::with_capacity(MAX_BATCH);
                    {
                        let mut rx = rx.lock().await;
                        match rx.recv().await {
                            Some(job) => batch.push(job),
                            None => return,
                        }
                        while batch.len() < MAX_BATCH {
                            match rx.try_recv() {
                                Ok(job) => batch.push(job),
                                Err(_) => break,
                            }
                        }
                    }
                    write_batch(&db, batch).await;
                }
            });
        }
        InboundWriter { tx }
    }

    /// Store one webhook's items for the cipher's tenant, sealed under its
    /// key; resolves after its transaction committed.
    pub async fn store(
        &self,
        cipher: &TenantCipher,
        channel_id: &str,
        items: Vec<InboundItem>,
    ) -> Result<InboundOutcome, StorageError> {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            cipher: cipher.clone(),
            channel_id: channel_id.to_string(),
            items,
            reply,
        };
        if self.tx.send(job).await.is_err() {
            return Err(StorageError::Internal(anyhow::anyhow!(
                "inbound writer stopped"
            )));
        }
        rx.await.unwrap_or_else(|_| {
            Err(StorageError::Internal(anyhow::anyhow!(
                "inbound writer dropped a job"
            )))
        })
    }
}

async fn write_batch(db: &Db, batch: Vec<Job>) {
    if batch.len() > 1 {
        let refs: Vec<(&TenantCipher, &str, &[InboundItem])> = batch
            .iter()
            .map(|j| (&j.cipher, j.channel_id.as_str(), j.items.as_slice()))
            .collect();
        match db.store_inbound_batch(&refs).await {
            Ok(outcomes) => {
                for (job, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, size = batch.len(), "group commit failed; retrying webhooks one by one")
            }
        }
    }
    for job in batch {
        let result = db
            .store_inbound(&job.cipher, &job.channel_id, &job.items)
            .await;
        let _ = job.reply.send(result);
    }
}
