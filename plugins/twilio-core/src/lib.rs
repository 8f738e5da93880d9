//! # twilio-core
//!
//! Everything the Twilio Programmable Messaging adapters share: signature
//! verification ([`verify`]), webhook parsing ([`inbound`]), the send call
//! ([`send`]) and its response ([`response`]). These are pure and
//! unit-tested natively; [`TwilioAdapter`] is the thin layer that reads the
//! binding's configuration and calls the host.
//!
//! The components `twilio-sms` and `twilio-whatsapp` only pick a
//! [`Flavor`] (name and [`Channel`]) and export `TwilioAdapter<Flavor>`.
//!
//! Configuration keys ([`CONFIG_KEYS`]): `account_sid`, `auth_token`
//! (secret; signs webhooks and authenticates sends), `from` (our number,
//! E.164 without `whatsapp:`) or `messaging_service_sid` (wins when set),
//! `webhook_url` (the URL configured in Twilio: the signature base and the
//! `StatusCallback` of sends) and `api_base_url` (default
//! [`send::DEFAULT_API_BASE_URL`]).

use std::marker::PhantomData;

use switchboard_sdk::host::{self, LogLevel, crypto};
use switchboard_sdk::prelude::*;

pub mod inbound;
pub mod media;
pub mod response;
pub mod send;
pub mod verify;

#[cfg(test)]
mod tests;

/// Every configuration key the adapters read.
pub const CONFIG_KEYS: [&str; 6] = [
    "account_sid",
    "auth_token",
    "from",
    "messaging_service_sid",
    "webhook_url",
    "api_base_url",
];
/// The keys of [`CONFIG_KEYS`] that hold secrets (never shown back by the API).
pub const SECRET_KEYS: [&str; 1] = ["auth_token"];

/// Twilio's "Attempt to send to unsubscribed recipient" error: the user
/// opted out (STOP).
pub const OPTED_OUT_ERROR: &str = "21610";

/// Which Twilio channel an adapter speaks: the only difference on the wire
/// is the `whatsapp:` prefix of `To`/`From`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// SMS/MMS: plain E.164 addresses.
    Sms,
    /// WhatsApp: `whatsapp:`-prefixed addresses.
    WhatsApp,
}

/// What distinguishes one Twilio adapter from another.
pub trait Flavor {
    /// The adapter's name, e.g. `twilio-sms`.
    const NAME: &'static str;
    /// The channel it sends on.
    const CHANNEL: Channel;

    /// The adapter's self-description.
    fn info() -> AdapterInfo {
        info(Self::NAME)
    }
}

/// The description every Twilio adapter shares, under `name`.
pub fn info(name: &str) -> AdapterInfo {
    AdapterInfo {
        name: name.to_string(),
        max_text_length: send::MAX_TEXT_CHARS,
        supports_media: true,
        outbound_hosts: std::iter::once("api.twilio.com")
            .chain(media::MEDIA_HOSTS.iter().copied())
            .map(str::to_string)
            .collect(),
        config_keys: CONFIG_KEYS.iter().map(|k| k.to_string()).collect(),
        // Shared Twilio accounts route by our own number.
        route_config_key: Some("from".to_string()),
        statuses: vec![
            DeliveryStatus::Queued,
            DeliveryStatus::Sent,
            DeliveryStatus::Delivered,
            DeliveryStatus::Read,
            DeliveryStatus::Failed,
        ],
    }
}

/// The Twilio channel adapter for flavor `F`.
pub struct TwilioAdapter<F>(PhantomData<F>);

/// Crypto done by the host, so the guest bundles none.
struct HostCrypto;

impl verify::Crypto for HostCrypto {
    fn hmac_sha1(&self, key: &[u8], data: &[u8]) -> Vec<u8> {
        crypto::hmac_sha1(key, data)
    }
    fn sha256(&self, data: &[u8]) -> Vec<u8> {
        crypto::sha256(data)
    }
    fn constant_time_eq(&self, a: &[u8], b: &[u8]) -> bool {
        crypto::constant_time_eq(a, b)
    }
}

fn optional_config(key: &str) -> Option<String> {
    host::config(key)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl<F: Flavor> ChannelAdapter for TwilioAdapter<F> {
    fn info() -> AdapterInfo {
        F::info()
    }

    fn secret_keys() -> Option<Vec<String>> {
        Some(SECRET_KEYS.iter().map(|k| k.to_string()).collect())
    }

    fn accepted_media() -> Vec<String> {
        media::accepted_media(F::CHANNEL)
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
            &host::require_config("account_sid")?,
            &host::require_config("auth_token")?,
        )
    }

    fn verify(request: &HttpRequest) -> Result<Option<HttpResponse>, PluginError> {
        let auth_token = host::require_config("auth_token")?;
        let webhook_url = host::require_config("webhook_url")?;
        verify::check_signature(request, &auth_token, &webhook_url, &HostCrypto)?;
        Ok(None)
    }

    fn parse(request: &HttpRequest) -> Result<Vec<Event>, PluginError> {
        // Twilio repeats the same token on retries; the host deduplicates on
        // MessageSid, so the token is only logged.
        if let Some(token) = request.header("i-twilio-idempotency-token") {
            host::log(
                LogLevel::Debug,
                "twilio webhook",
                &[("idempotency_token", token)],
            );
        }
        inbound::parse_webhook(F::CHANNEL, &request.body)
    }

    fn render(message: &OutboundMessage) -> Result<HttpRequest, PluginError> {
        let config = send::SendConfig {
            api_base_url: host::config_or("api_base_url", send::DEFAULT_API_BASE_URL),
            account_sid: host::require_config("account_sid")?,
            auth_token: host::require_config("auth_token")?,
            from: optional_config("from"),
            messaging_service_sid: optional_config("messaging_service_sid"),
            webhook_url: optional_config("webhook_url"),
        };
        send::render_request(F::CHANNEL, message, &config)
    }

    fn parse_send_response(response: &HttpResponse) -> Result<Receipt, PluginError> {
        response::parse_send_response(response)
    }

    fn route_key(request: &HttpRequest) -> Result<Vec<String>, PluginError> {
        Ok(inbound::route_keys(&request.body))
    }
}
