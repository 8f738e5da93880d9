//! Media through the real first-party components: `render` with an
//! attachment produces each provider's documented request, `info` carries
//! the declared media types (the optional 0.1.2 `media` export), and
//! `media-request` walks each provider's fetch protocol. Components built
//! on 0.1.0/0.1.1 (no `media` export) declare none and cannot fetch.

use std::sync::Arc;

use serde_json::{Value, json};
use switchboard::domain::{
    Attachment, AttachmentKind, GuestError, Header, HttpRequest, HttpResponse, MediaStep,
    OutboundMessage,
};
use switchboard::runtime::{LoadedPlugin, PluginError, PluginInstance};
use switchboard_artifacts::first_party::{TELEGRAM, TWILIO_SMS, TWILIO_WHATSAPP, WHATSAPP_CLOUD};
use switchboard_artifacts::test_guests::{V010_ADAPTER, V011_ADAPTER};

use crate::common::{ctx, load_path, runtime};

fn instance(bytes: &[u8], name: &str, config: &[(&str, &str)]) -> PluginInstance {
    let plugin: Arc<LoadedPlugin> = runtime().load(bytes).expect("loads");
    runtime()
        .instantiate(&plugin, &ctx("acme", name, config))
        .expect("instantiates")
}

fn attachment(mime: &str, caption: Option<&str>) -> Attachment {
    let kind = match mime.split('/').next() {
        Some("image") => AttachmentKind::Image,
        Some("video") => AttachmentKind::Video,
        Some("audio") => AttachmentKind::Audio,
        _ => AttachmentKind::Document,
    };
    Attachment {
        kind,
        id: None,
        url: Some("https://cdn.example.com/files/report.pdf".into()),
        mime_type: Some(mime.into()),
        caption: caption.map(str::to_string),
        filename: None,
        sha256: None,
    }
}

fn media_message(to: &str, text: Option<&str>, attachments: Vec<Attachment>) -> OutboundMessage {
    OutboundMessage {
        message_id: "msg_1".into(),
        to: to.into(),
        text: text.map(str::to_string),
        attachments,
        reply_to: None,
    }
}

fn json_body(r: &HttpRequest) -> Value {
    serde_json::from_slice(&r.body).expect("a JSON body")
}

fn header<'a>(r: &'a HttpRequest, name: &str) -> Option<&'a str> {
    r.header(name)
}

fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| Header {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

const WA: &[(&str, &str)] = &[
    ("phone_number_id", "1065"),
    ("access_token", "EAAG-token"),
    ("api_base_url", "https://graph.facebook.com/v21.0"),
];

#[test]
fn whatsapp_renders_each_media_type_with_link_and_caption() {
    for (mime, ty) in [
        ("image/jpeg", "image"),
        ("video/mp4", "video"),
        ("application/pdf", "document"),
    ] {
        let req = instance(WHATSAPP_CLOUD, "whatsapp-cloud", WA)
            .render(&media_message(
                "15551234567",
                None,
                vec![attachment(mime, Some("Your file"))],
            ))
            .unwrap();
        assert_eq!(req.url, "https://graph.facebook.com/v21.0/1065/messages");
        assert_eq!(header(&req, "authorization"), Some("Bearer EAAG-token"));
        let body = json_body(&req);
        assert_eq!(body["type"], ty, "{mime}");
        assert_eq!(body[ty]["link"], "https://cdn.example.com/files/report.pdf");
        assert_eq!(body[ty]["caption"], "Your file");
        assert_eq!(body["to"], "15551234567");
    }
    // Audio: a link and no caption (WhatsApp shows none on audio).
    let req = instance(WHATSAPP_CLOUD, "whatsapp-cloud", WA)
        .render(&media_message(
            "15551234567",
            None,
            vec![attachment("audio/ogg", None)],
        ))
        .unwrap();
    assert_eq!(
        json_body(&req)["audio"],
        json!({ "link": "https://cdn.example.com/files/report.pdf" })
    );
}

#[test]
fn twilio_adds_one_media_url_per_attachment_with_the_caption_as_body() {
    for (bytes, name, to) in [
        (TWILIO_SMS, "twilio-sms", "+15551234567"),
        (TWILIO_WHATSAPP, "twilio-whatsapp", "whatsapp:+15551234567"),
    ] {
        let config = [
            ("account_sid", "AC123"),
            ("auth_token", "tok"),
            ("from", "+15550000000"),
        ];
        let mut second = attachment("image/png", None);
        second.url = Some("https://cdn.example.com/b.png".into());
        let req = instance(bytes, name, &config)
            .render(&media_message(
                "+15551234567",
                None,
                vec![attachment("image/jpeg", Some("Look")), second],
            ))
            .unwrap();
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let all = |k: &str| {
            form.iter()
                .filter(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(all("To"), vec![to], "{name}");
        assert_eq!(all("Body"), vec!["Look"], "{name}");
        assert_eq!(
            all("MediaUrl"),
            vec![
                "https://cdn.example.com/files/report.pdf",
                "https://cdn.example.com/b.png"
            ]
        );
        // The text wins over captions as the Body.
        let req = instance(bytes, name, &config)
            .render(&media_message(
                "+15551234567",
                Some("Here you go"),
                vec![attachment("image/jpeg", Some("ignored"))],
            ))
            .unwrap();
        assert!(String::from_utf8_lossy(&req.body).contains("Body=Here+you+go"));
    }
}

#[test]
fn telegram_picks_the_send_method_by_mime_type() {
    let config = [("bot_token", "123:ABC"), ("secret_token", "s")];
    for (mime, method, field) in [
        ("image/jpeg", "sendPhoto", "photo"),
        ("video/mp4", "sendVideo", "video"),
        ("audio/mpeg", "sendAudio", "audio"),
        ("audio/ogg", "sendVoice", "voice"),
        ("application/pdf", "sendDocument", "document"),
    ] {
        let req = instance(TELEGRAM, "telegram", &config)
            .render(&media_message(
                "3527065",
                Some("Caption"),
                vec![attachment(mime, None)],
            ))
            .unwrap();
        assert_eq!(
            req.url,
            format!("https://api.telegram.org/bot123:ABC/{method}")
        );
        assert_eq!(
            json_body(&req),
            json!({ "chat_id": 3527065, (field): "https://cdn.example.com/files/report.pdf", "caption": "Caption" })
        );
    }
}

#[test]
fn adapters_declare_their_media_and_older_contracts_declare_none() {
    let accepted =
        |bytes: &[u8], name: &str| instance(bytes, name, &[]).info().unwrap().accepted_media;
    assert!(accepted(WHATSAPP_CLOUD, "whatsapp-cloud").contains(&"image/jpeg".to_string()));
    assert!(!accepted(WHATSAPP_CLOUD, "whatsapp-cloud").contains(&"image/gif".to_string()));
    assert_eq!(accepted(TELEGRAM, "telegram"), vec!["*/*".to_string()]);
    assert!(accepted(TWILIO_SMS, "twilio-sms").contains(&"image/gif".to_string()));
    for path in [V010_ADAPTER, V011_ADAPTER] {
        let plugin = load_path(path);
        let mut inst = runtime()
            .instantiate(&plugin, &ctx("acme", "old", &[]))
            .unwrap();
        assert_eq!(inst.info().unwrap().accepted_media, Vec::<String>::new());
        let mut inst = runtime()
            .instantiate(&plugin, &ctx("acme", "old", &[]))
            .unwrap();
        assert!(matches!(
            inst.media_request(&attachment("image/png", None), None),
            Err(PluginError::Guest(GuestError::Unsupported(_)))
        ));
    }
}

fn step(inst: &mut PluginInstance, a: &Attachment, prev: Option<&HttpResponse>) -> MediaStep {
    inst.media_request(a, prev).expect("a step")
}

#[test]
fn whatsapp_fetches_a_media_id_in_two_bearer_steps() {
    let mut a = attachment("image/jpeg", None);
    a.id = Some("1789".into());
    a.url = None;
    let mut inst = instance(WHATSAPP_CLOUD, "whatsapp-cloud", WA);
    let MediaStep::Fetch(lookup) = step(&mut inst, &a, None) else {
        panic!("a lookup first")
    };
    assert_eq!(lookup.method, "GET");
    assert_eq!(lookup.url, "https://graph.facebook.com/v21.0/1789");
    assert_eq!(header(&lookup, "authorization"), Some("Bearer EAAG-token"));
    let answer = response(
        200,
        &[],
        r#"{"url":"https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1789","mime_type":"image/jpeg","id":"1789"}"#,
    );
    let MediaStep::Download(download) = step(&mut inst, &a, Some(&answer)) else {
        panic!("then the download")
    };
    assert_eq!(
        download.url,
        "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1789"
    );
    assert_eq!(
        header(&download, "authorization"),
        Some("Bearer EAAG-token")
    );
    // A Graph error is the provider's.
    let error = response(
        404,
        &[],
        r#"{"error":{"message":"Unsupported get request","type":"GraphMethodException","code":100}}"#,
    );
    assert!(matches!(
        inst.media_request(&a, Some(&error)),
        Err(PluginError::Guest(GuestError::Provider(_)))
    ));
}

#[test]
fn telegram_fetches_a_file_id_through_get_file() {
    let mut a = attachment("image/jpeg", None);
    a.id = Some("AgACAgIAAxkBAAIB".into());
    let mut inst = instance(TELEGRAM, "telegram", &[("bot_token", "123:ABC")]);
    let MediaStep::Fetch(lookup) = step(&mut inst, &a, None) else {
        panic!("getFile first")
    };
    assert_eq!(
        lookup.url,
        "https://api.telegram.org/bot123:ABC/getFile?file_id=AgACAgIAAxkBAAIB"
    );
    let answer = response(
        200,
        &[],
        r#"{"ok":true,"result":{"file_id":"AgACAgIAAxkBAAIB","file_path":"photos/file_7.jpg"}}"#,
    );
    let MediaStep::Download(download) = step(&mut inst, &a, Some(&answer)) else {
        panic!("then the file")
    };
    assert_eq!(
        download.url,
        "https://api.telegram.org/file/bot123:ABC/photos/file_7.jpg"
    );
    let escape = response(200, &[], r#"{"ok":true,"result":{"file_path":"../../x"}}"#);
    assert!(inst.media_request(&a, Some(&escape)).is_err());
}

#[test]
fn twilio_downloads_with_basic_auth_and_follows_a_redirect_without_it() {
    let mut a = attachment("image/jpeg", None);
    a.url = Some("https://api.twilio.com/2010-04-01/Accounts/AC123/Messages/MM1/Media/ME1".into());
    let mut inst = instance(
        TWILIO_SMS,
        "twilio-sms",
        &[("account_sid", "AC123"), ("auth_token", "tok")],
    );
    let MediaStep::Download(first) = step(&mut inst, &a, None) else {
        panic!("a download")
    };
    assert_eq!(first.url, a.url.clone().unwrap());
    // base64("AC123:tok")
    assert_eq!(header(&first, "authorization"), Some("Basic QUMxMjM6dG9r"));
    let redirect = response(
        307,
        &[("Location", "https://media.twiliocdn.com/AC123/abc")],
        "",
    );
    let MediaStep::Download(second) = step(&mut inst, &a, Some(&redirect)) else {
        panic!("the redirect's target")
    };
    assert_eq!(second.url, "https://media.twiliocdn.com/AC123/abc");
    assert_eq!(header(&second, "authorization"), None);
}
