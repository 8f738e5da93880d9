//! Outbound: `POST {api_base_url}/2010-04-01/Accounts/{account_sid}/Messages.json`.

use switchboard_sdk::{HttpRequest, OutboundMessage, PluginError};

use crate::Channel;

/// Where the Twilio REST API lives unless `api_base_url` overrides it.
pub const DEFAULT_API_BASE_URL: &str = "https://api.twilio.com";
/// Twilio's limit on one message's `Body`.
pub const MAX_TEXT_CHARS: u32 = 1600;

/// What rendering needs from the binding's configuration.
#[derive(Debug, Clone, Default)]
pub struct SendConfig {
    /// Base of the REST API, without a trailing slash needed.
    pub api_base_url: String,
    /// `AC…` account id (also the Basic-auth user).
    pub account_sid: String,
    /// The account's auth token (Basic-auth password).
    pub auth_token: String,
    /// Our number (E.164, without `whatsapp:`), used when no messaging service is set.
    pub from: Option<String>,
    /// `MG…` messaging service; wins over `from`.
    pub messaging_service_sid: Option<String>,
    /// Where Twilio should post status callbacks (the channel's webhook URL).
    pub webhook_url: Option<String>,
}

/// Prefix an address for the wire (`whatsapp:` for WhatsApp) unless it
/// already carries a channel prefix.
pub fn wire_address(channel: Channel, address: &str) -> String {
    match channel {
        Channel::WhatsApp if !address.starts_with("whatsapp:") => format!("whatsapp:{address}"),
        _ => address.to_string(),
    }
}

/// Build the create-Message call for `message`.
pub fn render_request(
    channel: Channel,
    message: &OutboundMessage,
    config: &SendConfig,
) -> Result<HttpRequest, PluginError> {
    if message.to.trim().is_empty() {
        return Err(PluginError::bad_request(
            "outbound message has no recipient",
        ));
    }
    let mut fields: Vec<(&str, String)> = vec![("To", wire_address(channel, message.to.trim()))];
    match (&config.messaging_service_sid, &config.from) {
        (Some(service), _) => fields.push(("MessagingServiceSid", service.clone())),
        (None, Some(from)) => fields.push(("From", wire_address(channel, from.trim()))),
        (None, None) => {
            return Err(PluginError::config(
                "configuration key `from` or `messaging_service_sid` is required to send",
            ));
        }
    }
    // With media, `Body` is shown as the media's caption: the text, or
    // else the attachments' own captions.
    let captions: Vec<&str> = message
        .attachments
        .iter()
        .filter_map(|a| a.caption.as_deref().filter(|c| !c.is_empty()))
        .collect();
    match message.text.as_deref().filter(|t| !t.is_empty()) {
        Some(text) => fields.push(("Body", text.to_string())),
        None if !captions.is_empty() => fields.push(("Body", captions.join("\n"))),
        None => {}
    }
    for attachment in &message.attachments {
        let url = attachment.url.clone().ok_or_else(|| {
            PluginError::unsupported("Twilio sends media by URL; this attachment has none")
        })?;
        fields.push(("MediaUrl", url));
    }
    if !fields.iter().any(|(k, _)| *k == "Body" || *k == "MediaUrl") {
        return Err(PluginError::bad_request(
            "outbound message has neither text nor media",
        ));
    }
    if let Some(callback) = &config.webhook_url {
        fields.push(("StatusCallback", callback.clone()));
    }
    // The SID goes into the URL path: refuse anything that could change it.
    if !switchboard_sdk::is_path_segment(&config.account_sid, b"") {
        return Err(PluginError::config(
            "`account_sid` must be the AC… account SID (letters and digits)",
        ));
    }
    let url = format!(
        "{}/2010-04-01/Accounts/{}/Messages.json",
        config.api_base_url.trim_end_matches('/'),
        config.account_sid
    );
    Ok(HttpRequest::new("POST", url)
        .with_header(
            "authorization",
            crate::media::basic_auth(&config.account_sid, &config.auth_token),
        )
        .with_form(fields.iter().map(|(k, v)| (*k, v.as_str()))))
}
