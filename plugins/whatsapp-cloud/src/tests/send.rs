//! Render bodies compared by value with the request bodies in
//! `send_message_requests_and_responses.json`.

use serde_json::{Value, json};
use switchboard_sdk::{Attachment, AttachmentKind, OutboundMessage, PluginError};

use super::fixture;
use crate::send::{SendConfig, messages_url, render_body, render_request};

/// `request_bodies[index]`, checked to be of the expected `type` so a
/// reordered fixture fails loudly instead of comparing the wrong thing.
fn expected(index: usize, kind: &str) -> Value {
    let all: Value =
        serde_json::from_str(fixture!("send_message_requests_and_responses.json")).unwrap();
    let body = all["request_bodies"][index].clone();
    assert_eq!(body["type"], kind, "request_bodies[{index}] changed");
    body
}

fn message(to: &str, text: Option<&str>, attachments: Vec<Attachment>) -> OutboundMessage {
    OutboundMessage {
        message_id: "msg-1".into(),
        to: to.into(),
        text: text.map(Into::into),
        attachments,
        reply_to: None,
    }
}

fn link(kind: AttachmentKind, url: &str) -> Attachment {
    Attachment {
        kind,
        id: None,
        url: Some(url.into()),
        mime_type: None,
        caption: None,
        filename: None,
        sha256: None,
    }
}

fn rejected(result: Result<Value, PluginError>) -> PluginError {
    result.expect_err("render should have failed")
}

#[test]
fn text_bodies_match_the_fixture() {
    assert_eq!(
        render_body(&message("250788123123", Some("Simple Message"), vec![])).unwrap(),
        expected(0, "text")
    );
    assert_eq!(
        render_body(&message("250788123123", Some("☺"), vec![])).unwrap(),
        expected(2, "text")
    );
}

#[test]
fn bsuid_recipients_go_in_recipient() {
    let body = render_body(&message("US.1234", Some("Simple Message"), vec![])).unwrap();
    assert_eq!(body, expected(1, "text"));
    assert!(body.get("to").is_none());
}

#[test]
fn media_bodies_match_the_fixture() {
    let audio = message(
        "250788123123",
        None,
        vec![link(AttachmentKind::Audio, "https://foo.bar/audio.mp3")],
    );
    assert_eq!(render_body(&audio).unwrap(), expected(3, "audio"));

    // The filename comes from the URL when the attachment has none.
    let document = message(
        "250788123123",
        Some("document caption"),
        vec![link(
            AttachmentKind::Document,
            "https://foo.bar/document.pdf",
        )],
    );
    assert_eq!(render_body(&document).unwrap(), expected(5, "document"));
    let named = Attachment {
        filename: Some("document.pdf".into()),
        ..link(
            AttachmentKind::Document,
            "https://foo.bar/document.pdf?sig=1",
        )
    };
    let named = message("250788123123", Some("document caption"), vec![named]);
    let mut with_query = expected(5, "document");
    with_query["document"]["link"] = json!("https://foo.bar/document.pdf?sig=1");
    assert_eq!(render_body(&named).unwrap(), with_query);

    let image = message(
        "250788123123",
        Some("image caption"),
        vec![link(AttachmentKind::Image, "https://foo.bar/image.jpg")],
    );
    assert_eq!(render_body(&image).unwrap(), expected(6, "image"));
    let video = message(
        "250788123123",
        Some("video caption"),
        vec![link(AttachmentKind::Video, "https://foo.bar/video.mp4")],
    );
    assert_eq!(render_body(&video).unwrap(), expected(7, "video"));
    let bare_image = message(
        "250788123123",
        None,
        vec![link(AttachmentKind::Image, "https://foo.bar/image.jpg")],
    );
    assert_eq!(render_body(&bare_image).unwrap(), expected(22, "image"));
}

