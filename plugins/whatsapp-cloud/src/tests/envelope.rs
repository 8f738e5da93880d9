//! The envelope: batching, non-message fields, bad bodies and route keys.

use serde_json::{Value, json};
use switchboard_sdk::{DeliveryStatus, Event, PluginError};

use super::{fixture, parse};
use crate::webhook::{parse_webhook, route_keys};

fn value(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

/// One webhook with two entries, the second carrying two changes: a courier
/// text, a pywa status and a pywa text (different business numbers).
fn combined() -> String {
    let hello = value(fixture!("courier_wac_hello.json"));
    let status = value(fixture!("pywa_status_sent.json"));
    let text = value(fixture!("pywa_message_text.json"));
    let mut second = status["entry"][0].clone();
    second["changes"]
        .as_array_mut()
        .unwrap()
        .push(text["entry"][0]["changes"][0].clone());
    json!({"object": "whatsapp_business_account", "entry": [hello["entry"][0].clone(), second]})
        .to_string()
}

#[test]
fn every_entry_and_change_is_read_in_order() {
    let parsed = parse(&combined());
    assert!(parsed.skipped.is_empty());
    match parsed.events.as_slice() {
        [
            Event::Message(hello),
            Event::Status(status),
            Event::Message(text),
        ] => {
            assert_eq!(
                (hello.external_id.as_str(), hello.text.as_deref()),
                ("external_id", Some("Hello World"))
            );
            assert_eq!(hello.recipient.as_deref(), Some("1234567890"));
            assert_eq!(
                (status.external_id.as_str(), status.status),
                ("wamid.xyzxyz", DeliveryStatus::Sent)
            );
            assert_eq!(
                (text.text.as_deref(), text.recipient.as_deref()),
                (Some("Body Text"), Some("1122334455667"))
            );
            assert_eq!(text.sender.display_name.as_deref(), Some("Test Name"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        route_keys(combined().as_bytes()).unwrap(),
        vec!["1234567890", "1122334455667"]
    );
}

#[test]
fn user_preferences_produce_no_events() {
    let both = value(fixture!("pywa_user_marketing_preferences.json"));
    for key in ["resume", "signup"] {
        let body = both[key].to_string();
        let parsed = parse(&body);
        assert!(
            parsed.events.is_empty() && parsed.skipped.is_empty(),
            "{key}: {parsed:?}"
        );
        // Still routable: the change names the business number.
        assert_eq!(
            route_keys(body.as_bytes()).unwrap(),
            vec!["106540352242922"]
        );
    }
}

#[test]
fn route_keys_of_single_fixtures() {
    assert_eq!(
        route_keys(fixture!("courier_wac_hello.json").as_bytes()).unwrap(),
        vec!["1234567890"]
    );
    assert_eq!(
        route_keys(fixture!("meta_dashboard_test_text_message.json").as_bytes()).unwrap(),
        vec!["123456123"]
    );
    assert_eq!(
        route_keys(fixture!("real_world_failed_131047_reengagement.json").as_bytes()).unwrap(),
        vec!["86501452171734"]
    );
    let empty = json!({"object": "whatsapp_business_account", "entry": []}).to_string();
    assert_eq!(route_keys(empty.as_bytes()).unwrap(), Vec::<String>::new());
}

fn bad_request(body: &[u8], expected_words: &str) {
    for result in [
        parse_webhook(body).map(|_| ()),
        route_keys(body).map(|_| ()),
    ] {
        match result {
            Err(PluginError::BadRequest(message)) => {
                assert!(
                    message.contains(expected_words),
                    "message {message:?} lacks {expected_words:?}"
                )
            }
            other => panic!("expected bad request, got {other:?}"),
        }
    }
}

#[test]
fn malformed_bodies_are_bad_requests() {
    bad_request(b"", "not valid JSON");
    bad_request(b"{\"object\": ", "not valid JSON");
    bad_request(b"[1, 2]", "not valid JSON");
    bad_request(br#"{"object": "page", "entry": []}"#, "`page`");
    bad_request(br#"{"entry": []}"#, "no `object`");
    bad_request(br#"{"object": "whatsapp_business_account"}"#, "no `entry`");
    bad_request(
        br#"{"object": "whatsapp_business_account", "entry": {}}"#,
        "not valid JSON",
    );
}

#[test]
fn an_unreadable_change_is_skipped() {
    let mut body = value(&combined());
    body["entry"][0]["changes"][0]["value"]["messages"] = json!("not a list");
    let parsed = parse(&body.to_string());
    assert_eq!(parsed.events.len(), 2);
    assert!(
        parsed.skipped[0].contains("unreadable value"),
        "{:?}",
        parsed.skipped
    );
}
