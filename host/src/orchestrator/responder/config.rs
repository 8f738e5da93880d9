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
    /// Always the same text; `{{contact_name}}` is filled in.
    Static { text: String },
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

// By hand, so the API key never reaches a log line through `{:?}`.
impl fmt::Debug for ResponderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Static { text } => f.debug_struct("Static").field("text", text).finish(),
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
            Self::Static { text } => {
                if text.trim().is_empty() {
                    return Err("static responder text must not be empty".into());
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
            Self::Static { text } => json!({ "kind": "static", "text": text }),
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
