//! Delivery: the parts of one outbound reply, in order, through the
//! channel's adapter: `render` → HTTP (declared hosts only) →
//! `parse-send-response` → status. Exactly one provider call per message
//! that succeeds: a part already sent is skipped on a retry, and every call
//! is preceded by a fenced lease extension so a worker that lost its job to
//! another never sends.

use std::time::Duration;

use super::Pipeline;
use super::tenancy::Binding;
use crate::domain::{
    AttemptOutcome, DeliveryStatus, GuestError, HttpRequest, HttpResponse, MessageKind,
    MessageStatus, OutboundMessage,
};
use crate::outbound::OutboundPolicy;
use crate::runtime::{CallContext, PluginError};
use crate::storage::{Attempt, DeliveryTarget, Job};

/// Delivery settings.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Attempts before a job becomes a dead letter.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with full jitter.
    pub base_delay: Duration,
    /// Longest retry delay.
    pub max_delay: Duration,
    /// Whole-request timeout of a provider call.
    pub request_timeout: Duration,
    /// How long a job stays leased without a heartbeat (see
    /// [`WorkerConfig::lease`](crate::worker::WorkerConfig::lease)); also the
    /// lease of a follow-up job handed to the same worker.
    pub lease: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            max_attempts: 8,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(600),
            request_timeout: Duration::from_secs(15),
            lease: crate::worker::DEFAULT_LEASE,
        }
    }
}

/// The HTTP client and policy deliveries share (one connection pool).
pub struct Sender {
    pub client: reqwest::Client,
    pub policy: OutboundPolicy,
    pub config: DeliveryConfig,
    /// Sends the provider accepted whose record failed (a full disk, a lost
    /// database connection), by message id: the job's retry records them
    /// instead of sending again. Held in memory, so a crash in between is
    /// within the documented limit of one repeat per job in flight.
    unrecorded: parking_lot::Mutex<std::collections::HashMap<String, Accepted>>,
}

/// A provider's acceptance of one part, not yet recorded.
#[derive(Debug, Clone)]
struct Accepted {
    external_id: Option<String>,
    status: DeliveryStatus,
    http_status: u16,
}

/// Most unrecorded acceptances kept (each is a few dozen bytes; past this
/// the database has been failing for a long time, and the oldest repeat).
const MAX_UNRECORDED: usize = 100_000;

impl Sender {
    pub fn new(policy: OutboundPolicy, config: DeliveryConfig) -> anyhow::Result<Sender> {
        let client = crate::outbound::http_client_builder(&policy)
            .timeout(config.request_timeout)
            .build()?;
        Ok(Sender {
            client,
            policy,
            config,
            unrecorded: Default::default(),
        })
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
        Err(e) => return fail_all(p, job, ids, "channel_unavailable", &e.to_string()).await,
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

/// Record a part the provider accepted. A failing record is tried again a
/// few times, then kept in memory for the job's retry: whatever happens to
/// the record, this part is not sent again.
async fn record_accepted(
    p: &Pipeline,
    sender: &Sender,
    tenant: &str,
    target: &DeliveryTarget,
    accepted: Accepted,
    complete: Option<&Job>,
) -> Result<PartResult, crate::storage::StorageError> {
    let attempt = Attempt {
        outcome: AttemptOutcome::Sent,
        http_status: Some(accepted.http_status),
        error_code: None,
        error: None,
    };
    let mut pause = Duration::from_millis(50);
    let mut tries = 0;
    let error = loop {
        match p
            .db
            .record_sent(
                tenant,
                target,
                accepted.external_id.as_deref(),
                accepted.status,
                &attempt,
                complete,
            )
            .await
        {
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

async fn deliver_part(
    p: &Pipeline,
    sender: &Sender,
    binding: &Binding,
    hosts: &[String],
    job: &Job,
    id: &str,
    complete: Option<&Job>,
) -> Result<PartResult, crate::storage::StorageError> {
    let tenant = job.tenant_id.as_str();
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

    let outbound = OutboundMessage {
        message_id: target.id.clone(),
        to: target.address.clone(),
        text: target.text.clone(),
        attachments: vec![],
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
                http_status: status,
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

fn count(binding: &Binding, outcome: &'static str) {
    crate::metrics::metrics().delivery(&binding.channel.adapter, outcome);
}

/// A terminal failure of one part: `failed` with the provider's code.
async fn permanent(
    p: &Pipeline,
    tenant: &str,
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
async fn retry_or_dead(
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
async fn fail_all(
    p: &Pipeline,
    job: &Job,
    ids: &[String],
    code: &str,
    message: &str,
) -> JobOutcome {
    let error = serde_json::json!({ "code": code, "message": message });
    for id in ids {
        if let Ok(target) = p.db.delivery_target(&job.tenant_id, id).await
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
                    &job.tenant_id,
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

/// The delay before a job's next attempt (see [`crate::outbound::backoff`]).
pub fn backoff(config: &DeliveryConfig, attempt: u32) -> Duration {
    crate::outbound::backoff(config.base_delay, config.max_delay, attempt)
}

fn call_context(p: &Pipeline, binding: &Binding) -> CallContext {
    binding.adapter_call(p.kv.clone())
}

async fn render(
    p: &Pipeline,
    binding: &Binding,
    msg: OutboundMessage,
) -> Result<HttpRequest, PluginError> {
    p.runtime
        .run(&binding.adapter, call_context(p, binding), move |inst| {
            inst.render(&msg)
        })
        .await
        .and_then(|r| r)
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

async fn render_template(
    p: &Pipeline,
    binding: &Binding,
    msg: crate::domain::TemplateMessage,
) -> Result<HttpRequest, PluginError> {
    p.runtime
        .run(&binding.adapter, call_context(p, binding), move |inst| {
            inst.render_template(&msg)
        })
        .await
        .and_then(|r| r)
}

async fn parse_send_response(
    p: &Pipeline,
    binding: &Binding,
    response: HttpResponse,
) -> Result<crate::domain::Receipt, PluginError> {
    p.runtime
        .run(&binding.adapter, call_context(p, binding), move |inst| {
            inst.parse_send_response(&response)
        })
        .await
        .and_then(|r| r)
}

/// Largest provider response body read.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// The HTTP call itself; errors are transport failures (retryable).
async fn send(client: &reqwest::Client, request: &HttpRequest) -> Result<HttpResponse, String> {
    let method = reqwest::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| format!("bad method {}", request.method))?;
    let mut builder = client.request(method, &request.url);
    for h in &request.headers {
        builder = builder.header(&h.name, &h.value);
    }
    let mut response =
        builder
            .body(request.body.clone())
            .send()
            .await
            .map_err(|e: reqwest::Error| {
                if e.is_timeout() {
                    "provider timed out".to_string()
                } else {
                    format!("provider unreachable: {}", without_url(e))
                }
            })?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| crate::domain::Header {
            name: k.as_str().to_string(),
            value: String::from_utf8_lossy(v.as_bytes()).into_owned(),
        })
        .collect();
    // A longer answer is cut: the adapter reads ids and errors from its
    // start, and a provider does not get to make us hold more.
    let body = crate::outbound::read_capped(&mut response, MAX_RESPONSE_BYTES)
        .await
        .map_err(|e| format!("reading the provider's response: {}", without_url(e)))?;
    Ok(HttpResponse {
        status,
        headers,
        body: body.bytes,
    })
}

/// reqwest errors print the URL, which can carry a bot token (Telegram's
/// `/bot<token>/`): never let it reach logs or the API.
fn without_url(e: reqwest::Error) -> String {
    e.without_url().to_string()
}
