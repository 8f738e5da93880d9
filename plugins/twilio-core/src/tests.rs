//! Native tests of the pure parts against `tests/fixtures/twilio/`, with
//! real HMAC-SHA1/SHA-256 from the `hmac`/`sha1`/`sha2` crates.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Digest;
use switchboard_sdk::{
    Attachment, AttachmentKind, ConsentSignal, DeliveryStatus, Event, Header, HttpRequest,
    HttpResponse, InboundMessage, OutboundMessage, PluginError, StatusUpdate, form_pairs,
};

use crate::inbound::{parse_webhook, route_keys};
use crate::response::parse_send_response;
use crate::send::{SendConfig, render_request};
use crate::verify::{Crypto, check_signature};
use crate::{Channel, info};

const VECTORS: &str = include_str!("../../../tests/fixtures/twilio/signature_vectors.json");
const FORMS: &str =
    include_str!("../../../tests/fixtures/twilio/courier_twiml_inbound_and_status_forms.json");
const SELFGEN: &str =
    include_str!("../../../tests/fixtures/twilio/selfgen_signed_inbound_whatsapp_and_stop.json");

struct NativeCrypto;

impl Crypto for NativeCrypto {
    fn hmac_sha1(&self, key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }
    fn sha256(&self, data: &[u8]) -> Vec<u8> {
        sha2::Sha256::digest(data).to_vec()
    }
    fn constant_time_eq(&self, a: &[u8], b: &[u8]) -> bool {
        a == b
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The request a signature vector describes: the form of its params, or —
/// when the URL carries `bodySHA256` — the JSON body whose hash it names.
fn vector_request(vectors: &Value, case: &Value, signature: &str) -> HttpRequest {
    let url = case["url"].as_str().unwrap();
    let body = if url.contains("bodySHA256=") {
        let json_body = vectors["body_json"].as_str().unwrap();
        let hash = url.rsplit("bodySHA256=").next().unwrap();
        if hex::encode(sha2::Sha256::digest(json_body)) == hash {
            json_body.as_bytes().to_vec()
        } else {
            b"{}".to_vec()
        }
    } else {
        let mut pairs = Vec::new();
        for (k, v) in case["params"].as_object().unwrap() {
            match v {
                Value::Array(values) => pairs.extend(
                    values
                        .iter()
                        .map(|v| (k.clone(), v.as_str().unwrap().to_string())),
                ),
                v => pairs.push((k.clone(), v.as_str().unwrap().to_string())),
            }
        }
        HttpRequest::new("POST", "")
            .with_form(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .body
    };
    HttpRequest {
        method: "POST".into(),
        url: url.into(),
        headers: vec![Header {
            name: "X-Twilio-Signature".into(),
            value: signature.into(),
        }],
        body,
    }
}

fn without_query(url: &str) -> &str {
    url.split('?').next().unwrap()
}

#[test]
fn every_positive_signature_vector_verifies() {
    let v = json(VECTORS);
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 17);
    for case in cases {
        let req = vector_request(&v, case, case["expected_signature"].as_str().unwrap());
        let url = case["url"].as_str().unwrap();
        check_signature(
            &req,
            case["auth_token"].as_str().unwrap(),
            without_query(url),
            &NativeCrypto,
        )
        .unwrap_or_else(|e| panic!("{}: {e:?}", case["name"]));
    }
}

#[test]
fn both_negative_signature_vectors_are_refused() {
    let v = json(VECTORS);
    let cases = v["negative_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let req = vector_request(&v, case, case["bad_signature"].as_str().unwrap());
        let url = case["url"].as_str().unwrap();
        match check_signature(
            &req,
            case["auth_token"].as_str().unwrap(),
            without_query(url),
            &NativeCrypto,
        ) {
            Err(PluginError::InvalidSignature(m)) => assert!(m.contains("does not match"), "{m}"),
            other => panic!(
                "{}: expected invalid signature, got {other:?}",
                case["name"]
            ),
        }
    }
}

#[test]
fn default_port_variants_are_tried_both_ways() {
    let v = json(VECTORS);
    let case = &v["cases"][1]; // signed over https://mycompany.com:443/...
    assert_eq!(case["name"], "https_with_port_443_added");
    let req = vector_request(&v, case, case["expected_signature"].as_str().unwrap());
    // Configured without the port, the request URL without it either.
    let mut plain = req.clone();
    plain.url = "https://mycompany.com/myapp.php?foo=1&bar=2".into();
    check_signature(
        &plain,
        "12345",
        "https://mycompany.com/myapp.php",
        &NativeCrypto,
    )
    .unwrap();
    // A non-default port is part of what was signed: never dropped.
    let case = &v["cases"][2];
    let req = vector_request(&v, case, case["expected_signature"].as_str().unwrap());
    assert!(
        check_signature(
            &req,
            "12345",
            "http://mycompany.com/myapp.php",
            &NativeCrypto
        )
        .is_err()
    );
}

#[test]
fn tampering_missing_header_and_body_hash_mismatch_are_refused() {
    let v = json(VECTORS);
    let case = &v["cases"][0];
    let good = vector_request(&v, case, case["expected_signature"].as_str().unwrap());
    let base = "https://mycompany.com/myapp.php";
    let mut altered = good.clone();
    altered.body.extend_from_slice(b"&Extra=1");
    assert!(matches!(
        check_signature(&altered, "12345", base, &NativeCrypto),
        Err(PluginError::InvalidSignature(_))
    ));
    let mut query = good.clone();
    query.url = "https://mycompany.com/myapp.php?foo=1&bar=3".into();
    assert!(check_signature(&query, "12345", base, &NativeCrypto).is_err());
    assert!(check_signature(&good, "54321", base, &NativeCrypto).is_err());
    let mut unsigned = good.clone();
    unsigned.headers.clear();
    match check_signature(&unsigned, "12345", base, &NativeCrypto) {
        Err(PluginError::InvalidSignature(m)) => {
            assert!(m.contains("missing X-Twilio-Signature"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    let json_case = &v["cases"][5];
    let mut json_req = vector_request(
        &v,
        json_case,
        json_case["expected_signature"].as_str().unwrap(),
    );
    check_signature(&json_req, "12345", base, &NativeCrypto).unwrap();
    json_req.body = br#"{"property": "other", "boolean": true}"#.to_vec();
    match check_signature(&json_req, "12345", base, &NativeCrypto) {
        Err(PluginError::InvalidSignature(m)) => assert!(m.contains("bodySHA256"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn self_generated_signed_bodies_verify() {
    let v = json(SELFGEN);
    for key in ["whatsapp_inbound_image", "sms_inbound_stop_with_optouttype"] {
        let req = HttpRequest::new("POST", v["url"].as_str().unwrap()).with_header(
            "X-Twilio-Signature",
            v[key]["x_twilio_signature"].as_str().unwrap(),
        );
        let req = HttpRequest {
            body: v[key]["raw_body"].as_str().unwrap().as_bytes().to_vec(),
            ..req
        };
        check_signature(
            &req,
            v["auth_token"].as_str().unwrap(),
            v["url"].as_str().unwrap(),
            &NativeCrypto,
        )
        .unwrap();
    }
}

fn form_case(name: &str) -> Vec<u8> {
    json(FORMS)["cases"][name]["raw_body"]
        .as_str()
        .unwrap()
        .as_bytes()
        .to_vec()
}

fn message(channel: Channel, body: &[u8]) -> InboundMessage {
    match parse_webhook(channel, body).unwrap().as_slice() {
        [Event::Message(m)] => m.clone(),
        other => panic!("expected one message, got {other:?}"),
    }
}

fn status(body: &[u8]) -> StatusUpdate {
    match parse_webhook(Channel::Sms, body).unwrap().as_slice() {
        [Event::Status(s)] => s.clone(),
        other => panic!("expected one status, got {other:?}"),
    }
}

const SID: &str = "SMe287d7109a5a925f182f0e07fe5b223b";

#[test]
fn sms_inbound_forms_parse() {
    let m = message(Channel::Sms, &form_case("receiveValid"));
    assert_eq!(m.external_id, SID);
    assert_eq!(m.sender.address, "+14133881111");
    assert_eq!(m.sender.phone.as_deref(), Some("14133881111"));
    assert_eq!(m.sender.user_id, None);
    assert_eq!(m.recipient.as_deref(), Some("+12028831111"));
    assert_eq!(m.text.as_deref(), Some("Msg"));
    assert_eq!(m.kind, "text");
    assert!(m.attachments.is_empty() && m.consent.is_none() && m.interactive.is_none());

    let m = message(Channel::Sms, &form_case("receiveMedia"));
    assert_eq!(m.text, None);
    assert_eq!(m.kind, "media");
    let urls: Vec<_> = m
        .attachments
        .iter()
        .map(|a| a.url.clone().unwrap())
        .collect();
    assert_eq!(urls, ["cat.jpg", "dog.jpg"]);
    assert!(matches!(m.attachments[0].kind, AttachmentKind::Other));

    let m = message(Channel::Sms, &form_case("receiveMediaWithMsg"));
    assert_eq!((m.text.as_deref(), m.attachments.len()), (Some("Msg"), 2));

    let m = message(Channel::Sms, &form_case("receiveBase64"));
    assert_eq!(
        m.text.as_deref(),
        Some("QmFubm9uIEV4cGxhaW5zIFRoZSBXb3JsZCAuLi4K4oCcVGhlIENhbXAgb2YgdGhlIFNhaW50c+KA")
    );

    let m = message(Channel::Sms, &form_case("receiveButtonIgnored"));
    assert_eq!(
        (m.text.as_deref(), m.interactive.is_none()),
        (Some("Msg"), true)
    );

    let m = message(Channel::Sms, &form_case("tmsReceiveExtra"));
    assert_eq!(
        (m.external_id.as_str(), m.text.as_deref()),
        ("SMbbf29aeb9d380ce2a1c0ae4635ff9dab", Some("John Cruz"))
    );
    assert_eq!(m.recipient.as_deref(), Some("384387"));
}

#[test]
fn whatsapp_inbound_forms_parse() {
    let m = message(Channel::WhatsApp, &form_case("waReceiveValid"));
    assert_eq!(m.sender.address, "+14133881111");
    assert_eq!(m.sender.phone.as_deref(), Some("14133881111"));
    assert_eq!(m.recipient.as_deref(), Some("+12028831111"));

    let m = message(Channel::WhatsApp, &form_case("waReceiveBSUIDValid"));
    assert_eq!(m.sender.address, "+14133881111");
    assert_eq!(m.sender.user_id.as_deref(), Some("US.1234"));

    let m = message(Channel::WhatsApp, &form_case("waReceiveFromBSUID"));
    assert_eq!(m.sender.address, "US.1234");
    assert_eq!(m.sender.phone, None);
    assert_eq!(m.sender.user_id, None, "the BSUID is already the address");

    let m = message(Channel::WhatsApp, &form_case("waReceiveButtonValid"));
    let button = m.interactive.unwrap();
    assert_eq!(
        (
            button.id.as_str(),
            button.title.as_deref(),
            button.kind.as_str()
        ),
        ("Confirm", Some("Confirm"), "button")
    );
    assert_eq!(m.kind, "button");

    let v = json(SELFGEN);
    let m = message(
        Channel::WhatsApp,
        v["whatsapp_inbound_image"]["raw_body"]
            .as_str()
            .unwrap()
            .as_bytes(),
    );
    assert_eq!(m.external_id, "SM11111111111111111111111111111111");
    assert_eq!(m.sender.display_name.as_deref(), Some("Ana María"));
    assert_eq!(m.sender.address, "+5215512345678");
    assert_eq!(m.sender.phone.as_deref(), Some("5215512345678"));
    assert_eq!(m.text.as_deref(), Some("¿Tienen envío? 😀"));
    assert_eq!(m.kind, "image");
    assert_eq!(m.recipient.as_deref(), Some("+14155238886"));
    let a: &Attachment = &m.attachments[0];
    assert!(matches!(a.kind, AttachmentKind::Image));
    assert_eq!(a.mime_type.as_deref(), Some("image/jpeg"));
    assert!(
        a.url
            .as_deref()
            .unwrap()
            .ends_with("/Media/ME22222222222222222222222222222222")
    );

    let m = message(
        Channel::Sms,
        v["sms_inbound_stop_with_optouttype"]["raw_body"]
            .as_str()
            .unwrap()
            .as_bytes(),
    );
    assert!(matches!(m.consent, Some(ConsentSignal::OptOut)));
    assert_eq!(m.text.as_deref(), Some("Stop"));
}

#[test]
fn location_reply_and_consent_fields_parse() {
    let body = b"MessageSid=SM1&From=whatsapp%3A%2B15550001111&To=whatsapp%3A%2B15550002222&NumMedia=0&Latitude=-33.86&Longitude=151.2&Label=Opera&Address=Sydney&OriginalRepliedMessageSid=SM0&ButtonPayload=yes-1&ButtonText=Yes&OptOutType=start";
    let m = message(Channel::WhatsApp, body);
    let loc = m.location.unwrap();
    assert_eq!(
        (
            loc.latitude,
            loc.longitude,
            loc.name.as_deref(),
            loc.address.as_deref()
        ),
        (-33.86, 151.2, Some("Opera"), Some("Sydney"))
    );
    assert_eq!(m.reply_to.as_deref(), Some("SM0"));
    assert_eq!(m.interactive.unwrap().id, "yes-1");
    assert!(matches!(m.consent, Some(ConsentSignal::OptIn)));
    let help = message(
        Channel::Sms,
        b"MessageSid=SM2&From=%2B1555&Body=help&OptOutType=HELP",
    );
    assert!(matches!(help.consent, Some(ConsentSignal::Help)));
    assert!(matches!(
        parse_webhook(Channel::Sms, b"Body=hi&From=%2B1"),
        Err(PluginError::BadRequest(_))
    ));
}

#[test]
fn status_callbacks_parse() {
    let s = status(&form_case("statusValid"));
    assert_eq!(
        (s.external_id.as_str(), s.status, s.error.is_none()),
        (SID, DeliveryStatus::Delivered, true)
    );
    assert_eq!(
        status(&form_case("statusRead")).status,
        DeliveryStatus::Read
    );
    let s = status(&form_case("statusStop"));
    assert_eq!(s.status, DeliveryStatus::Failed);
    assert_eq!(s.recipient.as_deref(), Some("+12028831111"));
    let e = s.error.unwrap();
    assert_eq!(
        (e.code.as_deref(), e.consent_revoked, e.retryable),
        (Some("21610"), true, false)
    );
    let e = status(&form_case("statusRateLimit")).error.unwrap();
    assert_eq!(
        (e.code.as_deref(), e.consent_revoked),
        (Some("63018"), false)
    );
    let s = status(&form_case("tmsStatusExtra"));
    assert_eq!(
        (s.external_id.as_str(), s.status),
        ("SM0b6e2697aae04182a9f5b5c7a8994c7f", DeliveryStatus::Sent)
    );
    match parse_webhook(Channel::Sms, &form_case("statusInvalid")) {
        Err(PluginError::BadRequest(m)) => assert!(m.contains("huh"), "{m}"),
        other => panic!("{other:?}"),
    }
    for (raw, expected) in [
        ("queued", DeliveryStatus::Queued),
        ("sending", DeliveryStatus::Queued),
        ("accepted", DeliveryStatus::Queued),
        ("undelivered", DeliveryStatus::Failed),
    ] {
        assert_eq!(
            status(format!("MessageSid=SM9&MessageStatus={raw}").as_bytes()).status,
            expected,
            "{raw}"
        );
    }
    assert!(
        parse_webhook(Channel::Sms, b"MessageSid=SM9&MessageStatus=received")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn route_keys_name_our_number_never_the_sender() {
    assert_eq!(route_keys(&form_case("waReceiveValid")), ["+12028831111"]);
    assert_eq!(
        route_keys(&form_case("tmsStatusExtra")),
        ["+14133881111", "MGdb23ec0f89ee2632e46e91d8128f5e2b"]
    );
    assert!(route_keys(&form_case("statusValid")).is_empty());
}

fn outbound(to: &str, text: Option<&str>, media: &[&str]) -> OutboundMessage {
    OutboundMessage {
        message_id: "msg_1".into(),
        to: to.into(),
        text: text.map(str::to_string),
        attachments: media
            .iter()
            .map(|u| Attachment {
                kind: AttachmentKind::Image,
                id: None,
                url: Some(u.to_string()),
                mime_type: None,
                caption: None,
                filename: None,
                sha256: None,
            })
            .collect(),
        reply_to: None,
    }
}

fn send_config() -> SendConfig {
    SendConfig {
        api_base_url: "https://api.twilio.com/".into(),
        account_sid: "AC123".into(),
        auth_token: "tok".into(),
        from: Some("+15550001111".into()),
        messaging_service_sid: None,
        webhook_url: Some("https://hooks.test/webhooks/ch_1".into()),
    }
}

#[test]
fn render_builds_the_create_message_call() {
    let req = render_request(
        Channel::WhatsApp,
        &outbound(
            "+15552223333",
            Some("hi there"),
            &["https://m.test/a.jpg", "https://m.test/b.jpg"],
        ),
        &send_config(),
    )
    .unwrap();
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.url,
        "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json"
    );
    assert_eq!(req.header("authorization"), Some("Basic QUMxMjM6dG9r"));
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let pairs = form_pairs(&req.body);
    let p = |k: &str, v: &str| (k.to_string(), v.to_string());
    assert_eq!(
        pairs,
        [
            p("To", "whatsapp:+15552223333"),
            p("From", "whatsapp:+15550001111"),
            p("Body", "hi there"),
            p("MediaUrl", "https://m.test/a.jpg"),
            p("MediaUrl", "https://m.test/b.jpg"),
            p("StatusCallback", "https://hooks.test/webhooks/ch_1"),
        ]
    );

    let mut config = send_config();
    config.messaging_service_sid = Some("MG1".into());
    config.webhook_url = None;
    let req = render_request(
        Channel::Sms,
        &outbound("+15552223333", Some("x"), &[]),
        &config,
    )
    .unwrap();
    assert_eq!(
        form_pairs(&req.body),
        [
            p("To", "+15552223333"),
            p("MessagingServiceSid", "MG1"),
            p("Body", "x")
        ]
    );

    config.messaging_service_sid = None;
    config.from = None;
    assert!(matches!(
        render_request(Channel::Sms, &outbound("+1", Some("x"), &[]), &config),
        Err(PluginError::Config(_))
    ));
    assert!(matches!(
        render_request(Channel::Sms, &outbound("+1", None, &[]), &send_config()),
        Err(PluginError::BadRequest(_))
    ));
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

fn provider_err(
    r: Result<switchboard_sdk::Receipt, PluginError>,
) -> switchboard_sdk::ProviderError {
    match r {
        Err(PluginError::Provider(e)) => e,
        other => panic!("expected a provider error, got {other:?}"),
    }
}

#[test]
fn send_responses_parse() {
    let ok = parse_send_response(&response(
        201,
        &[],
        r#"{"sid":"SM123","status":"queued","error_code":null}"#,
    ))
    .unwrap();
    assert_eq!(
        (ok.external_id.as_deref(), ok.status),
        (Some("SM123"), DeliveryStatus::Queued)
    );

    let e = provider_err(parse_send_response(&response(
        400,
        &[],
        r#"{"code": 21610, "message": "Attempt to send to unsubscribed recipient", "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400}"#,
    )));
    assert_eq!(
        (e.code.as_deref(), e.consent_revoked, e.retryable),
        (Some("21610"), true, false)
    );
    assert_eq!(e.message, "Attempt to send to unsubscribed recipient");

    let e = provider_err(parse_send_response(&response(
        400,
        &[],
        r#"{"code": 20001, "message": "Bad request", "more_info": "https://www.twilio.com/docs/errors/20001", "status": 400, "details": {"foo":"bar"}}"#,
    )));
    assert_eq!(
        (e.code.as_deref(), e.consent_revoked),
        (Some("20001"), false)
    );

    let e = provider_err(parse_send_response(&response(
        400,
        &[("content-type", "application/problem+json")],
        r#"{"type":"https://www.twilio.com/docs/errors/21211","title":"Invalid 'To' Phone Number","status":400,"detail":"The 'To' number +1 is not valid."}"#,
    )));
    assert_eq!(e.code.as_deref(), Some("21211"));
    assert_eq!(
        e.message,
        "Invalid 'To' Phone Number: The 'To' number +1 is not valid."
    );

    let e = provider_err(parse_send_response(&response(
        429,
        &[("Retry-After", "7")],
        r#"{"code":20429,"message":"Too Many Requests","status":429}"#,
    )));
    assert_eq!(
        (e.retryable, e.retry_after_secs, e.code.as_deref()),
        (true, Some(7), Some("20429"))
    );

    let e = provider_err(parse_send_response(&response(503, &[], "upstream down")));
    assert_eq!(
        (e.retryable, e.retry_after_secs, e.code, e.message.as_str()),
        (true, None, None, "upstream down")
    );
}

#[test]
fn info_describes_the_adapter() {
    let i = info("twilio-sms");
    assert_eq!(
        (i.name.as_str(), i.max_text_length, i.supports_media),
        ("twilio-sms", 1600, true)
    );
    assert_eq!(
        i.outbound_hosts,
        ["api.twilio.com", "media.twiliocdn.com", "mms.twiliocdn.com"]
    );
    assert_eq!(
        i.config_keys,
        [
            "account_sid",
            "auth_token",
            "from",
            "messaging_service_sid",
            "webhook_url",
            "api_base_url"
        ]
    );
}
