//! A channel's plugin bindings through the API: what channel creation
//! accepts (references with a version, guardrail failure policies), how a
//! channel shows them, and `activate` / `rollback` of a plugin's version.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Tenant;
use super::channel_view::channel_view;
use super::extract::JsonBody;
use super::{ApiError, AppState};
use crate::pipeline::CatalogError;
use crate::runtime::World;
use crate::storage::{OnFailure, PinnedVersion, PluginBinding, Slot, StorageError};

/// The guardrail every channel has; it never fails open, because a lost
/// opt-out is a compliance failure, not a degraded reply.
const CONSENT: &str = "consent";

/// A guardrail entry of channel creation: a reference, or a reference with
/// its failure policy and its own configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum GuardrailEntry {
    Reference(String),
    Bound {
        plugin: String,
        #[serde(default)]
        on_failure: OnFailure,
        /// What the guardrail reads through `config` (and all it can read).
        #[serde(default)]
        config: BTreeMap<String, Value>,
    },
}

impl GuardrailEntry {
    pub fn reference(&self) -> &str {
        match self {
            GuardrailEntry::Reference(r) | GuardrailEntry::Bound { plugin: r, .. } => r,
        }
    }

    fn on_failure(&self) -> OnFailure {
        match self {
            GuardrailEntry::Reference(_) => OnFailure::FailClosed,
            GuardrailEntry::Bound { on_failure, .. } => *on_failure,
        }
    }

    fn config(&self) -> Result<BTreeMap<String, String>, ApiError> {
        match self {
            GuardrailEntry::Reference(_) => Ok(BTreeMap::new()),
            GuardrailEntry::Bound { plugin, config, .. } => {
                plugin_config(&format!("guardrails[{plugin}].config"), config)
            }
        }
    }
}

/// A guardrail chain as the tenant lists it, with consent first: consent
/// handling is never optional, and runs first wherever the tenant listed
/// it, because a guardrail before it could rewrite or block a "STOP" and
/// lose the opt-out.
pub(crate) fn with_consent_first(entries: Vec<GuardrailEntry>) -> Vec<GuardrailEntry> {
    let (consent, others): (Vec<GuardrailEntry>, Vec<GuardrailEntry>) =
        entries.into_iter().partition(|g| g.reference() == CONSENT);
    let mut chain = vec![
        consent
            .into_iter()
            .next()
            .unwrap_or_else(|| GuardrailEntry::Reference(CONSENT.to_string())),
    ];
    chain.extend(others);
    chain
}

/// Most keys one plugin configuration may have.
const MAX_CONFIG_KEYS: usize = 100;
/// Longest configuration key, in bytes.
const MAX_CONFIG_KEY_BYTES: usize = 128;
/// Longest configuration value, in bytes (room for a PEM key).
const MAX_CONFIG_VALUE_BYTES: usize = 16 * 1024;

/// A plugin configuration as the API accepts it (`field` names it in
/// errors): strings, numbers or booleans, each kept as the string the
/// plugin's `config` import returns.
pub(crate) fn plugin_config(
    field: &str,
    values: &BTreeMap<String, Value>,
) -> Result<BTreeMap<String, String>, ApiError> {
    if values.len() > MAX_CONFIG_KEYS {
        return Err(ApiError::bad_request(format!(
            "`{field}` has {} keys; at most {MAX_CONFIG_KEYS} are allowed",
            values.len()
        )));
    }
    let mut config = BTreeMap::new();
    for (k, v) in values {
        if k.is_empty() || k.len() > MAX_CONFIG_KEY_BYTES {
            return Err(ApiError::bad_request(format!(
                "`{field}` keys must be 1-{MAX_CONFIG_KEY_BYTES} bytes"
            )));
        }
        let value = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            // A list (web chat's `allowed_origins`) is kept as its JSON.
            Value::Array(items) if items.iter().all(Value::is_string) => v.to_string(),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "`{field}` value of `{k}` must be a string, number, boolean or list of strings"
                )));
            }
        };
        if value.len() > MAX_CONFIG_VALUE_BYTES {
            return Err(ApiError::bad_request(format!(
                "`{field}` value of `{k}` is longer than {MAX_CONFIG_VALUE_BYTES} bytes"
            )));
        }
        config.insert(k.clone(), value);
    }
    Ok(config)
}

