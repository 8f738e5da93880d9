//! Message detail with delivery attempts, dead letters, and binding a
//! persona to a channel.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::auth::Tenant;
use super::extract::JsonBody;
use super::{ApiError, AppState};

/// `GET /v1/messages/{id}`: the message and, for outbound ones, every
/// provider call made for it.
#[utoipa::path(get, path = "/v1/messages/{id}", tag = "messages", params(("id" = String, Path, description = "Message id")), responses((status = 200, description = "The message with its delivery attempts", body = Object), (status = 404, body = Object)), security(("api_key" = [])))]
pub async fn get_message(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let db = state.db();
    let message = db.get_message(&tenant.id, &id).await?;
    let attempts = db.delivery_attempts(&tenant.id, &id).await?;
    let mut v = serde_json::to_value(&message).map_err(|_| ApiError::internal())?;
    v["attempts"] = json!(attempts);
    Ok(Json(v))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterQuery {
    limit: Option<u32>,
}

/// `GET /v1/dead-letters`: jobs that exhausted their attempts.
#[utoipa::path(get, path = "/v1/dead-letters", tag = "messages", params(DeadLetterQuery), responses((status = 200, description = "Jobs that exhausted their attempts", body = Object)), security(("api_key" = [])))]
pub async fn dead_letters(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Query(q): Query<DeadLetterQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let jobs = state
        .db()
        .list_jobs(&tenant.id, "dead", q.limit.unwrap_or(100))
        .await?;
    Ok(Json(json!({ "data": jobs, "next_cursor": null })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchChannel {
    /// `null` unbinds; absent leaves it.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    persona_id: Option<Option<String>>,
}

/// `PATCH /v1/channels/{id}`: bind (or unbind) the channel's persona.
#[utoipa::path(patch, path = "/v1/channels/{id}", tag = "channels", params(("id" = String, Path, description = "Channel id")), request_body = PatchChannel, responses((status = 200, body = Object), (status = 404, body = Object)), security(("api_key" = [])))]
pub async fn patch_channel(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PatchChannel>,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(persona) = body.persona_id {
        state
            .db()
            .set_channel_persona(&tenant.id, "api", &id, persona.as_deref())
            .await?;
        // The next webhook on this replica sees the new persona at once.
        state.pipeline.channels.invalidate(&id);
    }
    let ch = state
        .db()
        .get_channel(&tenant.id, &id, &state.pipeline.secrets)
        .await?;
    Ok(Json(super::channel_view::channel_view(&state, &ch).await))
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Ok(Some(Option::<String>::deserialize(d)?))
    }
}
