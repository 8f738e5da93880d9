//! The tenant-style example adapter in `examples/simple-json-adapter`,
//! driven through the real runtime.

use switchboard::domain::GuestError;
use switchboard::domain::{DeliveryStatus, Event, HttpResponse, OutboundMessage};
use switchboard::runtime::PluginError;
use switchboard_artifacts::examples::SIMPLE_JSON_ADAPTER;

use crate::common::{ctx, hmac_sha256_hex, load_path, post, runtime};

const BODY: &[u8] = br#"{"messages":[{"id":"m-1","from":"+15551234567","name":"Ann","text":"Hello there"},{"id":"m-2","from":"+15557654321","text":"second"}]}"#;

#[test]
fn signed_webhook_parses_into_messages() {
    let plugin = load_path(SIMPLE_JSON_ADAPTER);
    let mut inst = runtime()
        .instantiate(
            &plugin,
            &ctx("t1", "simple-json", &[("secret", "topsecret")]),
        )
        .unwrap();
    let req = post(
        "https://x.test/webhooks/c",
        &[("x-signature", &hmac_sha256_hex(b"topsecret", BODY))],
        BODY,
    );
    assert_eq!(inst.verify(&req).unwrap(), None);
    let events = inst.parse(&req).unwrap();
    assert_eq!(events.len(), 2);
    let Event::Message(m) = &events[0] else {
        panic!()
    };
    assert_eq!(m.external_id, "m-1");
    assert_eq!(m.sender.address, "+15551234567");
    assert_eq!(m.sender.display_name.as_deref(), Some("Ann"));
    assert_eq!(m.text.as_deref(), Some("Hello there"));
}

#[test]
fn wrong_or_missing_signature_is_rejected() {
    let plugin = load_path(SIMPLE_JSON_ADAPTER);
    let c = ctx("t1", "simple-json", &[("secret", "topsecret")]);
    let bad = post(
        "https://x.test/",
        &[("X-Signature", &hmac_sha256_hex(b"other", BODY))],
        BODY,
    );
    let err = runtime()
        .instantiate(&plugin, &c)
        .unwrap()
        .verify(&bad)
        .unwrap_err();
    assert!(
        matches!(err, PluginError::Guest(GuestError::InvalidSignature(_))),
        "{err:?}"
    );
    let missing = post("https://x.test/", &[], BODY);
    let err = runtime()
        .instantiate(&plugin, &c)
        .unwrap()
        .verify(&missing)
        .unwrap_err();
    assert!(
        matches!(err, PluginError::Guest(GuestError::InvalidSignature(ref m)) if m.contains("missing")),
        "{err:?}"
    );
}

#[test]
fn malformed_body_is_a_bad_request() {
    let plugin = load_path(SIMPLE_JSON_ADAPTER);
    let err = runtime()
        .instantiate(&plugin, &ctx("t1", "simple-json", &[]))
        .unwrap()
        .parse(&post("https://x.test/", &[], b"{not json"))
        .unwrap_err();
    assert!(
        matches!(err, PluginError::Guest(GuestError::BadRequest(ref m)) if m.contains("not valid JSON")),
        "{err:?}"
    );
}

#[test]
fn render_and_send_response_round_trip() {
    let plugin = load_path(SIMPLE_JSON_ADAPTER);
    let c = ctx(
        "t1",
        "simple-json",
        &[
            ("api_key", "k-123"),
            ("api_base_url", "http://127.0.0.1:9/api"),
        ],
    );
    let mut inst = runtime().instantiate(&plugin, &c).unwrap();
    let msg = OutboundMessage {
        message_id: "out-1".into(),
        to: "+15551234567".into(),
        text: Some("Hi Ann".into()),
        attachments: vec![],
        reply_to: None,
    };
    let req = inst.render(&msg).unwrap();
    assert_eq!(req.method, "POST");
    assert_eq!(req.url, "http://127.0.0.1:9/api/messages");
    assert_eq!(req.header("authorization"), Some("Bearer k-123"));
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"to": "+15551234567", "text": "Hi Ann"})
    );
    let receipt = inst
        .parse_send_response(&HttpResponse {
            status: 200,
            headers: vec![],
            body: br#"{"id":"prov-9"}"#.to_vec(),
        })
        .unwrap();
    assert_eq!(receipt.external_id.as_deref(), Some("prov-9"));
    assert_eq!(receipt.status, DeliveryStatus::Queued);
    let err = inst
        .parse_send_response(&HttpResponse {
            status: 503,
            headers: vec![],
            body: b"down".to_vec(),
        })
        .unwrap_err();
    assert!(
        matches!(err, PluginError::Guest(GuestError::Provider(ref p)) if p.retryable),
        "{err:?}"
    );
}