/// The bindings a new channel asks for, each checked: it must name a
/// first-party plugin or one of the tenant's own (another tenant's is "not
/// found"), of the right world. `guardrails` already includes consent.
pub(crate) async fn bindings_for_new_channel(
    state: &AppState,
    tenant_id: &str,
    adapter: &str,
    guardrails: &[GuardrailEntry],
) -> Result<Vec<PluginBinding>, ApiError> {
    let mut out = vec![bind(state, tenant_id, Slot::Adapter, adapter).await?];
    for g in guardrails {
        let mut b = bind(state, tenant_id, Slot::Guardrail, g.reference()).await?;
        if g.on_failure() == OnFailure::FailOpen && b.plugin == CONSENT {
            return Err(ApiError::unprocessable(
                "fail_open_refused",
                "the consent guardrail always fails closed",
            ));
        }
        b.on_failure = g.on_failure();
        b.config = g.config()?;
        out.push(b);
    }
    Ok(out)
}

async fn bind(
    state: &AppState,
    tenant_id: &str,
    slot: Slot,
    reference: &str,
) -> Result<PluginBinding, ApiError> {
    let p = &state.pipeline;
    let binding = p
        .catalog
        .binding_for(&p.db, tenant_id, slot, reference)
        .await
        .map_err(|e| catalog_error(e, reference))?;
    let plugin = p
        .catalog
        .resolve_binding(&p.db, &p.runtime, tenant_id, &binding)
        .await
        .map_err(|e| catalog_error(e, reference))?;
    check_world(reference, plugin.detected.world, slot)?;
    Ok(binding)
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
    let plugin = p
        .catalog
        .resolve(&p.db, &p.runtime, tenant_id, reference)
        .await
        .map_err(|e| catalog_error(e, reference))?;
    expect_world(reference, plugin.detected.world, world)
}

fn world_of(slot: Slot) -> World {
    match slot {
        Slot::Adapter => World::ChannelAdapter,
        Slot::Guardrail => World::Guardrail,
    }
}

fn check_world(reference: &str, actual: World, slot: Slot) -> Result<(), ApiError> {
    expect_world(reference, actual, world_of(slot))
}

fn expect_world(reference: &str, actual: World, expected: World) -> Result<(), ApiError> {
    if actual == expected {
        return Ok(());
    }
    Err(ApiError::unprocessable(
        "wrong_world",
        format!("`{reference}` is a {actual} plugin; a {expected} is needed here"),
    ))
}

