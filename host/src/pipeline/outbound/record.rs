//! Recording what the delivery stage decided about a part.

use std::time::Duration;

use super::super::Pipeline;
use super::super::delivery::{Accepted, Sender};
use super::super::jobs::JobOutcome;
use crate::crypto::TenantCipher;
use crate::domain::{AttemptOutcome, MessageStatus};
use crate::storage::{Attempt, DeliveryTarget, Job, SentWrite, StorageError};

/// Record a part the provider accepted; `Ok(true)` when the record also
/// completed `complete` (the job, with its last part). A failing record is
/// tried again a few times, then kept by the [`Sender`] for the job's
/// retry: whatever happens to the record, this part is not sent again.
pub(super) async fn accepted(
    p: &Pipeline,
    sender: &Sender,
    cipher: &TenantCipher,
    target: &DeliveryTarget,
    accepted: Accepted,
    complete: Option<&Job>,
) -> Result<bool, StorageError> {
    let attempt = Attempt {
        outcome: AttemptOutcome::Sent,
        http_status: accepted.http_status,
        error_code: None,
        error: None,
    };
    let mut pause = Duration::from_millis(50);
    let mut tries = 0;
    let error = loop {
        let write = SentWrite {
            cipher: cipher.clone(),
            target: target.clone(),
            external_id: accepted.external_id.clone(),
            status: accepted.status,
            attempt: attempt.clone(),
            complete: complete.cloned(),
        };
        match p.outbound_writer.record_sent(write).await {
            Ok(completed) => return Ok(completed),
            Err(e) if tries < 3 => {
                tracing::warn!(message = %target.id, error = %e, "recording an accepted send failed; trying again");
                tries += 1;
                tokio::time::sleep(pause).await;
                pause *= 4;
            }
            Err(e) => break e,
        }
    };
    tracing::error!(message = %target.id, error = %error, "recording an accepted send failed; the job's retry records it without sending again");
    sender.keep_unrecorded(&target.id, accepted);
    Err(error)
}

/// A part that will never be sent: it ends in `status` (`refused` or
/// `failed`), with `attempt`'s code and `message`.
pub(super) async fn ended(
    p: &Pipeline,
    cipher: &TenantCipher,
    target: &DeliveryTarget,
    status: MessageStatus,
    attempt: &Attempt,
    message: &str,
    consent_revoked: bool,
) -> Result<(), StorageError> {
    let code = attempt.error_code.as_deref().unwrap_or("failed");
    let error = serde_json::json!({ "code": code, "message": message });
    p.db.record_failed_attempt(
        cipher,
        target,
        attempt,
        Some((status, &error)),
        consent_revoked,
    )
    .await?;
    if status == MessageStatus::Failed {
        tracing::warn!(message = %target.id, code, "delivery failed permanently");
    }
    Ok(())
}

/// Mark every still-queued part of `ids` failed and dead-letter the job.
pub(super) async fn fail_all(
    p: &Pipeline,
    job: &Job,
    ids: &[String],
    code: &str,
    message: &str,
) -> JobOutcome {
    let dead = JobOutcome::Dead {
        error: format!("{code}: {message}"),
    };
    let Ok(cipher) = p.secrets.cipher(&job.tenant_id).await else {
        // A deleted tenant: its messages cannot be opened, nor sent.
        return dead;
    };
    let attempt = Attempt {
        outcome: AttemptOutcome::Failed,
        http_status: None,
        error_code: Some(code.to_string()),
        error: Some(message.to_string()),
    };
    for id in ids {
        if let Ok(target) = p.db.delivery_target(&cipher, id).await
            && target.status == MessageStatus::Queued
        {
            // The attempt itself was already counted; this records the end.
            let _ = ended(
                p,
                &cipher,
                &target,
                MessageStatus::Failed,
                &attempt,
                message,
                false,
            )
            .await;
        }
    }
    dead
}
