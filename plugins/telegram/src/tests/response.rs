//! Reading send responses, against the shapes in `bot_api_reference.json`.

use serde_json::Value;
use switchboard_sdk::{DeliveryStatus, HttpResponse, PluginError, ProviderError, Receipt};

use super::fixture;
use crate::response::parse_send_response;

fn reference(key: &str) -> Vec<u8> {
    let v: Value = serde_json::from_str(fixture!("bot_api_reference.json")).unwrap();
    let pointer = format!("/{}", key.replace('.', "/"));
    serde_json::to_vec(v.pointer(&pointer).unwrap_or_else(|| panic!("no {key}"))).unwrap()
}

fn response(status: u16, body: Vec<u8>) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![],
        body,
    }
}

fn provider_error(status: u16, body: Vec<u8>) -> ProviderError {
    match parse_send_response(&response(status, body)) {
        Err(PluginError::Provider(e)) => e,
        other => panic!("expected a provider error, got {other:?}"),
    }
}

#[test]
fn success_gives_the_message_id() {
    let receipt = parse_send_response(&response(200, reference("sendMessage_success"))).unwrap();
    assert_eq!(
        receipt,
        Receipt {
            external_id: Some("133".into()),
            status: DeliveryStatus::Sent
        }
    );
    // An unreadable 2xx is still accepted, so the host does not resend.
    let receipt = parse_send_response(&response(200, b"<html>".to_vec())).unwrap();
    assert_eq!(
        receipt,
        Receipt {
            external_id: None,
            status: DeliveryStatus::Sent
        }
    );
}

#[test]
fn error_shapes() {
    assert_eq!(
        provider_error(400, reference("error_shapes.generic")),
        ProviderError {
            retryable: false,
            retry_after_secs: None,
            code: Some("400".into()),
            message: "Bad Request: message text is empty".into(),
            consent_revoked: false,
        }
    );
    assert_eq!(
        provider_error(429, reference("error_shapes.rate_limited")),
        ProviderError {
            retryable: true,
            retry_after_secs: Some(35),
            code: Some("429".into()),
            message: "Too Many Requests: retry after 35".into(),
            consent_revoked: false,
        }
    );
    let blocked = provider_error(403, reference("error_shapes.blocked_by_user"));
    assert!(blocked.consent_revoked && !blocked.retryable);
    assert_eq!(blocked.code.as_deref(), Some("403"));
    assert_eq!(blocked.message, "Forbidden: bot was blocked by the user");
    assert!(provider_error(403, reference("error_shapes.user_deactivated")).consent_revoked);
    let migrated = provider_error(400, reference("error_shapes.group_migrated"));
    assert!(!migrated.retryable && !migrated.consent_revoked);
    let other_403 = provider_error(403, br#"{"ok":false,"error_code":403,"description":"Forbidden: bot is not a member of the channel chat"}"#.to_vec());
    assert!(!other_403.consent_revoked);
    let server = provider_error(
        502,
        br#"{"ok":false,"error_code":502,"description":"Bad Gateway"}"#.to_vec(),
    );
    assert!(server.retryable);
}

#[test]
fn unreadable_errors_use_the_http_status() {
    let e = provider_error(503, b"<html>upstream</html>".to_vec());
    assert!(e.retryable);
    assert_eq!(e.code.as_deref(), Some("503"));
    assert!(
        e.message.contains("503") && e.message.contains("upstream"),
        "{}",
        e.message
    );
    let e = provider_error(404, Vec::new());
    assert!(!e.retryable);
    assert!(e.message.contains("empty body"));
}
