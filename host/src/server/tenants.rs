//! Platform admin: creating and deleting tenants.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::auth::Admin;
use super::extract::JsonBody;
use super::{ApiError, AppState};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateTenant {
    slug: String,
    name: String,
}

#[utoipa::path(post, path = "/v1/admin/tenants", tag = "admin", request_body = CreateTenant, responses((status = 201, description = "The tenant and its first API key (shown once)", body = Object), (status = 400, body = Object), (status = 401, body = Object), (status = 409, body = Object)), security(("admin_token" = [])))]
pub async fn create_tenant(
    State(state): State<AppState>,
    _: Admin,
    JsonBody(body): JsonBody<CreateTenant>,
) -> Result<impl IntoResponse, ApiError> {
    validate_slug(&body.slug)?;
    if body.name.trim().is_empty() {
        return Err(ApiError::bad_request("`name` must not be empty"));
    }
    let t = state
        .db()
        .create_tenant(&body.slug, body.name.trim())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": t.id, "slug": t.slug, "api_key": t.api_key })),
    ))
}

/// `DELETE /v1/admin/tenants/{id}`: the tenant is marked deleted, its
/// channels and API keys stop working, and its data key is destroyed, so
/// every secret it stored becomes unreadable (crypto-shredding).
#[utoipa::path(delete, path = "/v1/admin/tenants/{id}", tag = "admin", params(("id" = String, Path, description = "Tenant id")), responses((status = 204, description = "Deleted; its data key destroyed"), (status = 401, body = Object), (status = 404, body = Object)), security(("admin_token" = [])))]
pub async fn delete_tenant(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let p = &state.pipeline;
    p.db.delete_tenant(&id, "admin").await?;
    // This replica forgets at once; others within their cache lifetimes.
    p.secrets.forget(&id);
    p.channels.forget_tenant(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// Slugs appear in URLs and logs: lowercase letters, digits and dashes.
pub fn validate_slug(slug: &str) -> Result<(), ApiError> {
    let ok = (1..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "`slug` must be 1-63 characters of a-z, 0-9 and '-'",
        ))
    }
}
