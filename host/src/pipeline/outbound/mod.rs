//! The outbound half: one outbox job in, its outcome out. This module is
//! the only caller of the reply, outbound-guardrail and delivery stages,
//! and the only writer of what they decide; a stage is handed what it
//! needs ([`Plugins`], the [`Responder`], the [`Sender`]) and returns a
//! decision, never a database handle or the [`Pipeline`]:
//!
//! - `Task::Process`: read the message's context → `reply::before_persona`
//!   → the monthly limit → `reply::respond` → `guardrails::check_outbound`
//!   → `reply::plan` → one write (`OutboundWriter::store_reply`: the
//!   reply's parts, their delivery job, this job's completion).
//! - `Task::Deliver`: per part, in order: read it → `delivery::attempt` →
//!   record the [`PartOutcome`] ([`record`]); the last part's record also
//!   completes the job.
//! - `Task::WebhookDelivery`: `webhook_delivery::deliver`, one event to one
//!   endpoint.
//!
//! Workers call only [`run`]. The business-initiated send (`send.rs`) is
//! its own entry: it checks and writes its parts and delivery job, which
//! then come through here like a reply's.

mod record;

use super::Pipeline;
use super::delivery::{self, PartOutcome, Sender};
use super::guardrails;
use super::jobs::{DeliveryConfig, JobOutcome};
use super::plugins::Plugins;
use super::reply::{self, Failure, Next, Response};
use super::tenancy::Binding;
use super::{WebhookError, webhook_delivery};
use crate::crypto::TenantCipher;
use crate::domain::{AutoReply, Handler, ReplyPlan, Task, TokenUsage};
use crate::orchestrator::{Responder, ResponderConfig};
use crate::storage::{
    ConversationChange, Job, PersonaRecord, ReplyContext, ReplyWrite, StorageError,
};

/// Run `job`'s task. Every outcome but `Retry`/`Dead` of a reply is
/// already recorded when this returns; the caller records those.
pub async fn run(
    p: &Pipeline,
    responder: &Responder,
    sender: &Sender,
    config: &DeliveryConfig,
    job: &Job,
) -> JobOutcome {
    match &job.task {
        Ok(Task::Process {
            message_id,
            auto_reply,
            ..
        }) => reply(p, responder, config, job, message_id, auto_reply.as_ref()).await,
        Ok(Task::Deliver {
            channel_id,
            message_ids,
        }) => deliver(p, sender, job, channel_id, message_ids).await,
        Ok(Task::WebhookDelivery {
            endpoint_id,
            event_seq,
        }) => {
            webhook_delivery::deliver(&p.db, &p.secrets, sender, job, endpoint_id, *event_seq).await
        }
        // A row this version cannot read: kept as a dead letter.
        Err(error) => JobOutcome::Dead {
            error: error.clone(),
        },
    }
}

/// A reply's plan with what storing it needs.
struct Planned {
    cipher: TenantCipher,
    ctx: ReplyContext,
    plan: ReplyPlan,
    tokens: TokenUsage,
}

/// Answer inbound message `message_id` (with `auto_reply` when a guardrail
/// fixed the answer) and store the answer with its delivery job, which
/// this worker runs next.
async fn reply(
    p: &Pipeline,
    responder: &Responder,
    config: &DeliveryConfig,
    job: &Job,
    message_id: &str,
    auto_reply: Option<&AutoReply>,
) -> JobOutcome {
    let Planned {
        cipher,
        ctx,
        plan,
        tokens,
    } = match plan_reply(p, responder, job, message_id, auto_reply).await {
        Ok(planned) => planned,
        Err(Failure::Retry(error)) => return config.retry_or_dead(job, error),
        Err(Failure::Permanent(error)) => return JobOutcome::Dead { error },
    };
    let write = ReplyWrite {
        cipher,
        job: job.clone(),
        ctx,
        plan,
        tokens,
        lease_ms: config.lease_ms(),
    };
    match p.outbound_writer.store_reply(write).await {
        Ok(Some(Some(delivery))) => JobOutcome::Then(delivery),
        Ok(Some(None)) => JobOutcome::Done,
        Ok(None) => JobOutcome::LeaseLost,
        Err(e) => JobOutcome::Retry {
            delay: config.backoff(job.attempts),
            error: format!("storage: {e}"),
        },
    }
}

