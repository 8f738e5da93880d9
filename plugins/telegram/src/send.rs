//! Building the Bot API `POST /bot{token}/sendMessage` call. Pure: the
//! caller reads configuration and passes it in. Text only: sending media
//! (sendPhoto, sendDocument, …) is not implemented yet.

use serde_json::{Map, Value, json};
use switchboard_sdk::{HttpRequest, OutboundMessage, PluginError};

/// The Bot API base used when `api_base_url` is not configured.
pub const DEFAULT_API_BASE_URL: &str = "https://api.telegram.org";

/// Telegram's limit on a message text, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;

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
    format!(
        "{}/bot{bot_token}/sendMessage",
        api_base_url.trim_end_matches('/')
    )
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
    let body = render_body(message)?;
    Ok(HttpRequest::new("POST", send_message_url(&config.api_base_url, token)).with_json(&body))
}

/// `chat_id` as the Bot API takes it: a number for a numeric chat id
/// (negative for groups), else a string such as `@channelname`.
pub fn chat_id(to: &str) -> Value {
    match to.parse::<i64>() {
        Ok(id) => json!(id),
        Err(_) => json!(to),
    }
}

/// The JSON body: `chat_id`, `text`, and `reply_parameters.message_id` for
/// replies.
pub fn render_body(message: &OutboundMessage) -> Result<Value, PluginError> {
    let to = message.to.trim();
    if to.is_empty() {
        return Err(PluginError::bad_request(
            "outbound message has no recipient (`to` is empty)",
        ));
    }
    let text = message.text.as_deref().filter(|t| !t.is_empty());
    let Some(text) = text else {
        return Err(PluginError::bad_request(
            "outbound message has no text; the telegram adapter sends text only (media sending is not supported yet)",
        ));
    };
    if !message.attachments.is_empty() {
        return Err(PluginError::unsupported(
            "the telegram adapter sends text only; attachments are not supported yet",
        ));
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(PluginError::bad_request(format!(
            "text is {chars} characters; Telegram accepts at most {MAX_TEXT_CHARS} per message"
        )));
    }

    let mut body = Map::new();
    body.insert("chat_id".into(), chat_id(to));
    body.insert("text".into(), json!(text));
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
    Ok(Value::Object(body))
}
