//! One part of a delivery: consent, render, the outbound check, the
//! provider call, and the record of what happened.

use std::time::Duration;

use super::super::Pipeline;
use super::super::tenancy::{Binding, Transport};
use super::calls::{parse_send_response, render, render_template};
use super::failure::permanent;
use super::sender::{Accepted, MAX_UNRECORDED, send};
use super::{PartResult, Sender};
use crate::crypto::TenantCipher;
use crate::domain::{
    AttemptOutcome, DeliveryStatus, GuestError, MessageKind, MessageStatus, OutboundMessage,
};
use crate::runtime::PluginError;
use crate::storage::{Attempt, DeliveryTarget, Job, SentWrite};

/// Record a part the provider accepted. A failing record is tried again a
/// few times, then kept in memory for the job's retry: whatever happens to
/// the record, this part is not sent again.
pub(super) async fn record_accepted(
    p: &Pipeline,
    sender: &Sender,
    tenant: &TenantCipher,
    target: &DeliveryTarget,
    accepted: Accepted,
    complete: Option<&Job>,
) -> Result<PartResult, crate::storage::StorageError> {
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
            cipher: tenant.clone(),
            target: target.clone(),
            external_id: accepted.external_id.clone(),
            status: accepted.status,
            attempt: attempt.clone(),
            complete: complete.cloned(),
        };
        match p.outbound_writer.record_sent(write).await {
            Ok(true) => return Ok(PartResult::Completed),
            Ok(false) => return Ok(PartResult::Next),
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
    let mut unrecorded = sender.unrecorded.lock();
    if unrecorded.len() < MAX_UNRECORDED {
        unrecorded.insert(target.id.clone(), accepted);
    }
    Err(error)
}

