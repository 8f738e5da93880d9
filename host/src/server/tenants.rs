//! Platform admin: creating, listing, changing (name, suspension) and
//! deleting tenants.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::auth::Admin;
use super::extract::JsonBody;
use super::{ApiError, AppState};
use crate::domain::TenantStatus;
use crate::storage::{MemberRecord, NewTenant, TenantRecord};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateTenant {
    slug: String,
    name: String,
    /// The tenant's first owner, who signs in to the console.
    owner: Option<Owner>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Owner {
    pub(super) email: String,
    pub(super) password: String,
}

#[utoipa::path(post, path = "/v1/admin/tenants", tag = "admin", request_body = CreateTenant, responses((status = 201, description = "The tenant and its first API key (shown once)", body = Object), (status = 400, body = Object), (status = 401, body = Object), (status = 409, body = Object)), security(("admin_token" = [])))]
pub async fn create_tenant(
    State(state): State<AppState>,
    _: Admin,
    JsonBody(body): JsonBody<CreateTenant>,
) -> Result<impl IntoResponse, ApiError> {
    let (t, owner) = create(&state, &body.slug, &body.name, body.owner).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": t.id, "slug": t.slug, "api_key": t.api_key, "owner": owner })),
    ))
}

/// Create a tenant (and its first owner): the API and the admin console.
pub(super) async fn create(
    state: &AppState,
    slug: &str,
    name: &str,
    owner: Option<Owner>,
) -> Result<(NewTenant, Option<MemberRecord>), ApiError> {
    validate_slug(slug)?;
    if name.trim().is_empty() {
        return Err(ApiError::bad_request("`name` must not be empty"));
    }
    // The owner is checked (and the password hashed) before anything is
    // created, so a bad owner creates no tenant.
    let owner = match owner {
        Some(o) => {
            super::members::check_email(&o.email)?;
            let password = o.password;
            let hash = tokio::task::spawn_blocking(move || crate::crypto::hash_password(&password))
                .await
                .map_err(|_| ApiError::internal())?
                .map_err(|e| {
                    ApiError::unprocessable("invalid_field", format!("`owner.password`: {e}"))
                })?;
            Some((o.email, hash))
        }
        None => None,
    };
    let t = state.db().create_tenant(slug, name.trim()).await?;
    let owner = match owner {
        Some((email, hash)) => Some(state.db().create_owner(&t.id, &email, &hash).await?),
        None => None,
    };
    Ok((t, owner))
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantsQuery {
    /// Page size, 1-500 (default 100).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// `GET /v1/admin/tenants`: every tenant (deleted ones too, with their
/// status), oldest first, by page.
#[utoipa::path(get, path = "/v1/admin/tenants", tag = "admin", params(TenantsQuery), responses((status = 200, description = "`{data: [{id, slug, name, status, created_at}], next_cursor}`", body = Object), (status = 401, body = Object)), security(("admin_token" = [])))]
pub async fn list_tenants(
    State(state): State<AppState>,
    _: Admin,
    Query(q): Query<TenantsQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let page = state
        .db()
        .list_tenants(q.limit.unwrap_or(100), q.cursor.as_deref())
        .await?;
    Ok(Json(page))
}

/// What the admin may set on a tenant.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SettableStatus {
    Active,
    Suspended,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchTenant {
    #[serde(default)]
    name: Option<String>,
    /// `suspended`: its API keys get 403 `tenant_suspended` and its
    /// channels behave as disabled; `active` lifts that.
    #[serde(default)]
    status: Option<SettableStatus>,
}

/// `PATCH /v1/admin/tenants/{id}`: rename, suspend or reactivate a tenant
/// (audited as `tenant.update`, `tenant.suspend`, `tenant.reactivate`).
#[utoipa::path(patch, path = "/v1/admin/tenants/{id}", tag = "admin", params(("id" = String, Path, description = "Tenant id")), request_body = PatchTenant, responses((status = 200, description = "The tenant", body = Object), (status = 401, body = Object), (status = 404, body = Object), (status = 409, description = "`tenant_deleted`", body = Object), (status = 422, description = "An unknown field or status", body = Object)), security(("admin_token" = [])))]
pub async fn patch_tenant(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PatchTenant>,
) -> Result<impl IntoResponse, ApiError> {
    let status = body.status.map(|s| match s {
        SettableStatus::Active => TenantStatus::Active,
        SettableStatus::Suspended => TenantStatus::Suspended,
    });
    Ok(Json(
        change(&state, &id, body.name.as_deref(), status).await?,
    ))
}

/// Rename, suspend or reactivate a tenant: the API and the admin console.
pub(super) async fn change(
    state: &AppState,
    id: &str,
    name: Option<&str>,
    status: Option<TenantStatus>,
) -> Result<TenantRecord, ApiError> {
    let name = name.map(str::trim);
    if name.is_some_and(str::is_empty) {
        return Err(ApiError::unprocessable(
            "invalid_field",
            "`name` must not be empty",
        ));
    }
    let db = state.db();
    if db.tenant(id).await?.status == TenantStatus::Deleted {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "tenant_deleted",
            "the tenant is deleted; it cannot be changed",
        ));
    }
    let tenant = db.update_tenant(id, "admin", name, status).await?;
    if status.is_some() {
        // This replica's webhooks and jobs see it at once; others within
        // the channel cache's lifetime. API keys are checked per request.
        state.pipeline.channels.forget_tenant(id);
    }
    Ok(tenant)
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
