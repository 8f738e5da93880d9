//! A tenant's channels: create, list, read. (Changes and deletion:
//! `channel_changes`.)

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Caller, Tenant};
use super::bindings::{
    GuardrailEntry, bindings_for_new_channel, plugin_config, with_consent_first,
};
use super::channel_view::channel_view;
use super::extract::JsonBody;
use super::{ApiError, AppState};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateChannel {
    pub(super) name: String,
    pub(super) adapter: String,
    /// Adapter configuration (strings, numbers or booleans); secret keys
    /// are stored encrypted.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub(super) config: BTreeMap<String, Value>,
    /// References (`name`, `name@version`, `name@latest`, a plugin id) or
    /// `{"plugin", "on_failure"}` objects.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub(super) guardrails: Vec<GuardrailEntry>,
    #[serde(default)]
    pub(super) persona_id: Option<String>,
}

#[utoipa::path(post, path = "/v1/channels", tag = "channels", request_body = CreateChannel, responses((status = 201, description = "The channel with its webhook_url", body = Object), (status = 400, body = Object), (status = 404, description = "Unknown plugin or persona", body = Object), (status = 422, description = "A plugin of the wrong world", body = Object)), security(("api_key" = [])))]
pub async fn create_channel(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateChannel>,
) -> Result<impl IntoResponse, ApiError> {
    let ch = create(&state, &caller, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "id": ch.id, "webhook_url": state.webhook_url(&ch.id), "channel": channel_view(&state, &ch).await }),
        ),
    ))
}

/// Create a channel for the caller (the API and the console alike).
pub(super) async fn create(
    state: &AppState,
    caller: &Caller,
    body: CreateChannel,
) -> Result<crate::storage::ChannelRecord, ApiError> {
    let tenant = &caller.tenant;
    if body.name.trim().is_empty() {
        return Err(ApiError::bad_request("`name` must not be empty"));
    }
    let config = plugin_config("config", &body.config)?;
    super::webchat::check_config(&body.adapter, &config).map_err(ApiError::bad_request)?;
    let p = &state.pipeline;
    let guardrails = with_consent_first(body.guardrails);
    let bindings = bindings_for_new_channel(state, &tenant.id, &body.adapter, &guardrails).await?;
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
    // A shared endpoint's route key is the platform admin's to assign
    // (`PUT /v1/admin/channels/{id}/route`): a number in a tenant's
    // configuration proves nothing about who owns it.
    new.route_key = None;
    let mut ch = p.db.create_channel(&tenant.id, &new, &p.secrets).await?;
    if let Some(persona) = &body.persona_id {
        p.db.set_channel_persona(&tenant.id, &caller.actor(), &ch.id, Some(persona))
            .await?;
        ch.persona_id = Some(persona.clone());
    }
    Ok(ch)
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
