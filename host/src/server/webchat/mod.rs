//! Web chat, the host's side (`docs/webchat.md`): the widget's script and
//! stylesheet, served from the binary, and the visitor socket
//! (`GET /webchat/{channel_id}/socket`). Opening a socket checks, in
//! order: the channel is an active `webchat` channel, the page's `Origin`
//! is one of its `allowed_origins`, the visitor is who they say (a page's
//! user id with its HMAC, or a visitor token this tenant signed), and the
//! channel has room for another socket. What a visitor sends then goes
//! through the inbound pipeline like any webhook ([`crate::pipeline::visitor`]).

mod config;
mod limits;
mod session;

use std::collections::BTreeMap;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};
use crate::crypto::TenantCipher;
use crate::pipeline::WebhookError;
use crate::pipeline::visitor::Visitor;

pub use config::{ConfigError, WebchatConfig};
pub use limits::VisitorLimits;

const WIDGET_JS: &str = include_str!("assets/widget.js");
const WIDGET_CSS: &str = include_str!("assets/widget.css");

/// `GET /widget.js`.
pub async fn widget_js() -> Response {
    asset(WIDGET_JS, "text/javascript; charset=utf-8")
}

/// `GET /widget.css`.
pub async fn widget_css() -> Response {
    asset(WIDGET_CSS, "text/css; charset=utf-8")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // Embedded in the binary: a new version comes with a restart.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
            // Pages on other origins load it.
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        body,
    )
        .into_response()
}

/// A new or changed configuration of a channel of `adapter`: a web chat
/// channel's must be usable (origins, colour); others are the adapter's.
pub fn check_config(adapter: &str, config: &BTreeMap<String, String>) -> Result<(), String> {
    if adapter == crate::pipeline::visitor::ADAPTER {
        WebchatConfig::parse(config).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A plain page embedding the widget of `channel_id` from `public_url`,
/// for trying a channel out (`switchboard demo`, the browser tests).
pub fn demo_page(public_url: &str, channel_id: &str) -> String {
    include_str!("assets/page.html")
        .replace("<!--WIDGET-->", &embed_snippet(public_url, channel_id))
}

/// The embed snippet of a web chat channel.
pub fn embed_snippet(public_url: &str, channel_id: &str) -> String {
    format!(
        r#"<script src="{}/widget.js" data-channel="{channel_id}" async></script>"#,
        public_url.trim_end_matches('/')
    )
}

/// The visitor socket's query.
#[derive(Debug, Deserialize)]
pub struct SocketQuery {
    /// A visitor token from an earlier `session` frame.
    token: Option<String>,
    /// A page's signed-in user, with `user_hash`.
    user_id: Option<String>,
    /// Hex HMAC-SHA256 of `user_id` under the channel's `identity_secret`.
    user_hash: Option<String>,
    /// The last `cursor` the widget saw.
    after: Option<String>,
}

/// `GET /webchat/{channel_id}/socket`: the visitor's WebSocket.
pub async fn socket(
    State(state): State<AppState>,
    Path(channel_id): Path<String>,
    Query(q): Query<SocketQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let binding = state
        .pipeline
        .visitor_channel(&channel_id)
        .await
        .map_err(|e| match e {
            WebhookError::ChannelDisabled => ApiError::new(
                StatusCode::NOT_FOUND,
                "channel_disabled",
                "web chat is not available on this channel",
            ),
            WebhookError::UnknownChannel | WebhookError::ChannelDeleted => {
                ApiError::not_found("web chat channel")
            }
            e => ApiError::from_webhook(&e),
        })?;
    let config = WebchatConfig::parse(&binding.channel.config).map_err(|e| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "channel_misconfigured",
            format!("this web chat channel cannot take visitors: {e}"),
        )
    })?;
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !config.allows(origin) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            format!("the page's origin `{origin}` is not in this channel's allowed_origins"),
        ));
    }
    let cipher = state.cipher(&binding.channel.tenant_id).await?;
    let (visitor, token) = identify(&cipher, &channel_id, &config, &q)?;
    let slot = state.visitors.open_socket(&channel_id).ok_or_else(|| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_connections",
            "this chat has too many visitors right now; try again shortly",
        )
        .with_header("retry-after", 5)
    })?;
    let after = match q.after.as_deref().filter(|a| !a.is_empty()) {
        Some(a) => Some(crate::storage::parse_cursor(a).ok_or_else(|| {
            ApiError::bad_request("`after` is not a cursor (use a message frame's `cursor`)")
        })?),
        None => None,
    };
    let session = session::Session {
        state,
        cipher,
        channel_id,
        visitor,
        token,
        config,
        after,
        _slot: slot,
    };
    // Small buffers: most visitor sockets sit idle.
    Ok(upgrade
        .read_buffer_size(4 << 10)
        .write_buffer_size(0)
        .max_message_size(32 << 10)
        .on_upgrade(move |socket| session.run(socket)))
}

/// Who is connecting: a page's verified user, the anonymous visitor their
/// token names, or a new anonymous visitor (also when a token does not
/// verify: it can only ever start afresh, never borrow someone's
/// conversation). Returns the token to keep, for anonymous visitors.
fn identify(
    cipher: &TenantCipher,
    channel_id: &str,
    config: &WebchatConfig,
    q: &SocketQuery,
) -> Result<(Visitor, Option<String>), ApiError> {
    let refused = |why: &str| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "identity_refused",
            format!("the page's user identity was refused: {why}"),
        )
    };
    if let Some(user_id) = q.user_id.as_deref().filter(|u| !u.is_empty()) {
        let Some(secret) = &config.identity_secret else {
            return Err(refused("this channel has no identity_secret"));
        };
        if user_id.len() > 256 {
            return Err(refused("the user id is longer than 256 bytes"));
        }
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(user_id.as_bytes());
        let expected = hex::encode(mac.finalize().into_bytes());
        let given = q
            .user_hash
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
            return Err(refused("user_hash does not match user_id"));
        }
        return Ok((Visitor::user(user_id), None));
    }
    if let Some((id, tag)) = q.token.as_deref().and_then(|t| t.split_once('.'))
        && bool::from(
            cipher
                .visitor_tag(channel_id, id)
                .as_bytes()
                .ct_eq(tag.as_bytes()),
        )
    {
        return Ok((Visitor::anonymous(id), Some(format!("{id}.{tag}"))));
    }
    let id = crate::storage::new_secret_id("v");
    let tag = cipher.visitor_tag(channel_id, &id);
    Ok((Visitor::anonymous(&id), Some(format!("{id}.{tag}"))))
}
