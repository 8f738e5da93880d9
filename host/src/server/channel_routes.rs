//! Platform admin: which channel a shared provider endpoint routes a
//! provider number to. The numbers behind a shared Meta app or Twilio
//! account belong to the platform, so the admin assigns each to the
//! channel of the business that owns it; a tenant putting a number in its
//! configuration routes nothing to itself.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::auth::Admin;
use super::extract::JsonBody;
use super::{ApiError, AppState};

/// Longest route key accepted (a phone-number id or an E.164 number with
/// a `whatsapp:` prefix is far shorter).
const MAX_ROUTE_KEY_BYTES: usize = 128;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteBody {
    /// The key the adapter's shared endpoint routes by (the Meta
    /// `phone_number_id`, the Twilio number); `null` withdraws it.
    #[schema(value_type = Option<String>)]
    route_key: Option<String>,
}

/// `PUT /v1/admin/channels/{id}/route`: assign (or withdraw) the key the
/// channel's adapter's shared endpoint routes to it. Audited as
/// `channel.route` in the channel's tenant's log.
#[utoipa::path(put, path = "/v1/admin/channels/{id}/route", tag = "admin", params(("id" = String, Path, description = "Channel id (of any tenant)")), request_body = RouteBody, responses((status = 200, description = "`{channel_id, tenant_id, adapter, route_key}`", body = Object), (status = 401, body = Object), (status = 404, description = "No such channel, or deleted", body = Object), (status = 409, description = "`route_key_taken`: another channel of the adapter has this key", body = Object), (status = 422, description = "`no_shared_endpoint`, or an invalid key", body = Object)), security(("admin_token" = [])))]
pub async fn put_route(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RouteBody>,
) -> Result<impl IntoResponse, ApiError> {
    let key = body.route_key.as_deref().map(str::trim);
    if let Some(k) = key
        && (k.is_empty() || k.len() > MAX_ROUTE_KEY_BYTES || k.chars().any(char::is_control))
    {
        return Err(ApiError::unprocessable(
            "invalid_field",
            format!(
                "`route_key` must be 1-{MAX_ROUTE_KEY_BYTES} bytes without control characters, or null"
            ),
        ));
    }
    let p = &state.pipeline;
    let channel = p.db.channel_for_admin(&id).await?;
    if key.is_some()
        && p.catalog
            .adapter_info(&channel.adapter)
            .and_then(|i| i.route_config_key)
            .is_none()
    {
        return Err(ApiError::unprocessable(
            "no_shared_endpoint",
            format!(
                "`{}` has no shared endpoint; its channels receive on their own webhook URL only",
                channel.adapter
            ),
        ));
    }
    let routed = match p.db.assign_route("admin", &id, key).await {
        Err(crate::storage::StorageError::Conflict(_)) => {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "route_key_taken",
                format!(
                    "another `{}` channel has this route key; withdraw it there first",
                    channel.adapter
                ),
            ));
        }
        other => other?,
    };
    Ok(Json(json!({
        "channel_id": id,
        "tenant_id": routed.tenant_id,
        "adapter": routed.adapter,
        "route_key": routed.route_key,
    })))
}
