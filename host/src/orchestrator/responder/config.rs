//! A persona's responder settings: what the API accepts (validated) and
//! shows (the key only as set/unset), and how they are stored.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::openai::f32_json;

/// Longest static reply text, in characters.
const MAX_STATIC_CHARS: usize = 4096;
/// Largest `max_tokens` accepted; above any current chat model's output.
const MAX_TOKENS_LIMIT: u32 = 32_768;

/// A persona's responder, as stored (JSON) and accepted by the API.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ResponderConfig {
    /// Always the same text; `{{contact_name}}` is filled in. With
    /// `media`, those are sent too (what the channel's adapter accepts).
    Static {
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        media: Vec<StaticMedia>,
    },
    /// An OpenAI-compatible chat-completions endpoint.
    Openai {
        /// e.g. `https://api.openai.com/v1`; `/chat/completions` is appended
        /// unless already there.
        base_url: String,
        model: String,
        /// Empty for endpoints without auth (a local Ollama).
        api_key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        temperature: Option<f32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_tokens: Option<u32>,
    },
}

/// A media item a static responder sends with its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticMedia {
    /// An https URL the provider fetches.
    pub url: String,
    /// e.g. `image/jpeg`.
    pub mime_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

// By hand, so the API key never reaches a log line through `{:?}`.
impl fmt::Debug for ResponderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Static { text, media } => f
                .debug_struct("Static")
                .field("text", text)
                .field("media", media)
                .finish(),
            Self::Openai {
                base_url,
                model,
                api_key,
                temperature,
                max_tokens,
            } => f
                .debug_struct("Openai")
                .field("base_url", base_url)
                .field("model", model)
                .field("api_key", &key_state(api_key))
                .field("temperature", temperature)
                .field("max_tokens", max_tokens)
                .finish(),
        }
    }
}

/// How a key is shown outside the store.
fn key_state(api_key: &str) -> &'static str {
    if api_key.is_empty() { "unset" } else { "set" }
}

impl ResponderConfig {
    /// Check a configuration before storing it, so a bad one is refused at
    /// the API instead of failing every message later.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Self::Static { text, media } => {
                if text.trim().is_empty() {
                    return Err("static responder text must not be empty".into());
                }
                if media.len() > 10 {
                    return Err("a static responder sends at most 10 media items".into());
                }
                for (i, m) in media.iter().enumerate() {
                    if !m.url.starts_with("https://") || url::Url::parse(&m.url).is_err() {
                        return Err(format!("media[{i}].url must be an https URL"));
                    }
                    if crate::domain::MimeType::parse(&m.mime_type).is_none() {
                        return Err(format!(
                            "media[{i}].mime_type must be a MIME type such as `image/jpeg`"
                        ));
                    }
                    if m.caption
                        .as_ref()
                        .is_some_and(|c| c.trim().is_empty() || c.chars().count() > 1024)
                    {
                        return Err(format!("media[{i}].caption must be 1-1024 characters"));
                    }
                }
                let chars = text.chars().count();
                if chars > MAX_STATIC_CHARS {
                    return Err(format!(
                        "static responder text is {chars} characters; the limit is {MAX_STATIC_CHARS}"
                    ));
                }
                Ok(())
            }
            Self::Openai {
                base_url,
                model,
                api_key,
                temperature,
                max_tokens,
            } => {
                let url =
                    url::Url::parse(base_url).map_err(|e| format!("base_url is not a URL: {e}"))?;
                if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                    return Err("base_url must be an http(s) URL with a host".into());
                }
                // The outbound policy refuses userinfo (it can disguise the
                // host); say so now rather than at the first message.
                if !url.username().is_empty() || url.password().is_some() {
                    return Err("base_url must not contain credentials; use api_key".into());
                }
                if model.trim().is_empty() {
                    return Err("model must not be empty".into());
                }
                // The key goes into a header: control characters or spaces
                // would make every request fail.
                if !api_key.chars().all(|c| c.is_ascii_graphic()) {
                    return Err("api_key must be printable ASCII without spaces".into());
                }
                if let Some(t) = temperature
                    && !(0.0..=2.0).contains(t)
                {
                    return Err(format!("temperature must be between 0 and 2, not {t}"));
                }
                if let Some(m) = max_tokens
                    && !(1..=MAX_TOKENS_LIMIT).contains(m)
                {
                    return Err(format!(
                        "max_tokens must be between 1 and {MAX_TOKENS_LIMIT}, not {m}"
                    ));
                }
                Ok(())
            }
        }
    }

    /// For API responses: the stored JSON, but `api_key` is `"set"` or
    /// `"unset"` instead of the key.
    pub fn redacted(&self) -> Value {
        match self {
            Self::Static { text, media } if media.is_empty() => {
                json!({ "kind": "static", "text": text })
            }
            Self::Static { text, media } => {
                json!({ "kind": "static", "text": text, "media": media })
            }
            Self::Openai {
                base_url,
                model,
                api_key,
                temperature,
                max_tokens,
            } => {
                let mut v = json!({
                    "kind": "openai",
                    "base_url": base_url,
                    "model": model,
                    "api_key": key_state(api_key),
                });
                if let Some(t) = temperature {
                    v["temperature"] = f32_json(*t);
                }
                if let Some(m) = max_tokens {
                    v["max_tokens"] = json!(m);
                }
                v
            }
        }
    }
}
