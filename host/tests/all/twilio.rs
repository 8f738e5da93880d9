//! The first-party Twilio adapters (`twilio-sms`, `twilio-whatsapp`), run as
//! real components against the payloads in `tests/fixtures/twilio/`.
//!
//! `twilio-core`'s unit tests cover the pure functions natively; these prove
//! the component builds, the host crypto imports (HMAC-SHA1, SHA-256,
//! constant-time comparison), configuration passing and WIT conversions.

use std::sync::Arc;

use serde_json::Value;
use sha2::Digest;
use switchboard::domain::{
    AdapterInfo, Attachment, AttachmentKind, ConsentSignal, ContactAddress, DeliveryStatus, Event,
    GuestError, Header, HttpRequest, HttpResponse, InboundMessage, InteractiveReply,
    OutboundMessage, ProviderError, Receipt, StatusUpdate,
};
use switchboard::runtime::{LoadedPlugin, PluginInstance};
use switchboard_artifacts::first_party::{TWILIO_SMS, TWILIO_WHATSAPP};

use crate::common::{ctx, guest_err, post, runtime};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/twilio");
const WEBHOOK_URL: &str = "https://hooks.switchboard.test/webhooks/ch_twilio";
const SID: &str = "SMe287d7109a5a925f182f0e07fe5b223b";

// ---------------------------------------------------------------- helpers

fn sms() -> Arc<LoadedPlugin> {
    runtime().load(TWILIO_SMS).expect("twilio-sms loads")
}

fn whatsapp() -> Arc<LoadedPlugin> {
    runtime()
        .load(TWILIO_WHATSAPP)
        .expect("twilio-whatsapp loads")
}

fn instance(plugin: &Arc<LoadedPlugin>, config: &[(&str, &str)]) -> PluginInstance {
    runtime()
        .instantiate(plugin, &ctx("acme", "twilio", config))
        .expect("instantiates")
}

fn configured(plugin: &Arc<LoadedPlugin>) -> PluginInstance {
    instance(
        plugin,
        &[
            ("account_sid", "AC0123"),
            ("auth_token", "secret-token"),
            ("from", "+15550001111"),
            ("webhook_url", WEBHOOK_URL),
        ],
    )
}

fn fixture(name: &str) -> Value {
    let path = format!("{FIXTURES}/{name}");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .unwrap()
}

