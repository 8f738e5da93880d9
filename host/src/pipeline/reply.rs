//! The reply stage order for one stored inbound message:
//!
//! 1. consent — an opted-out contact gets nothing (recorded), except the
//!    opt-out confirmation itself
//! 2. persona prompt — the tenant's fields, or its persona component,
//!    wrapped by the platform's safety rules (`orchestrator::prompt`)
//! 3. responder — static text or an OpenAI-compatible model
//! 4. outbound guardrails — allow / rewrite / block, in chain order
//! 5. one transaction — the outbound message(s), split to the channel's
//!    length limit (with a static responder's media, the ones the channel's
//!    adapter accepts: `media::compose`), their delivery job, and this
//!    job's completion

use std::sync::Arc;

use super::Pipeline;
use super::delivery::{DeliveryConfig, JobOutcome, backoff};
// Moved to `split`; re-exported so `pipeline::reply::split_text` stays.
use super::media::{MediaItem, compose};
pub use super::split::split_text;
use super::tenancy::Binding;
use crate::crypto::TenantCipher;
use crate::domain::{
    AutoReply, Direction, GuardrailContext, MessageKind, MimeType, OutboundPart, PersonaContext,
    Prompt,
};
use crate::orchestrator::{
    EmojiUsage, PersonaStyle, Responder, ResponderConfig, tenant_prompt, wrap_with_safety_blocking,
};
use crate::storage::{
    Job, PersonaRecord, ReplyContext, ReplyPlan, ReplyWrite, StorageError, TokenUsage,
};

/// Process one [`Task::Process`](crate::domain::Task::Process) job: answer
/// inbound message `message_id`, with `auto_reply` when a guardrail fixed
/// the answer.
pub async fn process(
    p: &Pipeline,
    responder: &Responder,
    retry: &DeliveryConfig,
    job: &Job,
    message_id: &str,
    auto_reply: Option<&AutoReply>,
) -> JobOutcome {
    match plan(p, responder, job, message_id, auto_reply).await {
        Ok((cipher, ctx, plan, tokens)) => match p
            .outbound_writer
            .store_reply(ReplyWrite {
                cipher,
                job: job.clone(),
                ctx,
                plan,
                tokens,
                lease_ms: retry.lease.as_millis() as i64,
            })
            .await
        {
            Ok(Some(Some(delivery))) => JobOutcome::Then(delivery),
            Ok(Some(None)) => JobOutcome::Done,
            Ok(None) => JobOutcome::LeaseLost,
            Err(e) => JobOutcome::Retry {
                delay: backoff(retry, job.attempts),
                error: format!("storage: {e}"),
            },
        },
        Err(Failure::Retry(error)) if job.attempts < retry.max_attempts => JobOutcome::Retry {
            delay: backoff(retry, job.attempts),
            error,
        },
        Err(Failure::Retry(error) | Failure::Permanent(error)) => JobOutcome::Dead { error },
    }
}

pub(crate) enum Failure {
    Retry(String),
    Permanent(String),
}

impl From<StorageError> for Failure {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound(what) => Failure::Permanent(format!("{what} not found")),
            e => Failure::Retry(format!("storage: {e}")),
        }
    }
}

async fn plan(
    p: &Pipeline,
    responder: &Responder,
    job: &Job,
    message_id: &str,
    auto_reply: Option<&AutoReply>,
) -> Result<(TenantCipher, ReplyContext, ReplyPlan, TokenUsage), Failure> {
    let tenant = job.tenant_id.as_str();
    let cipher = p.secrets.cipher(tenant).await.map_err(StorageError::from)?;
    let ctx = p.db.reply_context(&cipher, message_id).await?;
    let binding = p
        .tenant_channel(tenant, &ctx.channel_id)
        .await
        .map_err(|e| Failure::Permanent(format!("channel: {e}")))?;
    // A guardrail's fixed answer: no persona, no responder.
    if let Some(AutoReply { text, kind }) = auto_reply {
        let max_len = max_text_length(p, &binding).await;
        let plan = if ctx.opted_out && *kind != MessageKind::OptOutConfirmation {
            ReplyPlan::Refused
        } else {
            ReplyPlan::Send {
                parts: split_text(text, max_len)
                    .into_iter()
                    .map(OutboundPart::from)
                    .collect(),
                kind: *kind,
            }
        };
        return Ok((cipher, ctx, plan, TokenUsage::default()));
    }

    // 1. Consent.
    if ctx.opted_out {
        return Ok((cipher, ctx, ReplyPlan::Refused, TokenUsage::default()));
    }
    // A person took the conversation over: the persona stays quiet.
    if ctx.handled_by_human {
        return Ok((cipher, ctx, ReplyPlan::Nothing, TokenUsage::default()));
    }
    let Some(persona_id) = binding.channel.persona_id.clone() else {
        // No persona: the conversation waits for a human.
        return Ok((cipher, ctx, ReplyPlan::Nothing, TokenUsage::default()));
    };
    // Over the plan's monthly limit, automated replies pause (inbound is
    // still stored; the pause is recorded once a month).
    if let Some(limit) = p
        .channels
        .tenant_limits(&p.db, tenant)
        .await?
        .monthly_message_limit
    {
        let used = p.db.messages_this_month(tenant).await?;
        if used >= limit {
            p.db.pause_replies_for_month(tenant, used, limit).await?;
            return Ok((cipher, ctx, ReplyPlan::Nothing, TokenUsage::default()));
        }
    }
    let persona = p.db.get_persona(tenant, &persona_id, &p.secrets).await?;
    let answer = answer(p, responder, &binding, &persona, &ctx).await?;
    let tokens = answer.tokens;
    // The persona hands over on its own: the conversation waits for a
    // person from now on; what it says besides the signal still goes out.
    if answer.hand_over {
        let change = crate::storage::ConversationChange {
            handler: Some(crate::domain::Handler::Human),
            ..Default::default()
        };
        p.db.change_conversation(&cipher, "persona", &ctx.conversation_id, &change)
            .await?;
    }
    let plan = match answer.text {
        None => ReplyPlan::Nothing,
        Some(Ok(text)) => {
            let max_len = max_text_length(p, &binding).await;
            let media = responder_media(p, &binding, &answer.config).await;
            ReplyPlan::Send {
                parts: compose(Some(text), media, max_len).await,
                kind: MessageKind::Reply,
            }
        }
        Some(Err((text, reason))) => ReplyPlan::Blocked { text, reason },
    };
    Ok((cipher, ctx, plan, tokens))
}

