//! Reading the Bot API's answer to a send. Pure.
//!
//! Every Bot API answer is `{"ok": true, "result": …}` or
//! `{"ok": false, "error_code": N, "description": "…", "parameters": {…}}`.

use serde::Deserialize;
use switchboard_sdk::{DeliveryStatus, HttpResponse, PluginError, ProviderError, Receipt};

/// Longest provider text copied into an error.
const MAX_ERROR_TEXT: usize = 512;

#[derive(Deserialize)]
struct ApiResponse {
    ok: bool,
    result: Option<SentMessage>,
    error_code: Option<i64>,
    description: Option<String>,
    parameters: Option<ResponseParameters>,
}

#[derive(Deserialize)]
struct SentMessage {
    message_id: Option<i64>,
}

#[derive(Deserialize)]
struct ResponseParameters {
    retry_after: Option<u32>,
}

/// Whether an error means the user withdrew consent: 403 with "bot was
/// blocked by the user" or "user is deactivated".
pub fn is_consent_revoked(error_code: i64, description: &str) -> bool {
    let description = description.to_ascii_lowercase();
    error_code == 403
        && (description.contains("bot was blocked") || description.contains("user is deactivated"))
}

/// Turn the provider's answer into a receipt or a provider error.
///
/// `ok: true` is a sent message whose id is `result.message_id`. `ok: false`
/// is a [`PluginError::Provider`] with the Bot API's `error_code`; it is
/// retryable for 429 and 5xx, carries `parameters.retry_after`, and revokes
/// consent when the user blocked the bot. A body that cannot be read: a 2xx
/// is still accepted (with no id; an error would make the host resend), any
/// other status is a provider error whose code is the HTTP status.
pub fn parse_send_response(response: &HttpResponse) -> Result<Receipt, PluginError> {
    let status = response.status;
    let parsed: Option<ApiResponse> = serde_json::from_slice(&response.body).ok();
    match parsed {
        Some(ApiResponse {
            ok: true, result, ..
        }) => Ok(Receipt {
            external_id: result.and_then(|r| r.message_id).map(|id| id.to_string()),
            status: DeliveryStatus::Sent,
        }),
        Some(error) => {
            let code = error.error_code.unwrap_or(i64::from(status));
            let message = error
                .description
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| {
                    format!("Telegram answered HTTP {status} with an error and no description")
                });
            Err(PluginError::Provider(ProviderError {
                retryable: code == 429 || code >= 500,
                retry_after_secs: error.parameters.and_then(|p| p.retry_after),
                code: Some(code.to_string()),
                consent_revoked: is_consent_revoked(code, &message),
                message: truncate(&message),
            }))
        }
        None if response.is_success() => Ok(Receipt {
            external_id: None,
            status: DeliveryStatus::Sent,
        }),
        None => {
            let body = String::from_utf8_lossy(&response.body);
            let body = body.trim();
            let message = match body.is_empty() {
                true => format!("Telegram answered HTTP {status} with an empty body"),
                false => truncate(&format!("Telegram answered HTTP {status}: {body}")),
            };
            Err(PluginError::Provider(ProviderError::new(
                status == 429 || status >= 500,
                Some(status.to_string()),
                message,
            )))
        }
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(MAX_ERROR_TEXT).collect()
}
