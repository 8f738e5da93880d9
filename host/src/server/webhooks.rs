//! `GET|POST /webhooks/{channel_id}`: read the request within the body cap,
//! hand it to the pipeline, answer the provider.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use crate::domain::{Header, HttpRequest, HttpResponse};
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
#[utoipa::path(post, path = "/webhooks/shared/{adapter}", tag = "webhooks", params(("adapter" = String, Path, description = "First-party adapter with a shared endpoint")), responses((status = 200, description = "Stored for the channels the events route to; `failed` lists the route keys whose channel refused its events (`{route_key, code}`)"), (status = 401, description = "Every routed channel refused the signature", body = Object), (status = 404, body = Object), (status = 409, description = "Every routed channel is disabled (`channel_disabled`)", body = Object), (status = 503, description = "A routed channel could not store its events now; retry (the others' are kept)", body = Object)))]
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
            if let Some(e) = outcome.refusal() {
                span.record("outcome", e.code());
                tracing::info!(error = %e, "shared webhook refused");
                return ApiError::from_webhook(e).into_response();
            }
            span.record("outcome", "stored");
            // Route keys and error codes only: channel ids are secrets of
            // their tenants, and this answer goes to whoever posted.
            let failed: Vec<serde_json::Value> = outcome
                .failed
                .iter()
                .map(|(key, e)| serde_json::json!({ "route_key": key, "code": e.code() }))
                .collect();
            (StatusCode::OK, axum::Json(serde_json::json!({ "ok": true, "channels": outcome.channels.len(), "unknown_keys": outcome.unknown_keys, "failed": failed }))).into_response()
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
#[utoipa::path(method(get, post), path = "/webhooks/{channel_id}", tag = "webhooks", params(("channel_id" = String, Path, description = "The channel's unguessable id")), responses((status = 200, description = "Stored (or a handshake answer)"), (status = 401, description = "Invalid signature", body = Object), (status = 404, description = "Unknown or deleted channel (`unknown_channel`, `channel_deleted`)", body = Object), (status = 409, description = "The channel is disabled, or its tenant suspended (`channel_disabled`): nothing stored", body = Object), (status = 413, body = Object)))]
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
            handshake_response(resp)
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

/// The HTTP answer to a handshake (`verify` returned `some(response)`).
///
/// The adapter may be a tenant's upload, and this answer is served on the
/// platform's origin: so only its status and body are used. Every header
/// it set is dropped (no cookies, no redirects, no CORS or CSP of its
/// choosing), and the body is always plain text the browser may not sniff
/// into HTML, with a sandboxing CSP as a second line. A status outside
/// 200-299 and 400-499 (an informational or redirect code, a 5xx that
/// would blame the platform, a non-code) becomes a 502 `invalid_handshake`
/// error: the adapter, not the platform, gave a bad answer.
fn handshake_response(resp: HttpResponse) -> Response {
    let status = match StatusCode::from_u16(resp.status) {
        Ok(s) if s.is_success() || s.is_client_error() => s,
        _ => {
            tracing::info!(
                status = resp.status,
                "handshake answer with a disallowed status"
            );
            return ApiError::new(
                StatusCode::BAD_GATEWAY,
                "invalid_handshake",
                format!(
                    "the channel's adapter answered the handshake with status {}; only 2xx and 4xx are allowed",
                    resp.status
                ),
            )
            .into_response();
        }
    };
    let mut response = Response::new(Body::from(resp.body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| Header {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[tokio::test]
    async fn a_handshake_keeps_only_status_and_a_plain_text_body() {
        let r = handshake_response(answer(
            200,
            &[
                ("content-type", "text/html"),
                ("set-cookie", "session=stolen; Path=/"),
                ("location", "https://evil.example/"),
                ("access-control-allow-origin", "*"),
                ("x-content-type-options", "none"),
                ("content-security-policy", "script-src *"),
            ],
            "<script>alert(document.cookie)</script>",
        ));
        assert_eq!(r.status(), 200);
        let h = r.headers();
        assert_eq!(h["content-type"], "text/plain; charset=utf-8");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["content-security-policy"], "default-src 'none'; sandbox");
        assert_eq!(h.get_all("content-type").iter().count(), 1);
        for dropped in ["set-cookie", "location", "access-control-allow-origin"] {
            assert!(h.get(dropped).is_none(), "{dropped}");
        }
        let body = axum::body::to_bytes(r.into_body(), 1 << 10).await.unwrap();
        assert_eq!(&body[..], b"<script>alert(document.cookie)</script>");
    }

    #[tokio::test]
    async fn only_success_and_client_error_statuses_pass() {
        for status in [200, 204, 299, 400, 403, 404, 499] {
            assert_eq!(
                handshake_response(answer(status, &[], "x")).status(),
                status
            );
        }
        for status in [0, 99, 101, 199, 301, 302, 307, 500, 503, 599, 600, 65535] {
            let r = handshake_response(answer(status, &[("location", "/x")], "x"));
            assert_eq!(r.status(), 502, "{status}");
            assert!(r.headers().get("location").is_none());
            let body = axum::body::to_bytes(r.into_body(), 1 << 10).await.unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["error"]["code"], "invalid_handshake", "{status}");
        }
    }
}
