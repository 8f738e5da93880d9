//! Event webhooks, the fan-out: one task per process reads each tenant's
//! durable event stream after every active endpoint's cursor and enqueues
//! one outbox job per (endpoint, event of a subscribed type), moving the
//! cursor in the same transaction ([`crate::storage::Db::dispatch_webhook_events`]).
//! Every replica may run it: the cursor only moves from the value a
//! replica read, so an event is enqueued once per endpoint. It reads the
//! table rather than hooking the write paths, so a change committed by any
//! replica, or before a crash, is dispatched all the same.

use std::time::Duration;

use tokio::sync::watch;

use super::Pipeline;

/// Events fanned out per endpoint per pass.
const BATCH: u32 = 500;

/// Fan out every `every` until `stop` turns true.
pub async fn run(p: Pipeline, every: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        match pass(&p).await {
            // More may be waiting: go again at once.
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "dispatching webhook events failed"),
        }
        tokio::select! {
            _ = stop.changed() => {}
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// One pass over the endpoints that are behind; true when a batch was full.
async fn pass(p: &Pipeline) -> Result<bool, crate::storage::StorageError> {
    let mut full = false;
    for target in p.db.webhook_dispatch_targets().await? {
        let (read, enqueued) = p.db.dispatch_webhook_events(&target, BATCH).await?;
        if enqueued > 0 {
            p.wake.notify_waiters();
        }
        full |= read == BATCH as usize;
    }
    Ok(full)
}
