//! The webhook envelope: `{object, entry: [{id, changes: [{field, value}]}]}`.
//!
//! Everything here is pure (no host calls) so it is unit-tested natively.
//! One webhook may batch several entries and changes, each with many
//! messages and statuses. A single unreadable item must not cost the others
//! (Meta would redeliver the whole batch and we would fail it again), so
//! items are converted one by one and the ones that cannot be used are
//! reported in [`ParsedWebhook::skipped`] for the caller to log.

use serde::Deserialize;
use serde_json::Value;
use switchboard_sdk::{Event, PluginError};

use crate::wire::WaContact;
use crate::{message, status};

/// The `object` every WhatsApp Business Account webhook carries.
pub const WHATSAPP_OBJECT: &str = "whatsapp_business_account";

/// The change field that carries messages and statuses. Others (such as
/// `user_preferences`, `account_update`, template updates) are not events
/// for this adapter.
pub const MESSAGES_FIELD: &str = "messages";

/// What a webhook body turned into.
#[derive(Debug, Default)]
pub struct ParsedWebhook {
    /// Messages and status updates, in payload order.
    pub events: Vec<Event>,
    /// One human-readable line per item that was left out on purpose (an
    /// ignored status such as `deleted`) or could not be read.
    pub skipped: Vec<String>,
}

#[derive(Deserialize)]
struct Envelope {
    object: Option<String>,
    entry: Option<Vec<Entry>>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    value: Value,
}

/// The `value` of a `messages` change. Messages and statuses stay as raw
/// JSON here so each is read on its own (see the module docs).
#[derive(Deserialize)]
struct MessagesValue {
    metadata: Option<Metadata>,
    #[serde(default)]
    contacts: Vec<Value>,
    #[serde(default)]
    messages: Vec<Value>,
    #[serde(default)]
    statuses: Vec<Value>,
}

#[derive(Deserialize)]
struct Metadata {
    phone_number_id: Option<String>,
}

/// Read and check the envelope, with a bad-request error saying what is wrong.
fn envelope(body: &[u8]) -> Result<Vec<Entry>, PluginError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| {
        PluginError::bad_request(format!(
            "WhatsApp webhook body is not valid JSON of the expected shape: {e}"
        ))
    })?;
    match envelope.object.as_deref() {
        Some(WHATSAPP_OBJECT) => {}
        Some(other) => {
            return Err(PluginError::bad_request(format!(
                "webhook `object` is `{other}`, expected `{WHATSAPP_OBJECT}` (is this app subscribed to another product?)"
            )));
        }
        None => {
            return Err(PluginError::bad_request(format!(
                "webhook has no `object` field; expected `{WHATSAPP_OBJECT}`"
            )));
        }
    }
    envelope
        .entry
        .ok_or_else(|| PluginError::bad_request("webhook has no `entry` array"))
}

/// Turn a webhook body into events: every message and status of every
/// `messages` change of every entry. Invalid JSON, a wrong envelope shape or
/// an `object` other than `whatsapp_business_account` is a bad request;
/// problems with single items only add to [`ParsedWebhook::skipped`].
pub fn parse_webhook(body: &[u8]) -> Result<ParsedWebhook, PluginError> {
    let mut parsed = ParsedWebhook::default();
    // Meta occasionally repeats a message inside one batch; the host
    // deduplicates across deliveries, this keeps a single delivery clean.
    let mut seen_messages: Vec<String> = Vec::new();

    for change in envelope(body)?.into_iter().flat_map(|entry| entry.changes) {
        if change.field.as_deref() != Some(MESSAGES_FIELD) {
            continue;
        }
        let value: MessagesValue = match serde_json::from_value(change.value) {
            Ok(value) => value,
            Err(e) => {
                parsed.skipped.push(format!(
                    "skipped a `messages` change with an unreadable value: {e}"
                ));
                continue;
            }
        };
        let recipient = value.metadata.and_then(|m| m.phone_number_id);
        // A contact with the wrong shape only loses its display name.
        let contacts: Vec<WaContact> = value
            .contacts
            .into_iter()
            .filter_map(|c| serde_json::from_value(c).ok())
            .collect();

        for raw in value.messages {
            match message::to_inbound(raw, &contacts, recipient.as_deref()) {
                Ok(msg) if seen_messages.contains(&msg.external_id) => {
                    parsed.skipped.push(format!(
                        "skipped duplicate message `{}` in the same webhook",
                        msg.external_id
                    ));
                }
                Ok(msg) => {
                    seen_messages.push(msg.external_id.clone());
                    parsed.events.push(Event::Message(msg));
                }
                Err(reason) => parsed.skipped.push(reason),
            }
        }
        for raw in value.statuses {
            match status::to_status_update(raw, recipient.as_deref()) {
                Ok(update) => parsed.events.push(Event::Status(update)),
                Err(reason) => parsed.skipped.push(reason),
            }
        }
    }
    Ok(parsed)
}

/// The distinct `metadata.phone_number_id` of every change (whatever its
/// field), in order of appearance: the business numbers the webhook is
/// addressed to, which is how a shared endpoint finds the channel.
pub fn route_keys(body: &[u8]) -> Result<Vec<String>, PluginError> {
    let mut keys: Vec<String> = Vec::new();
    for change in envelope(body)?.into_iter().flat_map(|entry| entry.changes) {
        let id = change
            .value
            .pointer("/metadata/phone_number_id")
            .and_then(Value::as_str);
        if let Some(id) = id.filter(|id| !id.is_empty())
            && !keys.iter().any(|k| k == id)
        {
            keys.push(id.to_string());
        }
    }
    Ok(keys)
}