pub(super) async fn deliver_part(
    p: &Pipeline,
    sender: &Sender,
    binding: &Binding,
    hosts: &[String],
    job: &Job,
    id: &str,
    complete: Option<&Job>,
) -> Result<PartResult, crate::storage::StorageError> {
    // Content is sealed under the tenant's key: everything below reads
    // and records through its cipher.
    let tenant = &p.secrets.cipher(&job.tenant_id).await?;
    let target = p.db.delivery_target(tenant, id).await?;
    if target.status != MessageStatus::Queued {
        // Sent by an earlier attempt (or final): never send twice.
        return Ok(PartResult::Next);
    }
    // Accepted by the provider on an earlier attempt whose record failed:
    // record it now; the provider already has it.
    let earlier = sender.unrecorded.lock().remove(&target.id);
    if let Some(accepted) = earlier {
        return record_accepted(p, sender, tenant, &target, accepted, complete).await;
    }
    // Consent is read now, not when the reply was written: a STOP that
    // arrived in between wins. The opt-out confirmation is the exception.
    if target.opted_out && target.kind != MessageKind::OptOutConfirmation {
        let attempt = Attempt {
            outcome: AttemptOutcome::Refused,
            http_status: None,
            error_code: Some("contact_opted_out".into()),
            error: None,
        };
        let error = serde_json::json!({ "code": "contact_opted_out", "message": "the contact opted out of messages on this channel" });
        p.db.record_failed_attempt(
            tenant,
            &target,
            &attempt,
            Some((MessageStatus::Refused, &error)),
            false,
        )
        .await?;
        tracing::info!(message = %target.id, "send refused: contact opted out");
        return Ok(PartResult::Next);
    }
    if binding.transport == Transport::Visitor {
        // The host is the provider: recorded as sent, the message is in
        // the visitor's conversation, and their socket shows it (and
        // reports it delivered). Nothing to render, no call to make.
        count(binding, "sent");
        let accepted = Accepted {
            external_id: Some(target.id.clone()),
            status: DeliveryStatus::Sent,
            http_status: None,
        };
        return record_accepted(p, sender, tenant, &target, accepted, complete).await;
    }

    let outbound = OutboundMessage {
        message_id: target.id.clone(),
        to: target.address.clone(),
        text: target.text.clone(),
        attachments: target.attachments.clone(),
        // Replies are not sent as quotes: the inbound `external_id` is the
        // adapter's deduplication key, which is not always a quotable
        // message id (Telegram's is the update id).
        reply_to: None,
    };
    let rendered = if target.kind == MessageKind::Template {
        match template_of(&target) {
            Some(t) => render_template(p, binding, t).await,
            None => {
                return permanent(
                    p,
                    tenant,
                    &target,
                    None,
                    "render_failed",
                    "stored template is unreadable",
                    false,
                )
                .await;
            }
        }
    } else {
        render(p, binding, outbound).await
    };
    let request = match rendered {
        Ok(r) => r,
        // The tenant's plugins are busy: nothing was sent, try again.
        Err(PluginError::Busy { retry_after_secs }) => {
            return Ok(PartResult::Retry {
                error: "render: the tenant's plugins are busy".into(),
                retry_after: Some(Duration::from_secs(retry_after_secs)),
            });
        }
        Err(e) => {
            return permanent(
                p,
                tenant,
                &target,
                None,
                "render_failed",
                &e.to_string(),
                false,
            )
            .await;
        }
    };
    if let Err(refused) = sender
        .policy
        .check_before_send(&request.url, Some(hosts))
        .await
    {
        return permanent(
            p,
            tenant,
            &target,
            None,
            "outbound_refused",
            &refused.to_string(),
            false,
        )
        .await;
    }

    let response = match send(&sender.client, &request).await {
        Ok(r) => r,
        Err(e) => {
            count(binding, "network_error");
            let attempt = Attempt {
                outcome: AttemptOutcome::Retry,
                http_status: None,
                error_code: Some("network".into()),
                error: Some(e.clone()),
            };
            p.db.record_failed_attempt(tenant, &target, &attempt, None, false)
                .await?;
            return Ok(PartResult::Retry {
                error: e,
                retry_after: None,
            });
        }
    };
    let status = response.status;
    let parsed = parse_send_response(p, binding, response).await;
    count(
        binding,
        match &parsed {
            Ok(_) => "sent",
            Err(PluginError::Guest(GuestError::Provider(pe))) if pe.retryable => "retryable_error",
            Err(_) => "failed",
        },
    );
    match parsed {
        Ok(receipt) => {
            let accepted = Accepted {
                external_id: receipt.external_id,
                status: match receipt.status {
                    // A receipt can't take a message backwards or make it fail.
                    DeliveryStatus::Queued | DeliveryStatus::Failed => DeliveryStatus::Sent,
                    s => s,
                },
                http_status: Some(status),
            };
            record_accepted(p, sender, tenant, &target, accepted, complete).await
        }
        Err(PluginError::Guest(GuestError::Provider(pe))) if pe.retryable => {
            let attempt = Attempt {
                outcome: AttemptOutcome::Retry,
                http_status: Some(status),
                error_code: pe.code.clone(),
                error: Some(pe.message.clone()),
            };
            p.db.record_failed_attempt(tenant, &target, &attempt, None, false)
                .await?;
            Ok(PartResult::Retry {
                error: format!(
                    "provider {}: {}",
                    pe.code.as_deref().unwrap_or("-"),
                    pe.message
                ),
                retry_after: pe
                    .retry_after_secs
                    .map(|s| Duration::from_secs(u64::from(s))),
            })
        }
        Err(PluginError::Guest(GuestError::Provider(pe))) => {
            permanent(
                p,
                tenant,
                &target,
                Some(status),
                pe.code.as_deref().unwrap_or("provider_error"),
                &pe.message,
                pe.consent_revoked,
            )
            .await
        }
        Err(e) => {
            permanent(
                p,
                tenant,
                &target,
                Some(status),
                "response_unreadable",
                &e.to_string(),
                false,
            )
            .await
        }
    }
}

pub(super) fn count(binding: &Binding, outcome: &'static str) {
    crate::metrics::metrics().delivery(&binding.channel.adapter, outcome);
}

/// A template message's template, from its stored payload.
pub(super) fn template_of(target: &DeliveryTarget) -> Option<crate::domain::TemplateMessage> {
    let t = &target.payload["template"];
    Some(crate::domain::TemplateMessage {
        message_id: target.id.clone(),
        to: target.address.clone(),
        name: t["name"].as_str()?.to_string(),
        language: t["language"].as_str()?.to_string(),
        parameters: t["parameters"]
            .as_array()?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
    })
}
