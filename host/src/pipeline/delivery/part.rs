//! One attempt at one part: consent, render, the outbound check, the
//! provider call, and what its answer means.

use std::time::Duration;

use super::super::plugins::Plugins;
use super::super::tenancy::{Binding, Transport};
use super::sender::send;
use super::{Accepted, PartOutcome, Sender};
use crate::domain::{
    AttemptOutcome, DeliveryStatus, GuestError, MessageKind, MessageStatus, OutboundMessage,
};
use crate::runtime::PluginError;
use crate::storage::{Attempt, DeliveryTarget};

/// Attempt `target` (a part of a job of `binding`'s channel); `hosts` are
/// the hosts its adapter declared.
pub async fn attempt(
    plugins: &Plugins<'_>,
    sender: &Sender,
    binding: &Binding,
    hosts: &[String],
    target: &DeliveryTarget,
) -> PartOutcome {
    if target.status != MessageStatus::Queued {
        // Sent by an earlier attempt (or final): never send twice.
        return PartOutcome::Final;
    }
    // Accepted by the provider on an earlier attempt whose record failed:
    // record it now; the provider already has it.
    if let Some(accepted) = sender.take_unrecorded(&target.id) {
        return PartOutcome::Accepted(accepted);
    }
    // Consent is read now, not when the reply was written: a STOP that
    // arrived in between wins. The opt-out confirmation is the exception.
    if target.opted_out && target.kind != MessageKind::OptOutConfirmation {
        tracing::info!(message = %target.id, "send refused: contact opted out");
        return PartOutcome::Ended {
            status: MessageStatus::Refused,
            attempt: Attempt {
                outcome: AttemptOutcome::Refused,
                http_status: None,
                error_code: Some("contact_opted_out".into()),
                error: None,
            },
            message: "the contact opted out of messages on this channel".into(),
            consent_revoked: false,
        };
    }
    if binding.transport == Transport::Visitor {
        // The host is the provider: recorded as sent, the message is in
        // the visitor's conversation, and their socket shows it (and
        // reports it delivered). Nothing to render, no call to make.
        count(binding, "sent");
        return PartOutcome::Accepted(Accepted {
            external_id: Some(target.id.clone()),
            status: DeliveryStatus::Sent,
            http_status: None,
        });
    }

    let rendered = if target.kind == MessageKind::Template {
        match template_of(target) {
            Some(t) => plugins.render_template(binding, t).await,
            None => {
                return failed(
                    None,
                    "render_failed",
                    "stored template is unreadable",
                    false,
                );
            }
        }
    } else {
        let outbound = OutboundMessage {
            message_id: target.id.clone(),
            to: target.address.clone(),
            text: target.text.clone(),
            attachments: target.attachments.clone(),
            // Replies are not sent as quotes: the inbound `external_id` is
            // the adapter's deduplication key, which is not always a
            // quotable message id (Telegram's is the update id).
            reply_to: None,
        };
        plugins.render(binding, outbound).await
    };
    let request = match rendered {
        Ok(r) => r,
        // The tenant's plugins are busy: nothing was sent, try again.
        Err(PluginError::Busy { retry_after_secs }) => {
            return PartOutcome::Retry {
                attempt: None,
                error: "render: the tenant's plugins are busy".into(),
                retry_after: Some(Duration::from_secs(retry_after_secs)),
            };
        }
        Err(e) => return failed(None, "render_failed", &e.to_string(), false),
    };
    if let Err(refused) = sender
        .policy
        .check_before_send(&request.url, Some(hosts))
        .await
    {
        return failed(None, "outbound_refused", &refused.to_string(), false);
    }

    let response = match send(&sender.client, &request).await {
        Ok(r) => r,
        Err(e) => {
            count(binding, "network_error");
            return PartOutcome::Retry {
                attempt: Some(Attempt {
                    outcome: AttemptOutcome::Retry,
                    http_status: None,
                    error_code: Some("network".into()),
                    error: Some(e.clone()),
                }),
                error: e,
                retry_after: None,
            };
        }
    };
    let status = response.status;
    let parsed = plugins.parse_send_response(binding, response).await;
    count(
        binding,
        match &parsed {
            Ok(_) => "sent",
            Err(PluginError::Guest(GuestError::Provider(pe))) if pe.retryable => "retryable_error",
            Err(_) => "failed",
        },
    );
    match parsed {
        Ok(receipt) => PartOutcome::Accepted(Accepted {
            external_id: receipt.external_id,
            status: match receipt.status {
                // A receipt can't take a message backwards or make it fail.
                DeliveryStatus::Queued | DeliveryStatus::Failed => DeliveryStatus::Sent,
                s => s,
            },
            http_status: Some(status),
        }),
        Err(PluginError::Guest(GuestError::Provider(pe))) if pe.retryable => PartOutcome::Retry {
            error: format!(
                "provider {}: {}",
                pe.code.as_deref().unwrap_or("-"),
                pe.message
            ),
            retry_after: pe
                .retry_after_secs
                .map(|s| Duration::from_secs(u64::from(s))),
            attempt: Some(Attempt {
                outcome: AttemptOutcome::Retry,
                http_status: Some(status),
                error_code: pe.code,
                error: Some(pe.message),
            }),
        },
        Err(PluginError::Guest(GuestError::Provider(pe))) => failed(
            Some(status),
            pe.code.as_deref().unwrap_or("provider_error"),
            &pe.message,
            pe.consent_revoked,
        ),
        Err(e) => failed(Some(status), "response_unreadable", &e.to_string(), false),
    }
}

/// A terminal failure: the part becomes `failed` with `code`.
fn failed(
    http_status: Option<u16>,
    code: &str,
    message: &str,
    consent_revoked: bool,
) -> PartOutcome {
    PartOutcome::Ended {
        status: MessageStatus::Failed,
        attempt: Attempt {
            outcome: AttemptOutcome::Failed,
            http_status,
            error_code: Some(code.to_string()),
            error: Some(message.to_string()),
        },
        message: message.to_string(),
        consent_revoked,
    }
}

fn count(binding: &Binding, outcome: &'static str) {
    crate::metrics::metrics().delivery(&binding.channel.adapter, outcome);
}

/// A template message's template, from its stored payload.
fn template_of(target: &DeliveryTarget) -> Option<crate::domain::TemplateMessage> {
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
