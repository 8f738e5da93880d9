//! `/v1/personas`: how a tenant's automated replies sound and which
//! responder writes them. Responder keys are write-only: responses show
//! them as set/unset, and an update that omits the key keeps it, unless
//! it changes the `base_url` the key is sent to (then the key is required).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Caller, Tenant};
use super::extract::JsonBody;
use super::{ApiError, AppState};
use crate::orchestrator::ResponderConfig;
use crate::runtime::World;
use crate::storage::{PersonaDeletion, PersonaRecord, PersonaSpec};

/// The default responder: a fixed acknowledgement.
const DEFAULT_STATIC_REPLY: &str =
    "Hi {{contact_name}}, thanks for your message! We'll get back to you shortly.";

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonaBody {
    pub(super) name: String,
    pub(super) display_name: Option<String>,
    pub(super) custom_system_prompt: Option<String>,
    pub(super) system_prompt_additions: Option<String>,
    #[serde(default)]
    pub(super) prohibited_topics: Vec<String>,
    #[serde(default)]
    pub(super) required_disclaimers: Vec<String>,
    pub(super) formality: Option<i64>,
    pub(super) humor: Option<i64>,
    pub(super) emoji_usage: Option<String>,
    /// `{"kind": "static", "text"}` or `{"kind": "openai", "base_url",
    /// "model", "api_key", "temperature"?, "max_tokens"?}`.
    #[schema(value_type = Option<Object>)]
    pub(super) responder: Option<Value>,
    /// A persona component: a first-party name or one of the tenant's
    /// plugin ids.
    pub(super) persona: Option<String>,
    /// The persona component's configuration (strings, numbers or
    /// booleans): all it reads through `config`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub(super) persona_config: std::collections::BTreeMap<String, Value>,
}

/// Longest prompt text a tenant may set.
const MAX_PROMPT_CHARS: usize = 8_000;

fn validate(
    body: PersonaBody,
    previous: Option<&PersonaRecord>,
) -> Result<(String, PersonaSpec, Value), ApiError> {
    let name = body.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request("`name` must be 1-100 characters"));
    }
    let percent = |field: &str, v: Option<i64>, default: u8| -> Result<u8, ApiError> {
        match v {
            None => Ok(default),
            Some(v) if (0..=100).contains(&v) => Ok(v as u8),
            Some(v) => Err(ApiError::unprocessable(
                "invalid_persona",
                format!("`{field}` must be between 0 and 100, not {v}"),
            )),
        }
    };
    let emoji_usage = body.emoji_usage.unwrap_or_else(|| "minimal".into());
    if !matches!(emoji_usage.as_str(), "none" | "minimal" | "normal") {
        return Err(ApiError::unprocessable(
            "invalid_persona",
            format!("`emoji_usage` must be none, minimal or normal, not `{emoji_usage}`"),
        ));
    }
    for (field, text) in [
        ("custom_system_prompt", &body.custom_system_prompt),
        ("system_prompt_additions", &body.system_prompt_additions),
    ] {
        if text
            .as_ref()
            .is_some_and(|t| t.chars().count() > MAX_PROMPT_CHARS)
        {
            return Err(ApiError::unprocessable(
                "invalid_persona",
                format!("`{field}` is longer than {MAX_PROMPT_CHARS} characters"),
            ));
        }
    }
    let clean = |list: Vec<String>| -> Vec<String> {
        list.into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let spec = PersonaSpec {
        display_name: body
            .display_name
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| name.clone()),
        custom_system_prompt: body.custom_system_prompt.filter(|t| !t.trim().is_empty()),
        system_prompt_additions: body
            .system_prompt_additions
            .filter(|t| !t.trim().is_empty()),
        prohibited_topics: clean(body.prohibited_topics),
        required_disclaimers: clean(body.required_disclaimers),
        formality: percent("formality", body.formality, 50)?,
        humor: percent("humor", body.humor, 20)?,
        emoji_usage,
        persona: body.persona.filter(|p| !p.is_empty()),
        persona_config: super::bindings::plugin_config("persona_config", &body.persona_config)?,
    };
    let mut responder = body
        .responder
        .unwrap_or_else(|| json!({ "kind": "static", "text": DEFAULT_STATIC_REPLY }));
    if responder["kind"] == "openai" {
        // Write-only key: absent or "set" keeps the stored one.
        let keep = match responder.get("api_key") {
            None => true,
            Some(Value::String(s)) => s == "set",
            Some(_) => false,
        };
        if keep {
            let previous = previous.filter(|p| p.responder["kind"] == "openai");
            let old = previous
                .and_then(|p| p.responder["api_key"].as_str())
                .unwrap_or("");
            // The stored key is bound to the URL it was given for: keeping
            // it for another URL would let anyone who may edit the persona
            // (but not read the key) send it to a host of their choosing.
            if !old.is_empty()
                && let Some(previous) = previous
                && !same_destination(&previous.responder["base_url"], &responder["base_url"])
            {
                return Err(ApiError::unprocessable(
                    "api_key_required",
                    "`responder.base_url` changed: send `responder.api_key` again (the stored key is only ever sent to the base URL it was set with)",
                ));
            }
            responder["api_key"] = json!(old);
        }
    }
    let config: ResponderConfig = serde_json::from_value(responder.clone()).map_err(|e| {
        ApiError::unprocessable(
            "invalid_responder",
            format!("`responder` must be {{\"kind\": \"static\", \"text\"}} or {{\"kind\": \"openai\", \"base_url\", \"model\", \"api_key\"}}: {e}"),
        )
    })?;
    config
        .validate()
        .map_err(|e| ApiError::unprocessable("invalid_responder", e))?;
    // Store the normalized form (no unknown fields).
    let responder = serde_json::to_value(&config).map_err(|_| ApiError::internal())?;
    Ok((name, spec, responder))
}

