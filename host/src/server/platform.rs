//! Tenant platform endpoints: API keys, audit log, usage, plan limits
//! (admin), and contact erasure.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::auth::{Admin, Caller, Tenant};
use super::extract::JsonBody;
use super::{ApiError, AppState};
use crate::storage::TenantLimits;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    name: String,
}

/// `POST /v1/api-keys`: a new named key, shown once.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", request_body = NewKey, responses((status = 201, description = "The key record and the key (shown once)", body = Object)), security(("api_key" = [])))]
pub async fn create_api_key(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewKey>,
) -> Result<impl IntoResponse, ApiError> {
    let (rec, key) = new_api_key(&state, &caller, &body.name).await?;
    let mut v = serde_json::to_value(&rec).map_err(|_| ApiError::internal())?;
    v["key"] = json!(key);
    Ok((StatusCode::CREATED, Json(v)))
}

/// A new named key for the caller's tenant (the API and the console).
pub(super) async fn new_api_key(
    state: &AppState,
    caller: &Caller,
    name: &str,
) -> Result<(crate::storage::ApiKeyRecord, String), ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request("`name` must be 1-100 characters"));
    }
    Ok(state
        .db()
        .create_api_key(&caller.tenant.id, &caller.actor(), name)
        .await?)
}

/// `GET /v1/api-keys`: names, prefixes, last use; never the keys.
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys", responses((status = 200, body = Object)), security(("api_key" = [])))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
) -> Result<impl IntoResponse, ApiError> {
    let keys = state.db().list_api_keys(&tenant.id).await?;
    Ok(Json(json!({ "data": keys, "next_cursor": null })))
}

/// `DELETE /v1/api-keys/{id}`: revoke (the key stops working at once).
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "api-keys", params(("id" = String, Path, description = "API key id")), responses((status = 204, description = "Revoked"), (status = 404, body = Object)), security(("api_key" = [])))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    state
        .db()
        .revoke_api_key(&caller.tenant.id, &caller.actor(), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    limit: Option<u32>,
    cursor: Option<String>,
    action: Option<String>,
}

/// `GET /v1/audit`: administrative and consent changes, newest first.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery), responses((status = 200, description = "`{data, next_cursor}`, newest first", body = Object)), security(("api_key" = [])))]
pub async fn list_audit(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Query(q): Query<AuditQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let page = state
        .db()
        .audit_page(
            &tenant.id,
            q.limit.unwrap_or(100),
            q.cursor.as_deref(),
            q.action.as_deref(),
        )
        .await?;
    Ok(Json(page))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    period: Option<String>,
}

/// `GET /v1/usage`: messages per month × channel × direction, LLM tokens,
/// and the plan's monthly limit with what is used of it.
#[utoipa::path(get, path = "/v1/usage", tag = "usage", params(UsageQuery), responses((status = 200, body = Object), (status = 400, body = Object)), security(("api_key" = [])))]
pub async fn usage(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Query(q): Query<UsageQuery>,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(p) = &q.period {
        let ok = p.len() == 7
            && p.as_bytes()[4] == b'-'
            && p[..4].bytes().all(|b| b.is_ascii_digit())
            && p[5..].parse::<u8>().is_ok_and(|m| (1..=12).contains(&m));
        if !ok {
            return Err(ApiError::bad_request("`period` must be YYYY-MM"));
        }
    }
    let db = state.db();
    let rows = db.usage_rows(&tenant.id, q.period.as_deref()).await?;
    let limits = db.tenant_limits(&tenant.id).await?;
    let used = db.messages_this_month(&tenant.id).await?;
    Ok(Json(json!({
        "data": rows,
        "next_cursor": null,
        "current_month": {
            "messages": used,
            "monthly_message_limit": limits.monthly_message_limit,
        },
    })))
}

