//! `GET /v1/messages/{id}/media/{n}`: an inbound attachment, fetched from
//! the provider with the channel's credentials and streamed to the caller.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::Response;

use super::auth::Tenant;
use super::{ApiError, AppState};
use crate::pipeline::media_fetch::{MediaFetchError, fetch};

/// The provider's file, as the provider typed it. It is served as a
/// download in a sandbox (never rendered as a page of this origin: a
/// customer chooses what they send, HTML included).
#[utoipa::path(get, path = "/v1/messages/{id}/media/{n}", tag = "messages", params(("id" = String, Path, description = "An inbound message id"), ("n" = usize, Path, description = "The attachment's index in the message's `attachments`, from 0")), responses((status = 200, description = "The media bytes, with the provider's Content-Type", content_type = "application/octet-stream"), (status = 404, description = "No such inbound message of this tenant, or no attachment n", body = Object), (status = 409, description = "channel_disabled", body = Object), (status = 413, description = "media_too_large: over the server's media cap", body = Object), (status = 422, description = "media_unsupported: the channel's adapter cannot fetch media", body = Object), (status = 502, description = "media_unavailable: the provider, the adapter or the outbound policy refused", body = Object)), security(("api_key" = [])))]
pub async fn get_media(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path((id, n)): Path<(String, usize)>,
) -> Result<Response, ApiError> {
    let download = fetch(&state.pipeline, &state.media, &tenant.id, &id, n)
        .await
        .map_err(|e| match e {
            MediaFetchError::NotFound => ApiError::not_found("media"),
            e @ MediaFetchError::ChannelDisabled => {
                ApiError::new(StatusCode::CONFLICT, "channel_disabled", e.to_string())
            }
            MediaFetchError::Unsupported(m) => ApiError::unprocessable("media_unsupported", m),
            e @ MediaFetchError::TooLarge { .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "media_too_large",
                e.to_string(),
            ),
            MediaFetchError::Upstream(m) => {
                tracing::info!(message = %id, error = %m, "media fetch failed");
                ApiError::new(StatusCode::BAD_GATEWAY, "media_unavailable", m)
            }
            MediaFetchError::Storage(e) => e.into(),
        })?;
    let content_type = download
        .content_type
        .clone()
        .filter(|t| axum::http::HeaderValue::from_str(t).is_ok())
        .unwrap_or_else(|| "application/octet-stream".into());
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_DISPOSITION, "attachment")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::CONTENT_SECURITY_POLICY, "sandbox");
    if let Some(len) = download.content_length {
        response = response.header(header::CONTENT_LENGTH, len);
    }
    response
        .body(Body::from_stream(download.into_stream()))
        .map_err(|_| ApiError::internal())
}
