//! A tenant's conversations and their messages.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;

use super::auth::Tenant;
use super::{ApiError, AppState};

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
