//! A channel after its creation: `PATCH /v1/channels/{id}` (name,
//! configuration, guardrails, persona, enabled) and `DELETE
//! /v1/channels/{id}`. Both take effect on this replica's next webhook (its
//! channel cache entry is dropped) and on other replicas within the cache's
//! lifetime (`tenancy::CHANNEL_TTL`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::Value;

use super::auth::Caller;
use super::bindings::{
    GuardrailEntry, bindings_for_new_channel, plugin_config, with_consent_first,
};
use super::channel_view::channel_view;
use super::extract::JsonBody;
use super::{ApiError, AppState};
use crate::domain::ChannelStatus;
use crate::storage::{ChannelChange, Slot};

/// A change to a channel; an absent field is left as it is.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchChannel {
    #[serde(default)]
    pub(super) name: Option<String>,
    /// Keys to set: each replaces its value (secrets included); `null`
    /// removes the key; keys not given are kept. Checked like on create.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub(super) config: Option<BTreeMap<String, Value>>,
    /// The whole guardrail chain, as on create (consent is always bound,
    /// first).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub(super) guardrails: Option<Vec<GuardrailEntry>>,
    /// `null` unbinds; absent leaves it.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub(super) persona_id: Option<Option<String>>,
    /// `false` disables the channel (its webhooks answer 409
    /// `channel_disabled`, nothing is stored, processed or sent); `true`
    /// enables it again.
    #[serde(default)]
    pub(super) enabled: Option<bool>,
}

/// `PATCH /v1/channels/{id}`: change a channel; audited with the names of
/// the changed fields and configuration keys, never their values.
#[utoipa::path(patch, path = "/v1/channels/{id}", tag = "channels", params(("id" = String, Path, description = "Channel id")), request_body = PatchChannel, responses((status = 200, description = "The channel, secrets shown as set/unset", body = Object), (status = 400, body = Object), (status = 404, description = "Not one of your channels (or deleted), or an unknown persona or plugin", body = Object), (status = 422, description = "An unknown field, a value of the wrong type, or a plugin of the wrong world", body = Object)), security(("api_key" = [])))]
pub async fn patch_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PatchChannel>,
) -> Result<impl IntoResponse, ApiError> {
    let ch = apply(&state, &caller, &id, body).await?;
    Ok(Json(channel_view(&state, &ch).await))
}

/// Change one of the caller's channels (the API and the console alike).
pub(super) async fn apply(
    state: &AppState,
    caller: &Caller,
    id: &str,
    body: PatchChannel,
) -> Result<crate::storage::ChannelRecord, ApiError> {
    let tenant = &caller.tenant;
    let p = &state.pipeline;
    // Read first: another tenant's (or a deleted) channel is 404 before
    // anything in the body is looked at.
    let current = p.db.get_channel(&tenant.id, id, &p.secrets).await?;
    let mut change = ChannelChange::default();
    if let Some(name) = body.name {
        if name.trim().is_empty() {
            return Err(ApiError::unprocessable(
                "invalid_field",
                "`name` must not be empty",
            ));
        }
        change.name = Some(name);
    }
    if let Some(given) = body.config {
        let (removed, set): (BTreeMap<String, Value>, BTreeMap<String, Value>) =
            given.into_iter().partition(|(_, v)| v.is_null());
        let set = plugin_config("config", &set).map_err(invalid_field)?;
        let mut config = (*current.config).clone();
        for k in removed.keys() {
            config.remove(k);
        }
        let mut changed: Vec<String> = removed.into_keys().collect();
        for (k, v) in set {
            changed.push(k.clone());
            config.insert(k, v);
        }
        // The merged configuration must pass what a new one must.
        let merged: BTreeMap<String, Value> = config
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        plugin_config("config", &merged).map_err(invalid_field)?;
        super::webchat::check_config(&current.adapter, &config)
            .map_err(|e| ApiError::unprocessable("invalid_field", e))?;
        changed.sort();
        change.config = Some((config, changed));
    }
    if let Some(entries) = body.guardrails {
        let chain = with_consent_first(entries);
        let fresh = bindings_for_new_channel(state, &tenant.id, &current.adapter, &chain).await?;
        // The adapter keeps its binding (and any pinned version); the
        // guardrail bindings are the new chain's.
        let bindings = current
            .bindings
            .iter()
            .filter(|b| b.slot == Slot::Adapter)
            .cloned()
            .chain(fresh.into_iter().filter(|b| b.slot == Slot::Guardrail))
            .collect();
        let references = chain.iter().map(|g| g.reference().to_string()).collect();
        change.guardrails = Some((references, bindings));
    }
    change.persona_id = body.persona_id;
    change.status = body.enabled.map(|on| {
        if on {
            ChannelStatus::Active
        } else {
            ChannelStatus::Disabled
        }
    });
    p.db.update_channel(&tenant.id, &caller.actor(), id, &change, &p.secrets)
        .await?;
    // This replica's next webhook sees the change (a re-keyed secret, a
    // disabled channel) at once.
    p.channels.invalidate(id);
    Ok(p.db.get_channel(&tenant.id, id, &p.secrets).await?)
}

/// `DELETE /v1/channels/{id}`: its webhook URL answers 404 from now on, its
/// queued sends fail as `channel_deleted`, its secrets are destroyed, its
/// conversations stay readable until retention removes them. Audited.
#[utoipa::path(delete, path = "/v1/channels/{id}", tag = "channels", params(("id" = String, Path, description = "Channel id")), responses((status = 204, description = "Deleted"), (status = 404, description = "Not one of your channels, or already deleted", body = Object)), security(("api_key" = [])))]
pub async fn delete_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    remove(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete one of the caller's channels (the API and the console alike).
pub(super) async fn remove(state: &AppState, caller: &Caller, id: &str) -> Result<(), ApiError> {
    let p = &state.pipeline;
    p.db.delete_channel(&caller.tenant.id, &caller.actor(), id, &p.secrets)
        .await?;
    p.channels.invalidate(id);
    Ok(())
}

/// A configuration value of the wrong shape is a field the request got
/// wrong: 422, like a value of the wrong type.
fn invalid_field(e: ApiError) -> ApiError {
    ApiError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "invalid_field",
        ..e
    }
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
