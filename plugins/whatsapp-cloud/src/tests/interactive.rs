//! Inbound buttons, list and flow replies, and reactions.

use switchboard_sdk::{InboundMessage, InteractiveReply, Reaction};

use super::{courier, edited, fixture, only_message};

#[test]
fn template_button() {
    let expected = InboundMessage {
        text: Some("No".into()),
        reply_to: Some("gBGGFmkiWVVPAgkgQkwi7IORac0".into()),
        interactive: Some(InteractiveReply {
            id: "No-Button-Payload".into(),
            title: Some("No".into()),
            kind: "button".into(),
        }),
        ..courier("button")
    };
    assert_eq!(only_message(fixture!("courier_wac_button.json")), expected);
}

#[test]
fn button_and_list_replies() {
    let button = only_message(fixture!("courier_wac_button_reply.json"));
    let expected = InboundMessage {
        text: Some("Yes".into()),
        interactive: Some(InteractiveReply {
            id: "id_button_reply".into(),
            title: Some("Yes".into()),
            kind: "button_reply".into(),
        }),
        ..courier("interactive")
    };
    assert_eq!(button, expected);

    let list = only_message(fixture!("courier_wac_list_reply.json"));
    assert_eq!(
        list.interactive,
        Some(InteractiveReply {
            id: "id_list_reply".into(),
            title: Some("Yes".into()),
            kind: "list_reply".into()
        })
    );
    assert_eq!(
        (list.text.as_deref(), list.kind.as_str()),
        (Some("Yes"), "interactive")
    );
}

#[test]
fn flow_reply_keeps_the_submitted_answers() {
    let msg = only_message(fixture!("courier_wac_nfm_reply.json"));
    assert_eq!(
        msg.interactive,
        Some(InteractiveReply {
            id: "fl0w+t0k3n".into(),
            title: Some("Sent".into()),
            kind: "nfm_reply".into()
        })
    );
    assert_eq!(
        msg.text.as_deref(),
        Some(r#"{"flow_token": "fl0w+t0k3n", "first_name": "Bob", "age": "32"}"#)
    );

    // A response that is not a JSON object falls back to the flow name and body.
    let broken = edited(
        fixture!("courier_wac_nfm_reply.json"),
        r#""{\"flow_token\""#,
        r#""[\"flow_token\""#,
    );
    let msg = only_message(&broken);
    assert_eq!(msg.interactive.map(|i| i.id), Some("flow".to_string()));
    assert_eq!(msg.text.as_deref(), Some("Sent"));
}

#[test]
fn reaction_and_its_removal() {
    let msg = only_message(fixture!("pywa_message_reaction.json"));
    assert_eq!(
        msg.reaction,
        Some(Reaction {
            message_id: "wamid.yzxyzx=".into(),
            emoji: Some("\u{1F62E}".into())
        })
    );
    assert_eq!((msg.kind.as_str(), msg.text.as_deref()), ("reaction", None));

    let removed = edited(
        fixture!("pywa_message_reaction.json"),
        r#""\ud83d\ude2e""#,
        r#""""#,
    );
    assert_eq!(
        only_message(&removed).reaction,
        Some(Reaction {
            message_id: "wamid.yzxyzx=".into(),
            emoji: None
        })
    );
}
