//! Rendering sendMessage calls, checked against `bot_api_reference.json`.

use serde_json::{Value, json};
use switchboard_sdk::{Attachment, AttachmentKind, OutboundMessage, PluginError};

use super::fixture;
use crate::send::{DEFAULT_API_BASE_URL, MAX_TEXT_CHARS, SendConfig, render_request};

fn config() -> SendConfig {
    SendConfig {
        api_base_url: DEFAULT_API_BASE_URL.into(),
        bot_token: "123:ABC".into(),
    }
}

fn outbound(to: &str, text: Option<&str>, reply_to: Option<&str>) -> OutboundMessage {
    OutboundMessage {
        message_id: "msg_1".into(),
        to: to.into(),
        text: text.map(str::to_string),
        attachments: vec![],
        reply_to: reply_to.map(str::to_string),
    }
}

fn body(message: &OutboundMessage) -> Value {
    let req = render_request(message, &config()).unwrap();
    serde_json::from_slice(&req.body).unwrap()
}

#[test]
fn renders_the_reference_request() {
    let reference: Value = serde_json::from_str(fixture!("bot_api_reference.json")).unwrap();
    let expected = &reference["sendMessage_request"]["body"];
    let req = render_request(&outbound("3527065", Some("Hello"), Some("41")), &config()).unwrap();
    assert_eq!(req.method, "POST");
    assert_eq!(req.url, "https://api.telegram.org/bot123:ABC/sendMessage");
    assert_eq!(req.header("content-type"), Some("application/json"));
    let sent: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        sent,
        json!({
            "chat_id": expected["chat_id"],
            "text": expected["text"],
            "reply_parameters": expected["reply_parameters"],
        })
    );
    assert_eq!(
        sent,
        json!({"chat_id": 3527065, "text": "Hello", "reply_parameters": {"message_id": 41}})
    );
}

#[test]
fn chat_ids_and_replies() {
    assert_eq!(
        body(&outbound("-1001293752024", Some("hi"), None)),
        json!({"chat_id": -1001293752024_i64, "text": "hi"})
    );
    assert_eq!(
        body(&outbound("@channelname", Some("hi"), None)),
        json!({"chat_id": "@channelname", "text": "hi"})
    );
    assert!(matches!(
        render_request(&outbound("1", Some("hi"), Some("wamid.x")), &config()),
        Err(PluginError::BadRequest(_))
    ));
}

#[test]
fn base_url_is_configurable() {
    let config = SendConfig {
        api_base_url: "http://127.0.0.1:9999/".into(),
        bot_token: "123:ABC".into(),
    };
    let req = render_request(&outbound("1", Some("hi"), None), &config).unwrap();
    assert_eq!(req.url, "http://127.0.0.1:9999/bot123:ABC/sendMessage");
    let bad = SendConfig {
        api_base_url: DEFAULT_API_BASE_URL.into(),
        bot_token: "123:ABC/../x".into(),
    };
    assert!(matches!(
        render_request(&outbound("1", Some("hi"), None), &bad),
        Err(PluginError::Config(_))
    ));
}

#[test]
fn limits_and_missing_text() {
    let at_limit = "é".repeat(MAX_TEXT_CHARS);
    assert_eq!(
        body(&outbound("1", Some(&at_limit), None))["text"],
        json!(at_limit)
    );
    let over = "a".repeat(MAX_TEXT_CHARS + 1);
    match render_request(&outbound("1", Some(&over), None), &config()) {
        Err(PluginError::BadRequest(m)) => assert!(m.contains("4096"), "{m}"),
        other => panic!("{other:?}"),
    }
    match render_request(&outbound("1", None, None), &config()) {
        Err(PluginError::BadRequest(m)) => assert!(m.contains("neither text nor"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        render_request(&outbound("1", Some(""), None), &config()),
        Err(PluginError::BadRequest(_))
    ));
    assert!(matches!(
        render_request(&outbound(" ", Some("hi"), None), &config()),
        Err(PluginError::BadRequest(_))
    ));
    let image = Attachment {
        kind: AttachmentKind::Image,
        id: None,
        url: Some("https://example.com/a.jpg".into()),
        mime_type: None,
        caption: None,
        filename: None,
        sha256: None,
    };
    let with_media = OutboundMessage {
        attachments: vec![image.clone(), image],
        ..outbound("1", Some("hi"), None)
    };
    assert!(matches!(
        render_request(&with_media, &config()),
        Err(PluginError::Unsupported(_))
    ));
}

#[test]
fn renders_one_attachment_with_the_method_its_mime_type_needs() {
    let media = |mime: &str, caption: Option<&str>| OutboundMessage {
        attachments: vec![Attachment {
            kind: AttachmentKind::Other,
            id: None,
            url: Some("https://cdn.example.com/f".into()),
            mime_type: Some(mime.into()),
            caption: caption.map(str::to_string),
            filename: None,
            sha256: None,
        }],
        ..outbound("42", None, None)
    };
    for (mime, method, field) in [
        ("image/png", "sendPhoto", "photo"),
        ("video/mp4", "sendVideo", "video"),
        ("audio/mpeg", "sendAudio", "audio"),
        ("audio/ogg; codecs=opus", "sendVoice", "voice"),
        ("application/pdf", "sendDocument", "document"),
    ] {
        let req = render_request(&media(mime, Some("look")), &config()).unwrap();
        assert!(
            req.url.ends_with(&format!("/{method}")),
            "{mime}: {}",
            req.url
        );
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(
            body,
            json!({ "chat_id": 42, (field): "https://cdn.example.com/f", "caption": "look" })
        );
    }
    let long = "c".repeat(1025);
    assert!(matches!(
        render_request(&media("image/png", Some(&long)), &config()),
        Err(PluginError::BadRequest(_))
    ));
}
