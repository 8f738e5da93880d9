//! A business-initiated send (`POST /v1/messages`), in order:
//!
//! 1. the channel (the tenant's own, active), and its adapter's declared
//!    media types — an unsupported one is refused before anything is stored
//! 2. the plan's monthly message limit
//! 3. the recipient and their consent — an opted-out contact is refused
//!    and the refusal recorded
//! 4. WhatsApp's 24-hour customer-service window for free-form text
//! 5. the channel's outbound guardrails (with its persona's topics and
//!    disclaimers)
//! 6. one transaction: the message — its media first, each its own part,
//!    then the text split to the channel's limit (`media::compose`) — and
//!    its delivery job, delivered like a reply

use super::Pipeline;
use super::guardrails::check_outbound;
use super::media::{MediaItem, UnsupportedMedia, check_accepted, compose};
use crate::domain::{Direction, GuardrailContext};
use crate::storage::{StorageError, now_ms};

/// Adapters whose provider enforces WhatsApp's customer-service window, by
/// the name the adapter itself declares in `info` (not the name it is bound
/// by: `whatsapp-cloud@latest`, a pinned version or a tenant's copy are the
/// same provider).
const WHATSAPP_ADAPTERS: &[&str] = &["whatsapp-cloud", "twilio-whatsapp"];
/// The window: 24 hours after the user's last message.
const SERVICE_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// What to send.
#[derive(Debug, Clone)]
pub struct SendRequest {
    pub channel_id: String,
    pub to: String,
    pub content: Content,
    /// The member writing (an agent's reply in a conversation); `None`
    /// for the API's business-initiated sends.
    pub author: Option<String>,
}

/// Free-form text and/or media, or a provider-approved template.
#[derive(Debug, Clone)]
pub enum Content {
    /// At least one of the two.
    Message {
        text: Option<String>,
        media: Vec<MediaItem>,
    },
    /// `{name, language, parameters}`: allowed outside WhatsApp's window,
    /// not run through the text guardrails (the provider approved it).
    Template {
        name: String,
        language: String,
        parameters: Vec<String>,
    },
}

/// Why a send was refused.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("channel not found")]
    UnknownChannel,
    #[error("the channel is disabled; enable it to send")]
    ChannelDisabled,
    #[error("the contact opted out of messages on this channel")]
    OptedOut,
    #[error(
        "outside WhatsApp's 24-hour customer-service window: the contact has not written in the last 24 hours; send a template instead"
    )]
    OutsideWindow,
    #[error("the monthly message limit ({limit}) is reached")]
    MonthlyLimit { limit: i64 },
    #[error("blocked by a guardrail: {0}")]
    Blocked(String, String),
    #[error(transparent)]
    UnsupportedMedia(#[from] UnsupportedMedia),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("channel unavailable: {0}")]
    Channel(String),
    /// The tenant's plugins could not run the send's checks now.
    #[error("the tenant's plugins are busy: {error}")]
    Busy { error: crate::runtime::PluginError },
}

/// Run a send through the stages; returns the stored message ids.
pub async fn send(
    p: &Pipeline,
    tenant_id: &str,
    req: &SendRequest,
) -> Result<Vec<String>, SendError> {
    let binding = p
        .tenant_channel(tenant_id, &req.channel_id)
        .await
        .map_err(|e| match e {
            // A deleted channel is not found through the API.
            super::WebhookError::UnknownChannel | super::WebhookError::ChannelDeleted => {
                SendError::UnknownChannel
            }
            super::WebhookError::ChannelDisabled => SendError::ChannelDisabled,
            other => SendError::Channel(other.to_string()),
        })?;
    if let Content::Message { media, .. } = &req.content
        && !media.is_empty()
    {
        let info = p.plugins().adapter_info(&binding).await;
        check_accepted(info.as_ref(), &binding.channel.adapter, media)?;
    }

    let limits = p.db.tenant_limits(tenant_id).await?;
    if let Some(limit) = limits.monthly_message_limit
        && p.db.messages_this_month(tenant_id).await? >= limit
    {
        return Err(SendError::MonthlyLimit { limit });
    }

    let cipher = p
        .secrets
        .cipher(tenant_id)
        .await
        .map_err(crate::storage::StorageError::from)?;
    let to = p.db.recipient(&cipher, &req.channel_id, &req.to).await?;
    if to.opted_out {
        p.db.record_refused_send(
            tenant_id,
            &req.channel_id,
            &to.contact_id,
            "contact_opted_out",
        )
        .await?;
        return Err(SendError::OptedOut);
    }
    let (text, media) = match &req.content {
        Content::Message { text, media } => (text.clone(), media.clone()),
        Content::Template {
            name,
            language,
            parameters,
        } => {
            let template =
                serde_json::json!({ "name": name, "language": language, "parameters": parameters });
            let id =
                p.db.store_template_send(&cipher, &req.channel_id, &to, &template)
                    .await?;
            p.wake.notify_waiters();
            return Ok(vec![id]);
        }
    };
    // An adapter that cannot answer `info` is held to the window too.
    let declared = p.plugins().adapter_info(&binding).await.map(|i| i.name);
    if declared.is_none_or(|name| WHATSAPP_ADAPTERS.contains(&name.as_str()))
        && to
            .last_inbound_at
            .is_none_or(|at| now_ms() - at > SERVICE_WINDOW_MS)
    {
        p.db.record_refused_send(
            tenant_id,
            &req.channel_id,
            &to.contact_id,
            "outside_service_window",
        )
        .await?;
        return Err(SendError::OutsideWindow);
    }

    let persona = match &binding.channel.persona_id {
        Some(id) => Some(p.db.get_persona(tenant_id, id, &p.secrets).await?),
        None => None,
    };
    let base = GuardrailContext {
        direction: Direction::Outbound,
        text: String::new(),
        channel_adapter: binding.channel.adapter.clone(),
        contact_address: req.to.clone(),
        first_reply: false,
        prohibited_topics: persona
            .as_ref()
            .map(|p| p.spec.prohibited_topics.clone())
            .unwrap_or_default(),
        required_disclaimers: persona
            .map(|p| p.spec.required_disclaimers)
            .unwrap_or_default(),
    };
    // Every text the customer will read goes through the chain: the
    // message's text and each caption.
    let plugins = p.plugins();
    let guard =
        async |text: String| match check_outbound(&plugins, &binding, base.clone(), text).await {
            Ok(Ok(text)) => Ok(text),
            Err(error) => Err(SendError::Busy { error }),
            Ok(Err((text, reason))) => {
                let id =
                    p.db.store_blocked_send(&cipher, &req.channel_id, &to, &text, &reason)
                        .await?;
                Err(SendError::Blocked(reason, id))
            }
        };
    let text = match text {
        Some(text) => Some(guard(text).await?),
        None => None,
    };
    let mut checked = Vec::with_capacity(media.len());
    for mut item in media {
        if let Some(caption) = item.caption.take() {
            item.caption = Some(guard(caption).await?);
        }
        checked.push(item);
    }
    let parts = compose(text, checked, plugins.max_text_length(&binding).await).await;
    let ids =
        p.db.store_send(&cipher, &req.channel_id, &to, &parts, req.author.as_deref())
            .await?;
    p.wake.notify_waiters();
    Ok(ids)
}