async fn plan_reply(
    p: &Pipeline,
    responder: &Responder,
    job: &Job,
    message_id: &str,
    auto_reply: Option<&AutoReply>,
) -> Result<Planned, Failure> {
    let plugins = p.plugins();
    let tenant = job.tenant_id.as_str();
    let cipher = p.secrets.cipher(tenant).await.map_err(StorageError::from)?;
    let mut ctx = p.db.reply_context(&cipher, message_id).await?;
    let binding = p
        .tenant_channel(tenant, &ctx.channel_id)
        .await
        .map_err(|e| Failure::Permanent(format!("channel: {e}")))?;
    let (plan, tokens) = match reply::before_persona(&plugins, &binding, &ctx, auto_reply).await {
        Next::Plan(plan) => (plan, TokenUsage::default()),
        Next::Ask { persona_id } => {
            if replies_paused(p, tenant).await? {
                (ReplyPlan::Nothing, TokenUsage::default())
            } else {
                let persona = p
                    .channels
                    .persona(&p.db, &p.secrets, tenant, &persona_id)
                    .await?;
                let config = reply::responder_config(&persona)?;
                if reply::reads_history(&persona, &config) {
                    ctx.history = p.db.reply_history(&cipher, &ctx).await?;
                }
                ask_persona(p, responder, &binding, &persona, config, &cipher, &ctx).await?
            }
        }
    };
    Ok(Planned {
        cipher,
        ctx,
        plan,
        tokens,
    })
}

/// The persona's checked answer as a plan. A hand-over is recorded here:
/// the conversation waits for a person from now on, and what the persona
/// says besides the signal still goes out.
async fn ask_persona(
    p: &Pipeline,
    responder: &Responder,
    binding: &Binding,
    persona: &PersonaRecord,
    config: ResponderConfig,
    cipher: &TenantCipher,
    ctx: &ReplyContext,
) -> Result<(ReplyPlan, TokenUsage), Failure> {
    let plugins = p.plugins();
    let Answer { response, checked } =
        answer(&plugins, responder, binding, persona, config, ctx).await?;
    if response.hand_over {
        let change = ConversationChange {
            handler: Some(Handler::Human),
            ..Default::default()
        };
        p.db.change_conversation(cipher, "persona", &ctx.conversation_id, &change)
            .await?;
    }
    let plan = reply::plan(&plugins, binding, &response.config, checked).await;
    Ok((plan, response.tokens))
}

/// Over the plan's monthly limit, automated replies pause (inbound is
/// still stored; the pause is recorded once a month).
async fn replies_paused(p: &Pipeline, tenant: &str) -> Result<bool, StorageError> {
    let Some(limit) = p
        .channels
        .tenant_limits(&p.db, tenant)
        .await?
        .monthly_message_limit
    else {
        return Ok(false);
    };
    let used = p.db.messages_this_month(tenant).await?;
    if used < limit {
        return Ok(false);
    }
    p.db.pause_replies_for_month(tenant, used, limit).await?;
    Ok(true)
}

/// What a persona says to a message, checked: the reply stage's response,
/// then the channel's outbound guardrails. Shared with the persona's
/// try-it sandbox, which stores nothing.
pub(crate) struct Answer {
    pub response: Response,
    /// The text after the guardrails: `Ok(text)`, or `Err((text, reason))`
    /// when a guardrail blocked it; `None` when the persona only handed
    /// over.
    pub checked: Option<Result<String, (String, String)>>,
}

pub(crate) async fn answer(
    plugins: &Plugins<'_>,
    responder: &Responder,
    binding: &Binding,
    persona: &PersonaRecord,
    config: ResponderConfig,
    ctx: &ReplyContext,
) -> Result<Answer, Failure> {
    let response = reply::respond(plugins, responder, binding, persona, config, ctx).await?;
    let checked = if response.only_hands_over() {
        None
    } else {
        let base = reply::guardrail_context(binding, persona, ctx);
        // A chain that could not run now (the tenant's plugins busy) is
        // retried with the job, never taken for a block.
        Some(
            guardrails::check_outbound(plugins, binding, base, response.text.clone())
                .await
                .map_err(|e| Failure::Retry(format!("outbound guardrails: {e}")))?,
        )
    };
    Ok(Answer { response, checked })
}

