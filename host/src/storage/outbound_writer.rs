//! Group commit for the outbound half: a reply with its job's completion
//! ([`ReplyWrite`]) and a send the provider accepted ([`SentWrite`]).
//! Workers run many jobs at once; their writes queue here and one writer
//! task stores up to [`MAX_BATCH`] of them in one transaction, so the
//! transaction's own cost (BEGIN/COMMIT, SQLite's single writer and the
//! page cache every reader drops after a commit, a PostgreSQL round trip)
//! is shared. Each write still gets its own result, after the commit that
//! holds it.
//!
//! A batch costs a fixed handful of statements whatever its size (the rows
//! travel as one JSON parameter, as the inbound writer's do: see
//! `replies::apply_replies` and `deliveries::apply_sent`), which is what
//! makes the reply drain cheap: on SQLite every statement is a hop to the
//! connection's thread and back.
//!
//! If a batch fails, its writes are retried one transaction each, so one
//! bad write cannot fail its neighbours. A write whose job's lease was lost
//! writes nothing (the jobs are completed, fenced by their leases, before
//! anything else is written), so it never fails a batch either.

use tokio::sync::{mpsc, oneshot};

use super::deliveries::apply_sent;
use super::events::Pending;
use super::outbox::Job;
use super::replies::apply_replies;
use super::{Db, ReplyWrite, SentWrite, StorageError, now_ms};

/// Most writes committed together.
pub const MAX_BATCH: usize = 64;

/// One write and where its result goes.
enum Queued {
    Reply(
        ReplyWrite,
        oneshot::Sender<Result<Option<Option<Job>>, StorageError>>,
    ),
    Sent(SentWrite, oneshot::Sender<Result<bool, StorageError>>),
}

/// A write's result, before it is handed back.
enum Done {
    Reply(Option<Option<Job>>),
    Sent(bool),
}

impl Queued {
    /// Hand `result` to the write's caller.
    fn answer(self, result: Result<Done, StorageError>) {
        let mismatch = || StorageError::Internal(anyhow::anyhow!("mismatched write result"));
        match self {
            Queued::Reply(_, to) => drop(to.send(result.and_then(|d| match d {
                Done::Reply(r) => Ok(r),
                Done::Sent(_) => Err(mismatch()),
            }))),
            Queued::Sent(_, to) => drop(to.send(result.and_then(|d| match d {
                Done::Sent(r) => Ok(r),
                Done::Reply(_) => Err(mismatch()),
            }))),
        }
    }
}

/// Handle to the outbound writer task.
#[derive(Clone)]
pub struct OutboundWriter {
    tx: mpsc::Sender<Queued>,
}

impl OutboundWriter {
    /// Start the writer task on `db`.
    pub fn start(db: Db) -> Self {
        let (tx, mut rx) = mpsc::channel::<Queued>(4 * MAX_BATCH);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                write_batch(&db, std::mem::take(&mut batch)).await;
            }
        });
        OutboundWriter { tx }
    }

    /// Store a reply and complete its job (`replies::apply_replies`); resolves
    /// after the commit that holds it.
    pub async fn store_reply(
        &self,
        write: ReplyWrite,
    ) -> Result<Option<Option<Job>>, StorageError> {
        let (to, rx) = oneshot::channel();
        self.queue(Queued::Reply(write, to)).await?;
        rx.await.unwrap_or_else(|_| Err(dropped()))
    }

    /// Record an accepted send (`deliveries::apply_sent`); resolves after the
    /// commit that holds it.
    pub async fn record_sent(&self, write: SentWrite) -> Result<bool, StorageError> {
        let (to, rx) = oneshot::channel();
        self.queue(Queued::Sent(write, to)).await?;
        rx.await.unwrap_or_else(|_| Err(dropped()))
    }

    async fn queue(&self, write: Queued) -> Result<(), StorageError> {
        self.tx
            .send(write)
            .await
            .map_err(|_| StorageError::Internal(anyhow::anyhow!("outbound writer stopped")))
    }
}

fn dropped() -> StorageError {
    StorageError::Internal(anyhow::anyhow!("outbound writer dropped a write"))
}

async fn write_batch(db: &Db, batch: Vec<Queued>) {
    if batch.len() > 1 {
        match commit(db, &batch).await {
            Ok(results) => {
                for (write, result) in batch.into_iter().zip(results) {
                    write.answer(Ok(result));
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, size = batch.len(), "outbound group commit failed; retrying writes one by one")
            }
        }
    }
    for write in batch {
        let result = commit(db, std::slice::from_ref(&write))
            .await
            .map(|mut r| r.remove(0));
        write.answer(result);
    }
}

/// Apply `writes` in one transaction, with their events, and commit; the
/// results in the order of `writes`.
async fn commit(db: &Db, writes: &[Queued]) -> Result<Vec<Done>, StorageError> {
    let now = now_ms();
    let mut tx = db.write.begin().await?;
    let mut events = Pending::default();
    let replies: Vec<&ReplyWrite> = writes
        .iter()
        .filter_map(|w| match w {
            Queued::Reply(r, _) => Some(r),
            Queued::Sent(..) => None,
        })
        .collect();
    let sends: Vec<&SentWrite> = writes
        .iter()
        .filter_map(|w| match w {
            Queued::Sent(s, _) => Some(s),
            Queued::Reply(..) => None,
        })
        .collect();
    let mut replies = apply_replies(&mut tx, &mut events, &replies, now)
        .await?
        .into_iter();
    let mut sends = apply_sent(&mut tx, &mut events, &sends, now)
        .await?
        .into_iter();
    let appended = events.append(&mut tx, now).await?;
    tx.commit().await?;
    db.published(appended);
    Ok(writes
        .iter()
        .filter_map(|w| match w {
            Queued::Reply(..) => replies.next().map(Done::Reply),
            Queued::Sent(..) => sends.next().map(Done::Sent),
        })
        .collect())
}
