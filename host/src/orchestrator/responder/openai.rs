//! The OpenAI chat-completions wire format: the request body, the answer,
//! and the error bodies of OpenAI-compatible endpoints.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Reply, ResponderError};
use crate::domain::{Direction, Turn};

/// Longest error message kept from an endpoint's error body.
const MAX_ERROR_CHARS: usize = 300;

/// The chat-completions URL for a base URL.
pub(super) fn completions_url(base_url: &str) -> String {
    let base = base_url.trim().trim_end_matches('/');
    if base.ends_with("/chat/completions") {
        base.to_string()
    } else {
        format!("{base}/chat/completions")
    }
}

pub(super) fn request_body(
    model: &str,
    system: &str,
    history: &[Turn],
    message: &str,
    temperature: Option<f32>,
    max_tokens: Option<u32>,
) -> Value {
    let mut messages = Vec::with_capacity(history.len() + 2);
    messages.push(json!({ "role": "system", "content": system }));
    messages.extend(history.iter().map(|turn| {
        let role = match turn.direction {
            Direction::Inbound => "user",
            Direction::Outbound => "assistant",
        };
        json!({ "role": role, "content": turn.text })
    }));
    messages.push(json!({ "role": "user", "content": message }));
    let mut body = json!({ "model": model, "messages": messages });
    if let Some(t) = temperature {
        body["temperature"] = f32_json(t);
    }
    if let Some(m) = max_tokens {
        body["max_tokens"] = json!(m);
    }
    body
}

/// The message of an error body: OpenAI's `{"error":{"message":..}}`,
/// Ollama's `{"error":".."}`, a bare `{"message":..}`, or the text itself.
pub(super) fn error_message(body: &[u8], reason: Option<&str>) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let from_json = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("error"))
            .or_else(|| v.get("message"))
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let message = from_json
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string())
        .trim()
        .to_string();
    let message = if message.is_empty() {
        reason.unwrap_or("no error message").to_string()
    } else {
        message
    };
    truncate_chars(&message, MAX_ERROR_CHARS)
}

pub(super) fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// The parts of a chat-completions response the platform uses.
#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    model: Option<String>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    message: Option<ChoiceMessage>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<String>,
    /// Set instead of `content` when the model declines (OpenAI).
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
}

pub(super) fn parse_completion(body: &[u8]) -> Result<Reply, ResponderError> {
    let completion: Completion = serde_json::from_slice(body)
        .map_err(|e| ResponderError::BadResponse(format!("not a chat completion: {e}")))?;
    let message = completion
        .choices
        .into_iter()
        .next()
        .and_then(|c| c.message)
        .ok_or_else(|| ResponderError::BadResponse("no choices[0].message".into()))?;
    let text = message.content.as_deref().map(str::trim).unwrap_or("");
    if text.is_empty() {
        return Err(ResponderError::BadResponse(match message.refusal {
            Some(refusal) => format!(
                "the model refused: {}",
                truncate_chars(&refusal, MAX_ERROR_CHARS)
            ),
            None => "empty choices[0].message.content".into(),
        }));
    }
    let usage = completion.usage.unwrap_or(Usage {
        prompt_tokens: 0,
        completion_tokens: 0,
    });
    Ok(Reply {
        text: text.to_string(),
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
        model: completion.model,
    })
}

/// An `f32` as JSON, written as the user wrote it: widening to `f64` first
/// would send a temperature of 0.7 as 0.699999988079071.
pub(super) fn f32_json(x: f32) -> Value {
    x.to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}