#[test]
fn media_ids_kinds_and_captions() {
    let uploaded = Attachment {
        id: Some("1234567890987654321".into()),
        ..link(AttachmentKind::Voice, "https://ignored.example/a.ogg")
    };
    let body = render_body(&message("250788123123", None, vec![uploaded])).unwrap();
    assert_eq!(
        (body["type"].clone(), body["audio"].clone()),
        (json!("audio"), json!({"id": "1234567890987654321"}))
    );

    let sticker = render_body(&message(
        "250788123123",
        None,
        vec![link(AttachmentKind::Sticker, "https://foo.bar/s.webp")],
    ))
    .unwrap();
    assert_eq!(
        sticker["sticker"],
        json!({"link": "https://foo.bar/s.webp"})
    );
    let other = render_body(&message(
        "250788123123",
        None,
        vec![link(AttachmentKind::Other, "https://foo.bar/data.csv")],
    ))
    .unwrap();
    assert_eq!(
        other["document"],
        json!({"link": "https://foo.bar/data.csv", "filename": "data.csv"})
    );

    // Without message text, the attachment's own caption is used.
    let captioned = Attachment {
        caption: Some("own caption".into()),
        ..link(AttachmentKind::Image, "https://foo.bar/image.jpg")
    };
    let body = render_body(&message("250788123123", None, vec![captioned])).unwrap();
    assert_eq!(body["image"]["caption"], "own caption");

    // Audio cannot carry text (courier sends it as a second message).
    let audio = message(
        "250788123123",
        Some("audio caption"),
        vec![link(AttachmentKind::Audio, "https://foo.bar/audio.mp3")],
    );
    assert!(
        matches!(rejected(render_body(&audio)), PluginError::Unsupported(m) if m.contains("cannot have a caption"))
    );
    let nowhere = Attachment {
        url: None,
        ..link(AttachmentKind::Image, "")
    };
    assert!(
        matches!(rejected(render_body(&message("250788123123", None, vec![nowhere]))), PluginError::BadRequest(m) if m.contains("neither a media id nor a URL"))
    );
    let two = vec![
        link(AttachmentKind::Image, "https://a/1.jpg"),
        link(AttachmentKind::Image, "https://a/2.jpg"),
    ];
    assert!(
        matches!(rejected(render_body(&message("250788123123", None, two))), PluginError::Unsupported(m) if m.contains("one attachment"))
    );
}

#[test]
fn replies_add_context() {
    let mut reply = message("250788123123", Some("Simple Message"), vec![]);
    reply.reply_to = Some("wamid.xyzxyz==".into());
    let mut want = expected(0, "text");
    want["context"] = json!({"message_id": "wamid.xyzxyz=="});
    assert_eq!(render_body(&reply).unwrap(), want);

    let mut media = message(
        "250788123123",
        Some("image caption"),
        vec![link(AttachmentKind::Image, "https://foo.bar/image.jpg")],
    );
    media.reply_to = Some("wamid.xyzxyz==".into());
    let mut want = expected(6, "image");
    want["context"] = json!({"message_id": "wamid.xyzxyz=="});
    assert_eq!(render_body(&media).unwrap(), want);
}

#[test]
fn text_limits_and_empty_messages() {
    let max = "é".repeat(4096);
    assert_eq!(
        render_body(&message("250788123123", Some(&max), vec![])).unwrap()["text"]["body"],
        json!(max)
    );
    let over = "é".repeat(4097);
    assert!(
        matches!(rejected(render_body(&message("250788123123", Some(&over), vec![]))), PluginError::BadRequest(m) if m.contains("4097"))
    );
    assert!(matches!(
        rejected(render_body(&message("250788123123", None, vec![]))),
        PluginError::BadRequest(_)
    ));
    assert!(matches!(
        rejected(render_body(&message("250788123123", Some(""), vec![]))),
        PluginError::BadRequest(_)
    ));
    assert!(
        matches!(rejected(render_body(&message(" ", Some("hi"), vec![]))), PluginError::BadRequest(m) if m.contains("recipient"))
    );
}

#[test]
fn the_request_targets_the_phone_number_with_a_bearer_token() {
    let config = SendConfig {
        api_base_url: "https://graph.facebook.com/v21.0/".into(),
        phone_number_id: "1122334455667".into(),
        access_token: "EAAG-token".into(),
    };
    let request = render_request(
        &message("250788123123", Some("Simple Message"), vec![]),
        &config,
    )
    .unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.url,
        "https://graph.facebook.com/v21.0/1122334455667/messages"
    );
    assert_eq!(request.header("authorization"), Some("Bearer EAAG-token"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        serde_json::from_slice::<Value>(&request.body).unwrap(),
        expected(0, "text")
    );

    let bad = SendConfig {
        phone_number_id: "123/../../me".into(),
        ..config
    };
    assert!(matches!(
        render_request(&message("1", Some("x"), vec![]), &bad),
        Err(PluginError::Config(_))
    ));
    assert_eq!(
        messages_url("http://127.0.0.1:9/v21.0", "42"),
        "http://127.0.0.1:9/v21.0/42/messages"
    );
}
