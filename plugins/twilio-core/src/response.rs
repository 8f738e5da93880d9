//! Twilio's answer to a create-Message call.
//!
//! Success is a JSON Message resource (`{"sid": "SM…", "status": "queued", …}`).
//! Errors come in two shapes: the legacy `{code, message, more_info, status}`
//! and RFC 9457 problem details `{type, title, status, detail, code?}`.

use serde_json::Value;
use switchboard_sdk::{DeliveryStatus, HttpResponse, PluginError, ProviderError, Receipt};

use crate::inbound::delivery_status;

/// Read the response to a rendered send.
pub fn parse_send_response(response: &HttpResponse) -> Result<Receipt, PluginError> {
    let json: Option<Value> = serde_json::from_slice(&response.body).ok();
    if response.is_success() {
        let json = json.ok_or_else(|| {
            PluginError::internal("Twilio accepted the message but its answer is not JSON")
        })?;
        let sid = json["sid"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                PluginError::internal("Twilio accepted the message but its answer has no `sid`")
            })?;
        let status = json["status"]
            .as_str()
            .and_then(|s| delivery_status(s).ok().flatten())
            .unwrap_or(DeliveryStatus::Queued);
        return Ok(Receipt {
            external_id: Some(sid.to_string()),
            status,
        });
    }
    Err(PluginError::Provider(provider_error(
        response,
        json.as_ref(),
    )))
}

fn provider_error(response: &HttpResponse, json: Option<&Value>) -> ProviderError {
    let retryable = response.status == 429 || response.status >= 500;
    let retry_after_secs = response
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u32>().ok());
    let text = |key: &str| {
        json.and_then(|j| j[key].as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let code = json
        .and_then(|j| match &j["code"] {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        })
        // Problem details may only name the error in `type`
        // (`https://www.twilio.com/docs/errors/21610`).
        .or_else(|| {
            let ty = text("type")?;
            let last = ty.trim_end_matches('/').rsplit('/').next()?.to_string();
            (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit())).then_some(last)
        });
    let message = text("message")
        .or_else(|| match (text("title"), text("detail")) {
            (Some(t), Some(d)) => Some(format!("{t}: {d}")),
            (t, d) => d.or(t),
        })
        .unwrap_or_else(|| {
            let body: String = String::from_utf8_lossy(&response.body)
                .chars()
                .take(512)
                .collect();
            if body.trim().is_empty() {
                format!("Twilio answered HTTP {}", response.status)
            } else {
                body
            }
        });
    let consent_revoked = code.as_deref() == Some(crate::OPTED_OUT_ERROR);
    ProviderError {
        retryable,
        retry_after_secs,
        code,
        message,
        consent_revoked,
    }
}
