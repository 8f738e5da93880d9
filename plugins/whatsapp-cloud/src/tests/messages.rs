//! Inbound text messages: senders (phone numbers and BSUIDs), replies,
//! groups, unsupported types and batch robustness.

use switchboard_sdk::{AttachmentKind, ContactAddress, Event, InboundMessage};

use super::{courier, edited, fixture, only_message, parse, pywa_sender};

#[test]
fn text() {
    let expected = InboundMessage {
        text: Some("Hello World".into()),
        ..courier("text")
    };
    assert_eq!(only_message(fixture!("courier_wac_hello.json")), expected);

    let dashboard = only_message(fixture!("meta_dashboard_test_text_message.json"));
    assert_eq!(dashboard.external_id, "ABGGFlA5Fpa");
    assert_eq!(dashboard.sender.address, "16315551181");
    assert_eq!(dashboard.sender.phone.as_deref(), Some("16315551181"));
    assert_eq!(
        dashboard.sender.display_name.as_deref(),
        Some("test user name")
    );
    assert_eq!(dashboard.recipient.as_deref(), Some("123456123"));
    assert_eq!(dashboard.timestamp, Some(1504902988));
    assert_eq!(dashboard.text.as_deref(), Some("this is a text message"));
}

#[test]
fn text_with_bsuid_in_contacts() {
    let msg = only_message(fixture!("pywa_message_text.json"));
    assert_eq!(msg.external_id, "wamid.xyzxyz");
    assert_eq!(msg.sender, pywa_sender());
    assert_eq!(msg.recipient.as_deref(), Some("1122334455667"));
    assert_eq!(msg.timestamp, Some(1697043223));
    assert_eq!(
        (msg.text.as_deref(), msg.kind.as_str()),
        (Some("Body Text"), "text")
    );
}

#[test]
fn bsuid_in_from() {
    let msg = only_message(fixture!("courier_wac_hello_bsuid_in_from.json"));
    let sender = ContactAddress {
        address: "US.1234".into(),
        phone: None,
        user_id: Some("US.1234".into()),
        display_name: Some("Kerry Fisher".into()),
    };
    assert_eq!(
        msg,
        InboundMessage {
            sender,
            text: Some("Hello World".into()),
            ..courier("text")
        }
    );
}

#[test]
fn bsuid_only_sender_has_no_from() {
    let msg = only_message(fixture!("courier_wac_hello_from_bsuid.json"));
    // No `from` and no `wa_id`: the BSUID is the address, and the parent
    // BSUID (`US.ENT.5678`) is deliberately not used.
    let sender = ContactAddress {
        address: "US.1234".into(),
        phone: None,
        user_id: Some("US.1234".into()),
        display_name: Some("Kerry Fisher".into()),
    };
    assert_eq!(
        msg,
        InboundMessage {
            sender,
            text: Some("Hello World".into()),
            ..courier("text")
        }
    );
}

#[test]
fn replies_and_forwards() {
    let reply = only_message(fixture!("pywa_message_reply.json"));
    assert_eq!(reply.reply_to.as_deref(), Some("wamid.xyzxyz=="));
    assert_eq!(reply.text.as_deref(), Some("replied text"));

    let forwarded = only_message(fixture!("pywa_message_forwarded.json"));
    assert_eq!(
        (forwarded.reply_to, forwarded.text.as_deref()),
        (None, Some("forwarded text"))
    );

    let referral = only_message(fixture!("pywa_message_referral.json"));
    assert_eq!(
        (referral.external_id.as_str(), referral.text.as_deref()),
        ("wamid.ID", Some("BODY"))
    );
}

#[test]
fn group_message() {
    let expected = InboundMessage {
        group_id: Some("555555555".into()),
        text: Some("Hello World, group message".into()),
        ..courier("text")
    };
    assert_eq!(
        only_message(fixture!("courier_wac_group_message.json")),
        expected
    );
}

#[test]
fn unsupported_types_still_produce_an_event() {
    let msg = only_message(fixture!("pywa_message_unsupported.json"));
    assert_eq!(
        (
            msg.external_id.as_str(),
            msg.kind.as_str(),
            msg.text.as_deref()
        ),
        ("wamid.xyzxyz", "unsupported", None)
    );
    assert_eq!(msg.sender, pywa_sender());

    // `interactive` whose content Meta could not deliver (value-level errors).
    let msg = only_message(fixture!("pywa_message_interactive_message_with_err.json"));
    assert_eq!(
        (msg.external_id.as_str(), msg.kind.as_str()),
        ("wamid.wegrchytvwcggt=", "interactive")
    );
    assert_eq!((msg.interactive, msg.text), (None, None));
    assert_eq!(msg.reply_to.as_deref(), Some("wamid.gvwegfretge=="));

    let sticker = edited(
        fixture!("courier_wac_image.json"),
        "\"image\": {",
        "\"sticker\": {",
    );
    let sticker = edited(&sticker, "\"type\": \"image\"", "\"type\": \"sticker\"");
    let msg = only_message(&sticker);
    assert_eq!(
        (msg.kind.as_str(), msg.attachments[0].kind),
        ("sticker", AttachmentKind::Sticker)
    );
}

#[test]
fn duplicate_in_one_batch_is_reported_once() {
    let parsed = parse(fixture!("courier_wac_duplicate.json"));
    assert_eq!(parsed.events.len(), 1);
    assert!(matches!(&parsed.events[0], Event::Message(m) if m.external_id == "external_id"));
    assert_eq!(
        parsed.skipped,
        vec!["skipped duplicate message `external_id` in the same webhook".to_string()]
    );
}

#[test]
fn unreadable_messages_do_not_fail_the_batch() {
    // The first message loses its id, the second its sender; a third is fine.
    let body = fixture!("courier_wac_duplicate.json");
    let body = edited(body, "\"id\": \"external_id\"", "\"id_missing\": \"x\"");
    let body = edited(
        &body,
        "\"from\": \"5678\",\n                \"id\": \"external_id\"",
        "\"id\": \"no_sender\"",
    );
    let mut value: serde_json::Value = serde_json::from_str(&body).unwrap();
    let good = serde_json::json!({"from": "5678", "id": "good", "timestamp": "1454119029", "type": "text", "text": {"body": "ok"}});
    value["entry"][0]["changes"][0]["value"]["messages"]
        .as_array_mut()
        .unwrap()
        .push(good);

    let parsed = parse(&value.to_string());
    assert_eq!(parsed.skipped.len(), 2, "{:?}", parsed.skipped);
    assert!(
        parsed.skipped[0].contains("missing field `id`"),
        "{:?}",
        parsed.skipped
    );
    assert!(
        parsed.skipped[1].contains("`no_sender`"),
        "{:?}",
        parsed.skipped
    );
    match parsed.events.as_slice() {
        [Event::Message(m)] => assert_eq!(
            (m.external_id.as_str(), m.text.as_deref()),
            ("good", Some("ok"))
        ),
        other => panic!("{other:?}"),
    }
}