/// What a persona says to a message: steps 2-4 (prompt, responder,
/// outbound guardrails), shared by the reply stage and the persona's
/// try-it sandbox.
pub(crate) struct Answer {
    /// The whole system prompt the responder got (safety rules included).
    pub system: String,
    /// The reply after the guardrails: `Ok(text)`, or `Err((text,
    /// reason))` when a guardrail blocked it; `None` when the persona only
    /// handed over.
    pub text: Option<Result<String, (String, String)>>,
    /// The reply started with [`HANDOFF_SIGNAL`].
    pub hand_over: bool,
    pub tokens: TokenUsage,
    pub config: ResponderConfig,
}

pub(crate) async fn answer(
    p: &Pipeline,
    responder: &Responder,
    binding: &Binding,
    persona: &PersonaRecord,
    ctx: &ReplyContext,
) -> Result<Answer, Failure> {
    let config: ResponderConfig = serde_json::from_value(persona.responder.clone())
        .map_err(|e| Failure::Permanent(format!("persona responder: {e}")))?;

    // 2. Prompt.
    let message = ctx
        .text
        .clone()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| "(the user sent a message without text)".to_string());
    let prompt = persona_prompt(p, binding, persona, ctx, &message).await;
    let system = wrap_with_safety_blocking(prompt, persona.spec.prohibited_topics.clone()).await;

    // 3. Responder.
    let reply = responder
        .respond(
            &config,
            &system,
            &ctx.history,
            &message,
            ctx.contact_name.as_deref(),
        )
        .await
        .map_err(|e| {
            if e.retryable() {
                Failure::Retry(e.to_string())
            } else {
                Failure::Permanent(e.to_string())
            }
        })?;
    let tokens = TokenUsage {
        prompt: reply.prompt_tokens,
        completion: reply.completion_tokens,
    };
    let (text, hand_over) = split_handoff(&reply.text);

    // 4. Outbound guardrails.
    let text = if hand_over && text.is_empty() {
        None
    } else {
        // A chain that could not run now (the tenant's plugins busy) is
        // retried with the job, never taken for a block.
        Some(
            outbound_guardrails(p, binding, persona, ctx, text)
                .await
                .map_err(|e| Failure::Retry(format!("outbound guardrails: {e}")))?,
        )
    };
    Ok(Answer {
        system,
        text,
        hand_over,
        tokens,
        config,
    })
}

/// The signal a responder gives to hand the conversation to a person: its
/// reply starts with it (documented in the README; a persona's prompt asks
/// the model for it when it cannot help).
pub const HANDOFF_SIGNAL: &str = "[[handoff]]";

/// A reply without a leading [`HANDOFF_SIGNAL`], and whether it had one.
fn split_handoff(reply: &str) -> (String, bool) {
    match reply.trim_start().strip_prefix(HANDOFF_SIGNAL) {
        Some(rest) => (rest.trim().to_string(), true),
        None => (reply.to_string(), false),
    }
}

