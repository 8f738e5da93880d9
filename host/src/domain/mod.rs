//! The host's own message types. Plugins speak WIT records; the runtime
//! converts them to these at its boundary (`runtime::convert`) so nothing
//! past it depends on generated code. They serialize to the JSON shapes the
//! CLI and API print.

use serde::{Deserialize, Serialize};

mod disposition;
mod lifecycle;
mod media;
mod people;
mod phone;
mod reply;
mod vocabulary;
pub use disposition::{ConsentSource, Disposition};
pub use lifecycle::{ChannelStatus, TenantStatus};
pub use media::{MediaStep, MimeType, OutboundPart, accepts_mime};
pub use people::{ConversationStatus, Handler, Role};
pub use phone::e164;
pub use reply::{ReplyPlan, TokenUsage};
pub use vocabulary::{
    AttemptOutcome, AutoReply, EventType, MessageKind, MessageStatus, Task, TaskKind,
};

/// One header, in wire order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Name as received.
    pub name: String,
    /// Value.
    pub value: String,
}

/// An HTTP request: an inbound webhook, or a provider call built by `render`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// Upper-case method.
    pub method: String,
    /// Full public URL including the query string.
    pub url: String,
    /// Headers in wire order.
    #[serde(default)]
    pub headers: Vec<Header>,
    /// Raw body (serialized as a UTF-8 string when it is one; see `body_json`).
    #[serde(default, with = "body_serde")]
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The first value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }
}

/// An HTTP response: a handshake answer or a provider's reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers in wire order.
    #[serde(default)]
    pub headers: Vec<Header>,
    /// Raw body.
    #[serde(default, with = "body_serde")]
    pub body: Vec<u8>,
}

/// A provider's error details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderError {
    /// Whether retrying may succeed.
    pub retryable: bool,
    /// Seconds the provider asked us to wait.
    pub retry_after_secs: Option<u32>,
    /// The provider's error code.
    pub code: Option<String>,
    /// The provider's message.
    pub message: String,
    /// The error means the recipient withdrew consent.
    pub consent_revoked: bool,
}

/// The error a plugin itself reported (the WIT `plugin-error` variant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
pub enum GuestError {
    /// Missing or wrong signature.
    #[error("invalid signature: {0}")]
    InvalidSignature(String),
    /// Malformed request.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Operation not supported by the plugin.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Bad or missing configuration.
    #[error("configuration error: {0}")]
    Config(String),
    /// The provider failed or refused.
    #[error("provider error {}: {}", .0.code.as_deref().unwrap_or("-"), .0.message)]
    Provider(ProviderError),
    /// A bug in the plugin.
    #[error("plugin internal error: {0}")]
    Internal(String),
}

/// Media kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachmentKind {
    Image,
    Audio,
    Voice,
    Video,
    Document,
    Sticker,
    Other,
}

/// Media in a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub kind: AttachmentKind,
    pub id: Option<String>,
    pub url: Option<String>,
    pub mime_type: Option<String>,
    pub caption: Option<String>,
    pub filename: Option<String>,
    pub sha256: Option<String>,
}

/// A shared location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
    pub name: Option<String>,
    pub address: Option<String>,
}

/// A sender as the channel identifies them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactAddress {
    /// Where replies go (phone number, BSUID, chat id).
    pub address: String,
    pub phone: Option<String>,
    pub user_id: Option<String>,
    pub display_name: Option<String>,
}

/// A tapped button or list item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InteractiveReply {
    pub id: String,
    pub title: Option<String>,
    pub kind: String,
}

/// A reaction to an earlier message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub message_id: String,
    pub emoji: Option<String>,
}

/// Consent signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsentSignal {
    OptOut,
    OptIn,
    Help,
}

/// A message from an end user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    pub external_id: String,
    pub sender: ContactAddress,
    pub recipient: Option<String>,
    pub group_id: Option<String>,
    pub timestamp: Option<u64>,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    pub location: Option<Location>,
    pub reply_to: Option<String>,
    pub reaction: Option<Reaction>,
    pub interactive: Option<InteractiveReply>,
    pub consent: Option<ConsentSignal>,
    pub kind: String,
    /// Shared endpoints: the key of the channel this belongs to.
    #[serde(default)]
    pub route_key: Option<String>,
}

/// Delivery statuses, in the order they may advance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Queued,
    Sent,
    Delivered,
    Read,
    Played,
    Failed,
}

