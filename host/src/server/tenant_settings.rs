//! `GET` and `PATCH /v1/tenant`: the calling tenant and the settings it
//! chooses for itself (its plan limits are the platform admin's).

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::auth::Tenant;
use super::extract::JsonBody;
use super::{ApiError, AppState};
use crate::storage::{TenantRecord, TenantSettings};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchSettings {
    /// Link a first-seen channel address to the existing contact with the
    /// same phone number (E.164) instead of creating a contact. Default
    /// off.
    #[serde(default)]
    link_identities_by_phone: Option<bool>,
}

fn view(tenant: &TenantRecord, settings: &TenantSettings) -> serde_json::Value {
    json!({
        "id": tenant.id,
        "slug": tenant.slug,
        "name": tenant.name,
        "link_identities_by_phone": settings.link_identities_by_phone,
    })
}

/// `GET /v1/tenant`: the tenant the API key belongs to, with its settings.
#[utoipa::path(get, path = "/v1/tenant", tag = "tenant", responses((status = 200, description = "`{id, slug, name, link_identities_by_phone}`", body = Object), (status = 401, body = Object)), security(("api_key" = [])))]
pub async fn get_tenant_settings(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
) -> Result<impl IntoResponse, ApiError> {
    let settings = state.db().tenant_settings(&tenant.id).await?;
    Ok(Json(view(&tenant, &settings)))
}

/// `PATCH /v1/tenant`: change the tenant's settings (fields left out keep
/// their value); audited as `tenant.settings`.
#[utoipa::path(patch, path = "/v1/tenant", tag = "tenant", request_body = PatchSettings, responses((status = 200, description = "`{id, slug, name, link_identities_by_phone}`", body = Object), (status = 401, body = Object), (status = 422, description = "An unknown field or a wrong type", body = Object)), security(("api_key" = [])))]
pub async fn patch_tenant_settings(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    JsonBody(body): JsonBody<PatchSettings>,
) -> Result<impl IntoResponse, ApiError> {
    let db = state.db();
    let mut settings = db.tenant_settings(&tenant.id).await?;
    if let Some(on) = body.link_identities_by_phone {
        settings.link_identities_by_phone = on;
    }
    db.set_tenant_settings(&tenant.id, "api", &settings).await?;
    Ok(Json(view(&tenant, &settings)))
}