/// A static responder's media that the channel's adapter sends; the rest
/// is left out with a warning (the text still goes), since a reply has no
/// caller to refuse.
async fn responder_media(
    p: &Pipeline,
    binding: &Binding,
    config: &ResponderConfig,
) -> Vec<MediaItem> {
    let ResponderConfig::Static { media, .. } = config else {
        return Vec::new();
    };
    if media.is_empty() {
        return Vec::new();
    }
    let info = p.adapter_info(binding).await;
    media
        .iter()
        .filter_map(|m| {
            let item = MediaItem {
                url: m.url.clone(),
                mime: MimeType::parse(&m.mime_type)?,
                caption: m.caption.clone(),
            };
            if info.as_ref().is_some_and(|i| i.accepts(&item.mime)) {
                Some(item)
            } else {
                tracing::warn!(channel = %binding.channel.id, mime = %item.mime, "the channel's adapter does not send this media type; the reply goes without it");
                None
            }
        })
        .collect()
}

/// The persona's prompt: its component's, when it has one and the call
/// succeeds, else the tenant's fields. (The safety rules are added after
/// either, so a failing or hostile component cannot weaken them.)
async fn persona_prompt(
    p: &Pipeline,
    binding: &Binding,
    persona: &PersonaRecord,
    ctx: &ReplyContext,
    message: &str,
) -> Prompt {
    let style = style_of(persona);
    let Some(reference) = persona.spec.persona.clone() else {
        return tenant_prompt(&style);
    };
    let plugin = match p
        .catalog
        .resolve(&p.db, &p.runtime, &binding.channel.tenant_id, &reference)
        .await
    {
        Ok(plugin) => plugin,
        Err(e) => {
            tracing::warn!(persona = %persona.id, error = %e, "persona component unavailable; using the persona's fields");
            return tenant_prompt(&style);
        }
    };
    let call = binding.call(
        &reference,
        Arc::new(persona.spec.persona_config.clone()),
        p.kv.clone(),
    );
    let pctx = PersonaContext {
        name: persona.name.clone(),
        display_name: persona.spec.display_name.clone(),
        contact_name: ctx.contact_name.clone(),
        channel_adapter: binding.channel.adapter.clone(),
        history: ctx.history.clone(),
        message: message.to_string(),
    };
    let built = p
        .runtime
        .run(&plugin, call, move |inst| inst.build_prompt(&pctx))
        .await
        .and_then(|r| r);
    match built {
        Ok(prompt) => prompt,
        Err(e) => {
            tracing::warn!(persona = %persona.id, error = %e, code = e.code(), "persona component failed; using the persona's fields");
            tenant_prompt(&style)
        }
    }
}

/// The orchestrator's view of a stored persona.
pub fn style_of(persona: &PersonaRecord) -> PersonaStyle {
    let s = &persona.spec;
    PersonaStyle {
        display_name: s.display_name.clone(),
        custom_system_prompt: s.custom_system_prompt.clone(),
        system_prompt_additions: s.system_prompt_additions.clone(),
        prohibited_topics: s.prohibited_topics.clone(),
        required_disclaimers: s.required_disclaimers.clone(),
        formality: s.formality,
        humor: s.humor,
        emoji_usage: match s.emoji_usage.as_str() {
            "none" => EmojiUsage::None,
            "normal" => EmojiUsage::Normal,
            _ => EmojiUsage::Minimal,
        },
    }
}

/// Run the chain on the reply. `Ok(Err((text, reason)))` when blocked; a
/// guardrail that fails blocks (fail closed) unless bound `fail-open`;
/// `Err` when the chain could not run now.
async fn outbound_guardrails(
    p: &Pipeline,
    binding: &Binding,
    persona: &PersonaRecord,
    ctx: &ReplyContext,
    text: String,
) -> Result<Result<String, (String, String)>, crate::runtime::PluginError> {
    let base = GuardrailContext {
        direction: Direction::Outbound,
        text: String::new(),
        channel_adapter: binding.channel.adapter.clone(),
        contact_address: ctx.contact_address.clone(),
        first_reply: ctx.first_reply,
        prohibited_topics: persona.spec.prohibited_topics.clone(),
        required_disclaimers: persona.spec.required_disclaimers.clone(),
    };
    super::guardrails::check_outbound(&p.runtime, &p.catalog, binding, p.kv.clone(), base, text)
        .await
}

/// The channel adapter's text limit (0 or an error: no splitting).
pub(super) async fn max_text_length(p: &Pipeline, binding: &Binding) -> usize {
    p.adapter_info(binding)
        .await
        .map_or(0, |i| i.max_text_length as usize)
}

#[cfg(test)]
mod tests {
    use super::split_handoff;

    #[test]
    fn the_handoff_signal_leads_the_reply() {
        assert_eq!(
            split_handoff("[[handoff]] A colleague will answer shortly."),
            ("A colleague will answer shortly.".to_string(), true)
        );
        assert_eq!(split_handoff("  [[handoff]]"), (String::new(), true));
        assert_eq!(
            split_handoff("We say [[handoff]] only first."),
            ("We say [[handoff]] only first.".to_string(), false)
        );
    }
}
