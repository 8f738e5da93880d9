//! The first-party `webchat` adapter as a compiled component: it takes
//! only the host's visitor requests, turns a visitor's frames into the
//! same events as any adapter, and leaves delivery to the host.

use serde_json::json;
use switchboard::domain::{DeliveryStatus, Event, GuestError, HttpRequest, OutboundMessage};
use switchboard::runtime::PluginInstance;
use switchboard_artifacts::first_party::WEBCHAT;

use crate::common::{ctx, guest_err, post, runtime};

fn instance() -> PluginInstance {
    let plugin = runtime().load(WEBCHAT).expect("webchat loads");
    runtime()
        .instantiate(
            &plugin,
            &ctx(
                "acme",
                "webchat",
                &[("allowed_origins", "https://shop.example")],
            ),
        )
        .expect("instantiates")
}

/// A frame as the host hands it over.
fn visitor_request(frame: serde_json::Value, header: bool) -> HttpRequest {
    let body = serde_json::to_vec(&json!({
        "visitor": { "address": "visitor:v_1", "user_id": null },
        "frame": frame,
    }))
    .unwrap();
    let headers: &[(&str, &str)] = if header {
        &[("x-switchboard-visitor", "visitor:v_1")]
    } else {
        &[]
    };
    post("webchat://ch_1", headers, &body)
}

#[test]
fn declares_a_host_delivered_channel() {
    let info = instance().info().unwrap();
    assert_eq!(info.name, "webchat");
    assert!(info.outbound_hosts.is_empty(), "it calls no provider");
    assert!(!info.supports_media);
    assert_eq!(info.max_text_length, 4096);
    assert!(info.config_keys.iter().any(|k| k == "allowed_origins"));
}

#[test]
fn takes_only_the_hosts_visitor_requests() {
    let frame = json!({"type": "message", "client_id": "c1", "text": "hi"});
    assert_eq!(
        instance()
            .verify(&visitor_request(frame.clone(), true))
            .unwrap(),
        None
    );
    assert!(matches!(
        guest_err(instance().verify(&visitor_request(frame, false))),
        GuestError::InvalidSignature(_)
    ));
}

#[test]
fn a_visitors_frames_become_events() {
    let mut inst = instance();
    let events = inst
        .parse(&visitor_request(
            json!({"type": "message", "client_id": "c-9", "text": "Where is my order?"}),
            true,
        ))
        .unwrap();
    let [Event::Message(m)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(m.external_id, "visitor:v_1/c-9");
    assert_eq!(m.sender.address, "visitor:v_1");
    assert_eq!(m.text.as_deref(), Some("Where is my order?"));

    let events = inst
        .parse(&visitor_request(
            json!({"type": "delivered", "id": "msg_1"}),
            true,
        ))
        .unwrap();
    let [Event::Status(s)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(
        (s.external_id.as_str(), s.status),
        ("msg_1", DeliveryStatus::Delivered)
    );

    assert!(matches!(
        guest_err(inst.parse(&visitor_request(
            json!({"type": "message", "client_id": "c", "text": "x".repeat(4097)}),
            true
        ))),
        GuestError::BadRequest(m) if m.contains("4096")
    ));
}

#[test]
fn render_is_left_to_the_host() {
    let message = OutboundMessage {
        message_id: "msg_1".into(),
        to: "visitor:v_1".into(),
        text: Some("hello".into()),
        attachments: Vec::new(),
        reply_to: None,
    };
    assert!(matches!(
        guest_err(instance().render(&message)),
        GuestError::Unsupported(_)
    ));
}
