//! Building the Graph API `POST /{phone-number-id}/messages` call. Pure: the
//! caller reads configuration and passes it in.

use serde_json::{Map, Value, json};
use switchboard_sdk::{Attachment, AttachmentKind, HttpRequest, OutboundMessage, PluginError};

use crate::address::is_phone_number;

/// The Graph API base used when `api_base_url` is not configured.
pub const DEFAULT_API_BASE_URL: &str = "https://graph.facebook.com/v21.0";

/// WhatsApp's limit on a text message body, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;

/// The configuration a send needs.
#[derive(Debug, Clone)]
pub struct SendConfig {
    /// Graph API base including the version, e.g. `https://graph.facebook.com/v21.0`.
    pub api_base_url: String,
    /// The business phone number's id (not the number itself).
    pub phone_number_id: String,
    /// A system-user or business access token.
    pub access_token: String,
}

/// `{api_base_url}/{phone_number_id}/messages`, tolerating a trailing slash
/// on the base.
pub fn messages_url(api_base_url: &str, phone_number_id: &str) -> String {
    format!(
        "{}/{phone_number_id}/messages",
        api_base_url.trim_end_matches('/')
    )
}

/// The full provider request for `message`: URL, bearer token and JSON body.
/// A `phone_number_id` that could change the URL's path is a config error.
pub fn render_request(
    message: &OutboundMessage,
    config: &SendConfig,
) -> Result<HttpRequest, PluginError> {
    let id = &config.phone_number_id;
    if !switchboard_sdk::is_path_segment(id, b"_-") {
        return Err(PluginError::config(format!(
            "`phone_number_id` must be the numeric id Meta shows for the number, got `{id}`"
        )));
    }
    let body = render_body(message)?;
    Ok(
        HttpRequest::new("POST", messages_url(&config.api_base_url, id))
            .with_header("authorization", format!("Bearer {}", config.access_token))
            .with_json(&body),
    )
}

/// The JSON body for `message`, exactly as the Cloud API documents it: a
/// text message, or one media message with the text as its caption.
/// Replies add `context.message_id`. A BSUID recipient goes in `recipient`
/// instead of `to`.
pub fn render_body(message: &OutboundMessage) -> Result<Value, PluginError> {
    let to = message.to.trim();
    if to.is_empty() {
        return Err(PluginError::bad_request(
            "outbound message has no recipient (`to` is empty)",
        ));
    }
    let text = message.text.as_deref().filter(|t| !t.is_empty());
    if let Some(text) = text {
        let chars = text.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(PluginError::bad_request(format!(
                "text is {chars} characters; WhatsApp accepts at most {MAX_TEXT_CHARS} per message"
            )));
        }
    }

    let mut body = Map::new();
    body.insert("messaging_product".into(), json!("whatsapp"));
    body.insert("recipient_type".into(), json!("individual"));
    let address_field = if is_phone_number(to) {
        "to"
    } else {
        "recipient"
    };
    body.insert(address_field.into(), json!(to));

    match message.attachments.as_slice() {
        [] => {
            let text = text.ok_or_else(|| {
                PluginError::bad_request("outbound message has neither text nor an attachment")
            })?;
            body.insert("type".into(), json!("text"));
            body.insert("text".into(), json!({ "body": text, "preview_url": false }));
        }
        [attachment] => {
            let (kind, media) = media_object(attachment, text)?;
            body.insert("type".into(), json!(kind));
            body.insert(kind.into(), Value::Object(media));
        }
        many => {
            return Err(PluginError::unsupported(format!(
                "WhatsApp sends one attachment per message; got {}",
                many.len()
            )));
        }
    }

    if let Some(reply_to) = message.reply_to.as_deref().filter(|r| !r.is_empty()) {
        body.insert("context".into(), json!({ "message_id": reply_to }));
    }
    Ok(Value::Object(body))
}

/// The Cloud API message type for an attachment kind. Voice notes are sent
/// as `audio` (WhatsApp shows OGG/Opus audio as a voice note); anything
/// unclassified goes as a `document`, which accepts every file type.
pub fn media_type(kind: AttachmentKind) -> &'static str {
    match kind {
        AttachmentKind::Image => "image",
        AttachmentKind::Audio | AttachmentKind::Voice => "audio",
        AttachmentKind::Video => "video",
        AttachmentKind::Sticker => "sticker",
        AttachmentKind::Document | AttachmentKind::Other => "document",
    }
}

/// The `{id|link, caption?, filename?}` object for one attachment, using the
/// message text (or the attachment's own caption) as the caption.
fn media_object(
    attachment: &Attachment,
    text: Option<&str>,
) -> Result<(&'static str, Map<String, Value>), PluginError> {
    let kind = media_type(attachment.kind);
    let mut media = Map::new();
    // A media id was uploaded to Meta already; prefer it over a link Meta
    // would have to fetch.
    let link = attachment.url.as_deref().filter(|u| !u.is_empty());
    match (attachment.id.as_deref().filter(|i| !i.is_empty()), link) {
        (Some(id), _) => media.insert("id".into(), json!(id)),
        (None, Some(url)) => media.insert("link".into(), json!(url)),
        (None, None) => {
            return Err(PluginError::bad_request(format!(
                "{kind} attachment has neither a media id nor a URL"
            )));
        }
    };

    let caption = text.or(attachment.caption.as_deref().filter(|c| !c.is_empty()));
    match (kind, caption) {
        ("image" | "video" | "document", Some(caption)) => {
            media.insert("caption".into(), json!(caption));
        }
        // Audio and stickers cannot carry text; dropping it silently would
        // lose part of the reply, so the host has to send it separately.
        (_, Some(_)) => {
            return Err(PluginError::unsupported(format!(
                "WhatsApp {kind} messages cannot have a caption; send the text as its own message"
            )));
        }
        (_, None) => {}
    }

    if kind == "document" {
        // Without a filename WhatsApp shows the document as "Untitled".
        let filename = attachment
            .filename
            .clone()
            .filter(|f| !f.is_empty())
            .or_else(|| link.and_then(filename_from_url));
        if let Some(filename) = filename {
            media.insert("filename".into(), json!(filename));
        }
    }
    Ok((kind, media))
}

/// The last path segment of a URL, if it looks like a file name.
fn filename_from_url(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next()?;
    let path = path.split_once("://").map_or(path, |(_, rest)| rest);
    let (_, name) = path.rsplit_once('/')?;
    (!name.is_empty()).then(|| name.to_string())
}
