//! Pieces of Meta's wire format that several parts of a webhook (and the
//! send response) share: the sender's contact card, lenient timestamps,
//! error codes kept as text.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A `contacts[]` entry: who the senders in this change are.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WaContact {
    pub(crate) profile: Option<Profile>,
    /// Phone number; for username-only users Meta may put the BSUID here or
    /// leave it out.
    pub(crate) wa_id: Option<String>,
    /// The BSUID.
    pub(crate) user_id: Option<String>,
}

/// `contacts[].profile`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Profile {
    pub(crate) name: Option<String>,
}

/// Deserialize a Unix timestamp that Meta sends as a string of seconds (and
/// in a few places as a number). Anything unreadable becomes `None` rather
/// than failing the item, since the time is informational.
pub(crate) fn lenient_timestamp<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    let value = Option::<Value>::deserialize(deserializer)?;
    let seconds = match value {
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    };
    // Meta has been seen sending milliseconds; no seconds value is this big
    // before the year 33658.
    Ok(seconds.map(|s| if s >= 1_000_000_000_000 { s / 1000 } else { s }))
}

/// Read an error `code` that should be a number but is kept as text, since
/// the contract carries codes as strings.
pub(crate) fn code_text(code: &Option<Value>) -> Option<String> {
    match code {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}
