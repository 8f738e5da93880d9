//! `/v1/webhook-endpoints`: where a tenant's events are POSTed (Standard
//! Webhooks signatures; see `crate::pipeline::webhook_delivery`). The
//! signing secret is shown once, on creation and on rotation; a rotated-out
//! secret keeps signing beside the new one for 24 h.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Tenant;
use super::extract::JsonBody;
use super::{ApiError, AppState};
use crate::domain::EventType;
use crate::outbound::OutboundPolicy;
use crate::storage::WebhookEndpoint;

/// How long a rotated-out secret still signs.
const ROTATION_OVERLAP_MS: i64 = 24 * 3600 * 1000;
/// Endpoints per tenant: each is scanned by the dispatcher.
const MAX_ENDPOINTS: usize = 20;
const MAX_URL_CHARS: usize = 2048;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointBody {
    /// Where events are POSTed: https (plain http only for a target the
    /// operator allowed); never a private address unless allowed.
    url: String,
    /// The event types delivered, e.g. `["message.created"]`.
    types: Vec<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Page size, 1 to 100 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The checked types, or a 422 naming the unknown one.
fn event_types(types: &[String]) -> Result<Vec<EventType>, ApiError> {
    if types.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_types",
            "`types` must name at least one event type",
        ));
    }
    let mut out = Vec::new();
    for t in types {
        let kind = EventType::parse(t.trim()).ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_types",
                format!(
                    "unknown event type `{t}` (known: {})",
                    EventType::ALL.map(|t| t.as_str()).join(", ")
                ),
            )
        })?;
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    Ok(out)
}

/// A URL the host will POST to: https (or a target the operator allowed),
/// public unless allowed. The same policy is checked again at every
/// attempt, since a name may resolve elsewhere later.
pub async fn check_url(policy: &OutboundPolicy, raw: &str) -> Result<String, ApiError> {
    let invalid = |m: String| ApiError::unprocessable("invalid_url", m);
    let raw = raw.trim();
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(invalid(format!(
            "`url` is longer than {MAX_URL_CHARS} characters"
        )));
    }
    let url =
        url::Url::parse(raw).map_err(|e| invalid(format!("`url` is not an absolute URL: {e}")))?;
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
    let port = url.port_or_known_default().unwrap_or(0);
    if url.scheme() != "https" && !policy.allows(&host.to_ascii_lowercase(), port) {
        return Err(invalid(
            "`url` must be https (plain http only for a target the operator allowed)".into(),
        ));
    }
    policy
        .check_before_send(raw, None)
        .await
        .map_err(|e| invalid(format!("`url` is refused by the outbound policy: {e}")))?;
    Ok(raw.to_string())
}

fn shown(e: &WebhookEndpoint) -> Value {
    json!(e)
}

#[utoipa::path(post, path = "/v1/webhook-endpoints", tag = "webhook-endpoints", request_body = WebhookEndpointBody, responses((status = 201, description = "`{id, url, types, status, created_at, updated_at, secret}`: the secret (`whsec_…`) is shown only here", body = Object), (status = 422, description = "Unknown event type, bad URL, or a URL the outbound policy refuses", body = Object)), security(("api_key" = [])))]
pub async fn create_endpoint(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    JsonBody(body): JsonBody<WebhookEndpointBody>,
) -> Result<impl IntoResponse, ApiError> {
    let types = event_types(&body.types)?;
    let url = check_url(state.media.policy(), &body.url).await?;
    let p = &state.pipeline;
    if p.db.webhook_endpoints(&tenant.id).await?.len() >= MAX_ENDPOINTS {
        return Err(ApiError::unprocessable(
            "too_many_endpoints",
            format!("a tenant has at most {MAX_ENDPOINTS} webhook endpoints"),
        ));
    }
    let (endpoint, secret) =
        p.db.create_webhook_endpoint(&tenant.id, "api", &url, &types, &p.secrets)
            .await?;
    let mut v = shown(&endpoint);
    v["secret"] = json!(secret.reveal());
    Ok((StatusCode::CREATED, Json(v)))
}

#[utoipa::path(get, path = "/v1/webhook-endpoints", tag = "webhook-endpoints", responses((status = 200, description = "`{data: [endpoint], next_cursor: null}`, oldest first (secrets never shown)", body = Object)), security(("api_key" = [])))]
pub async fn list_endpoints(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
) -> Result<impl IntoResponse, ApiError> {
    let data: Vec<Value> = state
        .db()
        .webhook_endpoints(&tenant.id)
        .await?
        .iter()
        .map(shown)
        .collect();
    Ok(Json(json!({ "data": data, "next_cursor": null })))
}

#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}", tag = "webhook-endpoints", params(("id" = String, Path, description = "Endpoint id")), responses((status = 200, description = "`{id, url, types, status, created_at, updated_at}`; `status` is `disabled` after a day of failures", body = Object), (status = 404, body = Object)), security(("api_key" = [])))]
pub async fn get_endpoint(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(shown(
        &state.db().webhook_endpoint(&tenant.id, &id).await?,
    )))
}

#[utoipa::path(delete, path = "/v1/webhook-endpoints/{id}", tag = "webhook-endpoints", params(("id" = String, Path, description = "Endpoint id")), responses((status = 204, description = "Deleted with its delivery record; nothing more is sent to it"), (status = 404, body = Object)), security(("api_key" = [])))]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    state
        .db()
        .delete_webhook_endpoint(&tenant.id, "api", &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/rotate-secret", tag = "webhook-endpoints", params(("id" = String, Path, description = "Endpoint id")), responses((status = 200, description = "`{id, secret, previous_secret_expires_at}`: the new secret, shown only here; until `previous_secret_expires_at` (Unix ms, 24 h) deliveries carry a signature with each secret", body = Object), (status = 404, body = Object)), security(("api_key" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let p = &state.pipeline;
    let (secret, until) =
        p.db.rotate_webhook_secret(&tenant.id, "api", &id, &p.secrets, ROTATION_OVERLAP_MS)
            .await?;
    Ok(Json(json!({
        "id": id,
        "secret": secret.reveal(),
        "previous_secret_expires_at": until,
    })))
}

#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}/deliveries", tag = "webhook-endpoints", params(("id" = String, Path, description = "Endpoint id"), DeliveriesQuery), responses((status = 200, description = "`{data: [{id, event_id, attempt, status_code, error, succeeded, started_at, finished_at}], next_cursor}`: every attempt, newest first", body = Object), (status = 404, body = Object)), security(("api_key" = [])))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
    Query(q): Query<DeliveriesQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let db = state.db();
    db.webhook_endpoint(&tenant.id, &id).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, 100);
    let data = db
        .webhook_attempts(&tenant.id, &id, q.cursor.as_deref(), limit)
        .await?;
    let next_cursor = (data.len() == limit as usize)
        .then(|| data.last().map(|a| a.id.clone()))
        .flatten();
    Ok(Json(json!({ "data": data, "next_cursor": next_cursor })))
}

#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/deliveries/{delivery_id}/retry", tag = "webhook-endpoints", params(("id" = String, Path, description = "Endpoint id"), ("delivery_id" = String, Path, description = "An attempt's id")), responses((status = 202, description = "The attempt's event is queued for delivery again (a new attempt appears in the list)", body = Object), (status = 404, body = Object)), security(("api_key" = [])))]
pub async fn retry_delivery(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let p = &state.pipeline;
    p.db.retry_webhook_attempt(&tenant.id, &id, &delivery_id)
        .await?;
    p.wake.notify_waiters();
    Ok((StatusCode::ACCEPTED, Json(json!({ "status": "queued" }))))
}