/// `GET /v1/admin/tenants/{id}` (platform admin): the tenant, its limits
/// (`null`: the platform default) and the platform defaults in force.
#[utoipa::path(get, path = "/v1/admin/tenants/{id}", tag = "admin", params(("id" = String, Path, description = "Tenant id")), responses((status = 200, body = Object), (status = 401, body = Object), (status = 404, body = Object)), security(("admin_token" = [])))]
pub async fn get_tenant(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let db = state.db();
    let tenant = db
        .tenant_by_slug_or_id(&id)
        .await?
        .filter(|t| t.id == id)
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    let limits = db.tenant_limits(&id).await?;
    let runtime = &state.pipeline.runtime;
    let d = runtime.default_limits();
    Ok(Json(json!({
        "id": tenant.id,
        "slug": tenant.slug,
        "name": tenant.name,
        "status": tenant.status,
        "created_at": tenant.created_at,
        "limits": limits,
        "defaults": {
            "plugin_fuel": d.fuel,
            "plugin_deadline_ms": d.deadline_ms,
            "plugin_memory_mib": d.memory_bytes >> 20,
            "max_concurrent_plugin_calls": runtime.fairness().calls_per_tenant,
        },
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsBody {
    #[serde(default)]
    monthly_message_limit: Option<i64>,
    #[serde(default)]
    api_rate_limit_rps: Option<i64>,
    #[serde(default)]
    retention_days: Option<i64>,
    /// Fuel per plugin call (platform default when absent).
    #[serde(default)]
    plugin_fuel: Option<i64>,
    /// Wall-clock deadline per plugin call, 1–60000 ms.
    #[serde(default)]
    plugin_deadline_ms: Option<i64>,
    /// Linear memory per plugin instance, in MiB (at most the pool's slot).
    #[serde(default)]
    plugin_memory_mib: Option<i64>,
    /// Plugin calls the tenant may run at once.
    #[serde(default)]
    max_concurrent_plugin_calls: Option<i64>,
    /// Reply and delivery jobs the tenant may have running at once.
    #[serde(default)]
    max_concurrent_jobs: Option<i64>,
}

/// `PUT /v1/admin/tenants/{id}/limits` (platform admin): the tenant's plan
/// limits and retention; `null` or absent means none.
#[utoipa::path(put, path = "/v1/admin/tenants/{id}/limits", tag = "admin", params(("id" = String, Path, description = "Tenant id")), request_body = LimitsBody, responses((status = 200, body = Object), (status = 404, body = Object), (status = 422, body = Object)), security(("admin_token" = [])))]
pub async fn set_limits(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<LimitsBody>,
) -> Result<impl IntoResponse, ApiError> {
    let limits = TenantLimits {
        monthly_message_limit: body.monthly_message_limit,
        api_rate_limit_rps: body.api_rate_limit_rps,
        retention_days: body.retention_days,
        plugin_fuel: body.plugin_fuel,
        plugin_deadline_ms: body.plugin_deadline_ms,
        plugin_memory_mib: body.plugin_memory_mib,
        max_concurrent_plugin_calls: body.max_concurrent_plugin_calls,
        max_concurrent_jobs: body.max_concurrent_jobs,
    };
    Ok(Json(json!(apply_limits(&state, &id, limits).await?)))
}

/// Check and store a tenant's limits: the API and the admin console.
pub(super) async fn apply_limits(
    state: &AppState,
    id: &str,
    limits: TenantLimits,
) -> Result<TenantLimits, ApiError> {
    let max_memory_mib = (state.pipeline.runtime.max_memory_bytes() >> 20).max(1) as i64;
    for (field, v, max) in [
        (
            "monthly_message_limit",
            limits.monthly_message_limit,
            1_000_000_000,
        ),
        (
            "api_rate_limit_rps",
            limits.api_rate_limit_rps,
            1_000_000_000,
        ),
        ("retention_days", limits.retention_days, 1_000_000_000),
        ("plugin_fuel", limits.plugin_fuel, 100_000_000_000),
        ("plugin_deadline_ms", limits.plugin_deadline_ms, 60_000),
        (
            "plugin_memory_mib",
            limits.plugin_memory_mib,
            max_memory_mib,
        ),
        (
            "max_concurrent_plugin_calls",
            limits.max_concurrent_plugin_calls,
            1_024,
        ),
        ("max_concurrent_jobs", limits.max_concurrent_jobs, 1_024),
    ] {
        if v.is_some_and(|v| !(1..=max).contains(&v)) {
            return Err(ApiError::unprocessable(
                "invalid_limits",
                format!("`{field}` must be an integer from 1 to {max}, or null"),
            ));
        }
    }
    state.db().set_tenant_limits(id, "admin", &limits).await?;
    // This replica applies them at once; others within the cache's TTL.
    state.pipeline.channels.forget_tenant_limits(id);
    Ok(limits)
}

/// `DELETE /v1/contacts/{id}`: erase a contact's identities and the text of
/// their messages (audited).
#[utoipa::path(delete, path = "/v1/contacts/{id}", tag = "contacts", params(("id" = String, Path, description = "Contact id")), responses((status = 204, description = "Erased"), (status = 404, body = Object)), security(("api_key" = [])))]
pub async fn erase_contact(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    state.db().erase_contact(&tenant.id, "api", &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
