//! # whatsapp-cloud
//!
//! A Switchboard channel adapter for the WhatsApp Business **Cloud API**:
//! Meta's signed webhooks in, `POST /{phone-number-id}/messages` out.
//!
//! This file is the thin layer that reads the binding's configuration and
//! calls the host; all payload handling lives in pure modules
//! ([`webhook`], [`send`], [`response`], [`verify`]) that are unit-tested
//! natively, where host imports are unreachable.
//!
//! Configuration keys: `phone_number_id`, `access_token` (for sending),
//! `app_secret` (webhook signatures), `verify_token` (subscription
//! handshake) and optional `api_base_url` (default
//! [`send::DEFAULT_API_BASE_URL`]).

use switchboard_sdk::host::{self, LogLevel, crypto};
use switchboard_sdk::prelude::*;

pub mod address;
pub mod media;
mod message;
pub mod response;
pub mod send;
mod status;
pub mod template;
pub mod verify;
pub mod webhook;
mod wire;

#[cfg(test)]
mod tests;

pub use status::delivery_status;

/// The adapter's name, as the host and channel bindings refer to it.
pub const ADAPTER_NAME: &str = "whatsapp-cloud";

/// Every configuration key a channel of the adapter takes.
pub const CONFIG_KEYS: [&str; 6] = [
    "phone_number_id",
    "access_token",
    "app_secret",
    "verify_token",
    "api_base_url",
    // The number customers message, as Meta shows it (optional): the
    // console draws its `wa.me` QR code. The adapter itself never reads it.
    "display_phone_number",
];
/// The keys of [`CONFIG_KEYS`] that hold secrets (never shown back by the API).
pub const SECRET_KEYS: [&str; 3] = ["access_token", "app_secret", "verify_token"];

/// The WhatsApp Cloud API channel adapter.
pub struct WhatsAppCloud;

/// Crypto done by the host, so the guest bundles none.
struct HostCrypto;

impl verify::Crypto for HostCrypto {
    fn hmac_sha256(&self, key: &[u8], data: &[u8]) -> Vec<u8> {
        crypto::hmac_sha256(key, data)
    }
    fn constant_time_eq(&self, a: &[u8], b: &[u8]) -> bool {
        crypto::constant_time_eq(a, b)
    }
}

impl ChannelAdapter for WhatsAppCloud {
    fn info() -> AdapterInfo {
        AdapterInfo {
            name: ADAPTER_NAME.to_string(),
            max_text_length: send::MAX_TEXT_CHARS as u32,
            supports_media: true,
            // Media downloads come from Meta's CDN host.
            outbound_hosts: vec![
                "graph.facebook.com".to_string(),
                media::MEDIA_HOST.to_string(),
            ],
            config_keys: CONFIG_KEYS.iter().map(|k| k.to_string()).collect(),
            // One Meta app may serve many numbers (and tenants).
            route_config_key: Some("phone_number_id".to_string()),
            statuses: vec![
                DeliveryStatus::Sent,
                DeliveryStatus::Delivered,
                DeliveryStatus::Read,
                DeliveryStatus::Played,
                DeliveryStatus::Failed,
            ],
        }
    }

    fn secret_keys() -> Option<Vec<String>> {
        Some(SECRET_KEYS.iter().map(|k| k.to_string()).collect())
    }

    fn accepted_media() -> Vec<String> {
        media::ACCEPTED_MEDIA
            .iter()
            .map(|m| m.to_string())
            .collect()
    }

    fn media_request(
        attachment: &Attachment,
        previous: Option<&HttpResponse>,
    ) -> Result<MediaStep, PluginError> {
        media::media_request(
            attachment,
            previous,
            &host::config_or("api_base_url", send::DEFAULT_API_BASE_URL),
            &host::require_config("access_token")?,
        )
    }

    fn verify(request: &HttpRequest) -> Result<Option<HttpResponse>, PluginError> {
        if request.method.eq_ignore_ascii_case("GET") {
            let token = host::require_config("verify_token")?;
            return Ok(Some(verify::handshake(request, &token, &HostCrypto)));
        }
        if request.method.eq_ignore_ascii_case("POST") {
            let secret = host::require_config("app_secret")?;
            verify::check_signature(
                request.header(verify::SIGNATURE_HEADER),
                &request.body,
                secret.as_bytes(),
                &HostCrypto,
            )?;
            return Ok(None);
        }
        Err(PluginError::bad_request(format!(
            "WhatsApp webhooks are GET (handshake) or POST (events), not {}",
            request.method
        )))
    }

    fn parse(request: &HttpRequest) -> Result<Vec<Event>, PluginError> {
        let parsed = webhook::parse_webhook(&request.body)?;
        // Skipped items are not errors (failing would make Meta redeliver
        // the whole batch), but someone should be able to see them.
        for reason in &parsed.skipped {
            host::log(
                LogLevel::Warn,
                "whatsapp-cloud skipped part of a webhook",
                &[("reason", reason)],
            );
        }
        Ok(parsed.events)
    }

    fn render(message: &OutboundMessage) -> Result<HttpRequest, PluginError> {
        send::render_request(message, &send_config()?)
    }

    fn render_template(message: &TemplateMessage) -> Result<HttpRequest, PluginError> {
        template::render_request(message, &send_config()?)
    }

    fn parse_send_response(response: &HttpResponse) -> Result<Receipt, PluginError> {
        response::parse_send_response(response)
    }

    fn route_key(request: &HttpRequest) -> Result<Vec<String>, PluginError> {
        webhook::route_keys(&request.body)
    }
}

/// Where and as whom sends go, from the channel's configuration.
fn send_config() -> Result<send::SendConfig, PluginError> {
    Ok(send::SendConfig {
        api_base_url: host::config_or("api_base_url", send::DEFAULT_API_BASE_URL),
        phone_number_id: host::require_config("phone_number_id")?,
        access_token: host::require_config("access_token")?,
    })
}

switchboard_sdk::export_adapter!(WhatsAppCloud);
