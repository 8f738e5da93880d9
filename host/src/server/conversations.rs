//! A tenant's conversations and their messages.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;

use super::auth::{Caller, Tenant};
use super::extract::JsonBody;
use super::{ApiError, AppState};
use crate::domain::{ConversationStatus, Handler};
use crate::pipeline::send::{Content, SendRequest};
use crate::storage::ConversationChange;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub(super) channel_id: Option<String>,
    pub(super) limit: Option<u32>,
    pub(super) cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/conversations", tag = "conversations", params(ListQuery), responses((status = 200, description = "`{data, next_cursor}`, newest first", body = Object)), security(("api_key" = [])))]
pub async fn list_conversations(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Query(q): Query<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let page = state
        .db()
        .list_conversations(
            &tenant.id,
            q.channel_id.as_deref(),
            q.limit.unwrap_or(50),
            q.cursor.as_deref(),
        )
        .await?;
    Ok(Json(page))
}

#[utoipa::path(get, path = "/v1/conversations/{id}/messages", tag = "conversations", params(("id" = String, Path, description = "Conversation id"), ListQuery), responses((status = 200, description = "`{data, next_cursor}`, oldest first", body = Object), (status = 404, body = Object)), security(("api_key" = [])))]
pub async fn list_messages(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let page = state
        .db()
        .list_messages(
            &state.cipher(&tenant.id).await?,
            &id,
            q.limit.unwrap_or(100),
            q.cursor.as_deref(),
        )
        .await?;
    Ok(Json(page))
}

#[utoipa::path(get, path = "/v1/conversations/{id}", tag = "conversations", params(("id" = String, Path, description = "Conversation id")), responses((status = 200, description = "`{id, channel_id, contact_id, status, handler, assignee_id, created_at, last_message_at}`", body = Object), (status = 404, body = Object)), security(("api_key" = [])))]
pub async fn get_conversation(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.db().get_conversation(&tenant.id, &id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PatchConversation {
    /// `open` or `resolved`.
    status: Option<String>,
    /// A member's id; `null` unassigns.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    assignee_id: Option<Option<String>>,
}

/// Tells a field set to `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

#[utoipa::path(patch, path = "/v1/conversations/{id}", tag = "conversations", params(("id" = String, Path, description = "Conversation id")), request_body = PatchConversation, responses((status = 200, body = Object), (status = 404, body = Object), (status = 422, body = Object)), security(("api_key" = [])))]
pub async fn patch_conversation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PatchConversation>,
) -> Result<impl IntoResponse, ApiError> {
    let status = body
        .status
        .as_deref()
        .map(|s| {
            ConversationStatus::parse(s).ok_or_else(|| {
                ApiError::unprocessable(
                    "invalid_field",
                    format!("`status` must be open or resolved, not `{s}`"),
                )
            })
        })
        .transpose()?;
    let change = ConversationChange {
        status,
        handler: None,
        assignee: body.assignee_id,
    };
    let cipher = state.cipher(&caller.tenant.id).await?;
    let c = state
        .db()
        .change_conversation(&cipher, &caller.actor(), &id, &change)
        .await?;
    Ok(Json(c))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Handoff {
    /// `human` (the persona stops answering) or `bot` (it answers again).
    to: String,
}

#[utoipa::path(post, path = "/v1/conversations/{id}/handoff", tag = "conversations", params(("id" = String, Path, description = "Conversation id")), request_body = Handoff, responses((status = 200, description = "The conversation, with its `handler`", body = Object), (status = 404, body = Object), (status = 422, body = Object)), security(("api_key" = [])))]
pub async fn handoff(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Handoff>,
) -> Result<impl IntoResponse, ApiError> {
    let handler = Handler::parse(&body.to).ok_or_else(|| {
        ApiError::unprocessable(
            "invalid_field",
            format!("`to` must be human or bot, not `{}`", body.to),
        )
    })?;
    Ok(Json(hand_to(&state, &caller, &id, handler).await?))
}

/// Hand conversation `id` to a person or back to the persona. A member
/// who takes over is the one the conversation then waits for.
pub(super) async fn hand_to(
    state: &AppState,
    caller: &Caller,
    id: &str,
    handler: Handler,
) -> Result<crate::storage::ConversationRecord, ApiError> {
    let assignee = match (handler, &caller.member) {
        (Handler::Human, Some(m)) => Some(Some(m.id.clone())),
        _ => None,
    };
    let change = ConversationChange {
        status: None,
        handler: Some(handler),
        assignee,
    };
    let cipher = state.cipher(&caller.tenant.id).await?;
    Ok(state
        .db()
        .change_conversation(&cipher, &caller.actor(), id, &change)
        .await?)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct AgentReply {
    text: String,
}

#[utoipa::path(post, path = "/v1/conversations/{id}/messages", tag = "conversations", params(("id" = String, Path, description = "Conversation id")), request_body = AgentReply, responses((status = 202, description = "Queued for delivery through the outbound pipeline (guardrails, consent, the service window, usage)", body = Object), (status = 404, body = Object), (status = 409, body = Object), (status = 422, body = Object)), security(("api_key" = [])))]
pub async fn reply(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AgentReply>,
) -> Result<impl IntoResponse, ApiError> {
    let (status, v) = agent_reply(&state, &caller, &id, &body.text).await?;
    Ok((status, Json(v)))
}

/// A member's (or the API's) reply in conversation `id`, through the same
/// outbound pipeline as every send: guardrails, consent, the service
/// window, usage.
pub(super) async fn agent_reply(
    state: &AppState,
    caller: &Caller,
    id: &str,
    text: &str,
) -> Result<(axum::http::StatusCode, serde_json::Value), ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ApiError::bad_request("`text` must not be empty"));
    }
    let conversation = state.db().get_conversation(&caller.tenant.id, id).await?;
    let cipher = state.cipher(&caller.tenant.id).await?;
    let to = state
        .db()
        .conversation_address(&cipher, &conversation)
        .await?;
    let req = SendRequest {
        channel_id: conversation.channel_id,
        to,
        content: Content::Message {
            text: Some(text.to_string()),
            media: Vec::new(),
        },
        author: Some(
            caller
                .member
                .as_ref()
                .map_or_else(|| "api".to_string(), |m| m.id.clone()),
        ),
    };
    super::send::queue(state, &cipher, &req).await
}