/// Form-encode pairs the way Twilio (and browsers) do.
fn form_encode(pairs: &[(String, String)]) -> Vec<u8> {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                b => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

/// Decode a form body into pairs (independently of the plugin).
fn form_decode(body: &[u8]) -> Vec<(String, String)> {
    let dec = |s: &str| {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).unwrap()
    };
    std::str::from_utf8(body)
        .unwrap()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (dec(k), dec(v))
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// ---------------------------------------------------------------- info

#[test]
fn both_components_describe_themselves() {
    let expected = |name: &str, accepted_media: &[&str]| AdapterInfo {
        name: name.into(),
        max_text_length: 1600,
        supports_media: true,
        // The REST API, and the CDN its media URLs redirect to.
        outbound_hosts: ["api.twilio.com", "media.twiliocdn.com", "mms.twiliocdn.com"]
            .map(String::from)
            .to_vec(),
        config_keys: [
            "account_sid",
            "auth_token",
            "from",
            "messaging_service_sid",
            "webhook_url",
            "api_base_url",
        ]
        .map(String::from)
        .to_vec(),
        route_config_key: Some("from".into()),
        statuses: vec![
            DeliveryStatus::Queued,
            DeliveryStatus::Sent,
            DeliveryStatus::Delivered,
            DeliveryStatus::Read,
            DeliveryStatus::Failed,
        ],
        // Declared (contract 0.1.2): only the auth token is a secret.
        secret_keys: Some(vec!["auth_token".into()]),
        accepted_media: accepted_media.iter().map(|m| m.to_string()).collect(),
    };
    assert_eq!(
        instance(&sms(), &[]).info().unwrap(),
        expected(
            "twilio-sms",
            &[
                "image/jpeg",
                "image/png",
                "image/gif",
                "video/mp4",
                "audio/mpeg",
                "text/vcard",
                "application/pdf"
            ]
        )
    );
    assert_eq!(
        instance(&whatsapp(), &[]).info().unwrap(),
        expected(
            "twilio-whatsapp",
            &[
                "image/jpeg",
                "image/png",
                "video/mp4",
                "audio/ogg",
                "audio/mpeg",
                "audio/amr",
                "audio/mp4",
                "application/pdf"
            ]
        )
    );
}

// ---------------------------------------------------------------- verify

/// The request a signature vector describes, sent to the vector's full URL.
fn vector_request(vectors: &Value, case: &Value, signature: &str) -> HttpRequest {
    let url = case["url"].as_str().unwrap();
    let body = if let Some((_, hash)) = url.split_once("bodySHA256=") {
        let json_body = vectors["body_json"].as_str().unwrap();
        if hex::encode(sha2::Sha256::digest(json_body)) == hash {
            json_body.as_bytes().to_vec()
        } else {
            b"{}".to_vec()
        }
    } else {
        let mut list = Vec::new();
        for (k, v) in case["params"].as_object().unwrap() {
            match v {
                Value::Array(values) => list.extend(
                    values
                        .iter()
                        .map(|v| (k.clone(), v.as_str().unwrap().to_string())),
                ),
                v => list.push((k.clone(), v.as_str().unwrap().to_string())),
            }
        }
        form_encode(&list)
    };
    post(url, &[("X-Twilio-Signature", signature)], &body)
}

/// An instance whose `webhook_url` is the vector's URL without its query.
fn vector_instance(plugin: &Arc<LoadedPlugin>, case: &Value) -> PluginInstance {
    let url = case["url"].as_str().unwrap();
    instance(
        plugin,
        &[
            ("auth_token", case["auth_token"].as_str().unwrap()),
            ("webhook_url", url.split('?').next().unwrap()),
        ],
    )
}

#[test]
fn every_signature_vector_gives_its_expected_answer() {
    let v = fixture("signature_vectors.json");
    let positive = v["cases"].as_array().unwrap();
    let negative = v["negative_cases"].as_array().unwrap();
    assert_eq!((positive.len(), negative.len()), (17, 2));
    for plugin in [sms(), whatsapp()] {
        for case in positive {
            let req = vector_request(&v, case, case["expected_signature"].as_str().unwrap());
            let result = vector_instance(&plugin, case).verify(&req);
            assert_eq!(
                result.unwrap_or_else(|e| panic!("{}: {e:?}", case["name"])),
                None,
                "{}",
                case["name"]
            );
        }
        for case in negative {
            let req = vector_request(&v, case, case["bad_signature"].as_str().unwrap());
            match guest_err(vector_instance(&plugin, case).verify(&req)) {
                GuestError::InvalidSignature(m) => {
                    assert!(m.contains("does not match"), "{}: {m}", case["name"])
                }
                other => panic!(
                    "{}: expected invalid-signature, got {other:?}",
                    case["name"]
                ),
            }
        }
    }
}

#[test]
fn self_generated_signed_webhooks_verify_and_tampering_fails() {
    let v = fixture("selfgen_signed_inbound_whatsapp_and_stop.json");
    let url = v["url"].as_str().unwrap();
    let token = v["auth_token"].as_str().unwrap();
    for (plugin, key) in [
        (whatsapp(), "whatsapp_inbound_image"),
        (sms(), "sms_inbound_stop_with_optouttype"),
    ] {
        let body = v[key]["raw_body"].as_str().unwrap().as_bytes().to_vec();
        let sig = v[key]["x_twilio_signature"].as_str().unwrap();
        let inst = || instance(&plugin, &[("auth_token", token), ("webhook_url", url)]);
        assert_eq!(
            inst()
                .verify(&post(
                    url,
                    &[
                        ("X-Twilio-Signature", sig),
                        ("Content-Type", "application/x-www-form-urlencoded")
                    ],
                    &body
                ))
                .unwrap(),
            None
        );
        let mut altered = body.clone();
        altered.extend_from_slice(b"&Body=x");
        assert!(matches!(
            guest_err(inst().verify(&post(url, &[("X-Twilio-Signature", sig)], &altered))),
            GuestError::InvalidSignature(_)
        ));
        match guest_err(inst().verify(&post(url, &[], &body))) {
            GuestError::InvalidSignature(m) => {
                assert!(m.contains("missing X-Twilio-Signature"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn missing_configuration_is_a_config_error() {
    let req = post(
        WEBHOOK_URL,
        &[("X-Twilio-Signature", "abc=")],
        b"MessageSid=SM1",
    );
    for config in [
        &[("webhook_url", WEBHOOK_URL)][..],
        &[("auth_token", "t")][..],
    ] {
        assert!(matches!(
            guest_err(instance(&sms(), config).verify(&req)),
            GuestError::Config(_)
        ));
    }
    let msg = outbound("+15552223333", Some("hi"), &[]);
    assert!(matches!(
        guest_err(instance(&sms(), &[("auth_token", "t")]).render(&msg)),
        GuestError::Config(_)
    ));
    assert!(matches!(
        guest_err(instance(&sms(), &[("account_sid", "AC1"), ("auth_token", "t")]).render(&msg)),
        GuestError::Config(_)
    ));
}

// ---------------------------------------------------------------- parse

fn form(name: &str) -> Vec<u8> {
    fixture("courier_twiml_inbound_and_status_forms.json")["cases"][name]["raw_body"]
        .as_str()
        .unwrap()
        .as_bytes()
        .to_vec()
}

fn parse(plugin: &Arc<LoadedPlugin>, body: &[u8]) -> Vec<Event> {
    configured(plugin)
        .parse(&post(WEBHOOK_URL, &[], body))
        .expect("parses")
}

fn only_message(plugin: &Arc<LoadedPlugin>, body: &[u8]) -> InboundMessage {
    match parse(plugin, body).as_slice() {
        [Event::Message(m)] => m.clone(),
        other => panic!("expected one message, got {other:?}"),
    }
}

fn only_status(body: &[u8]) -> StatusUpdate {
    match parse(&sms(), body).as_slice() {
        [Event::Status(s)] => s.clone(),
        other => panic!("expected one status, got {other:?}"),
    }
}

/// courier's SMS messages: from +14133881111 to +12028831111.
fn courier_sms(text: Option<&str>) -> InboundMessage {
    InboundMessage {
        external_id: SID.into(),
        sender: ContactAddress {
            address: "+14133881111".into(),
            phone: Some("14133881111".into()),
            user_id: None,
            display_name: None,
        },
        recipient: Some("+12028831111".into()),
        group_id: None,
        timestamp: None,
        text: text.map(str::to_string),
        attachments: vec![],
        location: None,
        reply_to: None,
        reaction: None,
        interactive: None,
        consent: None,
        kind: "text".into(),
        route_key: Some("+12028831111".into()),
    }
}

fn media(url: &str, mime: Option<&str>, kind: AttachmentKind) -> Attachment {
    Attachment {
        kind,
        id: None,
        url: Some(url.into()),
        mime_type: mime.map(str::to_string),
        caption: None,
        filename: None,
        sha256: None,
    }
}

#[test]
fn parses_every_courier_inbound_form() {
    assert_eq!(
        only_message(&sms(), &form("receiveValid")),
        courier_sms(Some("Msg"))
    );
    let cat_dog = vec![
        media("cat.jpg", None, AttachmentKind::Other),
        media("dog.jpg", None, AttachmentKind::Other),
    ];
    assert_eq!(
        only_message(&sms(), &form("receiveMedia")),
        InboundMessage {
            attachments: cat_dog.clone(),
            kind: "media".into(),
            ..courier_sms(None)
        }
    );
    assert_eq!(
        only_message(&sms(), &form("receiveMediaWithMsg")),
        InboundMessage {
            attachments: cat_dog,
            kind: "media".into(),
            ..courier_sms(Some("Msg"))
        }
    );
    assert_eq!(
        only_message(&sms(), &form("receiveBase64")),
        courier_sms(Some(
            "QmFubm9uIEV4cGxhaW5zIFRoZSBXb3JsZCAuLi4K4oCcVGhlIENhbXAgb2YgdGhlIFNhaW50c+KA"
        ))
    );
    // SMS has no buttons: ButtonText is ignored, as courier does.
    assert_eq!(
        only_message(&sms(), &form("receiveButtonIgnored")),
        courier_sms(Some("Msg"))
    );
    assert_eq!(
        only_message(&sms(), &form("tmsReceiveExtra")),
        InboundMessage {
            external_id: "SMbbf29aeb9d380ce2a1c0ae4635ff9dab".into(),
            recipient: Some("384387".into()),
            route_key: Some("384387".into()),
            ..courier_sms(Some("John Cruz"))
        }
    );

    // WhatsApp: the `whatsapp:` prefix is stripped from the stored address.
    assert_eq!(
        only_message(&whatsapp(), &form("waReceiveValid")),
        courier_sms(Some("Msg"))
    );
    let mut bsuid = courier_sms(Some("Msg"));
    bsuid.sender.user_id = Some("US.1234".into());
    assert_eq!(
        only_message(&whatsapp(), &form("waReceiveBSUIDValid")),
        bsuid
    );
    let mut from_bsuid = courier_sms(Some("Msg"));
    from_bsuid.sender = ContactAddress {
        address: "US.1234".into(),
        phone: None,
        user_id: None,
        display_name: None,
    };
    assert_eq!(
        only_message(&whatsapp(), &form("waReceiveFromBSUID")),
        from_bsuid
    );
    assert_eq!(
        only_message(&whatsapp(), &form("waReceiveButtonValid")),
        InboundMessage {
            interactive: Some(InteractiveReply {
                id: "Confirm".into(),
                title: Some("Confirm".into()),
                kind: "button".into()
            }),
            kind: "button".into(),
            ..courier_sms(Some("Msg"))
        }
    );
}

#[test]
fn parses_the_self_generated_whatsapp_image_and_sms_stop() {
    let v = fixture("selfgen_signed_inbound_whatsapp_and_stop.json");
    let m = only_message(
        &whatsapp(),
        v["whatsapp_inbound_image"]["raw_body"]
            .as_str()
            .unwrap()
            .as_bytes(),
    );
    assert_eq!(
        m,
        InboundMessage {
            external_id: "SM11111111111111111111111111111111".into(),
            sender: ContactAddress {
                address: "+5215512345678".into(),
                phone: Some("5215512345678".into()),
                user_id: None,
                display_name: Some("Ana María".into())
            },
            recipient: Some("+14155238886".into()),
            group_id: None,
            timestamp: None,
            text: Some("¿Tienen envío? 😀".into()),
            attachments: vec![media(
                "https://api.twilio.com/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages/SM11111111111111111111111111111111/Media/ME22222222222222222222222222222222",
                Some("image/jpeg"),
                AttachmentKind::Image,
            )],
            location: None,
            reply_to: None,
            reaction: None,
            interactive: None,
            consent: None,
            kind: "image".into(),
            route_key: Some("+14155238886".into()),
        }
    );
    let stop = only_message(
        &sms(),
        v["sms_inbound_stop_with_optouttype"]["raw_body"]
            .as_str()
            .unwrap()
            .as_bytes(),
    );
    assert_eq!(stop.consent, Some(ConsentSignal::OptOut));
    assert_eq!(
        (
            stop.text.as_deref(),
            stop.sender.address.as_str(),
            stop.recipient.as_deref()
        ),
        (Some("Stop"), "+14155550123", Some("+14155550100"))
    );
}

#[test]
fn parses_every_courier_status_form() {
    let status = |status, recipient: Option<&str>, error| StatusUpdate {
        external_id: SID.into(),
        status,
        recipient: recipient.map(str::to_string),
        timestamp: None,
        error,
        route_key: None,
    };
    assert_eq!(
        only_status(&form("statusValid")),
        status(DeliveryStatus::Delivered, None, None)
    );
    assert_eq!(
        only_status(&form("statusRead")),
        status(DeliveryStatus::Read, None, None)
    );
    let stop = only_status(&form("statusStop"));
    assert_eq!(
        (stop.status, stop.recipient.as_deref()),
        (DeliveryStatus::Failed, Some("+12028831111"))
    );
    let e = stop.error.unwrap();
    assert_eq!(
        (e.code.as_deref(), e.consent_revoked, e.retryable),
        (Some("21610"), true, false)
    );
    let limited = only_status(&form("statusRateLimit")).error.unwrap();
    assert_eq!(
        (limited.code.as_deref(), limited.consent_revoked),
        (Some("63018"), false)
    );
    assert_eq!(
        only_status(&form("tmsStatusExtra")),
        StatusUpdate {
            external_id: "SM0b6e2697aae04182a9f5b5c7a8994c7f".into(),
            status: DeliveryStatus::Sent,
            recipient: Some("2021".into()),
            timestamp: None,
            error: None,
            route_key: Some("+14133881111".into())
        }
    );
    match guest_err(configured(&sms()).parse(&post(WEBHOOK_URL, &[], &form("statusInvalid")))) {
        GuestError::BadRequest(m) => assert!(m.contains("huh"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn route_keys_are_our_number() {
    let keys = |body: &[u8]| {
        configured(&whatsapp())
            .route_key(&post(WEBHOOK_URL, &[], body))
            .unwrap()
    };
    assert_eq!(keys(&form("waReceiveValid")), ["+12028831111"]);
    assert_eq!(
        keys(&form("tmsStatusExtra")),
        ["+14133881111", "MGdb23ec0f89ee2632e46e91d8128f5e2b"]
    );
}

// ---------------------------------------------------------------- render

fn outbound(to: &str, text: Option<&str>, urls: &[&str]) -> OutboundMessage {
    OutboundMessage {
        message_id: "msg_1".into(),
        to: to.into(),
        text: text.map(str::to_string),
        attachments: urls
            .iter()
            .map(|u| media(u, Some("image/png"), AttachmentKind::Image))
            .collect(),
        reply_to: None,
    }
}

fn assert_create_call(req: &HttpRequest, base: &str, expected: &[(&str, &str)]) {
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.url,
        format!("{base}/2010-04-01/Accounts/AC0123/Messages.json")
    );
    // base64("AC0123:secret-token")
    assert_eq!(
        req.header("authorization"),
        Some("Basic QUMwMTIzOnNlY3JldC10b2tlbg==")
    );
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(form_decode(&req.body), pairs(expected));
}

#[test]
fn renders_sms_and_whatsapp_sends() {
    let req = configured(&sms())
        .render(&outbound("+15552223333", Some("Hello & welcome!"), &[]))
        .unwrap();
    assert_create_call(
        &req,
        "https://api.twilio.com",
        &[
            ("To", "+15552223333"),
            ("From", "+15550001111"),
            ("Body", "Hello & welcome!"),
            ("StatusCallback", WEBHOOK_URL),
        ],
    );
    assert_eq!(req.headers.len(), 2, "{:?}", req.headers);
    assert!(
        std::str::from_utf8(&req.body)
            .unwrap()
            .starts_with("To=%2B15552223333&From=%2B15550001111&Body=Hello+%26+welcome%21")
    );

    let req = configured(&whatsapp())
        .render(&outbound(
            "+15552223333",
            Some("¿Hola?"),
            &["https://m.test/a.png", "https://m.test/b.png"],
        ))
        .unwrap();
    assert_create_call(
        &req,
        "https://api.twilio.com",
        &[
            ("To", "whatsapp:+15552223333"),
            ("From", "whatsapp:+15550001111"),
            ("Body", "¿Hola?"),
            ("MediaUrl", "https://m.test/a.png"),
            ("MediaUrl", "https://m.test/b.png"),
            ("StatusCallback", WEBHOOK_URL),
        ],
    );

    // A messaging service wins over `from`; api_base_url is honoured.
    let mut inst = instance(
        &whatsapp(),
        &[
            ("account_sid", "AC0123"),
            ("auth_token", "secret-token"),
            ("from", "+15550001111"),
            ("messaging_service_sid", "MG42"),
            ("api_base_url", "http://127.0.0.1:9999/"),
        ],
    );
    let req = inst.render(&outbound("US.1234", None, &["https://m.test/a.png"]));
    assert_create_call(
        &req.unwrap(),
        "http://127.0.0.1:9999",
        &[
            ("To", "whatsapp:US.1234"),
            ("MessagingServiceSid", "MG42"),
            ("MediaUrl", "https://m.test/a.png"),
        ],
    );
}

// ---------------------------------------------------------------- send responses

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

fn provider_err(plugin: &Arc<LoadedPlugin>, resp: &HttpResponse) -> ProviderError {
    match guest_err(configured(plugin).parse_send_response(resp)) {
        GuestError::Provider(e) => e,
        other => panic!("expected a provider error, got {other:?}"),
    }
}

#[test]
fn reads_send_responses() {
    for plugin in [sms(), whatsapp()] {
        let ok = configured(&plugin).parse_send_response(&response(
            201,
            &[("content-type", "application/json")],
            r#"{"sid":"SM9f8e","status":"queued","num_segments":"1","error_code":null}"#,
        ));
        assert_eq!(
            ok.unwrap(),
            Receipt {
                external_id: Some("SM9f8e".into()),
                status: DeliveryStatus::Queued
            }
        );

        let opted_out = provider_err(
            &plugin,
            &response(
                400,
                &[],
                r#"{"code": 21610, "message": "Attempt to send to unsubscribed recipient", "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400}"#,
            ),
        );
        assert_eq!(
            opted_out,
            ProviderError {
                retryable: false,
                retry_after_secs: None,
                code: Some("21610".into()),
                message: "Attempt to send to unsubscribed recipient".into(),
                consent_revoked: true
            }
        );

        let legacy = provider_err(
            &plugin,
            &response(
                400,
                &[],
                r#"{"code": 20001, "message": "Bad request", "more_info": "https://www.twilio.com/docs/errors/20001", "status": 400, "details": {"foo":"bar"}}"#,
            ),
        );
        assert_eq!(
            legacy,
            ProviderError {
                retryable: false,
                retry_after_secs: None,
                code: Some("20001".into()),
                message: "Bad request".into(),
                consent_revoked: false
            }
        );

        let problem = provider_err(
            &plugin,
            &response(
                400,
                &[("content-type", "application/problem+json")],
                r#"{"type":"https://www.twilio.com/docs/errors/21610","title":"Unsubscribed recipient","status":400,"detail":"The recipient replied STOP.","code":21610}"#,
            ),
        );
        assert_eq!(
            (problem.code.as_deref(), problem.consent_revoked),
            (Some("21610"), true)
        );
        assert_eq!(
            problem.message,
            "Unsubscribed recipient: The recipient replied STOP."
        );

        let throttled = provider_err(
            &plugin,
            &response(
                429,
                &[("Retry-After", "30")],
                r#"{"code":20429,"message":"Too Many Requests","status":429}"#,
            ),
        );
        assert_eq!(
            (
                throttled.retryable,
                throttled.retry_after_secs,
                throttled.code.as_deref()
            ),
            (true, Some(30), Some("20429"))
        );

        let down = provider_err(&plugin, &response(503, &[], "Service Unavailable"));
        assert_eq!(
            (down.retryable, down.consent_revoked, down.message.as_str()),
            (true, false, "Service Unavailable")
        );
    }
}
