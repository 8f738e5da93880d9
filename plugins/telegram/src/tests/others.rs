//! `my_chat_member` consent signals, update kinds that give no events, and
//! malformed bodies.

use switchboard_sdk::{ConsentSignal, ContactAddress, PluginError};

use super::{edited, events, fixture, only_message};
use crate::update::parse_update;

#[test]
fn blocking_the_bot_is_an_opt_out() {
    let msg = only_message(fixture!("teloxide_update_0_my_chat_member.json"));
    assert_eq!(msg.external_id, "0");
    assert_eq!(msg.kind, "my_chat_member");
    assert_eq!(msg.consent, Some(ConsentSignal::OptOut));
    assert_eq!(msg.text, None);
    assert_eq!(msg.timestamp, Some(1644677726));
    assert_eq!(msg.group_id, None);
    assert_eq!(
        msg.sender,
        ContactAddress {
            address: "0".into(),
            phone: None,
            user_id: Some("0".into()),
            display_name: Some("FN LN".into()),
        }
    );
}

#[test]
fn unblocking_is_an_opt_in_and_other_changes_are_nothing() {
    // old "kicked" -> new "member": the user restarted the bot.
    let body = fixture!("teloxide_update_0_my_chat_member.json")
        .replacen("\"status\": \"member\"", "\"status\": \"OLD\"", 1)
        .replacen("\"status\": \"kicked\"", "\"status\": \"member\"", 1)
        .replacen("\"status\": \"OLD\"", "\"status\": \"kicked\"", 1);
    assert_eq!(only_message(&body).consent, Some(ConsentSignal::OptIn));

    // member -> administrator (e.g. promoted in a group): no event.
    let body = edited(
        fixture!("teloxide_update_0_my_chat_member.json"),
        "\"status\": \"kicked\"",
        "\"status\": \"administrator\"",
    );
    assert!(events(&body).is_empty());
}

#[test]
fn other_update_kinds_give_no_events() {
    for body in [
        fixture!("teloxide_update_1_new_update_kind.json"),
        fixture!("teloxide_update_573255267_purchased_paid_media.json"),
        fixture!("teloxide_update_71651249_message_reaction.json"),
        fixture!("teloxide_update_71651251_message_reaction_count.json"),
        fixture!("teloxide_update_71651297_chat_boost.json"),
        fixture!("teloxide_update_767844136_message_reaction.json"),
        fixture!("courier_emptyMsg.json"),
    ] {
        assert!(events(body).is_empty(), "{body}");
    }
}

#[test]
fn malformed_bodies_are_bad_requests() {
    for body in [
        &b"not json"[..],
        b"",
        b"[]",
        b"{}",
        b"{\"update_id\": \"x\"}",
        b"{\"update_id\": 1, \"message\": {\"text\": \"no chat\"}}",
    ] {
        match parse_update(body) {
            Err(PluginError::BadRequest(m)) => assert!(m.contains("Telegram Update"), "{m}"),
            other => panic!(
                "{:?}: expected bad request, got {other:?}",
                String::from_utf8_lossy(body)
            ),
        }
    }
}
