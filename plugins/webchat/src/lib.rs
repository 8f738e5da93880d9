//! # webchat
//!
//! The first-party web chat adapter. Visitors talk to the host over the
//! widget's socket (`docs/webchat.md`); the host authenticates them (a
//! signed visitor token, or a page's verified user id), checks the page's
//! origin, and hands each of their frames to this adapter as a request it
//! built itself, never one from the network. `parse` turns those frames
//! into the same events every adapter gives: a visitor's message, or a
//! `delivered` status when the widget showed a reply.
//!
//! Replies are not rendered into a provider call: the host delivers them
//! over the visitor's socket, so `render` refuses.
//!
//! Configuration keys: `allowed_origins` (read by the host when a socket
//! opens), `title`, `greeting`, `color`, and the secret `identity_secret`
//! (the host checks `data-user-hash` with it).

use switchboard_sdk::prelude::*;

pub mod frame;

/// The adapter's name, as channels refer to it.
pub const ADAPTER_NAME: &str = "webchat";

/// Every configuration key the channel has.
pub const CONFIG_KEYS: [&str; 5] = [
    "allowed_origins",
    "title",
    "greeting",
    "color",
    "identity_secret",
];
/// The keys of [`CONFIG_KEYS`] that hold secrets.
pub const SECRET_KEYS: [&str; 1] = ["identity_secret"];

/// The web chat adapter.
pub struct WebChat;

impl ChannelAdapter for WebChat {
    fn info() -> AdapterInfo {
        AdapterInfo {
            name: ADAPTER_NAME.to_string(),
            max_text_length: frame::MAX_TEXT_CHARS as u32,
            supports_media: false,
            // The host delivers replies itself: no provider to call.
            outbound_hosts: Vec::new(),
            config_keys: CONFIG_KEYS.iter().map(|k| k.to_string()).collect(),
            route_config_key: None,
            statuses: vec![DeliveryStatus::Sent, DeliveryStatus::Delivered],
        }
    }

    fn secret_keys() -> Option<Vec<String>> {
        Some(SECRET_KEYS.iter().map(|k| k.to_string()).collect())
    }

    fn verify(request: &HttpRequest) -> Result<Option<HttpResponse>, PluginError> {
        frame::check_request(request)?;
        Ok(None)
    }

    fn parse(request: &HttpRequest) -> Result<Vec<Event>, PluginError> {
        frame::parse(&request.body)
    }

    fn render(_message: &OutboundMessage) -> Result<HttpRequest, PluginError> {
        Err(PluginError::unsupported(
            "web chat replies are delivered by the host over the visitor's socket",
        ))
    }

    fn parse_send_response(_response: &HttpResponse) -> Result<Receipt, PluginError> {
        Err(PluginError::unsupported(
            "web chat replies are delivered by the host over the visitor's socket",
        ))
    }
}

switchboard_sdk::export_adapter!(WebChat);
