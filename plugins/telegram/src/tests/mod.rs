//! Native unit tests of the pure modules against Telegram's real payloads in
//! `tests/fixtures/telegram/` (see that directory's README). Every
//! fixture is one bare `Update` object, as Telegram POSTs it.

use switchboard_sdk::{ContactAddress, Event, InboundMessage};

use crate::update::parse_update;

mod messages;
mod others;
mod response;
mod send;
mod verify;

/// A fixture file's text. `include_str!` paths are relative to this
/// directory (`plugins/telegram/src/tests/`).
macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../../tests/fixtures/telegram/", $name))
    };
}
pub(crate) use fixture;

/// The events of a body, failing the test on an error.
fn events(body: &str) -> Vec<Event> {
    parse_update(body.as_bytes()).unwrap_or_else(|e| panic!("update rejected: {e:?}"))
}

/// The single message a body carries.
fn only_message(body: &str) -> InboundMessage {
    match <[Event; 1]>::try_from(events(body)) {
        Ok([Event::Message(msg)]) => msg,
        other => panic!("expected exactly one message event, got {other:?}"),
    }
}

/// A body with one string replaced, for variants the fixture set lacks.
/// Panics if `from` is absent so edits cannot rot.
fn edited(body: &str, from: &str, to: &str) -> String {
    assert!(body.contains(from), "fixture does not contain {from:?}");
    body.replacen(from, to, 1)
}

/// Nic Pottier, the sender of the courier fixtures, in his private chat.
fn nic() -> ContactAddress {
    ContactAddress {
        address: "3527065".into(),
        phone: None,
        user_id: Some("3527065".into()),
        display_name: Some("Nic Pottier".into()),
    }
}

/// A courier message (update 174114370, message 41) with content left out.
fn courier(kind: &str) -> InboundMessage {
    InboundMessage {
        external_id: "174114370".into(),
        sender: nic(),
        recipient: None,
        group_id: None,
        timestamp: Some(1454119029),
        text: None,
        attachments: vec![],
        location: None,
        reply_to: None,
        reaction: None,
        interactive: None,
        consent: None,
        kind: kind.into(),
        route_key: None,
    }
}