/// Deliver the parts of a `Task::Deliver` job: messages `ids` of
/// `channel_id`, in order.
async fn deliver(
    p: &Pipeline,
    sender: &Sender,
    job: &Job,
    channel_id: &str,
    ids: &[String],
) -> JobOutcome {
    let config = &sender.config;
    let storage_retry = |e: StorageError| JobOutcome::Retry {
        delay: config.backoff(job.attempts),
        error: format!("storage: {e}"),
    };
    let binding = match p.tenant_channel(&job.tenant_id, channel_id).await {
        Ok(b) => b,
        Err(e) => {
            // Sends of a deleted or disabled channel fail for good, named
            // so; anything else about the channel is `channel_unavailable`.
            let code = match e {
                WebhookError::ChannelDeleted | WebhookError::ChannelDisabled => e.code(),
                _ => "channel_unavailable",
            };
            return record::fail_all(p, job, ids, code, &e.to_string()).await;
        }
    };
    // Content is sealed under the tenant's key: every part is read and
    // recorded through its cipher.
    let cipher = match p.secrets.cipher(&job.tenant_id).await {
        Ok(c) => c,
        Err(e) => return storage_retry(e.into()),
    };
    let plugins = p.plugins();
    let hosts = plugins
        .adapter_info(&binding)
        .await
        .map(|i| i.outbound_hosts)
        .unwrap_or_default();
    for (i, id) in ids.iter().enumerate() {
        // A lease this worker got moments ago cannot have been taken over;
        // past half a delivery lease, extend it (fenced) before each call.
        if job.claimed_at.elapsed() > config.lease / 2 {
            match p.db.extend_lease(job, config.lease_ms()).await {
                Ok(true) => {}
                Ok(false) => return JobOutcome::LeaseLost,
                Err(e) => {
                    return JobOutcome::Retry {
                        delay: config.base_delay,
                        error: e.to_string(),
                    };
                }
            }
        }
        let target = match p.db.delivery_target(&cipher, id).await {
            Ok(t) => t,
            Err(e) => return storage_retry(e),
        };
        // The last part's record also completes the job (one commit).
        let last = (i + 1 == ids.len()).then_some(job);
        let outcome = delivery::attempt(&plugins, sender, &binding, &hosts, &target).await;
        let recorded = match outcome {
            PartOutcome::Final => Ok(false),
            PartOutcome::Accepted(accepted) => {
                record::accepted(p, sender, &cipher, &target, accepted, last).await
            }
            PartOutcome::Ended {
                status,
                attempt,
                message,
                consent_revoked,
            } => record::ended(
                p,
                &cipher,
                &target,
                status,
                &attempt,
                &message,
                consent_revoked,
            )
            .await
            .map(|()| false),
            PartOutcome::Retry {
                attempt,
                error,
                retry_after,
            } => {
                if let Some(attempt) = attempt
                    && let Err(e) =
                        p.db.record_failed_attempt(&cipher, &target, &attempt, None, false)
                            .await
                {
                    return storage_retry(e);
                }
                return match config.retry_delay(job, retry_after) {
                    Some(delay) => JobOutcome::Retry { delay, error },
                    // Given up: this part and those after it fail.
                    None => {
                        let rest = &ids[i..];
                        let message = format!("gave up after {} attempts: {error}", job.attempts);
                        record::fail_all(p, job, rest, "dead_letter", &message).await
                    }
                };
            }
        };
        match recorded {
            Ok(true) => return JobOutcome::Done,
            Ok(false) => {}
            Err(e) => return storage_retry(e),
        }
    }
    // The last part was already final (or failed): complete it here.
    match p.db.complete_job(job).await {
        Ok(true) => JobOutcome::Done,
        Ok(false) => JobOutcome::LeaseLost,
        Err(e) => {
            tracing::warn!(job = %job.id, error = %e, "completing a delivered job failed; it will be retried and skip the sent parts");
            storage_retry(e)
        }
    }
}