/// Whether two `base_url` values name the same endpoint: compared as
/// parsed URLs (so host case, a default port or a trailing slash do not
/// count as a change), anything unparsable only as identical strings.
fn same_destination(old: &Value, new: &Value) -> bool {
    let normalized = |v: &Value| {
        let s = v.as_str()?.trim();
        Some(match url::Url::parse(s) {
            Ok(u) => u.as_str().trim_end_matches('/').to_string(),
            Err(_) => s.to_string(),
        })
    };
    match (normalized(old), normalized(new)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

async fn check_persona_plugin(
    state: &AppState,
    tenant_id: &str,
    spec: &PersonaSpec,
) -> Result<(), ApiError> {
    if let Some(reference) = &spec.persona {
        super::bindings::check_binding(state, tenant_id, reference, World::Persona).await?;
    }
    Ok(())
}

#[utoipa::path(post, path = "/v1/personas", tag = "personas", request_body = PersonaBody, responses((status = 201, description = "The persona; the responder key shown as set/unset", body = Object), (status = 409, body = Object), (status = 422, body = Object)), security(("api_key" = [])))]
pub async fn create_persona(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    JsonBody(body): JsonBody<PersonaBody>,
) -> Result<impl IntoResponse, ApiError> {
    let (name, spec, responder) = validate(body, None)?;
    check_persona_plugin(&state, &tenant.id, &spec).await?;
    let p = &state.pipeline;
    let rec =
        p.db.create_persona(&tenant.id, "api", &name, &spec, &responder, &p.secrets)
            .await?;
    Ok((StatusCode::CREATED, Json(persona_json(&rec))))
}

#[utoipa::path(put, path = "/v1/personas/{id}", tag = "personas", params(("id" = String, Path, description = "Persona id")), request_body = PersonaBody, responses((status = 200, body = Object), (status = 404, body = Object), (status = 422, body = Object)), security(("api_key" = [])))]
pub async fn update_persona(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PersonaBody>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(persona_json(
        &update(&state, &caller, &id, body).await?,
    )))
}

/// Replace a persona's fields (the API and the console alike).
pub(super) async fn update(
    state: &AppState,
    caller: &Caller,
    id: &str,
    body: PersonaBody,
) -> Result<PersonaRecord, ApiError> {
    let p = &state.pipeline;
    let tenant = &caller.tenant;
    let previous = p.db.get_persona(&tenant.id, id, &p.secrets).await?;
    let (name, spec, responder) = validate(body, Some(&previous))?;
    check_persona_plugin(state, &tenant.id, &spec).await?;
    let updated =
        p.db.update_persona(
            &tenant.id,
            &caller.actor(),
            id,
            &name,
            &spec,
            &responder,
            &p.secrets,
        )
        .await?;
    // This replica's next reply reads the new fields; others within the
    // cache's 2 s.
    p.channels.forget_persona(&tenant.id, id);
    Ok(updated)
}

#[utoipa::path(get, path = "/v1/personas/{id}", tag = "personas", params(("id" = String, Path, description = "Persona id")), responses((status = 200, body = Object), (status = 404, body = Object)), security(("api_key" = [])))]
pub async fn get_persona(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let p = &state.pipeline;
    let rec = p.db.get_persona(&tenant.id, &id, &p.secrets).await?;
    Ok(Json(persona_json(&rec)))
}

/// `DELETE /v1/personas/{id}`: refused with 409 `persona_in_use` (naming
/// the channels) while a channel uses it; audited.
#[utoipa::path(delete, path = "/v1/personas/{id}", tag = "personas", params(("id" = String, Path, description = "Persona id")), responses((status = 204, description = "Deleted"), (status = 404, body = Object), (status = 409, description = "`persona_in_use`: unbind it from `channel_ids` first", body = Object)), security(("api_key" = [])))]
pub async fn delete_persona(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    match state.db().delete_persona(&tenant.id, "api", &id).await? {
        PersonaDeletion::Deleted => {
            state.pipeline.channels.forget_persona(&tenant.id, &id);
            Ok(StatusCode::NO_CONTENT)
        }
        PersonaDeletion::InUse(channels) => {
            let mut e = ApiError::new(
                StatusCode::CONFLICT,
                "persona_in_use",
                format!(
                    "{} channel(s) use this persona; unbind it first (`PATCH /v1/channels/{{id}}` with `\"persona_id\": null`)",
                    channels.len()
                ),
            );
            e.extra = Some(json!({ "channel_ids": channels }));
            Err(e)
        }
    }
}

#[utoipa::path(get, path = "/v1/personas", tag = "personas", responses((status = 200, body = Object)), security(("api_key" = [])))]
pub async fn list_personas(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
) -> Result<impl IntoResponse, ApiError> {
    let p = &state.pipeline;
    let list = p.db.list_personas(&tenant.id, &p.secrets).await?;
    Ok(Json(
        json!({ "data": list.iter().map(persona_json).collect::<Vec<_>>(), "next_cursor": null }),
    ))
}

/// A persona as the API shows it: the responder's key only as set/unset.
fn persona_json(rec: &PersonaRecord) -> Value {
    let s = &rec.spec;
    let responder = serde_json::from_value::<ResponderConfig>(rec.responder.clone())
        .map(|r| r.redacted())
        .unwrap_or(Value::Null);
    json!({
        "id": rec.id,
        "name": rec.name,
        "display_name": s.display_name,
        "custom_system_prompt": s.custom_system_prompt,
        "system_prompt_additions": s.system_prompt_additions,
        "prohibited_topics": s.prohibited_topics,
        "required_disclaimers": s.required_disclaimers,
        "formality": s.formality,
        "humor": s.humor,
        "emoji_usage": s.emoji_usage,
        "responder": responder,
        "persona": s.persona,
        "persona_config": s.persona_config,
        "created_at": rec.created_at,
        "updated_at": rec.updated_at,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TryBody {
    /// The conversation so far, oldest first; the last is the customer's
    /// message to answer. Each `{"role": "user"|"assistant", "text"}`.
    messages: Vec<TryTurn>,
    /// Also run this channel's guardrails (and speak as on its adapter).
    channel_id: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TryTurn {
    role: String,
    /// Also accepted as `content` (the chat-completions spelling).
    #[serde(alias = "content")]
    text: String,
}

/// The most turns a try may carry.
const MAX_TRY_TURNS: usize = 50;

#[utoipa::path(post, path = "/v1/personas/{id}/try", tag = "personas", params(("id" = String, Path, description = "Persona id")), request_body = TryBody, responses((status = 200, description = "`{reply, blocked, handoff, system_prompt, usage}`: what the persona would answer, after its guardrails; nothing is stored or sent", body = Object), (status = 404, body = Object), (status = 422, body = Object), (status = 502, description = "`responder_failed`", body = Object)), security(("api_key" = [])))]
pub async fn try_persona(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<TryBody>,
) -> Result<impl IntoResponse, ApiError> {
    use crate::domain::{Direction, Turn};
    use crate::pipeline::sandbox::TryError;
    let invalid = |m: &str| ApiError::unprocessable("invalid_messages", m.to_string());
    if body.messages.is_empty() || body.messages.len() > MAX_TRY_TURNS {
        return Err(invalid(
            "`messages` must hold 1-50 turns, the last one the customer's",
        ));
    }
    let turns = body
        .messages
        .into_iter()
        .map(|t| {
            let direction = match t.role.as_str() {
                "user" => Direction::Inbound,
                "assistant" => Direction::Outbound,
                other => {
                    return Err(invalid(&format!(
                        "a turn's `role` is user or assistant, not `{other}`"
                    )));
                }
            };
            if t.text.chars().count() > 4096 {
                return Err(invalid("a turn's `text` is at most 4,096 characters"));
            }
            Ok(Turn {
                direction,
                text: t.text,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if turns
        .last()
        .is_some_and(|t| t.direction != Direction::Inbound)
    {
        return Err(invalid(
            "the last turn must be the customer's (`role`: `user`)",
        ));
    }
    let tried = crate::pipeline::sandbox::try_persona(
        &state.pipeline,
        &state.responder,
        &tenant.id,
        &id,
        body.channel_id.as_deref(),
        turns,
    )
    .await
    .map_err(|e| match e {
        TryError::NotFound(what) => ApiError::not_found(what),
        TryError::Channel(m) => ApiError::new(StatusCode::CONFLICT, "channel_unavailable", m),
        TryError::Responder(m) => ApiError::new(StatusCode::BAD_GATEWAY, "responder_failed", m),
        TryError::Storage(e) => e.into(),
    })?;
    let (reply, blocked) = match tried.reply {
        Some(Ok(text)) => (Some(text), None),
        Some(Err((text, reason))) => (None, Some(json!({ "text": text, "reason": reason }))),
        None => (None, None),
    };
    Ok(Json(json!({
        "reply": reply,
        "blocked": blocked,
        "handoff": tried.hand_over,
        "system_prompt": tried.system_prompt,
        "usage": { "prompt_tokens": tried.prompt_tokens, "completion_tokens": tried.completion_tokens },
    })))
}
