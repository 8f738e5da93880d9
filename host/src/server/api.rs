//! The tenant REST API and platform-admin endpoints.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Admin, Tenant};
use super::bindings::{GuardrailEntry, bindings_for_new_channel, channel_view, plugin_config};
use super::extract::JsonBody;
use super::{ApiError, AppState};
use crate::domain::AdapterInfo;
use crate::runtime::World;
use crate::storage::ChannelRecord;

#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "The process is up", body = Object)))]
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, description = "Database reachable and first-party plugins loaded", body = Object), (status = 503, description = "Not ready", body = Object)))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let db = state.db().ping().await;
    let plugins = state.pipeline.catalog.ready();
    let status = if db && plugins {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "ready": db && plugins, "database": db, "first_party_plugins": plugins })),
    )
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

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

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateChannel {
    name: String,
    adapter: String,
    /// Adapter configuration (strings, numbers or booleans); secret keys
    /// are stored encrypted.
    #[serde(default)]
    #[schema(value_type = Object)]
    config: BTreeMap<String, Value>,
    /// References (`name`, `name@version`, `name@latest`, a plugin id) or
    /// `{"plugin", "on_failure"}` objects.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    guardrails: Vec<GuardrailEntry>,
    #[serde(default)]
    persona_id: Option<String>,
}

#[utoipa::path(post, path = "/v1/channels", tag = "channels", request_body = CreateChannel, responses((status = 201, description = "The channel with its webhook_url", body = Object), (status = 400, body = Object), (status = 404, description = "Unknown plugin or persona", body = Object), (status = 409, description = "The routing key is taken", body = Object), (status = 422, description = "A plugin of the wrong world", body = Object)), security(("api_key" = [])))]
pub async fn create_channel(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    JsonBody(body): JsonBody<CreateChannel>,
) -> Result<impl IntoResponse, ApiError> {
    if body.name.trim().is_empty() {
        return Err(ApiError::bad_request("`name` must not be empty"));
    }
    let config = plugin_config("config", &body.config)?;
    let p = &state.pipeline;
    // Consent handling is never optional, and runs first wherever the
    // tenant listed it: a guardrail before it could rewrite or block a
    // "STOP" and lose the opt-out.
    let (consent, others): (Vec<GuardrailEntry>, Vec<GuardrailEntry>) = body
        .guardrails
        .into_iter()
        .partition(|g| g.reference() == "consent");
    let mut guardrails = vec![
        consent
            .into_iter()
            .next()
            .unwrap_or_else(|| GuardrailEntry::Reference("consent".to_string())),
    ];
    guardrails.extend(others);
    let bindings = bindings_for_new_channel(&state, &tenant.id, &body.adapter, &guardrails).await?;
    let guardrails: Vec<String> = guardrails
        .iter()
        .map(|g| g.reference().to_string())
        .collect();
    if let Some(persona) = &body.persona_id {
        // Checked before the channel exists, so a bad id creates nothing.
        p.db.get_persona(&tenant.id, persona, &p.secrets).await?;
    }
    let mut new = p
        .catalog
        .new_channel(body.name, body.adapter, config, guardrails, |id| {
            state.webhook_url(id)
        });
    new.bindings = bindings;
    let mut ch = p.db.create_channel(&tenant.id, &new, &p.secrets).await?;
    if let Some(persona) = &body.persona_id {
        p.db.set_channel_persona(&tenant.id, "api", &ch.id, Some(persona))
            .await?;
        ch.persona_id = Some(persona.clone());
    }
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "id": ch.id, "webhook_url": state.webhook_url(&ch.id), "channel": channel_view(&state, &ch).await }),
        ),
    ))
}

/// A binding must name a first-party plugin or one of the tenant's own
/// plugins, of the right world. Another tenant's plugin is "not found".
pub(crate) async fn check_binding(
    state: &AppState,
    tenant_id: &str,
    reference: &str,
    world: World,
) -> Result<(), ApiError> {
    let p = &state.pipeline;
    let plugin = match p
        .catalog
        .resolve(&p.db, &p.runtime, tenant_id, reference)
        .await
    {
        Ok(plugin) => plugin,
        Err(crate::pipeline::CatalogError::NotFound) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "plugin_not_found",
                format!("`{reference}` is neither a first-party plugin nor one of your plugins"),
            ));
        }
        Err(crate::pipeline::CatalogError::Storage(e)) => return Err(e.into()),
        Err(crate::pipeline::CatalogError::Plugin(e)) => {
            return Err(ApiError::unprocessable(
                "plugin_invalid",
                format!("`{reference}` cannot be loaded: {e}"),
            ));
        }
    };
    if plugin.detected.world != world {
        return Err(ApiError::unprocessable(
            "wrong_world",
            format!(
                "`{reference}` is a {} plugin; a {} is needed here",
                plugin.detected.world, world
            ),
        ));
    }
    Ok(())
}

/// A channel as the API shows it: the values of the keys its adapter
/// declares secret (all of them when it declares nothing, or `info` is
/// unknown) only as set/unset.
pub(crate) fn channel_json(
    state: &AppState,
    ch: &ChannelRecord,
    info: Option<&AdapterInfo>,
) -> Value {
    let secret = |k: &str| info.is_none_or(|i| i.is_secret(k));
    let mut config = serde_json::Map::new();
    for (k, v) in ch.config.iter() {
        config.insert(
            k.clone(),
            if secret(k) {
                json!(if v.is_empty() { "unset" } else { "set" })
            } else {
                json!(v)
            },
        );
    }
    // Declared secrets the tenant has not configured show as unset.
    for key in info.map(|i| i.config_keys.as_slice()).unwrap_or_default() {
        if secret(key) {
            config.entry(key.clone()).or_insert(json!("unset"));
        }
    }
    json!({
        "id": ch.id,
        "name": ch.name,
        "adapter": ch.adapter,
        "config": config,
        "guardrails": ch.guardrails,
        "persona_id": ch.persona_id,
        "webhook_url": state.webhook_url(&ch.id),
        "status": ch.status,
        "created_at": ch.created_at,
    })
}

#[utoipa::path(get, path = "/v1/channels", tag = "channels", responses((status = 200, description = "`{data, next_cursor}`", body = Object)), security(("api_key" = [])))]
pub async fn list_channels(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
) -> Result<impl IntoResponse, ApiError> {
    let channels = state
        .db()
        .list_channels(&tenant.id, &state.pipeline.secrets)
        .await?;
    let mut data = Vec::with_capacity(channels.len());
    for c in &channels {
        data.push(channel_view(&state, c).await);
    }
    Ok(Json(json!({ "data": data, "next_cursor": null })))
}

#[utoipa::path(get, path = "/v1/channels/{id}", tag = "channels", params(("id" = String, Path, description = "Channel id")), responses((status = 200, body = Object), (status = 404, body = Object)), security(("api_key" = [])))]
pub async fn get_channel(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let ch = state
        .db()
        .get_channel(&tenant.id, &id, &state.pipeline.secrets)
        .await?;
    Ok(Json(channel_view(&state, &ch).await))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    channel_id: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
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
        .list_messages(&tenant.id, &id, q.limit.unwrap_or(100), q.cursor.as_deref())
        .await?;
    Ok(Json(page))
}

#[utoipa::path(get, path = "/v1/contacts/{id}", tag = "contacts", params(("id" = String, Path, description = "Contact id")), responses((status = 200, description = "The contact with its channel identities and consent", body = Object), (status = 404, body = Object)), security(("api_key" = [])))]
pub async fn get_contact(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.db().get_contact(&tenant.id, &id).await?))
}