/// A provider callback about a sent message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    pub external_id: String,
    pub status: DeliveryStatus,
    pub recipient: Option<String>,
    pub timestamp: Option<u64>,
    pub error: Option<ProviderError>,
    /// Shared endpoints: the key of the channel this belongs to.
    #[serde(default)]
    pub route_key: Option<String>,
}

/// A normalized event from `parse`.
// Most events are messages; boxing them would only add an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    Message(InboundMessage),
    Status(StatusUpdate),
}

/// A message for an adapter to render.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    pub message_id: String,
    pub to: String,
    pub text: Option<String>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    pub reply_to: Option<String>,
}

/// A message from a provider-approved template (WhatsApp templates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateMessage {
    pub message_id: String,
    pub to: String,
    pub name: String,
    pub language: String,
    #[serde(default)]
    pub parameters: Vec<String>,
}

/// The provider's acceptance of a send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub external_id: Option<String>,
    pub status: DeliveryStatus,
}

/// What an adapter declares about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterInfo {
    pub name: String,
    pub max_text_length: u32,
    pub supports_media: bool,
    pub outbound_hosts: Vec<String>,
    pub config_keys: Vec<String>,
    /// The config key whose value routes shared-endpoint webhooks.
    pub route_config_key: Option<String>,
    /// Statuses the provider reports.
    pub statuses: Vec<DeliveryStatus>,
    /// The configuration keys whose values are secrets (the adapter's
    /// `configuration.secret-keys`, contract 0.1.2); `None` when it does not
    /// say, and then every value is treated as a secret.
    #[serde(default)]
    pub secret_keys: Option<Vec<String>>,
    /// The MIME types (or patterns such as `image/*`) of outbound media the
    /// adapter accepts (its `media.accepted-media`, contract 0.1.2); empty
    /// for an adapter without that export, which accepts no media.
    #[serde(default)]
    pub accepted_media: Vec<String>,
}

impl AdapterInfo {
    /// Whether the value of configuration key `key` is a secret, as the
    /// adapter declares it (never guessed from the key's name).
    pub fn is_secret(&self, key: &str) -> bool {
        self.secret_keys
            .as_ref()
            .is_none_or(|keys| keys.iter().any(|k| k == key))
    }

    /// Whether the adapter declares outbound media of type `mime`.
    pub fn accepts(&self, mime: &MimeType) -> bool {
        accepts_mime(&self.accepted_media, mime)
    }
}

/// Message direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    /// The column value (and the JSON one).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }

    /// A column value back; `None` for one this version does not know.
    pub fn parse(s: &str) -> Option<Direction> {
        [Direction::Inbound, Direction::Outbound]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// What a guardrail sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardrailContext {
    pub direction: Direction,
    pub text: String,
    pub channel_adapter: String,
    pub contact_address: String,
    #[serde(default)]
    pub first_reply: bool,
    #[serde(default)]
    pub prohibited_topics: Vec<String>,
    #[serde(default)]
    pub required_disclaimers: Vec<String>,
}

/// A guardrail's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    Allow,
    Rewrite {
        text: String,
    },
    Block {
        reason: String,
        reply: Option<String>,
    },
    OptOut {
        reply: Option<String>,
    },
    OptIn {
        reply: Option<String>,
    },
}

/// A past turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    pub direction: Direction,
    pub text: String,
}

/// What a persona component sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonaContext {
    pub name: String,
    pub display_name: String,
    pub contact_name: Option<String>,
    pub channel_adapter: String,
    pub history: Vec<Turn>,
    pub message: String,
}

/// A persona's prompt (before the host adds its safety rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub system: String,
    pub context: Option<String>,
}

/// Bodies are bytes on the wire; in JSON they read best as text, so a UTF-8
/// body is a string and anything else is `{"base64": "..."}`.
mod body_serde {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Body {
        Text(String),
        Binary { base64: String },
    }

    pub fn serialize<S: Serializer>(body: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(body) {
            Ok(text) => Body::Text(text.to_string()).serialize(s),
            Err(_) => Body::Binary {
                base64: base64::engine::general_purpose::STANDARD.encode(body),
            }
            .serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        match Body::deserialize(d)? {
            Body::Text(t) => Ok(t.into_bytes()),
            Body::Binary { base64 } => base64::engine::general_purpose::STANDARD
                .decode(base64)
                .map_err(serde::de::Error::custom),
        }
    }
}
