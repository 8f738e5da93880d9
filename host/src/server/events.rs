//! The tenant's event stream: `GET /v1/events` reads it after a cursor
//! (sync) or, upgraded to a WebSocket, replays what follows the cursor and
//! then streams each new event as one JSON text frame. Both read the same
//! table in the same order, so the seam between replay and live has no
//! gap and no duplicate: the socket only ever sends what it reads after
//! the last event it sent.

use std::time::Duration;

use axum::Json;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::auth::Tenant;
use super::{ApiError, AppState};
use crate::crypto::TenantCipher;
use crate::domain::EventType;
use crate::storage::parse_cursor;

/// How long a browser token opens the socket.
const TOKEN_TTL_MS: i64 = 5 * 60 * 1000;
/// Events read (and sent) per database round trip.
const BATCH: u32 = 200;
/// A consumer that does not take a frame within this long is disconnected
/// (close code 1008): the server never buffers a stream for it.
pub(super) const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Keeps idle connections (and the proxies between) alive.
pub(super) const PING_EVERY: Duration = Duration::from_secs(20);
/// Re-read even without a notification, in case one was lost (a
/// PostgreSQL listener reconnecting): bounds the delay, never loses.
pub(super) const RESCAN_EVERY: Duration = Duration::from_secs(5);

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// A cursor (an event's `id`): only later events. Absent: from the
    /// oldest event kept.
    after: Option<String>,
    /// At most this many (1-1000, default 100); sync only.
    limit: Option<u32>,
    /// Comma-separated event types, e.g. `message.created,message.updated`.
    types: Option<String>,
    /// A token from `POST /v1/events/tokens`, for browsers (WebSocket only).
    token: Option<String>,
}

/// What a request asked for, checked.
struct Asked {
    after: i64,
    types: Vec<EventType>,
}

fn asked(q: &EventsQuery) -> Result<Asked, ApiError> {
    let after = match q.after.as_deref() {
        None | Some("") => 0,
        Some(c) => parse_cursor(c).ok_or_else(|| {
            ApiError::bad_request("`after` is not a cursor (use an event's `id`)")
        })?,
    };
    let types = match q.types.as_deref() {
        None | Some("") => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|t| {
                EventType::parse(t.trim()).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "unknown event type `{}` (known: {})",
                        t.trim(),
                        EventType::ALL.map(|t| t.as_str()).join(", ")
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(Asked { after, types })
}

/// `GET /v1/events`: `{data, next_cursor}` (pass `next_cursor` as `after`
/// next time), or with `Upgrade: websocket` the live stream.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventsQuery), responses((status = 200, description = "`{data: [{id, type, created_at, data}], next_cursor}`, oldest first", body = Object), (status = 101, description = "WebSocket: every event after `after`, then each new one, one JSON text frame each"), (status = 400, body = Object), (status = 401, body = Object)), security(("api_key" = [])))]
pub async fn events(
    State(state): State<AppState>,
    Query(q): Query<EventsQuery>,
    mut parts: Parts,
) -> Result<Response, ApiError> {
    let asked = asked(&q)?;
    let upgrade = parts
        .headers
        .get(axum::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let tenant_id = match (&q.token, upgrade) {
        (Some(token), true) => state
            .db()
            .event_token_tenant(token)
            .await?
            .ok_or_else(ApiError::unauthorized)?,
        _ => Tenant::from_request_parts(&mut parts, &state).await?.0.id,
    };
    let cipher = state.cipher(&tenant_id).await?;
    if upgrade {
        let ws = WebSocketUpgrade::from_request_parts(&mut parts, &state)
            .await
            .map_err(|e| ApiError::bad_request(format!("WebSocket upgrade: {e}")))?;
        // Small buffers: an idle socket should cost little (tungstenite's
        // defaults are 128 KiB each way); frames are small JSON.
        let ws = ws
            .read_buffer_size(4 << 10)
            .write_buffer_size(0)
            .max_message_size(64 << 10);
        return Ok(ws.on_upgrade(move |socket| stream(socket, state, cipher, asked)));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let data = state
        .db()
        .events_after(&cipher, asked.after, limit, &asked.types)
        .await?;
    let next_cursor = data
        .last()
        .map(|e| e.id.clone())
        .or(q.after.filter(|a| !a.is_empty()));
    Ok(Json(json!({ "data": data, "next_cursor": next_cursor })).into_response())
}

/// `POST /v1/events/tokens`: a short-lived token a browser passes as
/// `?token=` to open the event WebSocket.
#[utoipa::path(post, path = "/v1/events/tokens", tag = "events", responses((status = 201, description = "`{token, expires_at}` (Unix ms; valid 5 minutes)", body = Object), (status = 401, body = Object)), security(("api_key" = [])))]
pub async fn create_token(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
) -> Result<impl IntoResponse, ApiError> {
    let (token, expires_at) = state
        .db()
        .create_event_token(&tenant.id, TOKEN_TTL_MS)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "token": token, "expires_at": expires_at })),
    ))
}

/// One socket: replay after the cursor, then follow the tenant's stream.
async fn stream(mut socket: WebSocket, state: AppState, cipher: TenantCipher, asked: Asked) {
    let db = state.db().clone();
    // Subscribe before the first read: a commit in between is then seen
    // as a change, so nothing falls between reading and waiting.
    let mut committed = db.event_hub().subscribe(cipher.tenant_id());
    let mut after = asked.after;
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        // Send everything after `after`, in order, a batch at a time: from
        // the hub's window of recent events when it covers the cursor (many
        // sockets of one tenant then cost one serialisation, no query),
        // else from the table.
        loop {
            let (batch, full) = match read_after(&db, &cipher, after, &asked.types).await {
                Ok(read) => read,
                Err(e) => {
                    tracing::warn!(error = %e, "reading events for a socket failed");
                    close(&mut socket, 1011, "server error").await;
                    return;
                }
            };
            for (seq, frame) in batch {
                match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::text(&*frame))).await
                {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return,
                    Err(_) => {
                        close(&mut socket, 1008, "slow consumer").await;
                        return;
                    }
                }
                after = seq;
            }
            if !full {
                break;
            }
        }
        tokio::select! {
            changed = committed.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                // Pongs and anything a client says are not commands.
                Some(Ok(_)) => continue,
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
            _ = tokio::time::sleep(RESCAN_EVERY) => {}
        }
    }
}

/// The tenant's events after `after` (of `types`, when given), in order,
/// as JSON frames with their numbers; and whether there may be more. From
/// the hub's window of recent events when it covers the cursor (many
/// sockets of one tenant then cost one serialisation, no query), else from
/// the table, a batch at a time.
pub(super) async fn read_after(
    db: &crate::storage::Db,
    cipher: &TenantCipher,
    after: i64,
    types: &[EventType],
) -> Result<(Vec<(i64, std::sync::Arc<str>)>, bool), crate::storage::StorageError> {
    if let Some(recent) = db
        .event_hub()
        .recent_after(cipher.tenant_id(), after, types)
    {
        return Ok((
            recent.into_iter().map(|e| (e.seq, e.frame)).collect(),
            false,
        ));
    }
    let batch = db.events_after(cipher, after, BATCH, types).await?;
    let full = batch.len() >= BATCH as usize;
    Ok((
        batch
            .into_iter()
            .map(|e| {
                let seq = parse_cursor(&e.id).unwrap_or(after);
                (seq, serde_json::to_string(&e).unwrap_or_default().into())
            })
            .collect(),
        full,
    ))
}

pub(super) async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        socket.send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))),
    )
    .await;
}
