//! The reply stage: what to answer one stored inbound message. It reads
//! nothing and writes nothing; `pipeline::outbound` reads the message's
//! context, calls these in order, runs the outbound guardrails on the
//! text, and stores the plan:
//!
//! 1. [`before_persona`] — a guardrail's fixed answer; consent (an
//!    opted-out contact gets nothing, except the opt-out confirmation
//!    itself); a person handling the conversation; no persona bound
//! 2. [`respond`] — the persona's prompt (its fields, or its persona
//!    component, wrapped by the platform's safety rules:
//!    `orchestrator::prompt`), then the responder (static text or an
//!    OpenAI-compatible model)
//! 3. [`plan`] — the checked text (and a static responder's media that
//!    the channel's adapter accepts) split to the channel's length limit
//!    (`media::compose`)

use std::sync::Arc;

use super::media::{MediaItem, compose};
use super::plugins::Plugins;
// Moved to `split`; re-exported so `pipeline::reply::split_text` stays.
pub use super::split::split_text;
use super::tenancy::Binding;
use crate::domain::{
    AutoReply, Direction, GuardrailContext, MessageKind, MimeType, OutboundPart, PersonaContext,
    Prompt, ReplyPlan, TokenUsage,
};
use crate::orchestrator::{
    EmojiUsage, PersonaStyle, Responder, ResponderConfig, tenant_prompt, wrap_with_safety_blocking,
};
use crate::storage::{PersonaRecord, ReplyContext, StorageError};

/// Why a reply could not be planned now.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Try again later (a responder's rate limit, busy plugins, storage).
    Retry(String),
    /// Trying again would fail the same way.
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

/// What comes before the persona.
pub(crate) enum Next {
    /// Decided without it.
    Plan(ReplyPlan),
    /// Ask this persona (the channel's).
    Ask { persona_id: String },
}

/// Step 1: the plan when there is no need to ask the persona.
pub(crate) async fn before_persona(
    plugins: &Plugins<'_>,
    binding: &Binding,
    ctx: &ReplyContext,
    auto_reply: Option<&AutoReply>,
) -> Next {
    // A guardrail's fixed answer: no persona, no responder.
    if let Some(AutoReply { text, kind }) = auto_reply {
        if ctx.opted_out && *kind != MessageKind::OptOutConfirmation {
            return Next::Plan(ReplyPlan::Refused);
        }
        let max_len = plugins.max_text_length(binding).await;
        return Next::Plan(ReplyPlan::Send {
            parts: split_text(text, max_len)
                .into_iter()
                .map(OutboundPart::from)
                .collect(),
            kind: *kind,
        });
    }
    if ctx.opted_out {
        return Next::Plan(ReplyPlan::Refused);
    }
    // A person took the conversation over: the persona stays quiet.
    if ctx.handled_by_human {
        return Next::Plan(ReplyPlan::Nothing);
    }
    match &binding.channel.persona_id {
        Some(id) => Next::Ask {
            persona_id: id.clone(),
        },
        // No persona: the conversation waits for a human.
        None => Next::Plan(ReplyPlan::Nothing),
    }
}

/// Step 3: what is sent of the persona's checked answer (`None`: it only
/// handed over).
pub(crate) async fn plan(
    plugins: &Plugins<'_>,
    binding: &Binding,
    config: &ResponderConfig,
    checked: Option<Result<String, (String, String)>>,
) -> ReplyPlan {
    match checked {
        None => ReplyPlan::Nothing,
        Some(Ok(text)) => {
            let max_len = plugins.max_text_length(binding).await;
            let media = responder_media(plugins, binding, config).await;
            ReplyPlan::Send {
                parts: compose(Some(text), media, max_len).await,
                kind: MessageKind::Reply,
            }
        }
        Some(Err((text, reason))) => ReplyPlan::Blocked { text, reason },
    }
}

/// What a persona's responder said (steps 2 and 3 of a reply, and of the
/// persona's try-it sandbox), before the outbound guardrails.
pub(crate) struct Response {
    /// The whole system prompt the responder got (safety rules included).
    pub system: String,
    /// The reply without a leading [`HANDOFF_SIGNAL`].
    pub text: String,
    /// The reply started with [`HANDOFF_SIGNAL`].
    pub hand_over: bool,
    pub tokens: TokenUsage,
    pub config: ResponderConfig,
}

impl Response {
    /// Nothing to say besides handing over: no text to check or send.
    pub fn only_hands_over(&self) -> bool {
        self.hand_over && self.text.is_empty()
    }
}

