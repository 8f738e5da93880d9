//! `message` updates and their variants (edits, channel posts, media).

use switchboard_sdk::{Attachment, AttachmentKind, ContactAddress, Location};

use super::{courier, edited, fixture, only_message};

#[test]
fn courier_text_message() {
    let msg = only_message(fixture!("courier_helloMsg.json"));
    assert_eq!(
        msg,
        switchboard_sdk::InboundMessage {
            text: Some("Hello World".into()),
            ..courier("text")
        }
    );
}

#[test]
fn start_without_entities_is_plain_text() {
    // courier's fixture has no `entities`, so Telegram did not mark a command.
    let msg = only_message(fixture!("courier_startMsg.json"));
    assert_eq!(msg.text.as_deref(), Some("/start"));
    assert_eq!(msg.kind, "text");
}

#[test]
fn start_with_a_bot_command_entity_is_a_command() {
    let body = edited(
        fixture!("courier_startMsg.json"),
        "\"text\": \"/start\"",
        "\"text\": \"/start\", \"entities\": [{\"type\": \"bot_command\", \"offset\": 0, \"length\": 6}]",
    );
    let msg = only_message(&body);
    assert_eq!(msg.text.as_deref(), Some("/start"));
    assert_eq!(msg.kind, "command");
    // A command further into the text is not a command message.
    let body = edited(
        fixture!("courier_startMsg.json"),
        "\"text\": \"/start\"",
        "\"text\": \"hi /start\", \"entities\": [{\"type\": \"bot_command\", \"offset\": 3, \"length\": 6}]",
    );
    assert_eq!(only_message(&body).kind, "text");
}

#[test]
fn courier_sticker() {
    let msg = only_message(fixture!("courier_stickerMsg.json"));
    assert_eq!(msg.external_id, "174114373");
    assert_eq!(msg.timestamp, Some(1454119668));
    assert_eq!(msg.kind, "sticker");
    assert_eq!(msg.text, None);
    assert_eq!(
        msg.attachments,
        vec![Attachment {
            kind: AttachmentKind::Sticker,
            id: Some("BQADAwADRQADyIsGAAHtBskMy6GoLAI".into()),
            url: None,
            mime_type: None,
            caption: None,
            filename: None,
            sha256: None,
        }]
    );
    assert_eq!(msg.sender, super::nic());
}

#[test]
fn private_text_with_username_only_chat() {
    let msg = only_message(fixture!("teloxide_update_306197398_message.json"));
    assert_eq!(msg.external_id, "306197398");
    assert_eq!(msg.text.as_deref(), Some("4"));
    assert_eq!(msg.kind, "text");
    assert_eq!(msg.timestamp, Some(1581448857));
    assert_eq!(msg.group_id, None);
    assert_eq!(
        msg.sender,
        ContactAddress {
            address: "408258968".into(),
            phone: None,
            user_id: Some("408258968".into()),
            display_name: Some("Hirrolot".into()),
        }
    );

    let msg = only_message(fixture!("teloxide_update_892252934_message.json"));
    assert_eq!(msg.external_id, "892252934");
    assert_eq!(msg.text.as_deref(), Some("hello there"));
    assert_eq!(msg.sender.address, "218485655");
    assert_eq!(msg.sender.display_name.as_deref(), Some("Waffle"));
}

#[test]
fn supergroup_command_reply() {
    let msg = only_message(fixture!("teloxide_update_439432600_message.json"));
    assert_eq!(msg.external_id, "439432600");
    assert_eq!(msg.kind, "command");
    assert_eq!(msg.text.as_deref(), Some("/report"));
    assert_eq!(msg.reply_to.as_deref(), Some("134545"));
    assert_eq!(msg.group_id.as_deref(), Some("-1001293752024"));
    assert_eq!(
        msg.sender,
        ContactAddress {
            address: "-1001293752024".into(),
            phone: None,
            user_id: Some("5964236329".into()),
            display_name: Some("the Cable Guy".into()),
        }
    );
}

#[test]
fn supergroup_story_dice_and_pin_are_messages_without_text() {
    let story = only_message(fixture!("teloxide_update_439432599_message.json"));
    assert_eq!(
        (
            story.external_id.as_str(),
            story.kind.as_str(),
            story.text.as_deref()
        ),
        ("439432599", "story", None)
    );
    assert_eq!(story.sender.user_id.as_deref(), Some("6962620676"));
    assert_eq!(story.sender.display_name.as_deref(), Some("Wert"));

    let dice = only_message(fixture!("teloxide_update_573255266_message.json"));
    assert_eq!(
        (dice.external_id.as_str(), dice.kind.as_str()),
        ("573255266", "dice")
    );
    assert_eq!(dice.group_id.as_deref(), Some("-1001276785818"));

    let pin = only_message(fixture!("teloxide_update_845402291_message.json"));
    assert_eq!(
        (
            pin.external_id.as_str(),
            pin.kind.as_str(),
            pin.text.as_deref()
        ),
        ("845402291", "pinned_message", None)
    );
    assert_eq!(pin.reply_to, None);
}

