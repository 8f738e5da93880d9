//! Inbound media and locations.

use switchboard_sdk::{Attachment, AttachmentKind, InboundMessage, Location};

use super::{courier, edited, fixture, only_message};

fn media(
    kind: AttachmentKind,
    id: &str,
    mime: &str,
    sha256: &str,
    caption: Option<&str>,
) -> Attachment {
    Attachment {
        kind,
        id: Some(id.into()),
        url: None,
        mime_type: Some(mime.into()),
        caption: caption.map(Into::into),
        filename: None,
        sha256: Some(sha256.into()),
    }
}

#[test]
fn image() {
    let sha = "29ed500fa64eb55fc19dc4124acb300e5dcc54a0f822a301ae99944db";
    let expected = InboundMessage {
        text: Some("Check out my new phone!".into()),
        attachments: vec![media(
            AttachmentKind::Image,
            "id_image",
            "image/jpeg",
            sha,
            Some("Check out my new phone!"),
        )],
        ..courier("image")
    };
    assert_eq!(only_message(fixture!("courier_wac_image.json")), expected);

    let pywa = only_message(fixture!("pywa_message_image.json"));
    assert_eq!(pywa.text, None);
    assert_eq!(pywa.timestamp, Some(1697043379));
    assert_eq!(
        pywa.attachments,
        vec![media(
            AttachmentKind::Image,
            "65463453",
            "image/jpeg",
            "4654+8g=",
            None
        )]
    );
}

#[test]
fn audio_and_voice() {
    let courier_audio = only_message(fixture!("courier_wac_audio.json"));
    assert_eq!(courier_audio.kind, "audio");
    assert_eq!(courier_audio.attachments[0].kind, AttachmentKind::Audio);
    assert_eq!(courier_audio.attachments[0].id.as_deref(), Some("id_audio"));

    let sha = "E3dxS/PdYZE7ppA3pQ4mpCFaXBJ8pX4SRN/dsfvds/iPGA=";
    let audio = only_message(fixture!("pywa_message_audio.json"));
    assert_eq!(
        audio.attachments,
        vec![media(
            AttachmentKind::Audio,
            "1234567890987654321",
            "audio/ogg; codecs=opus",
            sha,
            None
        )]
    );
    // `context.forwarded` without an id is not a reply.
    assert_eq!(audio.reply_to, None);

    // Cloud API voice notes are `audio` with `voice: true`.
    let voice_note = edited(
        fixture!("pywa_message_audio.json"),
        "\"voice\": false",
        "\"voice\": true",
    );
    assert_eq!(
        only_message(&voice_note).attachments[0].kind,
        AttachmentKind::Voice
    );

    // The legacy `voice` type.
    let sha = "fa9e1807d936b7cebe63654ea3a7912b1fa9479220258d823590521ef53b0710";
    let expected = InboundMessage {
        attachments: vec![media(
            AttachmentKind::Voice,
            "id_voice",
            "audio/ogg; codecs=opus",
            sha,
            None,
        )],
        ..courier("voice")
    };
    assert_eq!(only_message(fixture!("courier_wac_voice.json")), expected);
}

#[test]
fn video() {
    let msg = only_message(fixture!("courier_wac_video.json"));
    let sha = "29ed500fa64eb55fc19dc4124acb300e5dcc54a0f822a301ae99944db";
    assert_eq!(
        msg.attachments,
        vec![media(
            AttachmentKind::Video,
            "id_video",
            "image/jpeg",
            sha,
            Some("Check out my new phone!")
        )]
    );
    assert_eq!(
        (msg.kind.as_str(), msg.text.as_deref()),
        ("video", Some("Check out my new phone!"))
    );
}

#[test]
fn document() {
    let msg = only_message(fixture!("courier_wac_document.json"));
    let sha = "3b11fa6ef2bde1dd14726e09d3edaf782120919d06f6484f32d5d5caa4b8e";
    assert_eq!(
        msg.attachments,
        vec![media(
            AttachmentKind::Document,
            "id_document",
            "application/pdf",
            sha,
            Some("80skaraokesonglistartist")
        )]
    );
    assert_eq!(msg.text.as_deref(), Some("80skaraokesonglistartist"));

    let pywa = only_message(fixture!("pywa_message_document.json"));
    let doc = &pywa.attachments[0];
    assert_eq!(doc.filename.as_deref(), Some("filename.pdf"));
    assert_eq!(doc.caption.as_deref(), Some("caption"));
    assert_eq!(doc.id.as_deref(), Some("1234567890987654321"));
    assert_eq!(pywa.text.as_deref(), Some("caption"));
}

#[test]
fn location() {
    let expected = InboundMessage {
        location: Some(Location {
            latitude: 0.0,
            longitude: 1.0,
            name: Some("Main Street Beach".into()),
            address: Some("Main Street Beach, Santa Cruz, CA".into()),
        }),
        ..courier("location")
    };
    assert_eq!(
        only_message(fixture!("courier_wac_location.json")),
        expected
    );

    let current = only_message(fixture!("pywa_message_current_location.json"));
    assert_eq!(
        current.location,
        Some(Location {
            latitude: 12.25089,
            longitude: 43.90539,
            name: None,
            address: None
        })
    );
    assert_eq!(current.text, None);
}
