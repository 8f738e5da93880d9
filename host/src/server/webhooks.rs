//! `GET|POST /webhooks/{channel_id}`: read the request within the body cap,
//! hand it to the pipeline, answer the provider.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use crate::domain::{Header, HttpRequest};
use crate::pipeline::WebhookOutcome;

/// Read the body within the cap and describe the request as the provider
/// sent it: the public URL (base + path + query), headers, raw body.
async fn read_request(state: &AppState, request: Request) -> Result<HttpRequest, Response> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, state.max_body_bytes)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "webhook bodies are limited to {} bytes",
                    state.max_body_bytes
                ),
            )
            .into_response()
        })?;
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let url = format!(
        "{}{}",
        state.public_url.trim_end_matches('/'),
        path_and_query
    );
    let headers = parts
        .headers
        .iter()
        .map(|(n, v)| Header {
            name: n.as_str().to_string(),
            value: String::from_utf8_lossy(v.as_bytes()).into_owned(),
        })
        .collect();
    Ok(HttpRequest {
        method: parts.method.as_str().to_string(),
        url,
        headers,
        body: body.to_vec(),
    })
}

#[tracing::instrument(name = "webhook", skip_all, fields(adapter = %adapter, outcome = tracing::field::Empty))]
#[utoipa::path(post, path = "/webhooks/shared/{adapter}", tag = "webhooks", params(("adapter" = String, Path, description = "First-party adapter with a shared endpoint")), responses((status = 200, description = "Stored for the channels the events route to"), (status = 401, body = Object), (status = 404, body = Object)))]
pub async fn shared_webhook(
    State(state): State<AppState>,
    Path(adapter): Path<String>,
    request: Request,
) -> Response {
    let span = tracing::Span::current();
    let req = match read_request(&state, request).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match state.pipeline.handle_shared_webhook(&adapter, req).await {
        Ok(outcome) => {
            span.record("outcome", "stored");
            (StatusCode::OK, axum::Json(serde_json::json!({ "ok": true, "channels": outcome.channels.len(), "unknown_keys": outcome.unknown_keys }))).into_response()
        }
        Err(crate::pipeline::WebhookError::UnknownChannel) => {
            ApiError::not_found("shared endpoint for this adapter").into_response()
        }
        Err(e) => {
            span.record("outcome", e.code());
            tracing::info!(error = %e, "shared webhook refused");
            ApiError::from(e).into_response()
        }
    }
}

#[tracing::instrument(name = "webhook", skip_all, fields(channel = %channel_id, tenant = tracing::field::Empty, plugin = tracing::field::Empty, outcome = tracing::field::Empty))]
#[utoipa::path(method(get, post), path = "/webhooks/{channel_id}", tag = "webhooks", params(("channel_id" = String, Path, description = "The channel's unguessable id")), responses((status = 200, description = "Stored (or a handshake answer)"), (status = 401, description = "Invalid signature", body = Object), (status = 404, body = Object), (status = 413, body = Object)))]
pub async fn webhook(
    State(state): State<AppState>,
    Path(channel_id): Path<String>,
    request: Request,
) -> Response {
    let span = tracing::Span::current();
    let req = match read_request(&state, request).await {
        Ok(r) => r,
        Err(resp) => {
            span.record("outcome", "body_too_large");
            return resp;
        }
    };

    match state.pipeline.handle_webhook(&channel_id, req).await {
        Ok(WebhookOutcome::Handshake(resp)) => {
            span.record("outcome", "handshake");
            let mut builder = Response::builder()
                .status(StatusCode::from_u16(resp.status).unwrap_or(StatusCode::OK));
            for h in resp.headers {
                if let (Ok(n), Ok(v)) =
                    (HeaderName::try_from(h.name), HeaderValue::try_from(h.value))
                {
                    builder = builder.header(n, v);
                }
            }
            builder
                .body(Body::from(resp.body))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        Ok(WebhookOutcome::Stored(outcome)) => {
            span.record("outcome", "stored");
            (
                StatusCode::OK,
                axum::Json(serde_json::json!({ "ok": true, "received": outcome })),
            )
                .into_response()
        }
        Err(e) => {
            span.record("outcome", e.code());
            match e.status() {
                500..=599 => tracing::warn!(error = %e, "webhook failed"),
                _ => tracing::info!(error = %e, "webhook refused"),
            }
            ApiError::from(e).into_response()
        }
    }
}
