//! Send responses: the success shapes and every error response in
//! `send_message_requests_and_responses.json`.

use serde_json::{Value, json};
use switchboard_sdk::{DeliveryStatus, HttpResponse, PluginError, ProviderError, Receipt};

use super::fixture;
use crate::response::parse_send_response;

fn fixture_json() -> Value {
    serde_json::from_str(fixture!("send_message_requests_and_responses.json")).unwrap()
}

fn response(status: u16, body: &[u8]) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![],
        body: body.to_vec(),
    }
}

fn provider_error(status: u16, body: &[u8]) -> ProviderError {
    match parse_send_response(&response(status, body)) {
        Err(PluginError::Provider(error)) => error,
        other => panic!("expected a provider error, got {other:?}"),
    }
}

#[test]
fn success_shapes_give_the_wamid() {
    let f = fixture_json();
    let minimal = f["success_response_minimal_201"].to_string();
    assert_eq!(
        parse_send_response(&response(201, minimal.as_bytes())).unwrap(),
        Receipt {
            external_id: Some("157b5e14568e8".into()),
            status: DeliveryStatus::Queued
        }
    );
    let full = f["success_response_full_shape_per_meta_docs"].to_string();
    assert_eq!(
        parse_send_response(&response(200, full.as_bytes()))
            .unwrap()
            .external_id
            .as_deref(),
        Some("wamid.<ID>")
    );

    // Accepted without an id: not an error (an error would cause a resend).
    for body in [&b""[..], b"{}", b"not json"] {
        assert_eq!(
            parse_send_response(&response(200, body)).unwrap(),
            Receipt {
                external_id: None,
                status: DeliveryStatus::Queued
            }
        );
    }
}

#[test]
fn every_fixture_error_response() {
    // (code, retryable): throttling codes and HTTP 429 retry; 131053 is a
    // transient media error; policy and parameter errors do not.
    let expected = [
        ("131056", true),
        ("130429", true),
        ("613", true),
        ("131053", true),
        ("368", false),
        ("0", false),
        ("131009", false),
    ];
    let f = fixture_json();
    let responses = f["error_responses"].as_array().unwrap();
    assert_eq!(responses.len(), expected.len());
    for (case, (code, retryable)) in responses.iter().zip(expected) {
        let status = case["http_status"].as_u64().unwrap() as u16;
        let error = provider_error(status, case["body"].to_string().as_bytes());
        assert_eq!(error.code.as_deref(), Some(code));
        assert_eq!(error.retryable, retryable, "code {code}");
        assert_eq!(
            error.message,
            case["body"]["error"]["message"].as_str().unwrap()
        );
        assert_eq!(
            (error.retry_after_secs, error.consent_revoked),
            (None, false)
        );
    }
}

#[test]
fn full_graph_error_shape() {
    let body = json!({"error": {
        "message": "(#131047) Re-engagement message",
        "type": "OAuthException",
        "code": 131047,
        "error_subcode": 2494010,
        "error_data": {"messaging_product": "whatsapp", "details": "More than 24 hours have passed since the recipient last replied"},
        "fbtrace_id": "AbCdEf123"
    }});
    let error = provider_error(400, body.to_string().as_bytes());
    assert_eq!(
        error,
        ProviderError {
            retryable: false,
            retry_after_secs: None,
            code: Some("131047".into()),
            message: "(#131047) Re-engagement message: More than 24 hours have passed since the recipient last replied (fbtrace_id AbCdEf123)".into(),
            consent_revoked: false,
        }
    );
    // Any 5xx is retryable whatever the code.
    let body = json!({"error": {"message": "Something went wrong", "code": 131000}});
    assert!(provider_error(503, body.to_string().as_bytes()).retryable);
    // Throttling codes other than the fixture's.
    for code in [4, 80007, 131048, 133016] {
        let body = json!({"error": {"message": "slow down", "code": code}});
        assert!(
            provider_error(400, body.to_string().as_bytes()).retryable,
            "code {code}"
        );
    }
}

#[test]
fn unreadable_error_bodies_use_the_http_status() {
    let gateway = provider_error(502, b"<html>Bad Gateway</html>");
    assert_eq!(
        (gateway.code.as_deref(), gateway.retryable),
        (Some("502"), true)
    );
    assert_eq!(
        gateway.message,
        "WhatsApp answered HTTP 502: <html>Bad Gateway</html>"
    );

    let empty = provider_error(400, b"");
    assert_eq!(
        (empty.code.as_deref(), empty.retryable),
        (Some("400"), false)
    );
    assert_eq!(
        empty.message,
        "WhatsApp answered HTTP 400 with an empty body"
    );

    let throttled = provider_error(429, b"{}");
    assert_eq!(
        (throttled.code.as_deref(), throttled.retryable),
        (Some("429"), true)
    );

    // An error object without a code falls back to the HTTP status too.
    let codeless = provider_error(
        401,
        br#"{"error": {"message": "Invalid OAuth access token"}}"#,
    );
    assert_eq!(
        (codeless.code.as_deref(), codeless.message.as_str()),
        (Some("401"), "Invalid OAuth access token")
    );

    let huge = "x".repeat(10_000);
    assert!(provider_error(500, huge.as_bytes()).message.chars().count() <= 512);
}
