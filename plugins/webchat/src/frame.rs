//! A visitor's frame, as the host hands it over: who the visitor is (the
//! host authenticated them) and what the widget sent. Pure.

use serde::Deserialize;
use switchboard_sdk::{
    ContactAddress, DeliveryStatus, Event, HttpRequest, InboundMessage, PluginError, StatusUpdate,
};

/// The longest message a visitor may send, in characters (the widget's
/// `maxlength` too).
pub const MAX_TEXT_CHARS: usize = 4096;

/// The header the host sets on the requests it builds for this adapter:
/// the visitor's channel address. A request without it did not come from
/// the host's visitor socket.
pub const VISITOR_HEADER: &str = "x-switchboard-visitor";

/// What the host sends to `parse`.
#[derive(Debug, Deserialize)]
pub struct VisitorFrame {
    pub visitor: Visitor,
    pub frame: Frame,
}

/// The visitor, as the host authenticated them.
#[derive(Debug, Deserialize)]
pub struct Visitor {
    /// The contact's address on this channel (`visitor:<id>` for an
    /// anonymous visitor, `user:<id>` for a page's verified user).
    pub address: String,
    /// A page's verified user id.
    pub user_id: Option<String>,
}

/// What the widget sent.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Frame {
    /// A message; `client_id` is the widget's id for it, so a resend
    /// after a reconnect is the same message.
    Message { client_id: String, text: String },
    /// The widget showed the business's message `id`.
    Delivered { id: String },
}

/// `verify`: the request must be the host's (a POST naming the visitor).
pub fn check_request(request: &HttpRequest) -> Result<(), PluginError> {
    if !request.method.eq_ignore_ascii_case("POST") {
        return Err(PluginError::bad_request(format!(
            "visitor frames come as POST, not {}",
            request.method
        )));
    }
    match request.header(VISITOR_HEADER) {
        Some(v) if !v.is_empty() => Ok(()),
        _ => Err(PluginError::invalid_signature(
            "not a visitor frame from the host's web chat socket",
        )),
    }
}

/// `parse`: a message becomes an inbound message whose deduplication key
/// is the visitor's address and the widget's `client_id` (one visitor
/// cannot collide with another's ids); `delivered` becomes a status.
pub fn parse(body: &[u8]) -> Result<Vec<Event>, PluginError> {
    let VisitorFrame { visitor, frame } = serde_json::from_slice(body)
        .map_err(|e| PluginError::bad_request(format!("not a visitor frame: {e}")))?;
    if visitor.address.is_empty() {
        return Err(PluginError::bad_request("the visitor has no address"));
    }
    match frame {
        Frame::Message { client_id, text } => {
            if client_id.is_empty()
                || client_id.len() > 64
                || !client_id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(PluginError::bad_request(
                    "`client_id` must be 1-64 characters of A-Z, a-z, 0-9, - and _",
                ));
            }
            if text.trim().is_empty() {
                return Err(PluginError::bad_request("the message is empty"));
            }
            if text.chars().count() > MAX_TEXT_CHARS {
                return Err(PluginError::bad_request(format!(
                    "the message is longer than {MAX_TEXT_CHARS} characters"
                )));
            }
            let mut sender = ContactAddress::new(visitor.address.clone());
            sender.user_id = visitor.user_id;
            Ok(vec![Event::Message(InboundMessage {
                external_id: format!("{}/{client_id}", visitor.address),
                sender,
                recipient: None,
                group_id: None,
                timestamp: None,
                text: Some(text),
                attachments: Vec::new(),
                location: None,
                reply_to: None,
                reaction: None,
                interactive: None,
                consent: None,
                kind: "text".to_string(),
                route_key: None,
            })])
        }
        Frame::Delivered { id } => Ok(vec![Event::Status(StatusUpdate {
            external_id: id,
            status: DeliveryStatus::Delivered,
            recipient: Some(visitor.address),
            timestamp: None,
            error: None,
            route_key: None,
        })]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(frame: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "visitor": {"address": "visitor:abc", "user_id": null},
            "frame": frame,
        }))
        .unwrap()
    }

    #[test]
    fn a_message_is_keyed_by_visitor_and_client_id() {
        let events = parse(&body(
            serde_json::json!({"type": "message", "client_id": "c-1", "text": "hi there"}),
        ))
        .unwrap();
        let [Event::Message(m)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!(m.external_id, "visitor:abc/c-1");
        assert_eq!(m.sender.address, "visitor:abc");
        assert_eq!(m.text.as_deref(), Some("hi there"));
        assert_eq!(m.kind, "text");
    }

    #[test]
    fn delivered_is_a_status_for_that_visitor() {
        let events = parse(&body(
            serde_json::json!({"type": "delivered", "id": "msg_1"}),
        ))
        .unwrap();
        let [Event::Status(s)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!(s.external_id, "msg_1");
        assert_eq!(s.status, DeliveryStatus::Delivered);
        assert_eq!(s.recipient.as_deref(), Some("visitor:abc"));
    }

    #[test]
    fn bad_frames_are_refused_with_a_reason() {
        for (frame, expect) in [
            (
                serde_json::json!({"type": "message", "client_id": "a b", "text": "x"}),
                "client_id",
            ),
            (
                serde_json::json!({"type": "message", "client_id": "a", "text": "  "}),
                "empty",
            ),
            (
                serde_json::json!({"type": "message", "client_id": "a", "text": "x".repeat(MAX_TEXT_CHARS + 1)}),
                "longer",
            ),
            (serde_json::json!({"type": "shout"}), "not a visitor frame"),
        ] {
            let err = parse(&body(frame)).unwrap_err();
            assert!(format!("{err:?}").contains(expect), "{err:?}");
        }
    }

    #[test]
    fn only_the_hosts_requests_pass_verify() {
        let mut request = HttpRequest::new("POST", "webchat://visitor");
        assert!(check_request(&request).is_err());
        request = request.with_header(VISITOR_HEADER, "visitor:abc");
        assert!(check_request(&request).is_ok());
        let get = HttpRequest::new("GET", "webchat://visitor").with_header(VISITOR_HEADER, "v");
        assert!(check_request(&get).is_err());
    }
}
