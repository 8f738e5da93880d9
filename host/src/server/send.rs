//! `POST /v1/messages`: a business-initiated message, with an optional
//! `Idempotency-Key` (the same key and body answer with the original
//! result; the same key with another body is a 422).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Digest;

use super::auth::Tenant;
use super::{ApiError, AppState};
use crate::pipeline::media::{MAX_MEDIA_ITEMS, MediaItem};
use crate::pipeline::send::{Content, SendError, SendRequest, send};
use crate::storage::Idempotency;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    channel_id: String,
    to: String,
    text: Option<String>,
    /// Media the provider fetches from its URL, sent before the text (a
    /// text of at most 1,024 characters with one captionless image, video
    /// or document becomes its caption instead). At most 10.
    media: Option<Vec<MediaBody>>,
    /// `{"name", "language", "parameters": [..]}`: a provider-approved
    /// template, allowed outside WhatsApp's 24-hour window.
    #[schema(value_type = Option<Object>)]
    template: Option<Value>,
}

/// One media item of a send.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaBody {
    /// Where the provider fetches it: https to a public host (or a target
    /// the operator allowed with `SWITCHBOARD_OUTBOUND_ALLOW`).
    url: String,
    /// e.g. `image/jpeg`; must be one the channel's adapter declares.
    mime_type: String,
    /// Shown with the media (1-1,024 characters; on WhatsApp audio, sent
    /// as a text right after it).
    caption: Option<String>,
}

/// Longest accepted text before splitting.
const MAX_TEXT_CHARS: usize = 32_000;

#[utoipa::path(post, path = "/v1/messages", tag = "messages", request_body = SendBody, params(("Idempotency-Key" = Option<String>, Header, description = "Same key and body: the original answer; another body: 422")), responses((status = 202, description = "Queued for delivery", body = Object), (status = 404, body = Object), (status = 409, description = "contact_opted_out", body = Object), (status = 422, description = "content_required, invalid_media, unsupported_media, outside_service_window, blocked_by_guardrail, idempotency_key_reused", body = Object), (status = 429, description = "monthly_limit_reached or rate_limited", body = Object)), security(("api_key" = [])))]
pub async fn send_message(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let k = v.to_str().unwrap_or_default().trim().to_string();
            if k.is_empty() || k.len() > 255 {
                return Err(ApiError::bad_request(
                    "`Idempotency-Key` must be 1-255 visible characters",
                ));
            }
            Some(k)
        }
    };
    let cipher = state.cipher(&tenant.id).await?;
    let Some(key) = key else {
        return Ok(into_response(handle(&state, &cipher, &body).await));
    };
    // The body's hash (of its JSON value, so formatting does not matter).
    let canonical = serde_json::from_slice::<Value>(&body)
        .map(|v| v.to_string().into_bytes())
        .unwrap_or_else(|_| body.to_vec());
    let hash = hex::encode(sha2::Sha256::digest(&canonical));
    // Everything from the claim on runs on its own task, so a client that
    // disconnects (which drops this handler) cancels nothing half-way: a
    // claim taken is always answered or released. Cancelled between the
    // claim's INSERT and its guard, the key would stay "in progress" with
    // nobody to finish it until its lease expired.
    let task = tokio::spawn(idempotent(state, cipher, key, hash, body));
    match task.await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "send task failed");
            Err(ApiError::internal())
        }
    }
}

