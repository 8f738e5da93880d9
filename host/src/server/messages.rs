//! Message detail with delivery attempts, and dead letters.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::auth::Tenant;
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
    let message = db
        .get_message(&state.cipher(&tenant.id).await?, &id)
        .await?;
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