#[test]
fn edits_and_channel_posts_are_messages_with_their_own_update_id() {
    let hello = fixture!("courier_helloMsg.json");
    let edit = edited(
        &edited(hello, "\"message\"", "\"edited_message\""),
        "174114370",
        "174114371",
    );
    let msg = only_message(&edit);
    assert_eq!(
        (msg.external_id.as_str(), msg.text.as_deref()),
        ("174114371", Some("Hello World"))
    );

    let post = edited(
        &edited(
            fixture!("teloxide_update_306197398_message.json"),
            "\"message\"",
            "\"channel_post\"",
        ),
        "\"type\": \"private\"",
        "\"type\": \"channel\", \"title\": \"News\"",
    );
    let msg = only_message(&post);
    assert_eq!(msg.group_id.as_deref(), Some("408258968"));
    let post = edited(&post, "\"channel_post\"", "\"edited_channel_post\"");
    assert_eq!(only_message(&post).text.as_deref(), Some("4"));
}

#[test]
fn channel_post_without_from_is_named_after_the_channel() {
    let body = r#"{"update_id": 9, "channel_post": {"message_id": 5, "date": 1700000000,
        "chat": {"id": -1001, "type": "channel", "title": "Switchboard News"}, "text": "hi"}}"#;
    let msg = only_message(body);
    assert_eq!(
        msg.sender,
        ContactAddress {
            address: "-1001".into(),
            phone: None,
            user_id: None,
            display_name: Some("Switchboard News".into()),
        }
    );
    assert_eq!(msg.group_id.as_deref(), Some("-1001"));
}

#[test]
fn photo_takes_the_largest_size_and_the_caption() {
    let body = edited(
        fixture!("courier_helloMsg.json"),
        "\"text\": \"Hello World\"",
        r#""caption": "look", "photo": [
            {"file_id": "small", "width": 90, "height": 51, "file_size": 1101},
            {"file_id": "large", "width": 1280, "height": 720, "file_size": 75000},
            {"file_id": "medium", "width": 320, "height": 180, "file_size": 13000}]"#,
    );
    let msg = only_message(&body);
    assert_eq!(msg.kind, "photo");
    assert_eq!(msg.text.as_deref(), Some("look"));
    assert_eq!(msg.attachments.len(), 1);
    assert_eq!(msg.attachments[0].kind, AttachmentKind::Image);
    assert_eq!(msg.attachments[0].id.as_deref(), Some("large"));
    assert_eq!(msg.attachments[0].caption.as_deref(), Some("look"));
}

#[test]
fn document_voice_and_animation() {
    let body = edited(
        fixture!("courier_helloMsg.json"),
        "\"text\": \"Hello World\"",
        r#""document": {"file_id": "doc-1", "file_name": "report.pdf", "mime_type": "application/pdf", "file_size": 1234}"#,
    );
    let msg = only_message(&body);
    assert_eq!(msg.kind, "document");
    assert_eq!(msg.text, None);
    assert_eq!(
        msg.attachments,
        vec![Attachment {
            kind: AttachmentKind::Document,
            id: Some("doc-1".into()),
            url: None,
            mime_type: Some("application/pdf".into()),
            caption: None,
            filename: Some("report.pdf".into()),
            sha256: None,
        }]
    );

    let body = edited(
        fixture!("courier_helloMsg.json"),
        "\"text\": \"Hello World\"",
        r#""voice": {"file_id": "voice-1", "duration": 3, "mime_type": "audio/ogg"}"#,
    );
    let msg = only_message(&body);
    assert_eq!(
        (msg.kind.as_str(), msg.attachments[0].kind),
        ("voice", AttachmentKind::Voice)
    );
    assert_eq!(msg.attachments[0].mime_type.as_deref(), Some("audio/ogg"));

    // Telegram sends an animation with a `document` copy; one attachment.
    let body = edited(
        fixture!("courier_helloMsg.json"),
        "\"text\": \"Hello World\"",
        r#""animation": {"file_id": "gif-1", "mime_type": "video/mp4"}, "document": {"file_id": "gif-1", "mime_type": "video/mp4"}"#,
    );
    let msg = only_message(&body);
    assert_eq!(msg.kind, "animation");
    assert_eq!(msg.attachments.len(), 1);
    assert_eq!(msg.attachments[0].kind, AttachmentKind::Video);
}

#[test]
fn location_and_venue() {
    let body = edited(
        fixture!("courier_helloMsg.json"),
        "\"text\": \"Hello World\"",
        r#""location": {"latitude": 52.5200, "longitude": 13.405}"#,
    );
    let msg = only_message(&body);
    assert_eq!(msg.kind, "location");
    assert_eq!(
        msg.location,
        Some(Location {
            latitude: 52.52,
            longitude: 13.405,
            name: None,
            address: None
        })
    );

    let body = edited(
        fixture!("courier_helloMsg.json"),
        "\"text\": \"Hello World\"",
        r#""location": {"latitude": 1, "longitude": 2},
           "venue": {"location": {"latitude": 1, "longitude": 2}, "title": "Cafe", "address": "Main St 1"}"#,
    );
    let msg = only_message(&body);
    assert_eq!(msg.kind, "venue");
    assert_eq!(
        msg.location,
        Some(Location {
            latitude: 1.0,
            longitude: 2.0,
            name: Some("Cafe".into()),
            address: Some("Main St 1".into()),
        })
    );
}