/// Claim `key`, run the send once and remember its answer; a replay, a
/// mismatch or a claim still in progress answers at once.
async fn idempotent(
    state: AppState,
    cipher: crate::crypto::TenantCipher,
    key: String,
    hash: String,
    body: Bytes,
) -> Result<Response, ApiError> {
    let db = state.db();
    match db.begin_idempotent(&cipher, &key, &hash).await? {
        Idempotency::Replay { status, response } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut r = (status, [("content-type", "application/json")], response).into_response();
            r.headers_mut().insert(
                "idempotent-replayed",
                axum::http::HeaderValue::from_static("true"),
            );
            return Ok(r);
        }
        Idempotency::Mismatch => {
            return Err(ApiError::unprocessable(
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request body",
            ));
        }
        Idempotency::InProgress => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_in_use",
                "a request with this Idempotency-Key is still being processed; retry shortly",
            ));
        }
        Idempotency::New => {}
    }
    // The guard releases the claim if this task dies without answering (a
    // panic, a runtime shutdown); a claim lost with the process expires
    // after IDEMPOTENCY_LEASE_MS.
    let mut claim = Claim {
        db: db.clone(),
        cipher,
        key,
        armed: true,
    };
    let result = handle(&state, &claim.cipher, &body).await;
    // Answers are remembered, except server-side failures worth retrying.
    let remembered = match &result {
        Ok((status, v)) => Some((status.as_u16(), v.to_string())),
        Err(e) if e.status.is_client_error() => Some((
            e.status.as_u16(),
            json!({ "error": { "code": e.code, "message": e.message } }).to_string(),
        )),
        Err(_) => None,
    };
    claim.armed = false;
    claim
        .db
        .finish_idempotent(
            &claim.cipher,
            &claim.key,
            remembered.as_ref().map(|(s, b)| (*s, b.as_str())),
        )
        .await?;
    Ok(into_response(result))
}

/// An in-progress claim on an idempotency key, released when dropped while
/// still armed (its request ended without an answer to remember).
struct Claim {
    db: crate::storage::Db,
    cipher: crate::crypto::TenantCipher,
    key: String,
    armed: bool,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (db, cipher, key) = (self.db.clone(), self.cipher.clone(), self.key.clone());
        // Drop cannot wait: release on the runtime if there still is one
        // (else the lease expires the claim).
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = db.finish_idempotent(&cipher, &key, None).await {
                    tracing::warn!(error = %e, "releasing an idempotency key failed");
                }
            });
        }
    }
}

/// `{"name", "language", "parameters"?}`; `language` may also be Meta's
/// `{"code": …}` object, parameters strings or numbers.
fn template(t: &Value) -> Result<Content, ApiError> {
    let bad = |m: &str| ApiError::bad_request(format!("`template`: {m}"));
    let name = t["name"]
        .as_str()
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.len() <= 512)
        .ok_or_else(|| bad("`name` (a string) is required"))?;
    let language = t["language"]
        .as_str()
        .or_else(|| t["language"]["code"].as_str())
        .map(str::trim)
        .filter(|l| !l.is_empty() && l.len() <= 32)
        .ok_or_else(|| bad("`language` (a code such as `en_US`) is required"))?;
    let parameters = match &t["parameters"] {
        Value::Null => Vec::new(),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(bad("`parameters` must be strings or numbers")),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(bad("`parameters` must be an array")),
    };
    Ok(Content::Template {
        name: name.to_string(),
        language: language.to_string(),
        parameters,
    })
}

/// Each item checked (URL, MIME type, caption); whether the channel takes
/// its type is the send's first stage.
fn media(state: &AppState, items: Vec<MediaBody>) -> Result<Vec<MediaItem>, ApiError> {
    let invalid = |e: crate::pipeline::media::InvalidMedia| {
        ApiError::unprocessable("invalid_media", e.to_string())
    };
    if items.len() > MAX_MEDIA_ITEMS {
        return Err(invalid(crate::pipeline::media::InvalidMedia::TooMany));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            MediaItem::new(i, &m.url, &m.mime_type, m.caption, state.media.policy())
                .map_err(invalid)
        })
        .collect()
}

fn into_response(result: Result<(StatusCode, Value), ApiError>) -> Response {
    match result {
        Ok((status, v)) => (status, Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn handle(
    state: &AppState,
    cipher: &crate::crypto::TenantCipher,
    body: &[u8],
) -> Result<(StatusCode, Value), ApiError> {
    let body: SendBody = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    if body.to.trim().is_empty() {
        return Err(ApiError::bad_request("`to` must not be empty"));
    }
    let media = media(state, body.media.unwrap_or_default())?;
    let content = match (body.text, body.template) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "send either `text` or `template`, not both",
            ));
        }
        (None, Some(_)) if !media.is_empty() => {
            return Err(ApiError::bad_request(
                "send either `media` or `template`, not both",
            ));
        }
        (None, None) if media.is_empty() => {
            return Err(ApiError::unprocessable(
                "content_required",
                "`text`, `media` or `template` is required",
            ));
        }
        (None, None) => Content::Message { text: None, media },
        (None, Some(t)) => template(&t)?,
        (Some(t), None) if t.trim().is_empty() => {
            return Err(ApiError::bad_request("`text` must not be empty"));
        }
        (Some(t), None) if t.chars().count() > MAX_TEXT_CHARS => {
            return Err(ApiError::bad_request(format!(
                "`text` is longer than {MAX_TEXT_CHARS} characters"
            )));
        }
        (Some(t), None) => Content::Message {
            text: Some(t),
            media,
        },
    };
    let req = SendRequest {
        channel_id: body.channel_id,
        to: body.to.trim().to_string(),
        content,
        author: None,
    };
    queue(state, cipher, &req).await
}