fn catalog_error(e: CatalogError, reference: &str) -> ApiError {
    match e {
        CatalogError::NotFound => ApiError::new(
            StatusCode::NOT_FOUND,
            "plugin_not_found",
            format!("`{reference}` is neither a first-party plugin nor one of your plugins"),
        ),
        CatalogError::Storage(e) => e.into(),
        CatalogError::Plugin(e) => ApiError::unprocessable(
            "plugin_invalid",
            format!("`{reference}` cannot be loaded: {e}"),
        ),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Activate {
    version: String,
}

/// Pin every binding of plugin `name` on the channel to `version`,
/// remembering what each ran before.
#[utoipa::path(post, path = "/v1/channels/{id}/plugins/{name}/activate", tag = "plugins", params(("id" = String, Path, description = "Channel id"), ("name" = String, Path, description = "Plugin name")), request_body = Activate, responses((status = 200, description = "The channel with its bindings", body = Object), (status = 404, body = Object), (status = 409, body = Object), (status = 422, body = Object)), security(("api_key" = [])))]
pub async fn activate(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path((channel_id, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<Activate>,
) -> Result<impl IntoResponse, ApiError> {
    pin_version(&state, &tenant.id, &channel_id, &name, &body.version).await
}

/// Pin the channel's bindings of `name` to `version`: the API and the
/// console.
pub(super) async fn pin_version(
    state: &AppState,
    tenant_id: &str,
    channel_id: &str,
    name: &str,
    version: &str,
) -> Result<Json<Value>, ApiError> {
    let p = &state.pipeline;
    let target = match p.db.get_plugin_version(tenant_id, name, version).await {
        Ok(r) => r,
        Err(StorageError::NotFound(_)) => {
            // Which one is missing decides the status: no such plugin is
            // "not found", a missing version of a known plugin is invalid.
            if p.db.plugin_versions(tenant_id, name).await?.is_empty() {
                return Err(plugin_not_found(name));
            }
            return Err(ApiError::unprocessable(
                "version_not_found",
                format!("`{name}` has no version `{version}`"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let to = PinnedVersion {
        version: target.version.clone(),
        plugin_id: target.id.clone(),
    };
    change(
        state,
        tenant_id,
        channel_id,
        name,
        "plugin.activate",
        |_| Ok(to.clone()),
    )
    .await
}

/// Return every binding of plugin `name` on the channel to the version it
/// ran before the last activation (or rollback).
#[utoipa::path(post, path = "/v1/channels/{id}/plugins/{name}/rollback", tag = "plugins", params(("id" = String, Path, description = "Channel id"), ("name" = String, Path, description = "Plugin name")), responses((status = 200, description = "The channel with its bindings", body = Object), (status = 404, body = Object), (status = 409, body = Object), (status = 422, body = Object)), security(("api_key" = [])))]
pub async fn rollback(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path((channel_id, name)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    roll_back(&state, &tenant.id, &channel_id, &name).await
}

/// Return the channel's bindings of `name` to their previous version: the
/// API and the console.
pub(super) async fn roll_back(
    state: &AppState,
    tenant_id: &str,
    channel_id: &str,
    name: &str,
) -> Result<Json<Value>, ApiError> {
    change(state, tenant_id, channel_id, name, "plugin.rollback", |b| {
        b.previous.clone().ok_or_else(|| {
            ApiError::unprocessable(
                "no_previous_version",
                format!("the binding of `{}` has no previous version", b.plugin),
            )
        })
    })
    .await
}

/// Re-pin the bindings of `name` to what `to` picks, check the world, store
/// it (retrying if a concurrent change won), audit, and make this replica's
/// next webhook use it.
async fn change(
    state: &AppState,
    tenant_id: &str,
    channel_id: &str,
    name: &str,
    action: &str,
    to: impl Fn(&PluginBinding) -> Result<PinnedVersion, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let p = &state.pipeline;
    if p.catalog.is_first_party(name) {
        return Err(ApiError::unprocessable(
            "first_party",
            format!("`{name}` is a first-party plugin; it has one version"),
        ));
    }
    for _ in 0..3 {
        let ch = p.db.get_channel(tenant_id, channel_id, &p.secrets).await?;
        let mut bindings = ch.bindings.clone();
        let mut changes = Vec::new();
        for b in bindings.iter_mut().filter(|b| b.plugin == name) {
            let before = p
                .catalog
                .current_version(&p.db, tenant_id, b)
                .await
                .map_err(|e| catalog_error(e, name))?;
            let after = to(b)?;
            let plugin = p
                .catalog
                .resolve_binding(
                    &p.db,
                    &p.runtime,
                    tenant_id,
                    &PluginBinding {
                        pinned: Some(after.clone()),
                        ..b.clone()
                    },
                )
                .await
                .map_err(|e| catalog_error(e, name))?;
            check_world(
                &format!("{name}@{}", after.version),
                plugin.detected.world,
                b.slot,
            )?;
            changes.push(json!({
                "slot": b.slot,
                "before": before.as_ref().map(|v| &v.version),
                "after": after.version,
            }));
            b.previous = before;
            b.pinned = Some(after);
        }
        if changes.is_empty() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "binding_not_found",
                format!("the channel has no binding of `{name}`"),
            ));
        }
        let detail = json!({ "plugin": name, "changes": changes });
        if p.db
            .update_bindings(
                tenant_id,
                channel_id,
                &ch.bindings,
                &bindings,
                action,
                &detail,
            )
            .await?
        {
            p.channels.invalidate(channel_id);
            let ch = p.db.get_channel(tenant_id, channel_id, &p.secrets).await?;
            return Ok(Json(channel_view(state, &ch).await));
        }
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "conflict",
        "the channel's bindings changed concurrently; retry",
    ))
}

fn plugin_not_found(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "plugin_not_found",
        format!("`{name}` is not one of your plugins"),
    )
}
