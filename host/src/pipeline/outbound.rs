//! The outbound half's entry point: one outbox job in, its outcome out. A
//! `Task::Process` runs the reply stage (persona → responder → guardrails
//! → the reply's parts and their delivery job); a `Task::Deliver` runs the
//! delivery stage (render → provider → record); a `Task::WebhookDelivery`
//! POSTs one event to a tenant's webhook endpoint. Workers call only this;
//! the stages are called only from here (and the business-initiated send,
//! `send.rs`, which writes its parts and delivery job the same way).

use super::Pipeline;
use super::delivery::{self, DeliveryConfig, JobOutcome, Sender};
use super::{reply, webhook_delivery};
use crate::domain::Task;
use crate::orchestrator::Responder;
use crate::storage::Job;

/// Run `job`'s task. Delivery completes the job itself (with the last
/// part's record); everything else is recorded by the caller from the
/// outcome.
pub async fn run(
    p: &Pipeline,
    responder: &Responder,
    sender: &Sender,
    retry: &DeliveryConfig,
    job: &Job,
) -> JobOutcome {
    match &job.task {
        Ok(Task::Process {
            message_id,
            auto_reply,
            ..
        }) => reply::process(p, responder, retry, job, message_id, auto_reply.as_ref()).await,
        Ok(Task::Deliver {
            channel_id,
            message_ids,
        }) => delivery::deliver(p, sender, job, channel_id, message_ids).await,
        Ok(Task::WebhookDelivery {
            endpoint_id,
            event_seq,
        }) => webhook_delivery::deliver(p, sender, job, endpoint_id, *event_seq).await,
        // A row this version cannot read: kept as a dead letter.
        Err(error) => JobOutcome::Dead {
            error: error.clone(),
        },
    }
}