/// Run a send through the pipeline: 202 with the first part as the API
/// shows it (and every part's id), or the refusal as an API error.
pub(super) async fn queue(
    state: &AppState,
    cipher: &crate::crypto::TenantCipher,
    req: &SendRequest,
) -> Result<(StatusCode, Value), ApiError> {
    let p = &state.pipeline;
    match send(p, cipher.tenant_id(), req).await {
        Ok(ids) => {
            let first = p.db.get_message(cipher, &ids[0]).await?;
            let mut v = serde_json::to_value(&first).map_err(|_| ApiError::internal())?;
            v["parts"] = json!(ids);
            Ok((StatusCode::ACCEPTED, v))
        }
        Err(SendError::UnknownChannel) => Err(ApiError::not_found("channel")),
        Err(e @ SendError::ChannelDisabled) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "channel_disabled",
            e.to_string(),
        )),
        Err(SendError::OptedOut) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "contact_opted_out",
            SendError::OptedOut.to_string(),
        )),
        Err(e @ SendError::OutsideWindow) => Err(ApiError::unprocessable(
            "outside_service_window",
            e.to_string(),
        )),
        Err(e @ SendError::MonthlyLimit { .. }) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "monthly_limit_reached",
            e.to_string(),
        )),
        Err(SendError::Blocked(reason, id)) => {
            let mut e = ApiError::unprocessable(
                "blocked_by_guardrail",
                format!("blocked by a guardrail: {reason}"),
            );
            e.extra = Some(json!({ "message_id": id }));
            Err(e)
        }
        Err(SendError::UnsupportedMedia(e)) => {
            Err(ApiError::unprocessable("unsupported_media", e.to_string()))
        }
        Err(SendError::Storage(e)) => Err(e.into()),
        Err(SendError::Busy { error }) => {
            tracing::warn!(%error, "send: guardrails could not run");
            let retry_after = match error {
                crate::runtime::PluginError::Busy { retry_after_secs } => retry_after_secs,
                _ => 1,
            };
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "tenant_busy",
                "the tenant's plugins are busy; retry in a few seconds",
            )
            .with_header("retry-after", retry_after))
        }
        Err(SendError::Channel(msg)) => {
            tracing::warn!(error = %msg, "send: channel unavailable");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "channel_unavailable",
                "the channel cannot be used right now; retry later",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_claim_dropped_without_an_answer_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::storage::Db::connect(&crate::storage::default_url(dir.path()))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let t = db.create_tenant("t", "T").await.unwrap().id;
        let t = crate::crypto::TenantCipher::new(&t, &[5; 32]);
        let claim = |key: &str| Claim {
            db: db.clone(),
            cipher: t.clone(),
            key: key.into(),
            armed: true,
        };
        for key in ["dropped", "answered"] {
            assert_eq!(
                db.begin_idempotent(&t, key, "h").await.unwrap(),
                Idempotency::New
            );
        }
        // A handler cancelled mid-way drops its armed claim.
        drop(claim("dropped"));
        // One that answered disarmed it first: its claim stays.
        let mut answered = claim("answered");
        answered.armed = false;
        drop(answered);

        // The release runs on the runtime: wait for it (bounded).
        let mut released = false;
        for _ in 0..200 {
            if db.begin_idempotent(&t, "dropped", "h").await.unwrap() == Idempotency::New {
                released = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(released, "the dropped claim was never released");
        assert_eq!(
            db.begin_idempotent(&t, "answered", "h").await.unwrap(),
            Idempotency::InProgress
        );
    }
}