/// `persona`'s responder, read once per reply (whether the history is
/// read, then the answer, depend on it).
pub(crate) fn responder_config(persona: &PersonaRecord) -> Result<ResponderConfig, Failure> {
    serde_json::from_value(persona.responder.clone())
        .map_err(|e| Failure::Permanent(format!("persona responder: {e}")))
}

/// Whether answering with `persona` (whose responder is `config`) reads
/// the conversation's history: a language model and a persona component
/// do; a static text does not, so its replies skip that read.
pub(crate) fn reads_history(persona: &PersonaRecord, config: &ResponderConfig) -> bool {
    persona.spec.persona.is_some() || !matches!(config, ResponderConfig::Static { .. })
}

/// Step 2: the persona's prompt and its responder's (`config`) answer to
/// `ctx`.
pub(crate) async fn respond(
    plugins: &Plugins<'_>,
    responder: &Responder,
    binding: &Binding,
    persona: &PersonaRecord,
    config: ResponderConfig,
    ctx: &ReplyContext,
) -> Result<Response, Failure> {
    let message = ctx
        .text
        .clone()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| "(the user sent a message without text)".to_string());
    let prompt = persona_prompt(plugins, binding, persona, ctx, &message).await;
    let system = wrap_with_safety_blocking(prompt, persona.spec.prohibited_topics.clone()).await;

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
    Ok(Response {
        system,
        text,
        hand_over,
        tokens,
        config,
    })
}

/// What the outbound guardrails are told about a reply to `ctx` (the text
/// is filled in by the chain).
pub(crate) fn guardrail_context(
    binding: &Binding,
    persona: &PersonaRecord,
    ctx: &ReplyContext,
) -> GuardrailContext {
    GuardrailContext {
        direction: Direction::Outbound,
        text: String::new(),
        channel_adapter: binding.channel.adapter.clone(),
        contact_address: ctx.contact_address.clone(),
        first_reply: ctx.first_reply,
        prohibited_topics: persona.spec.prohibited_topics.clone(),
        required_disclaimers: persona.spec.required_disclaimers.clone(),
    }
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
    plugins: &Plugins<'_>,
    binding: &Binding,
    config: &ResponderConfig,
) -> Vec<MediaItem> {
    let ResponderConfig::Static { media, .. } = config else {
        return Vec::new();
    };
    if media.is_empty() {
        return Vec::new();
    }
    let info = plugins.adapter_info(binding).await;
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
    plugins: &Plugins<'_>,
    binding: &Binding,
    persona: &PersonaRecord,
    ctx: &ReplyContext,
    message: &str,
) -> Prompt {
    let style = style_of(persona);
    let Some(reference) = persona.spec.persona.as_deref() else {
        return tenant_prompt(&style);
    };
    let context = PersonaContext {
        name: persona.name.clone(),
        display_name: persona.spec.display_name.clone(),
        contact_name: ctx.contact_name.clone(),
        channel_adapter: binding.channel.adapter.clone(),
        history: ctx.history.clone(),
        message: message.to_string(),
    };
    let config = Arc::new(persona.spec.persona_config.clone());
    match plugins
        .build_prompt(binding, reference, config, context)
        .await
    {
        Ok(prompt) => prompt,
        Err(e) => {
            tracing::warn!(persona = %persona.id, error = %e, "no prompt from the persona component; using the persona's fields");
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

#[cfg(test)]
mod tests {
    use super::{reads_history, responder_config, split_handoff};
    use crate::storage::PersonaRecord;
    use serde_json::json;

    fn persona(component: Option<&str>, responder: serde_json::Value) -> PersonaRecord {
        PersonaRecord {
            id: "p".into(),
            name: "p".into(),
            spec: serde_json::from_value(json!({
                "display_name": "P", "formality": 5, "humor": 5,
                "emoji_usage": "none", "persona": component,
            }))
            .unwrap(),
            responder,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn only_what_reads_the_history_gets_it_read() {
        let fixed = json!({ "kind": "static", "text": "Thanks!" });
        let model = json!({ "kind": "openai", "base_url": "http://127.0.0.1:9", "model": "m", "api_key": "" });
        let reads = |p: PersonaRecord| reads_history(&p, &responder_config(&p).ok().unwrap());
        assert!(!reads(persona(None, fixed.clone())));
        assert!(reads(persona(None, model)));
        // A persona component is handed the history whatever answers.
        assert!(reads(persona(Some("default-persona"), fixed)));
        // A responder this version cannot read fails for good, before any
        // read.
        assert!(matches!(
            responder_config(&persona(None, json!({ "kind": "unknown" }))),
            Err(super::Failure::Permanent(_))
        ));
    }

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
