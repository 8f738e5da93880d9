//! Trying a persona (`POST /v1/personas/{id}/try`): a conversation that
//! exists only in the request runs through the persona's real prompt,
//! responder and outbound guardrails, on one of the tenant's channels
//! (its guardrails too) or on none, and nothing is stored or sent.

use super::Pipeline;
use super::outbound::{Answer, answer};
use super::reply::{Failure, responder_config};
use super::tenancy::Binding;
use crate::domain::{Direction, Turn};
use crate::orchestrator::Responder;
use crate::storage::{ReplyContext, StorageError};

/// What the persona would say.
#[derive(Debug)]
pub struct Tried {
    pub system_prompt: String,
    /// After the guardrails; `None` when it only handed over.
    pub reply: Option<Result<String, (String, String)>>,
    pub hand_over: bool,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// Why a try gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum TryError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("the channel cannot be used: {0}")]
    Channel(String),
    #[error("the responder failed: {0}")]
    Responder(String),
    #[error(transparent)]
    Storage(StorageError),
}

impl From<StorageError> for TryError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound(what) => TryError::NotFound(what),
            e => TryError::Storage(e),
        }
    }
}

/// Answer the last of `turns` (a customer's) as persona `persona_id` would,
/// with the earlier turns as the conversation so far.
pub async fn try_persona(
    p: &Pipeline,
    responder: &Responder,
    tenant_id: &str,
    persona_id: &str,
    channel_id: Option<&str>,
    mut turns: Vec<Turn>,
) -> Result<Tried, TryError> {
    let persona = p.db.get_persona(tenant_id, persona_id, &p.secrets).await?;
    let binding = match channel_id {
        Some(id) => p.tenant_channel(tenant_id, id).await.map_err(|e| match e {
            super::WebhookError::UnknownChannel | super::WebhookError::ChannelDeleted => {
                TryError::NotFound("channel")
            }
            e => TryError::Channel(e.to_string()),
        })?,
        None => {
            let adapter = p
                .catalog
                .first_party(super::visitor::ADAPTER)
                .ok_or_else(|| TryError::Channel("the sandbox adapter is not loaded".into()))?;
            let limits = super::tenancy::plugin_limits(
                &p.channels
                    .tenant_limits(&p.db, tenant_id)
                    .await
                    .map_err(TryError::Storage)?,
            );
            Binding::sandbox(tenant_id, adapter, limits)
        }
    };
    let message = turns.pop().map(|t| t.text);
    let first_reply = !turns.iter().any(|t| t.direction == Direction::Outbound);
    let ctx = ReplyContext {
        message_id: "try".into(),
        channel_id: binding.channel.id.clone(),
        conversation_id: "try".into(),
        contact_id: "try".into(),
        text: message,
        external_id: "try".into(),
        contact_address: "sandbox".into(),
        contact_name: None,
        opted_out: false,
        created_at: 0,
        history: turns,
        first_reply,
        handled_by_human: false,
    };
    let failed = |e| match e {
        Failure::Retry(e) | Failure::Permanent(e) => TryError::Responder(e),
    };
    let config = responder_config(&persona).map_err(failed)?;
    let Answer { response, checked } =
        answer(&p.plugins(), responder, &binding, &persona, config, &ctx)
            .await
            .map_err(failed)?;
    Ok(Tried {
        system_prompt: response.system,
        reply: checked,
        hand_over: response.hand_over,
        prompt_tokens: response.tokens.prompt,
        completion_tokens: response.tokens.completion,
    })
}
