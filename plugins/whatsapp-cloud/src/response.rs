//! Reading the Graph API's answer to a send. Pure.

use serde::Deserialize;
use serde_json::Value;
use switchboard_sdk::{DeliveryStatus, HttpResponse, PluginError, ProviderError, Receipt};

use crate::wire::code_text;

/// Error codes that mean "slow down, try again later": Meta's throttling
/// codes as courier's WhatsApp handler lists them (4 app rate limit, 80007
/// WABA rate limit, 130429 throughput, 131048 spam rate limit, 131056 pair
/// rate limit, 133016 registration rate limit), plus 613 ("calls to this api
/// have exceeded the rate limit"), which Meta pairs with HTTP 429.
pub const THROTTLING_CODES: &[i64] = &[4, 613, 80007, 130429, 131048, 131056, 133016];

/// Other transient codes worth a retry: 131053 is a media upload error,
/// usually Meta failing to fetch the media link (courier retries it too).
pub const TRANSIENT_CODES: &[i64] = &[131053];

/// Longest provider text copied into an error, so a huge HTML error page
/// does not end up in logs and the database.
const MAX_ERROR_TEXT: usize = 512;

#[derive(Deserialize)]
struct SendResponse {
    #[serde(default)]
    messages: Vec<SentMessage>,
    error: Option<GraphError>,
}

#[derive(Deserialize)]
struct SentMessage {
    id: Option<String>,
}

/// A Graph API error object.
#[derive(Deserialize)]
struct GraphError {
    message: Option<String>,
    code: Option<Value>,
    error_data: Option<GraphErrorData>,
    fbtrace_id: Option<String>,
}

#[derive(Deserialize)]
struct GraphErrorData {
    details: Option<String>,
}

/// Whether a Graph API error code is worth retrying.
pub fn is_retryable_code(code: i64) -> bool {
    THROTTLING_CODES.contains(&code) || TRANSIENT_CODES.contains(&code)
}

/// Turn the provider's answer into a receipt or a provider error.
///
/// A 2xx with `messages[0].id` is a queued message with that wamid. A 2xx
/// without one is still treated as accepted (with no id) because reporting
/// an error would make the host resend and the user could get it twice. An
/// `error` object is a [`PluginError::Provider`] with Meta's code; it is
/// retryable for throttling codes, HTTP 429 and 5xx. A body that cannot be
/// read gives a provider error whose code is the HTTP status.
pub fn parse_send_response(response: &HttpResponse) -> Result<Receipt, PluginError> {
    let status = response.status;
    let http_retryable = status == 429 || status >= 500;
    let parsed: Option<SendResponse> = serde_json::from_slice(&response.body).ok();

    match parsed {
        Some(SendResponse {
            error: Some(error), ..
        }) => {
            let numeric = error.code.as_ref().and_then(Value::as_i64);
            let retryable = http_retryable || numeric.is_some_and(is_retryable_code);
            let code = code_text(&error.code).unwrap_or_else(|| status.to_string());
            Err(PluginError::Provider(ProviderError::new(
                retryable,
                Some(code),
                describe(&error, status),
            )))
        }
        Some(sent) if response.is_success() => {
            let external_id = sent
                .messages
                .into_iter()
                .find_map(|m| m.id.filter(|id| !id.is_empty()));
            Ok(Receipt {
                external_id,
                status: DeliveryStatus::Queued,
            })
        }
        _ if response.is_success() => Ok(Receipt {
            external_id: None,
            status: DeliveryStatus::Queued,
        }),
        _ => {
            let body = String::from_utf8_lossy(&response.body);
            let body = body.trim();
            let message = match body.is_empty() {
                true => format!("WhatsApp answered HTTP {status} with an empty body"),
                false => truncate(&format!("WhatsApp answered HTTP {status}: {body}")),
            };
            Err(PluginError::Provider(ProviderError::new(
                http_retryable,
                Some(status.to_string()),
                message,
            )))
        }
    }
}

/// `message: details (fbtrace_id …)`; the trace id is what Meta support
/// asks for.
fn describe(error: &GraphError, status: u16) -> String {
    let mut text = error
        .message
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("WhatsApp answered HTTP {status} with an error and no message"));
    if let Some(details) = error
        .error_data
        .as_ref()
        .and_then(|d| d.details.as_deref())
        .filter(|d| !d.is_empty())
    {
        text = format!("{text}: {details}");
    }
    if let Some(trace) = error.fbtrace_id.as_deref().filter(|t| !t.is_empty()) {
        text = format!("{text} (fbtrace_id {trace})");
    }
    truncate(&text)
}

fn truncate(text: &str) -> String {
    text.chars().take(MAX_ERROR_TEXT).collect()
}
