//! When a part cannot be delivered: a final failure, a retry, or the job
//! given up with every remaining part failed.

use std::time::Duration;

use super::super::Pipeline;
use super::{JobOutcome, PartResult, Sender, backoff};
use crate::crypto::TenantCipher;
use crate::domain::{AttemptOutcome, MessageStatus};
use crate::storage::{Attempt, DeliveryTarget, Job};

/// A terminal failure of one part: `failed` with the provider's code.
pub(super) async fn permanent(
    p: &Pipeline,
    tenant: &TenantCipher,
    target: &DeliveryTarget,
    http_status: Option<u16>,
    code: &str,
    message: &str,
    consent_revoked: bool,
) -> Result<PartResult, crate::storage::StorageError> {
    let attempt = Attempt {
        outcome: AttemptOutcome::Failed,
        http_status,
        error_code: Some(code.to_string()),
        error: Some(message.to_string()),
    };
    let error = serde_json::json!({ "code": code, "message": message });
    p.db.record_failed_attempt(
        tenant,
        target,
        &attempt,
        Some((MessageStatus::Failed, &error)),
        consent_revoked,
    )
    .await?;
    tracing::warn!(message = %target.id, code, "delivery failed permanently");
    Ok(PartResult::Next)
}

/// Retry later, or give up after the last attempt: the part (and the
/// parts after it) become `failed` and the job a dead letter.
pub(super) async fn retry_or_dead(
    p: &Pipeline,
    sender: &Sender,
    job: &Job,
    ids: &[String],
    failed_id: &str,
    error: String,
    retry_after: Option<Duration>,
) -> JobOutcome {
    if job.attempts < sender.config.max_attempts {
        let delay = backoff(&sender.config, job.attempts)
            .max(retry_after.unwrap_or_default().min(sender.config.max_delay));
        return JobOutcome::Retry { delay, error };
    }
    let ids: Vec<String> = ids
        .iter()
        .skip_while(|id| *id != failed_id)
        .cloned()
        .collect();
    fail_all(
        p,
        job,
        &ids,
        "dead_letter",
        &format!("gave up after {} attempts: {error}", job.attempts),
    )
    .await
}

/// Mark every still-queued part failed and dead-letter the job.
pub(super) async fn fail_all(
    p: &Pipeline,
    job: &Job,
    ids: &[String],
    code: &str,
    message: &str,
) -> JobOutcome {
    let error = serde_json::json!({ "code": code, "message": message });
    let Ok(cipher) = p.secrets.cipher(&job.tenant_id).await else {
        // A deleted tenant: its messages cannot be opened, nor sent.
        return JobOutcome::Dead {
            error: format!("{code}: {message}"),
        };
    };
    for id in ids {
        if let Ok(target) = p.db.delivery_target(&cipher, id).await
            && target.status == MessageStatus::Queued
        {
            let attempt = Attempt {
                outcome: AttemptOutcome::Failed,
                http_status: None,
                error_code: Some(code.to_string()),
                error: Some(message.to_string()),
            };
            // The attempt itself was already counted; this records the end.
            let _ =
                p.db.record_failed_attempt(
                    &cipher,
                    &target,
                    &attempt,
                    Some((MessageStatus::Failed, &error)),
                    false,
                )
                .await;
        }
    }
    JobOutcome::Dead {
        error: format!("{code}: {message}"),
    }
}
