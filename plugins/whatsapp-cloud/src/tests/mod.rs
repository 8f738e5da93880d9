//! Native unit tests of the pure modules against Meta's real payloads in
//! `tests/fixtures/meta_whatsapp/` (see that directory's README).

use switchboard_sdk::{ContactAddress, Event, InboundMessage, StatusUpdate};

use crate::webhook::{ParsedWebhook, parse_webhook};

mod envelope;
mod interactive;
mod media;
mod messages;
mod response;
mod send;
mod statuses;
mod verify;

/// A fixture file's text. `include_str!` paths are relative to this
/// directory (`plugins/whatsapp-cloud/src/tests/`).
macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../../tests/fixtures/meta_whatsapp/", $name))
    };
}
pub(crate) use fixture;

/// Parse a fixture body, failing the test on a batch-level error.
fn parse(body: &str) -> ParsedWebhook {
    parse_webhook(body.as_bytes()).unwrap_or_else(|e| panic!("webhook rejected: {e:?}"))
}

/// The single message a fixture carries.
fn only_message(body: &str) -> InboundMessage {
    let parsed = parse(body);
    assert!(
        parsed.skipped.is_empty(),
        "unexpected skips: {:?}",
        parsed.skipped
    );
    match <[Event; 1]>::try_from(parsed.events) {
        Ok([Event::Message(msg)]) => msg,
        other => panic!("expected exactly one message event, got {other:?}"),
    }
}

/// The single status update a fixture carries.
fn only_status(body: &str) -> StatusUpdate {
    let parsed = parse(body);
    assert!(
        parsed.skipped.is_empty(),
        "unexpected skips: {:?}",
        parsed.skipped
    );
    match <[Event; 1]>::try_from(parsed.events) {
        Ok([Event::Status(status)]) => status,
        other => panic!("expected exactly one status event, got {other:?}"),
    }
}

/// A fixture with one string replaced, for variants Meta sends but the
/// fixture set lacks. Panics if `from` is absent so edits cannot rot.
fn edited(body: &str, from: &str, to: &str) -> String {
    assert!(body.contains(from), "fixture does not contain {from:?}");
    body.replacen(from, to, 1)
}

/// Kerry Fisher, the sender of every courier fixture.
fn kerry() -> ContactAddress {
    ContactAddress {
        address: "5678".into(),
        phone: Some("5678".into()),
        user_id: None,
        display_name: Some("Kerry Fisher".into()),
    }
}

/// The pywa fixtures' sender: a phone number with a BSUID in `contacts`.
fn pywa_sender() -> ContactAddress {
    ContactAddress {
        address: "972987654321".into(),
        phone: Some("972987654321".into()),
        user_id: Some("US.13491208655302741918".into()),
        display_name: Some("Test Name".into()),
    }
}

/// A courier message with everything but `kind` and content filled in.
fn courier(kind: &str) -> InboundMessage {
    InboundMessage {
        external_id: "external_id".into(),
        sender: kerry(),
        recipient: Some("1234567890".into()),
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
        route_key: Some("1234567890".into()),
    }
}
