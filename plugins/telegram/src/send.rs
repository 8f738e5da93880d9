//! Building the Bot API send call: `sendMessage` for text, and for one
//! attachment `sendPhoto`, `sendVideo`, `sendAudio`, `sendVoice` or
//! `sendDocument` by its MIME type, with the text (or the attachment's
//! caption) as `caption`. Pure: the caller reads configuration and passes
//! it in.

use serde_json::{Map, Value, json};
use switchboard_sdk::{Attachment, AttachmentKind, HttpRequest, OutboundMessage, PluginError};

/// The Bot API base used when `api_base_url` is not configured.
pub const DEFAULT_API_BASE_URL: &str = "https://api.telegram.org";

/// Telegram's limit on a message text, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;
/// Telegram's limit on a media caption, in characters.
pub const MAX_CAPTION_CHARS: usize = 1024;

/// Every MIME type: `sendDocument` takes any file.
pub const ACCEPTED_MEDIA: &[&str] = &["*/*"];

/// The configuration a send needs.
#[derive(Debug, Clone)]
pub struct SendConfig {
    /// Bot API base, e.g. `https://api.telegram.org`.
    pub api_base_url: String,
    /// The token BotFather issued, `123456:ABC-DEF…`.
    pub bot_token: String,
}

/// `{api_base_url}/bot{bot_token}/sendMessage`, tolerating a trailing slash
/// on the base.
pub fn send_message_url(api_base_url: &str, bot_token: &str) -> String {
    method_url(api_base_url, bot_token, "sendMessage")
}

/// `{api_base_url}/bot{bot_token}/{method}`.
pub fn method_url(api_base_url: &str, bot_token: &str, method: &str) -> String {
    format!(
        "{}/bot{bot_token}/{method}",
        api_base_url.trim_end_matches('/')
    )
}

/// The Bot API method and its file field for an attachment: by MIME type
/// (OGG audio is a voice note, Telegram's `sendVoice` format), else by
/// kind; anything else is a document.
pub fn media_method(attachment: &Attachment) -> (&'static str, &'static str) {
    let mime = attachment.mime_type.as_deref().map(|m| {
        m.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    let top = mime.as_deref().and_then(|m| m.split('/').next());
    match (mime.as_deref(), top, attachment.kind) {
        (Some("audio/ogg"), _, _) | (None, _, AttachmentKind::Voice) => ("sendVoice", "voice"),
        (_, Some("image"), _) | (None, _, AttachmentKind::Image) => ("sendPhoto", "photo"),
        (_, Some("video"), _) | (None, _, AttachmentKind::Video) => ("sendVideo", "video"),
        (_, Some("audio"), _) | (None, _, AttachmentKind::Audio) => ("sendAudio", "audio"),
        _ => ("sendDocument", "document"),
    }
}

/// The full provider request for `message`. A `bot_token` with characters
/// that could change the URL is a config error.
pub fn render_request(
    message: &OutboundMessage,
    config: &SendConfig,
) -> Result<HttpRequest, PluginError> {
    let token = &config.bot_token;
    if !switchboard_sdk::is_path_segment(token, b":_-") {
        return Err(PluginError::config(
            "`bot_token` must be the token BotFather issued (digits, `:`, letters, `_`, `-`)",
        ));
    }
    let (method, body) = render_body(message)?;
    Ok(HttpRequest::new("POST", method_url(&config.api_base_url, token, method)).with_json(&body))
}

/// `chat_id` as the Bot API takes it: a number for a numeric chat id
/// (negative for groups), else a string such as `@channelname`.
pub fn chat_id(to: &str) -> Value {
    match to.parse::<i64>() {
        Ok(id) => json!(id),
        Err(_) => json!(to),
    }
}

/// The method and JSON body: `chat_id`, then `text` (sendMessage) or the
/// file URL and `caption` (one attachment), and
/// `reply_parameters.message_id` for replies.
pub fn render_body(message: &OutboundMessage) -> Result<(&'static str, Value), PluginError> {
    let to = message.to.trim();
    if to.is_empty() {
        return Err(PluginError::bad_request(
            "outbound message has no recipient (`to` is empty)",
        ));
    }
    let text = message.text.as_deref().filter(|t| !t.is_empty());
    let mut body = Map::new();
    body.insert("chat_id".into(), chat_id(to));
    let method = match (message.attachments.as_slice(), text) {
        ([], None) => {
            return Err(PluginError::bad_request(
                "outbound message has neither text nor an attachment",
            ));
        }
        ([], Some(text)) => {
            let chars = text.chars().count();
            if chars > MAX_TEXT_CHARS {
                return Err(PluginError::bad_request(format!(
                    "text is {chars} characters; Telegram accepts at most {MAX_TEXT_CHARS} per message"
                )));
            }
            body.insert("text".into(), json!(text));
            "sendMessage"
        }
        ([attachment], text) => {
            let (method, field) = media_method(attachment);
            // A file Telegram already has (its file_id) or a URL it fetches.
            let file = attachment
                .id
                .as_deref()
                .or(attachment.url.as_deref())
                .filter(|f| !f.is_empty())
                .ok_or_else(|| {
                    PluginError::bad_request("the attachment has neither a file id nor a URL")
                })?;
            body.insert(field.into(), json!(file));
            let caption = text.or(attachment.caption.as_deref().filter(|c| !c.is_empty()));
            if let Some(caption) = caption {
                let chars = caption.chars().count();
                if chars > MAX_CAPTION_CHARS {
                    return Err(PluginError::bad_request(format!(
                        "caption is {chars} characters; Telegram accepts at most {MAX_CAPTION_CHARS}"
                    )));
                }
                body.insert("caption".into(), json!(caption));
            }
            method
        }
        (many, _) => {
            return Err(PluginError::unsupported(format!(
                "the telegram adapter sends one attachment per message; got {}",
                many.len()
            )));
        }
    };
    if let Some(reply_to) = message
        .reply_to
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        let id: i64 = reply_to.parse().map_err(|_| {
            PluginError::bad_request(format!(
                "reply_to must be a Telegram message id (an integer), got `{reply_to}`"
            ))
        })?;
        body.insert("reply_parameters".into(), json!({ "message_id": id }));
    }
    Ok((method, Value::Object(body)))
}
