//! # telegram
//!
//! A Switchboard channel adapter for the Telegram **Bot API**: webhook
//! `Update`s authenticated by the `X-Telegram-Bot-Api-Secret-Token` header
//! in, `POST /bot{token}/sendMessage` out.
//!
//! This file is the thin layer that reads the binding's configuration and
//! calls the host; all payload handling lives in pure modules ([`verify`],
//! [`update`], [`send`], [`response`]) that are unit-tested natively, where
//! host imports are unreachable.
//!
//! Configuration keys: `bot_token` (for sending), `secret_token` (the value
//! given to `setWebhook`; required to accept webhooks) and optional
//! `api_base_url` (default [`send::DEFAULT_API_BASE_URL`]).
//!
//! Media goes out with `sendPhoto`/`sendVideo`/`sendAudio`/`sendVoice`/
//! `sendDocument` ([`send`]); inbound files are fetched with `getFile`
//! ([`media`]).

use switchboard_sdk::host::{self, crypto};
use switchboard_sdk::prelude::*;

pub mod media;
mod membership;
mod message;
pub mod response;
pub mod send;
pub mod update;
pub mod verify;

#[cfg(test)]
mod tests;

/// The adapter's name, as the host and channel bindings refer to it.
pub const ADAPTER_NAME: &str = "telegram";

/// Every configuration key the adapter reads.
pub const CONFIG_KEYS: [&str; 3] = ["bot_token", "secret_token", "api_base_url"];
/// The keys of [`CONFIG_KEYS`] that hold secrets (never shown back by the API).
pub const SECRET_KEYS: [&str; 2] = ["bot_token", "secret_token"];

/// The Telegram Bot API channel adapter.
pub struct Telegram;

/// Constant-time comparison done by the host.
struct HostCrypto;

impl verify::Crypto for HostCrypto {
    fn constant_time_eq(&self, a: &[u8], b: &[u8]) -> bool {
        crypto::constant_time_eq(a, b)
    }
}

impl ChannelAdapter for Telegram {
    fn info() -> AdapterInfo {
        AdapterInfo {
            name: ADAPTER_NAME.to_string(),
            max_text_length: send::MAX_TEXT_CHARS as u32,
            supports_media: true,
            outbound_hosts: vec!["api.telegram.org".to_string()],
            config_keys: CONFIG_KEYS.iter().map(|k| k.to_string()).collect(),
            // One bot token per channel: no shared endpoint.
            route_config_key: None,
            statuses: vec![DeliveryStatus::Sent],
        }
    }

    fn secret_keys() -> Option<Vec<String>> {
        Some(SECRET_KEYS.iter().map(|k| k.to_string()).collect())
    }

    fn accepted_media() -> Vec<String> {
        send::ACCEPTED_MEDIA.iter().map(|m| m.to_string()).collect()
    }

    fn media_request(
        attachment: &Attachment,
        previous: Option<&HttpResponse>,
    ) -> Result<MediaStep, PluginError> {
        media::media_request(
            attachment,
            previous,
            &host::config_or("api_base_url", send::DEFAULT_API_BASE_URL),
            &host::require_config("bot_token")?,
        )
    }

    fn verify(request: &HttpRequest) -> Result<Option<HttpResponse>, PluginError> {
        if !request.method.eq_ignore_ascii_case("POST") {
            return Err(PluginError::bad_request(format!(
                "Telegram delivers webhooks as POST, not {}",
                request.method
            )));
        }
        let secret = host::require_config("secret_token")?;
        verify::check_secret_token(request.header(verify::SECRET_HEADER), &secret, &HostCrypto)?;
        Ok(None)
    }

    fn parse(request: &HttpRequest) -> Result<Vec<Event>, PluginError> {
        update::parse_update(&request.body)
    }

    fn render(message: &OutboundMessage) -> Result<HttpRequest, PluginError> {
        let config = send::SendConfig {
            api_base_url: host::config_or("api_base_url", send::DEFAULT_API_BASE_URL),
            bot_token: host::require_config("bot_token")?,
        };
        send::render_request(message, &config)
    }

    fn parse_send_response(response: &HttpResponse) -> Result<Receipt, PluginError> {
        response::parse_send_response(response)
    }
}

switchboard_sdk::export_adapter!(Telegram);
