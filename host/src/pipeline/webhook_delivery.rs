//! Event webhooks, the worker's half: one `Task::WebhookDelivery` job
//! POSTs one event to one endpoint, signed the Standard Webhooks way
//! (`crate::crypto::WebhookSecret`), through the vetted HTTP client, and
//! records the attempt. Delivery is at least once: a receiver dedupes by
//! `webhook-id` (a success whose record failed is sent again).
//!
//! Retries: a non-2xx answer, a timeout or a refused connection is retried
//! through the outbox with the usual backoff until `webhook_retry_window`
//! (24 h) after the event. An endpoint that failed every attempt for the
//! window — its failing run is that old, or it never succeeded with an event
//! from that event's first attempt until the event was given up — is
//! disabled, audited, and no longer dispatched to.
//!
//! Order per endpoint is best effort: jobs are enqueued in event order and
//! claimed oldest first, but several workers run them at once and a retried
//! event falls behind later ones. Receivers order by the event `id`.

use std::time::Duration;

use super::delivery::Sender;
use super::delivery::sender::without_url;
use super::jobs::JobOutcome;
use crate::crypto::signature_header;
use crate::secrets::{Keyring, SecretError};
use crate::storage::{
    AttemptResult, Db, EventRecord, Job, SigningEndpoint, WebhookEndpointStatus, cursor, now_ms,
};

/// Most of a receiver's answer read (and then dropped): the status is what
/// counts, and a receiver does not get to make us hold more.
const MAX_ANSWER_BYTES: usize = 4 * 1024;

/// Run one delivery job: event `event_seq` of the job's tenant to endpoint
/// `endpoint_id`. Completes the job itself on success, or when there is
/// nothing left to send (endpoint deleted or disabled, tenant deleted).
pub async fn deliver(
    db: &Db,
    secrets: &Keyring,
    sender: &Sender,
    job: &Job,
    endpoint_id: &str,
    event_seq: i64,
) -> JobOutcome {
    let retry_later = |error: String| JobOutcome::Retry {
        delay: sender.config.backoff(job.attempts),
        error,
    };
    // A deleted tenant's key is gone: nothing of it is sent (or opened).
    let cipher = match secrets.cipher(&job.tenant_id).await {
        Ok(c) => c,
        Err(SecretError::Destroyed) => return nothing_to_send(db, job).await,
        Err(e) => return retry_later(format!("tenant key: {e}")),
    };
    let endpoint = match db
        .signing_endpoint(&job.tenant_id, endpoint_id, secrets)
        .await
    {
        Ok(Some(e)) if e.status == WebhookEndpointStatus::Active => e,
        Ok(_) => return nothing_to_send(db, job).await,
        Err(e) => return retry_later(format!("storage: {e}")),
    };
    let event = match db.events_after(&cipher, event_seq - 1, 1, &[]).await {
        Ok(events) => events.into_iter().find(|e| e.id == cursor(event_seq)),
        Err(e) => return retry_later(format!("storage: {e}")),
    };
    let Some(event) = event else {
        return JobOutcome::Dead {
            error: format!("event {} is no longer kept", cursor(event_seq)),
        };
    };
    let result = post(sender, &endpoint, &event).await;
    let failing_since = match db
        .record_webhook_attempt(job, endpoint_id, event_seq, &result)
        .await
    {
        Ok(f) => f,
        Err(e) => return retry_later(format!("recording the attempt: {e}")),
    };
    if result.succeeded() {
        return JobOutcome::Done;
    }
    let error = result.error.unwrap_or_default();
    after_failure(
        db,
        sender,
        job,
        (endpoint_id, event_seq),
        &event,
        failing_since,
        error,
    )
    .await
}

/// What follows a failed attempt: another one later, or giving up on the
/// event (and on the endpoint, when it has failed for the whole window).
async fn after_failure(
    db: &Db,
    sender: &Sender,
    job: &Job,
    (endpoint_id, event_seq): (&str, i64),
    event: &EventRecord,
    failing_since: Option<i64>,
    error: String,
) -> JobOutcome {
    let window = sender.config.webhook_retry_window.as_millis() as i64;
    let now = now_ms();
    let deadline = event.created_at + window;
    let mut failing_for_window = failing_since.is_some_and(|f| now - f >= window);
    if !failing_for_window && now >= deadline {
        // Giving up on the event: if the endpoint has not succeeded with
        // anything since this event's first attempt, it failed all along.
        let first = db
            .first_webhook_attempt(&job.tenant_id, endpoint_id, event_seq)
            .await;
        failing_for_window =
            matches!((failing_since, first), (Some(f), Ok(Some(first))) if f <= first);
    }
    if failing_for_window {
        let reason = format!(
            "every delivery failed for {} h (last: {error})",
            window / 3_600_000
        );
        if let Err(e) = db
            .disable_webhook_endpoint(&job.tenant_id, endpoint_id, &reason)
            .await
        {
            tracing::warn!(endpoint = endpoint_id, error = %e, "disabling a failing webhook endpoint failed");
        }
        return JobOutcome::Dead {
            error: format!("endpoint disabled: {reason}"),
        };
    }
    if now >= deadline {
        return JobOutcome::Dead {
            error: format!("given up {} h after the event: {error}", window / 3_600_000),
        };
    }
    // The last attempt falls on the deadline, not a backoff past it.
    let delay = sender
        .config
        .backoff(job.attempts)
        .min(Duration::from_millis((deadline - now).max(0) as u64));
    JobOutcome::Retry { delay, error }
}

/// The POST itself; never an error, always an attempt to record. Errors
/// name what happened, never the URL (it may carry a token of the
/// receiver's).
async fn post(sender: &Sender, endpoint: &SigningEndpoint, event: &EventRecord) -> AttemptResult {
    let started_at = now_ms();
    let failed = |error: String| AttemptResult {
        status_code: None,
        error: Some(error),
        started_at,
    };
    // Checked again at each attempt: a name may resolve elsewhere now.
    if let Err(e) = sender.policy.check_before_send(&endpoint.url, None).await {
        return failed(format!("refused by the outbound policy: {e}"));
    }
    let body = match serde_json::to_vec(event) {
        Ok(b) => b,
        Err(e) => return failed(format!("encoding the event: {e}")),
    };
    let timestamp = started_at / 1000;
    let signature = signature_header(&endpoint.secrets, &event.id, timestamp, &body);
    let sent = sender
        .client
        .post(&endpoint.url)
        .header("content-type", "application/json")
        .header("webhook-id", &event.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    let mut response = match sent {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return failed("the endpoint timed out".into()),
        Err(e) => return failed(format!("the endpoint is unreachable: {}", without_url(e))),
    };
    let status = response.status().as_u16();
    // Read (a little of) the answer so the connection can be reused.
    let _ = crate::outbound::read_capped(&mut response, MAX_ANSWER_BYTES).await;
    AttemptResult {
        status_code: Some(status),
        error: (!(200..300).contains(&status)).then(|| format!("the endpoint answered {status}")),
        started_at,
    }
}

/// The endpoint (or its tenant) is gone or disabled: complete the job
/// without sending.
async fn nothing_to_send(db: &Db, job: &Job) -> JobOutcome {
    match db.complete_job(job).await {
        Ok(true) => JobOutcome::Done,
        Ok(false) => JobOutcome::LeaseLost,
        Err(e) => JobOutcome::Retry {
            delay: Duration::from_secs(1),
            error: format!("storage: {e}"),
        },
    }
}
