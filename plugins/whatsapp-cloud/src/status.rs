//! One `statuses[]` item → [`StatusUpdate`]. Pure.

use serde::Deserialize;
use serde_json::Value;
use switchboard_sdk::{DeliveryStatus, ProviderError, StatusUpdate};

use crate::wire::{code_text, lenient_timestamp};

#[derive(Deserialize)]
struct WaStatus {
    id: String,
    status: Option<String>,
    #[serde(default, deserialize_with = "lenient_timestamp")]
    timestamp: Option<u64>,
    /// The user's phone number, or the group id for group messages; absent
    /// for username users without a phone number.
    recipient_id: Option<String>,
    /// The recipient's BSUID.
    recipient_user_id: Option<String>,
    #[serde(default)]
    errors: Vec<WaError>,
}

/// An `errors[]` entry, as in statuses and message-level errors.
#[derive(Deserialize)]
struct WaError {
    code: Option<Value>,
    title: Option<String>,
    message: Option<String>,
    error_data: Option<ErrorData>,
}

/// `error_data`: Meta's longer explanation.
#[derive(Deserialize)]
struct ErrorData {
    details: Option<String>,
}

/// Map Meta's status names onto the contract's. `deleted` (the user deleted
/// our message) and unknown values have no equivalent.
pub fn delivery_status(name: &str) -> Option<DeliveryStatus> {
    match name {
        "sent" => Some(DeliveryStatus::Sent),
        "delivered" => Some(DeliveryStatus::Delivered),
        "read" => Some(DeliveryStatus::Read),
        "played" => Some(DeliveryStatus::Played),
        "failed" => Some(DeliveryStatus::Failed),
        _ => None,
    }
}

/// Convert one raw `statuses[]` item. The error is a reason to log: the
/// status is unknown or ignored (e.g. `deleted`), or the item is unreadable.
pub(crate) fn to_status_update(
    raw: Value,
    route_key: Option<&str>,
) -> Result<StatusUpdate, String> {
    let status: WaStatus = serde_json::from_value(raw)
        .map_err(|e| format!("skipped a status that could not be read: {e}"))?;
    let name = status.status.as_deref().unwrap_or("");
    let delivery = delivery_status(name).ok_or_else(|| {
        format!(
            "skipped status `{name}` for message `{}`: not a delivery status this adapter reports",
            status.id
        )
    })?;
    let error = match delivery {
        DeliveryStatus::Failed => status.errors.first().map(failure),
        _ => None,
    };
    let recipient = status
        .recipient_id
        .or(status.recipient_user_id)
        .filter(|r| !r.is_empty());
    Ok(StatusUpdate {
        external_id: status.id,
        status: delivery,
        recipient,
        timestamp: status.timestamp,
        error,
        // The number that sent the message: the channel's routing key.
        route_key: route_key.filter(|k| !k.is_empty()).map(str::to_string),
    })
}

/// Why a message failed. Delivery failures are final for that message (the
/// host does not resend on a status callback), so they are not retryable.
fn failure(error: &WaError) -> ProviderError {
    let headline = error
        .title
        .clone()
        .or_else(|| error.message.clone())
        .filter(|t| !t.is_empty());
    let details = error
        .error_data
        .as_ref()
        .and_then(|d| d.details.clone())
        .filter(|d| !d.is_empty());
    let message = match (headline, details) {
        (Some(h), Some(d)) => format!("{h}: {d}"),
        (Some(h), None) => h,
        (None, Some(d)) => d,
        (None, None) => "message failed without a reason from WhatsApp".to_string(),
    };
    ProviderError::new(false, code_text(&error.code), message)
}
