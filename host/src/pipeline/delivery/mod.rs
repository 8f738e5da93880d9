//! Delivery: the parts of one outbound reply, in order, through the
//! channel's adapter: `render` → HTTP (declared hosts only) →
//! `parse-send-response` → status. Exactly one provider call per message
//! that succeeds: a part already sent is skipped on a retry, and every call
//! is preceded by a fenced lease extension so a worker that lost its job to
//! another never sends.

use std::time::Duration;

use super::{Pipeline, WebhookError};
use crate::storage::Job;

mod calls;
mod failure;
mod part;
pub(crate) mod sender;

use failure::{fail_all, retry_or_dead};
use part::deliver_part;
pub use sender::Sender;

/// Delivery settings.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Attempts before a job becomes a dead letter.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with jitter
    /// ([`crate::outbound::backoff`]).
    pub base_delay: Duration,
    /// Longest retry delay.
    pub max_delay: Duration,
    /// Whole-request timeout of a provider call.
    pub request_timeout: Duration,
    /// How long a job stays leased without a heartbeat (see
    /// [`WorkerConfig::lease`](crate::worker::WorkerConfig::lease)); also the
    /// lease of a follow-up job handed to the same worker.
    pub lease: Duration,
    /// How long an event webhook is retried after its event, and how long
    /// an endpoint may fail before it is disabled
    /// ([`crate::pipeline::webhook_delivery`]).
    pub webhook_retry_window: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            max_attempts: 8,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(600),
            request_timeout: Duration::from_secs(15),
            lease: crate::worker::DEFAULT_LEASE,
            webhook_retry_window: Duration::from_secs(24 * 3600),
        }
    }
}

/// What became of a job.
#[derive(Debug)]
pub enum JobOutcome {
    /// Finished (every part sent, or ended in a recorded terminal state).
    Done,
    /// Try again after the delay.
    Retry { delay: Duration, error: String },
    /// Give up: a dead letter.
    Dead { error: String },
    /// Another worker owns the job now.
    LeaseLost,
    /// Done, and this follow-up job (already leased to the same worker)
    /// runs next.
    Then(Job),
}

/// One part's result.
enum PartResult {
    /// Sent, or already final: go on with the next part.
    Next,
    /// The last part was sent and the job completed with its record.
    Completed,
    /// Retryable failure: stop here, retry the job later.
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
}

/// Deliver the parts of a [`Task::Deliver`](crate::domain::Task::Deliver)
/// job: messages `ids` of `channel_id`, in order.
pub async fn deliver(
    p: &Pipeline,
    sender: &Sender,
    job: &Job,
    channel_id: &str,
    ids: &[String],
) -> JobOutcome {
    let binding = match p.tenant_channel(&job.tenant_id, channel_id).await {
        Ok(b) => b,
        Err(e) => {
            // Sends of a deleted or disabled channel fail for good, named
            // so; anything else about the channel is `channel_unavailable`.
            let code = match e {
                WebhookError::ChannelDeleted | WebhookError::ChannelDisabled => e.code(),
                _ => "channel_unavailable",
            };
            return fail_all(p, job, ids, code, &e.to_string()).await;
        }
    };
    let hosts = p
        .adapter_info(&binding)
        .await
        .map(|i| i.outbound_hosts)
        .unwrap_or_default();
    for (i, id) in ids.iter().enumerate() {
        // A lease this worker got moments ago cannot have been taken over;
        // past half a delivery lease, extend it (fenced) before each call.
        if job.claimed_at.elapsed() > sender.config.lease / 2 {
            match p
                .db
                .extend_lease(job, sender.config.lease.as_millis() as i64)
                .await
            {
                Ok(true) => {}
                Ok(false) => return JobOutcome::LeaseLost,
                Err(e) => {
                    return JobOutcome::Retry {
                        delay: sender.config.base_delay,
                        error: e.to_string(),
                    };
                }
            }
        }
        // The last part's record also completes the job (one commit).
        let last = (i + 1 == ids.len()).then_some(job);
        match deliver_part(p, sender, &binding, &hosts, job, id, last).await {
            Ok(PartResult::Next) => {}
            Ok(PartResult::Completed) => return JobOutcome::Done,
            Ok(PartResult::Retry { error, retry_after }) => {
                return retry_or_dead(p, sender, job, ids, id, error, retry_after).await;
            }
            Err(e) => {
                return JobOutcome::Retry {
                    delay: backoff(&sender.config, job.attempts),
                    error: format!("storage: {e}"),
                };
            }
        }
    }
    // The last part was already final (or failed): complete it here.
    match p.db.complete_job(job).await {
        Ok(true) => JobOutcome::Done,
        Ok(false) => JobOutcome::LeaseLost,
        Err(e) => {
            tracing::warn!(job = %job.id, error = %e, "completing a delivered job failed; it will be retried and skip the sent parts");
            JobOutcome::Retry {
                delay: backoff(&sender.config, job.attempts),
                error: format!("storage: {e}"),
            }
        }
    }
}

/// The delay before a job's next attempt (see [`crate::outbound::backoff`]).
pub fn backoff(config: &DeliveryConfig, attempt: u32) -> Duration {
    crate::outbound::backoff(config.base_delay, config.max_delay, attempt)
}
