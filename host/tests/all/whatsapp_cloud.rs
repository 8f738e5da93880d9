//! The first-party WhatsApp Cloud adapter, run as a real component against
//! the Meta payloads in `tests/fixtures/meta_whatsapp/`.
//!
//! The plugin's own unit tests cover its pure functions natively; these run
//! the compiled wasm through the host runtime, so they also prove the
//! component build, the host imports (HMAC and constant-time comparison are
//! done by the host), configuration passing and the WIT conversions.

use std::sync::Arc;

use serde_json::{Value, json};
use switchboard::domain::{
    Attachment, AttachmentKind, ContactAddress, DeliveryStatus, Event, GuestError, Header,
    HttpRequest, HttpResponse, InboundMessage, InteractiveReply, Location, OutboundMessage,
    ProviderError, Reaction, StatusUpdate,
};
use switchboard::runtime::{LoadedPlugin, PluginError, PluginInstance};
use switchboard_artifacts::first_party::WHATSAPP_CLOUD;

use crate::common::{ctx, guest_err, hmac_sha256_hex, post, runtime};

/// Where the Meta fixtures live (`/work/shared` next to the workspace).
const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/meta_whatsapp"
);

/// The secret `x_hub_signature_256_vectors.json` signed its self-generated
/// vectors with; used as the binding's `app_secret` throughout.
const APP_SECRET: &str = "test_app_secret_abc123";
const VERIFY_TOKEN: &str = "meatyhamhock";
const PHONE_NUMBER_ID: &str = "1234567890";
const ACCESS_TOKEN: &str = "EAAG-test-token";
const WEBHOOK_URL: &str = "https://hooks.switchboard.test/webhooks/whatsapp-cloud/ch_1";

// ---------------------------------------------------------------- helpers

fn plugin() -> Arc<LoadedPlugin> {
    runtime()
        .load(WHATSAPP_CLOUD)
        .expect("whatsapp-cloud loads")
}

/// A fresh instance with the given binding configuration.
fn instance(config: &[(&str, &str)]) -> PluginInstance {
    runtime()
        .instantiate(&plugin(), &ctx("acme", "whatsapp-cloud", config))
        .expect("instantiates")
}

/// A fresh instance configured for everything (webhooks and sends).
fn configured() -> PluginInstance {
    instance(&[
        ("app_secret", APP_SECRET),
        ("verify_token", VERIFY_TOKEN),
        ("phone_number_id", PHONE_NUMBER_ID),
        ("access_token", ACCESS_TOKEN),
    ])
}

/// The raw bytes of a fixture file, exactly as saved.
fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}/{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name))
        .unwrap_or_else(|e| panic!("fixture {name} is not JSON: {e}"))
}

fn get(url: &str) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        url: url.into(),
        headers: vec![],
        body: vec![],
    }
}

/// A webhook POST carrying `body` as Meta would sign it.
fn signed(body: &[u8]) -> HttpRequest {
    let signature = format!("sha256={}", hmac_sha256_hex(APP_SECRET.as_bytes(), body));
    post(
        WEBHOOK_URL,
        &[
            ("Content-Type", "application/json"),
            ("X-Hub-Signature-256", &signature),
        ],
        body,
    )
}

/// The events of an (unsigned) webhook body; parse does not check signatures.
fn parse_body(body: &[u8]) -> Vec<Event> {
    configured()
        .parse(&post(WEBHOOK_URL, &[], body))
        .expect("parses")
}

fn parse_fixture(name: &str) -> Vec<Event> {
    parse_body(&fixture(name))
}

/// The single message a fixture holds.
fn only_message(name: &str) -> InboundMessage {
    match parse_fixture(name).as_slice() {
        [Event::Message(m)] => m.clone(),
        other => panic!("{name}: expected one message, got {other:?}"),
    }
}

/// The single status update a fixture holds.
fn only_status(name: &str) -> StatusUpdate {
    match parse_fixture(name).as_slice() {
        [Event::Status(s)] => s.clone(),
        other => panic!("{name}: expected one status, got {other:?}"),
    }
}

fn assert_invalid_signature(result: Result<Option<HttpResponse>, PluginError>, mentions: &str) {
    match guest_err(result) {
        GuestError::InvalidSignature(m) => {
            assert!(m.contains(mentions), "`{m}` should mention `{mentions}`")
        }
        other => panic!("expected invalid-signature, got {other:?}"),
    }
}

/// Every message of the courier (`nyaruka/courier` testdata) fixtures comes
/// from Kerry Fisher (5678) to phone number id 1234567890 at 1454119029.
fn courier(kind: &str) -> InboundMessage {
    InboundMessage {
        external_id: "external_id".into(),
        sender: ContactAddress {
            address: "5678".into(),
            phone: Some("5678".into()),
            user_id: None,
            display_name: Some("Kerry Fisher".into()),
        },
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

/// Every message of the pywa fixtures comes from 972987654321 (whose contact
/// also carries a BSUID) to phone number id 1122334455667.
fn pywa(external_id: &str, timestamp: u64, kind: &str) -> InboundMessage {
    InboundMessage {
        external_id: external_id.into(),
        sender: ContactAddress {
            address: "972987654321".into(),
            phone: Some("972987654321".into()),
            user_id: Some("US.13491208655302741918".into()),
            display_name: Some("Test Name".into()),
        },
        recipient: Some("1122334455667".into()),
        route_key: Some("1122334455667".into()),
        timestamp: Some(timestamp),
        ..courier(kind)
    }
}

fn media(kind: AttachmentKind, id: &str, mime: &str, sha256: &str) -> Attachment {
    Attachment {
        kind,
        id: Some(id.into()),
        url: None,
        mime_type: Some(mime.into()),
        caption: None,
        filename: None,
        sha256: Some(sha256.into()),
    }
}

/// Join the `entry` arrays of several webhook bodies into one webhook, as
/// Meta batches them.
fn combine(names: &[&str]) -> Vec<u8> {
    let mut combined = fixture_json(names[0]);
    for name in &names[1..] {
        let more = fixture_json(name)["entry"]
            .as_array()
            .expect("entry array")
            .clone();
        combined["entry"]
            .as_array_mut()
            .expect("entry array")
            .extend(more);
    }
    serde_json::to_vec(&combined).unwrap()
}

// ------------------------------------------------------------------ info

#[test]
fn declares_itself() {
    let plugin = runtime().load(WHATSAPP_CLOUD).unwrap();
    let mut inst = runtime()
        .instantiate(
            &plugin,
            &switchboard::runtime::CallContext::for_tenant("t", "whatsapp-cloud"),
        )
        .unwrap();
    let info = inst.info().unwrap();
    assert_eq!(info.name, "whatsapp-cloud");
    assert_eq!(info.max_text_length, 4096);
    // The Graph API, and Meta's CDN that inbound media downloads come from.
    assert_eq!(
        info.outbound_hosts,
        vec![
            "graph.facebook.com".to_string(),
            "lookaside.fbsbx.com".to_string()
        ]
    );
}

// ------------------------------------------------------- GET handshake

#[test]
fn handshake_echoes_the_challenge_for_the_right_token() {
    let url = format!(
        "{WEBHOOK_URL}?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"
    );
    let response = configured()
        .verify(&get(&url))
        .unwrap()
        .expect("a handshake answers");
    assert_eq!(response.status, 200);
    let content_type = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-type"))
        .map(|h| h.value.as_str());
    assert!(
        content_type.is_some_and(|ct| ct.starts_with("text/plain")),
        "{content_type:?}"
    );
    assert_eq!(response.body, b"1158201444");
}

#[test]
fn handshake_with_wrong_token_or_mode_is_forbidden() {
    for query in [
        "hub.mode=subscribe&hub.verify_token=not-the-token&hub.challenge=1158201444",
        "hub.mode=subscribe&hub.challenge=1158201444",
        "hub.mode=unsubscribe&hub.verify_token=meatyhamhock&hub.challenge=1158201444",
        "hub.verify_token=meatyhamhock&hub.challenge=1158201444",
        "hub.mode=subscribe&hub.verify_token=meatyhamhock",
    ] {
        let response = configured()
            .verify(&get(&format!("{WEBHOOK_URL}?{query}")))
            .unwrap()
            .expect("answers");
        assert_eq!(response.status, 403, "{query}");
        assert_ne!(
            response.body, b"1158201444",
            "{query}: must not echo the challenge"
        );
    }
}

#[test]
fn handshake_without_verify_token_config_is_a_config_error() {
    let url =
        format!("{WEBHOOK_URL}?hub.mode=subscribe&hub.verify_token=&hub.challenge=1158201444");
    match guest_err(instance(&[("app_secret", APP_SECRET)]).verify(&get(&url))) {
        GuestError::Config(m) => assert!(m.contains("verify_token"), "{m}"),
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn other_methods_are_bad_requests() {
    let mut req = signed(&fixture("courier_wac_hello.json"));
    req.method = "PUT".into();
    assert!(
        matches!(guest_err(configured().verify(&req)), GuestError::BadRequest(m) if m.contains("PUT"))
    );
}

// ------------------------------------------------------ POST signature

#[test]
fn correctly_signed_post_is_accepted() {
    let body = fixture("courier_wac_hello.json");
    assert_eq!(configured().verify(&signed(&body)).unwrap(), None);
    // Header names are case-insensitive on the wire.
    let sig = format!("sha256={}", hmac_sha256_hex(APP_SECRET.as_bytes(), &body));
    assert_eq!(
        configured()
            .verify(&post(WEBHOOK_URL, &[("x-hub-signature-256", &sig)], &body))
            .unwrap(),
        None
    );
}

#[test]
fn bad_signatures_are_rejected() {
    let body = fixture("courier_wac_hello.json");
    let good_hex = hmac_sha256_hex(APP_SECRET.as_bytes(), &body);
    let with = |value: &str| post(WEBHOOK_URL, &[("X-Hub-Signature-256", value)], &body);

    let wrong_secret = format!(
        "sha256={}",
        hmac_sha256_hex(b"some_other_app_secret", &body)
    );
    assert_invalid_signature(configured().verify(&with(&wrong_secret)), "does not match");
    assert_invalid_signature(
        configured().verify(&post(WEBHOOK_URL, &[], &body)),
        "missing",
    );
    assert_invalid_signature(configured().verify(&with("")), "missing");
    assert_invalid_signature(configured().verify(&with(&good_hex)), "sha256=");
    assert_invalid_signature(
        configured().verify(&with(&format!("sha1={good_hex}"))),
        "sha1",
    );
    assert_invalid_signature(
        configured().verify(&with(&format!("sha256={}", "zz".repeat(32)))),
        "hex",
    );
    assert_invalid_signature(
        configured().verify(&with(&format!("sha256={}", &good_hex[..62]))),
        "hex",
    );
    assert_invalid_signature(
        configured().verify(&with(&format!("sha256={good_hex}00"))),
        "hex",
    );

    // Signed, then one byte changed in transit.
    let mut altered = body.clone();
    let at = altered
        .windows(11)
        .position(|w| w == b"Hello World")
        .expect("fixture text")
        + 6;
    altered[at] = b'w';
    let sig = format!("sha256={good_hex}");
    assert_invalid_signature(
        configured().verify(&post(
            WEBHOOK_URL,
            &[("X-Hub-Signature-256", &sig)],
            &altered,
        )),
        "does not match",
    );
}

#[test]
fn missing_app_secret_is_a_config_error() {
    let body = fixture("courier_wac_hello.json");
    let mut inst = instance(&[("verify_token", VERIFY_TOKEN)]);
    match guest_err(inst.verify(&signed(&body))) {
        GuestError::Config(m) => assert!(m.contains("app_secret"), "{m}"),
        other => panic!("expected a config error, got {other:?}"),
    }
    // An empty secret is as good as none.
    match guest_err(instance(&[("app_secret", "")]).verify(&signed(&body))) {
        GuestError::Config(m) => assert!(m.contains("app_secret"), "{m}"),
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn every_x_hub_signature_256_vector_gives_its_expected_answer() {
    let vectors = fixture_json("x_hub_signature_256_vectors.json");
    let verify = |secret: &str, header: Option<&str>, body: &[u8]| {
        let headers: Vec<(&str, &str)> = header
            .map(|h| ("X-Hub-Signature-256", h))
            .into_iter()
            .collect();
        instance(&[("app_secret", secret)]).verify(&post(WEBHOOK_URL, &headers, body))
    };

    // GitHub's published vector (same scheme).
    let official = &vectors["official_vector"];
    let secret = official["secret"].as_str().unwrap();
    let payload = official["payload"].as_str().unwrap().as_bytes();
    let expected = official["x_hub_signature_256"].as_str().unwrap();
    assert_eq!(
        format!("sha256={}", hmac_sha256_hex(secret.as_bytes(), payload)),
        expected,
        "fixture sanity"
    );
    assert_eq!(
        verify(secret, Some(expected), payload).unwrap(),
        None,
        "official vector"
    );
    assert_invalid_signature(
        verify("it's a secret to everybody", Some(expected), payload),
        "does not match",
    );

    // Self-generated vectors over fixture files (raw bytes as saved) and over
    // a compact re-serialisation of one of them.
    let selfgen = vectors["selfgen_vectors"].as_object().unwrap();
    let secret = selfgen["secret"].as_str().unwrap();
    assert_eq!(secret, APP_SECRET);
    let mut checked = Vec::new();
    for (name, vector) in selfgen {
        let (body, expected) = match vector {
            Value::String(sig) if name.ends_with(".json") => (fixture(name), sig.as_str()),
            Value::Object(v) => (
                v["body"].as_str().unwrap().as_bytes().to_vec(),
                v["x_hub_signature_256"].as_str().unwrap(),
            ),
            _ => continue, // `_provenance`, `secret`
        };
        assert_eq!(
            format!("sha256={}", hmac_sha256_hex(secret.as_bytes(), &body)),
            expected,
            "{name}: fixture sanity"
        );
        assert_eq!(
            verify(secret, Some(expected), &body).unwrap(),
            None,
            "{name}"
        );
        checked.push((name.clone(), body, expected.to_string()));
    }
    assert_eq!(
        checked.len(),
        3,
        "{:?}",
        checked.iter().map(|c| &c.0).collect::<Vec<_>>()
    );

    // Pretty and compact bodies carry different signatures: each signature
    // only verifies its own bytes.
    let pretty = checked
        .iter()
        .find(|c| c.0 == "courier_wac_hello.json")
        .unwrap();
    let compact = checked
        .iter()
        .find(|c| c.0 == "courier_wac_hello.json_compact_reserialized")
        .unwrap();
    assert_ne!(pretty.2, compact.2);
    assert_eq!(
        serde_json::from_slice::<Value>(&pretty.1).unwrap(),
        serde_json::from_slice::<Value>(&compact.1).unwrap()
    );
    assert_invalid_signature(
        verify(secret, Some(&pretty.2), &compact.1),
        "does not match",
    );
    assert_invalid_signature(
        verify(secret, Some(&compact.2), &pretty.1),
        "does not match",
    );

    // The negative cases, each with its expected answer.
    let (body, good) = (&pretty.1, pretty.2.as_str());
    let cases = vectors["negative"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let name = case["case"].as_str().unwrap();
        match name {
            "missing header" => assert_invalid_signature(verify(secret, None, body), "missing"),
            "header 'sha1=...' (legacy X-Hub-Signature)" => {
                use hmac::{Hmac, Mac};
                let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
                mac.update(body);
                let sha1 = format!("sha1={}", hex::encode(mac.finalize().into_bytes()));
                assert_invalid_signature(verify(secret, Some(&sha1), body), "sha1");
                // Only the legacy header present: as good as missing.
                let legacy = post(WEBHOOK_URL, &[("X-Hub-Signature", &sha1)], body);
                assert_invalid_signature(
                    instance(&[("app_secret", secret)]).verify(&legacy),
                    "missing",
                );
            }
            // The plugin accepts either case (the bytes are what is signed).
            "uppercase hex" => {
                let upper = format!("sha256={}", good["sha256=".len()..].to_ascii_uppercase());
                assert_eq!(verify(secret, Some(&upper), body).unwrap(), None, "{name}");
                assert_eq!(
                    verify(secret, Some(&good.to_ascii_uppercase()), body).unwrap(),
                    None,
                    "{name}, prefix too"
                );
            }
            "body with trailing newline appended" => {
                let mut longer = body.clone();
                longer.push(b'\n');
                assert_invalid_signature(verify(secret, Some(good), &longer), "does not match");
            }
            other => panic!("unhandled negative vector `{other}`"),
        }
    }
}

// --------------------------------------------------- verify + parse

#[test]
fn verify_then_parse_in_one_instance() {
    let body = fixture("meta_dashboard_test_text_message.json");
    let req = signed(&body);
    let mut inst = configured();
    assert_eq!(inst.verify(&req).unwrap(), None);
    let events = inst.parse(&req).unwrap();
    let expected = InboundMessage {
        external_id: "ABGGFlA5Fpa".into(),
        sender: ContactAddress {
            address: "16315551181".into(),
            phone: Some("16315551181".into()),
            user_id: None,
            display_name: Some("test user name".into()),
        },
        recipient: Some("123456123".into()),
        route_key: Some("123456123".into()),
        timestamp: Some(1504902988),
        text: Some("this is a text message".into()),
        ..courier("text")
    };
    assert_eq!(events, vec![Event::Message(expected)]);
    assert_eq!(inst.route_key(&req).unwrap(), vec!["123456123".to_string()]);
    let report = inst.finish();
    assert!(
        report.logs.is_empty(),
        "nothing skipped, nothing logged: {:?}",
        report.logs
    );
}

#[test]
fn verify_then_parse_with_the_fixture_signature() {
    // The signature shipped with the fixture, over the file's exact bytes.
    let vectors = fixture_json("x_hub_signature_256_vectors.json");
    for (name, expected) in [
        (
            "courier_wac_hello.json",
            Event::Message(InboundMessage {
                text: Some("Hello World".into()),
                ..courier("text")
            }),
        ),
        (
            "courier_wac_valid_status.json",
            Event::Status(StatusUpdate {
                external_id: "external_id".into(),
                status: DeliveryStatus::Sent,
                recipient: Some("5678".into()),
                timestamp: Some(1454119029),
                error: None,
                route_key: Some("1234567890".into()),
            }),
        ),
    ] {
        let sig = vectors["selfgen_vectors"][name].as_str().unwrap();
        let req = post(WEBHOOK_URL, &[("X-Hub-Signature-256", sig)], &fixture(name));
        let mut inst = configured();
        assert_eq!(inst.verify(&req).unwrap(), None, "{name}");
        assert_eq!(inst.parse(&req).unwrap(), vec![expected], "{name}");
    }
}

// ------------------------------------------------------------ parse

#[test]
fn parses_text_messages() {
    assert_eq!(
        only_message("courier_wac_hello.json"),
        InboundMessage {
            text: Some("Hello World".into()),
            ..courier("text")
        }
    );
    assert_eq!(
        only_message("pywa_message_text.json"),
        InboundMessage {
            text: Some("Body Text".into()),
            ..pywa("wamid.xyzxyz", 1697043223, "text")
        }
    );
    // A referral (click-to-WhatsApp ad) is still a text message.
    assert_eq!(
        only_message("pywa_message_referral.json"),
        InboundMessage {
            text: Some("BODY".into()),
            ..pywa("wamid.ID", 1697045000, "text")
        }
    );
    // A batch that repeats a message yields it once.
    assert_eq!(
        parse_fixture("courier_wac_duplicate.json"),
        vec![Event::Message(InboundMessage {
            text: Some("Hello World".into()),
            ..courier("text")
        })]
    );
}

#[test]
fn parses_images() {
    let sha = "29ed500fa64eb55fc19dc4124acb300e5dcc54a0f822a301ae99944db";
    assert_eq!(
        only_message("courier_wac_image.json"),
        InboundMessage {
            // The caption doubles as the message text.
            text: Some("Check out my new phone!".into()),
            attachments: vec![Attachment {
                caption: Some("Check out my new phone!".into()),
                ..media(AttachmentKind::Image, "id_image", "image/jpeg", sha)
            }],
            ..courier("image")
        }
    );
    assert_eq!(
        only_message("pywa_message_image.json"),
        InboundMessage {
            attachments: vec![media(
                AttachmentKind::Image,
                "65463453",
                "image/jpeg",
                "4654+8g="
            )],
            ..pywa("wamid.xyzxyz", 1697043379, "image")
        }
    );
}

#[test]
fn parses_audio_voice_and_video() {
    assert_eq!(
        only_message("courier_wac_audio.json"),
        InboundMessage {
            text: Some("Check out my new phone!".into()),
            attachments: vec![Attachment {
                caption: Some("Check out my new phone!".into()),
                ..media(
                    AttachmentKind::Audio,
                    "id_audio",
                    "image/jpeg",
                    "29ed500fa64eb55fc19dc4124acb300e5dcc54a0f822a301ae99944db"
                )
            }],
            ..courier("audio")
        }
    );
    // Cloud API audio with `voice: false` is plain audio; the forwarded
    // context has no message id, so it is not a reply.
    assert_eq!(
        only_message("pywa_message_audio.json"),
        InboundMessage {
            attachments: vec![media(
                AttachmentKind::Audio,
                "1234567890987654321",
                "audio/ogg; codecs=opus",
                "E3dxS/PdYZE7ppA3pQ4mpCFaXBJ8pX4SRN/dsfvds/iPGA="
            )],
            ..pywa("wamid.xyzxyz", 1697043509, "audio")
        }
    );
    assert_eq!(
        only_message("courier_wac_voice.json"),
        InboundMessage {
            attachments: vec![media(
                AttachmentKind::Voice,
                "id_voice",
                "audio/ogg; codecs=opus",
                "fa9e1807d936b7cebe63654ea3a7912b1fa9479220258d823590521ef53b0710"
            )],
            ..courier("voice")
        }
    );
    assert_eq!(
        only_message("courier_wac_video.json"),
        InboundMessage {
            text: Some("Check out my new phone!".into()),
            attachments: vec![Attachment {
                caption: Some("Check out my new phone!".into()),
                ..media(
                    AttachmentKind::Video,
                    "id_video",
                    "image/jpeg",
                    "29ed500fa64eb55fc19dc4124acb300e5dcc54a0f822a301ae99944db"
                )
            }],
            ..courier("video")
        }
    );
}

#[test]
fn parses_documents() {
    assert_eq!(
        only_message("pywa_message_document.json"),
        InboundMessage {
            text: Some("caption".into()),
            attachments: vec![Attachment {
                caption: Some("caption".into()),
                filename: Some("filename.pdf".into()),
                ..media(
                    AttachmentKind::Document,
                    "1234567890987654321",
                    "application/pdf",
                    "grwfwe/ZPx0wAbdfbdeFUNItPZ0RylL8gGUvdt3YFqc18SY="
                )
            }],
            ..pywa("wamid.xyzxyz", 1697043666, "document")
        }
    );
    assert_eq!(
        only_message("courier_wac_document.json"),
        InboundMessage {
            text: Some("80skaraokesonglistartist".into()),
            attachments: vec![Attachment {
                caption: Some("80skaraokesonglistartist".into()),
                ..media(
                    AttachmentKind::Document,
                    "id_document",
                    "application/pdf",
                    "3b11fa6ef2bde1dd14726e09d3edaf782120919d06f6484f32d5d5caa4b8e"
                )
            }],
            ..courier("document")
        }
    );
}

#[test]
fn parses_locations() {
    assert_eq!(
        only_message("courier_wac_location.json"),
        InboundMessage {
            location: Some(Location {
                latitude: 0.0,
                longitude: 1.0,
                name: Some("Main Street Beach".into()),
                address: Some("Main Street Beach, Santa Cruz, CA".into()),
            }),
            ..courier("location")
        }
    );
    assert_eq!(
        only_message("pywa_message_current_location.json"),
        InboundMessage {
            location: Some(Location {
                latitude: 12.25089,
                longitude: 43.90539,
                name: None,
                address: None
            }),
            ..pywa("wamid.xyzxyz", 1697044557, "location")
        }
    );
}

#[test]
fn parses_buttons_and_interactive_replies() {
    assert_eq!(
        only_message("courier_wac_button.json"),
        InboundMessage {
            text: Some("No".into()),
            reply_to: Some("gBGGFmkiWVVPAgkgQkwi7IORac0".into()),
            interactive: Some(InteractiveReply {
                id: "No-Button-Payload".into(),
                title: Some("No".into()),
                kind: "button".into()
            }),
            ..courier("button")
        }
    );
    assert_eq!(
        only_message("courier_wac_button_reply.json"),
        InboundMessage {
            text: Some("Yes".into()),
            interactive: Some(InteractiveReply {
                id: "id_button_reply".into(),
                title: Some("Yes".into()),
                kind: "button_reply".into()
            }),
            ..courier("interactive")
        }
    );
    assert_eq!(
        only_message("courier_wac_list_reply.json"),
        InboundMessage {
            text: Some("Yes".into()),
            interactive: Some(InteractiveReply {
                id: "id_list_reply".into(),
                title: Some("Yes".into()),
                kind: "list_reply".into()
            }),
            ..courier("interactive")
        }
    );
    // A flow submission: the flow token is the id, the answers the text.
    assert_eq!(
        only_message("courier_wac_nfm_reply.json"),
        InboundMessage {
            text: Some(r#"{"flow_token": "fl0w+t0k3n", "first_name": "Bob", "age": "32"}"#.into()),
            interactive: Some(InteractiveReply {
                id: "fl0w+t0k3n".into(),
                title: Some("Sent".into()),
                kind: "nfm_reply".into()
            }),
            ..courier("interactive")
        }
    );
    // An interactive message Meta could not deliver the contents of.
    assert_eq!(
        only_message("pywa_message_interactive_message_with_err.json"),
        InboundMessage {
            reply_to: Some("wamid.gvwegfretge==".into()),
            ..pywa("wamid.wegrchytvwcggt=", 1700505494, "interactive")
        }
    );
}

#[test]
fn parses_reactions_replies_and_forwards() {
    assert_eq!(
        only_message("pywa_message_reaction.json"),
        InboundMessage {
            reaction: Some(Reaction {
                message_id: "wamid.yzxyzx=".into(),
                emoji: Some("\u{1F62E}".into())
            }),
            ..pywa("wamid.xyzxyz", 1697044456, "reaction")
        }
    );
    assert_eq!(
        only_message("pywa_message_reply.json"),
        InboundMessage {
            text: Some("replied text".into()),
            reply_to: Some("wamid.xyzxyz==".into()),
            ..pywa("wamid.xyzxyz", 1697044746, "text")
        }
    );
    assert_eq!(
        only_message("pywa_message_forwarded.json"),
        InboundMessage {
            text: Some("forwarded text".into()),
            ..pywa("wamid.xyzxyz", 1697044815, "text")
        }
    );
    assert_eq!(
        only_message("pywa_message_unsupported.json"),
        pywa("wamid.xyzxyz", 1697044706, "unsupported")
    );
}

#[test]
fn parses_group_messages() {
    assert_eq!(
        only_message("courier_wac_group_message.json"),
        InboundMessage {
            group_id: Some("555555555".into()),
            text: Some("Hello World, group message".into()),
            ..courier("text")
        }
    );
}

#[test]
fn parses_bsuid_senders() {
    let bsuid_sender = ContactAddress {
        address: "US.1234".into(),
        phone: None,
        user_id: Some("US.1234".into()),
        display_name: Some("Kerry Fisher".into()),
    };
    for name in [
        "courier_wac_hello_from_bsuid.json",
        "courier_wac_hello_bsuid_in_from.json",
    ] {
        assert_eq!(
            only_message(name),
            InboundMessage {
                sender: bsuid_sender.clone(),
                text: Some("Hello World".into()),
                ..courier("text")
            },
            "{name}"
        );
    }
}

#[test]
fn parses_every_status_fixture() {
    // The last argument is the change's phone-number id: the route key.
    let status = |id: &str, status, recipient: &str, timestamp, pnid: &str| StatusUpdate {
        external_id: id.into(),
        status,
        recipient: Some(recipient.into()),
        timestamp: Some(timestamp),
        error: None,
        route_key: Some(pnid.into()),
    };
    for (name, expected) in [
        (
            "courier_wac_valid_status.json",
            status(
                "external_id",
                DeliveryStatus::Sent,
                "5678",
                1454119029,
                "1234567890",
            ),
        ),
        (
            "pywa_status_sent.json",
            status(
                "wamid.xyzxyz",
                DeliveryStatus::Sent,
                "972987654321",
                1698266945,
                "1122334455667",
            ),
        ),
        (
            "pywa_status_delivered.json",
            status(
                "wamid.xyzxyz",
                DeliveryStatus::Delivered,
                "972987654321",
                1698266945,
                "1122334455667",
            ),
        ),
        (
            "pywa_status_read.json",
            status(
                "wamid.xyzxyz",
                DeliveryStatus::Read,
                "972987654321",
                1689380458,
                "1122334455667",
            ),
        ),
        (
            "pywa_status_played.json",
            status(
                "wamid.xyzxyz",
                DeliveryStatus::Played,
                "972987654321",
                1689380458,
                "1122334455667",
            ),
        ),
        // Group statuses carry the group id as the recipient.
        (
            "pywa_status_group.json",
            status(
                "<WHATSAPP_MESSAGE_ID>",
                DeliveryStatus::Read,
                "fowefinoewcnw",
                1698266945,
                "<BUSINESS_PHONE_NUMBER_ID>",
            ),
        ),
    ] {
        assert_eq!(only_status(name), expected, "{name}");
    }
}

#[test]
fn parses_failed_statuses_with_their_error() {
    let failed = |id: &str, recipient: &str, timestamp, code: &str, message: &str, pnid: &str| {
        StatusUpdate {
            external_id: id.into(),
            status: DeliveryStatus::Failed,
            recipient: Some(recipient.into()),
            timestamp: Some(timestamp),
            error: Some(ProviderError {
                retryable: false,
                retry_after_secs: None,
                code: Some(code.into()),
                message: message.into(),
                consent_revoked: false,
            }),
            route_key: Some(pnid.into()),
        }
    };
    for (name, expected) in [
        (
            "real_world_failed_131047_reengagement.json",
            failed(
                "wamid.H=====================================",
                "86501452171734",
                1744609253,
                "131047",
                "Re-engagement message: Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
                "86501452171734",
            ),
        ),
        (
            "pywa_status_failed.json",
            failed(
                "wamid.xyzxyz",
                "972987654321",
                1689380458,
                "130472",
                "User's number is part of an experiment: Failed to send message because this user's phone number is part of an experiment",
                "1122334455667",
            ),
        ),
        (
            "courier_wac_error_status.json",
            failed(
                "external_id",
                "5678",
                1454119029,
                "131014",
                "Request for url https://URL.jpg failed with error: 404 (Not Found)",
                "1234567890",
            ),
        ),
    ] {
        assert_eq!(only_status(name), expected, "{name}");
    }
}

#[test]
fn invalid_status_is_skipped_without_failing_the_batch() {
    // Alone it yields nothing, and is not an error.
    assert_eq!(parse_fixture("courier_wac_invalid_status.json"), vec![]);

    // Next to a valid status (and a message) in the same change, only the
    // invalid one is dropped, and the skip is logged.
    let mut batch = fixture_json("courier_wac_invalid_status.json");
    let valid = fixture_json("courier_wac_valid_status.json");
    let hello = fixture_json("courier_wac_hello.json");
    let value = &mut batch["entry"][0]["changes"][0]["value"];
    value["statuses"]
        .as_array_mut()
        .unwrap()
        .push(valid["entry"][0]["changes"][0]["value"]["statuses"][0].clone());
    value["messages"] = hello["entry"][0]["changes"][0]["value"]["messages"].clone();
    let body = serde_json::to_vec(&batch).unwrap();

    let req = signed(&body);
    let mut inst = configured();
    assert_eq!(inst.verify(&req).unwrap(), None);
    let events = inst.parse(&req).unwrap();
    assert_eq!(
        events,
        vec![
            Event::Message(InboundMessage {
                text: Some("Hello World".into()),
                ..courier("text")
            }),
            Event::Status(StatusUpdate {
                external_id: "external_id".into(),
                status: DeliveryStatus::Sent,
                recipient: Some("5678".into()),
                timestamp: Some(1454119029),
                error: None,
                route_key: Some("1234567890".into()),
            }),
        ]
    );
    let logs = inst.finish().logs;
    assert!(
        logs.iter()
            .any(|l| l.level == "warn" && l.fields.iter().any(|(_, v)| v.contains("in_orbit"))),
        "the skipped status is logged: {logs:?}"
    );
}

#[test]
fn user_preferences_are_not_events() {
    let fixture = fixture_json("pywa_user_marketing_preferences.json");
    let variants = fixture.as_object().unwrap();
    assert_eq!(
        variants.keys().collect::<Vec<_>>(),
        vec!["resume", "signup"]
    );
    for (name, payload) in variants {
        let body = serde_json::to_vec(payload).unwrap();
        let req = signed(&body);
        let mut inst = configured();
        assert_eq!(inst.verify(&req).unwrap(), None, "{name}");
        assert_eq!(inst.parse(&req).unwrap(), vec![], "{name}");
        // Still addressed to a number, so a shared endpoint can route it.
        assert_eq!(
            inst.route_key(&req).unwrap(),
            vec!["106540352242922".to_string()],
            "{name}"
        );
    }
}

#[test]
fn multi_entry_webhook_yields_events_from_every_entry_in_order() {
    let body = combine(&[
        "courier_wac_hello.json",
        "pywa_status_read.json",
        "pywa_message_reaction.json",
    ]);
    let req = signed(&body);
    let mut inst = configured();
    assert_eq!(inst.verify(&req).unwrap(), None);
    assert_eq!(
        inst.parse(&req).unwrap(),
        vec![
            Event::Message(InboundMessage {
                text: Some("Hello World".into()),
                ..courier("text")
            }),
            Event::Status(StatusUpdate {
                external_id: "wamid.xyzxyz".into(),
                status: DeliveryStatus::Read,
                recipient: Some("972987654321".into()),
                timestamp: Some(1689380458),
                error: None,
                route_key: Some("1122334455667".into()),
            }),
            Event::Message(InboundMessage {
                reaction: Some(Reaction {
                    message_id: "wamid.yzxyzx=".into(),
                    emoji: Some("\u{1F62E}".into())
                }),
                ..pywa("wamid.xyzxyz", 1697044456, "reaction")
            }),
        ]
    );
}

// ------------------------------------------------------- malformed

#[test]
fn malformed_bodies_are_bad_requests() {
    let bad_request =
        |body: &[u8]| match guest_err(configured().parse(&post(WEBHOOK_URL, &[], body))) {
            GuestError::BadRequest(m) => m,
            other => panic!(
                "expected a bad request for {:?}, got {other:?}",
                String::from_utf8_lossy(body)
            ),
        };
    assert!(bad_request(b"{not json").contains("not valid JSON"));
    assert!(bad_request(b"").contains("not valid JSON"));
    assert!(bad_request(br#"{"object":"page","entry":[]}"#).contains("`page`"));
    assert!(bad_request(br#"{"entry":[]}"#).contains("no `object`"));
    assert!(bad_request(br#"{"object":"whatsapp_business_account"}"#).contains("`entry`"));
    // The same envelope check guards routing.
    assert!(matches!(
        guest_err(configured().route_key(&post(WEBHOOK_URL, &[], br#"{"object":"instagram","entry":[]}"#))),
        GuestError::BadRequest(m) if m.contains("`instagram`")
    ));
}

// ---------------------------------------------------------- render

fn outbound(to: &str, text: Option<&str>) -> OutboundMessage {
    OutboundMessage {
        message_id: "out-1".into(),
        to: to.into(),
        text: text.map(str::to_string),
        attachments: vec![],
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

/// The one request body in `send_message_requests_and_responses.json` that
/// matches `pred`.
fn expected_request(pred: impl Fn(&Value) -> bool) -> Value {
    let fixture = fixture_json("send_message_requests_and_responses.json");
    let matches: Vec<&Value> = fixture["request_bodies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| pred(b))
        .collect();
    assert_eq!(matches.len(), 1, "{matches:?}");
    matches[0].clone()
}

fn body_of(req: &HttpRequest) -> Value {
    serde_json::from_slice(&req.body).expect("render produces JSON")
}

#[test]
fn renders_a_text_message_as_the_graph_api_expects() {
    let mut inst = instance(&[
        ("phone_number_id", PHONE_NUMBER_ID),
        ("access_token", ACCESS_TOKEN),
        ("api_base_url", "https://graph.example.test/v19.0/"),
    ]);
    let req = inst
        .render(&outbound("250788123123", Some("Simple Message")))
        .unwrap();
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.url,
        "https://graph.example.test/v19.0/1234567890/messages"
    );
    assert_eq!(req.header("authorization"), Some("Bearer EAAG-test-token"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    let expected =
        expected_request(|b| b["to"] == "250788123123" && b["text"]["body"] == "Simple Message");
    assert_eq!(
        expected,
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "250788123123", "type": "text",
               "text": {"body": "Simple Message", "preview_url": false}})
    );
    assert_eq!(body_of(&req), expected);

    // A BSUID goes in `recipient`, not `to`.
    let req = inst
        .render(&outbound("US.1234", Some("Simple Message")))
        .unwrap();
    assert_eq!(
        body_of(&req),
        expected_request(|b| b["recipient"] == "US.1234")
    );
    // Non-ASCII text survives the WIT round trip.
    let req = inst
        .render(&outbound("250788123123", Some("\u{263a}")))
        .unwrap();
    assert_eq!(
        body_of(&req),
        expected_request(|b| b["text"]["body"] == "\u{263a}")
    );
}

#[test]
fn renders_replies_with_context() {
    let msg = OutboundMessage {
        reply_to: Some("wamid.HBgMMjUwNzg4MTIzMTIzFQIAEhgg".into()),
        ..outbound("250788123123", Some("Simple Message"))
    };
    let req = configured().render(&msg).unwrap();
    let mut expected =
        expected_request(|b| b["to"] == "250788123123" && b["text"]["body"] == "Simple Message");
    expected["context"] = json!({"message_id": "wamid.HBgMMjUwNzg4MTIzMTIzFQIAEhgg"});
    assert_eq!(body_of(&req), expected);
}

#[test]
fn renders_media_by_link() {
    let mut inst = configured();
    let cases = [
        (
            AttachmentKind::Image,
            "https://foo.bar/image.jpg",
            Some("image caption"),
            "image",
        ),
        (
            AttachmentKind::Image,
            "https://foo.bar/image.jpg",
            None,
            "image",
        ),
        (
            AttachmentKind::Video,
            "https://foo.bar/video.mp4",
            Some("video caption"),
            "video",
        ),
        // The filename comes from the URL.
        (
            AttachmentKind::Document,
            "https://foo.bar/document.pdf",
            Some("document caption"),
            "document",
        ),
        (
            AttachmentKind::Audio,
            "https://foo.bar/audio.mp3",
            None,
            "audio",
        ),
    ];
    for (kind, url, caption, wa_type) in cases {
        let msg = OutboundMessage {
            attachments: vec![link(kind, url)],
            ..outbound("250788123123", caption)
        };
        let req = inst.render(&msg).unwrap();
        assert_eq!(
            req.url,
            format!("https://graph.facebook.com/v21.0/{PHONE_NUMBER_ID}/messages")
        );
        let expected = expected_request(|b| {
            b["type"] == wa_type
                && b[wa_type]["link"] == url
                && b[wa_type].get("caption").and_then(Value::as_str) == caption
        });
        assert_eq!(body_of(&req), expected, "{wa_type} {caption:?}");
    }

    // An uploaded media id is preferred over a link.
    let image = Attachment {
        id: Some("1479537139650973".into()),
        ..link(AttachmentKind::Image, "https://foo.bar/image.jpg")
    };
    let req = inst
        .render(&OutboundMessage {
            attachments: vec![image],
            ..outbound("250788123123", Some("image caption"))
        })
        .unwrap();
    assert_eq!(
        body_of(&req)["image"],
        json!({"id": "1479537139650973", "caption": "image caption"})
    );

    // Audio cannot carry a caption (courier sends the text separately).
    let audio = OutboundMessage {
        attachments: vec![link(AttachmentKind::Audio, "https://foo.bar/audio.mp3")],
        ..outbound("250788123123", Some("audio caption"))
    };
    assert!(
        matches!(guest_err(inst.render(&audio)), GuestError::Unsupported(m) if m.contains("caption"))
    );
    // One attachment per message.
    let two = OutboundMessage {
        attachments: vec![
            link(AttachmentKind::Image, "https://foo.bar/a.jpg"),
            link(AttachmentKind::Image, "https://foo.bar/b.jpg"),
        ],
        ..outbound("250788123123", None)
    };
    assert!(matches!(
        guest_err(inst.render(&two)),
        GuestError::Unsupported(_)
    ));
}

#[test]
fn render_defaults_to_the_public_graph_api() {
    let req = instance(&[
        ("phone_number_id", "106540352242922"),
        ("access_token", ACCESS_TOKEN),
    ])
    .render(&outbound("250788123123", Some("Simple Message")))
    .unwrap();
    assert_eq!(
        req.url,
        "https://graph.facebook.com/v21.0/106540352242922/messages"
    );
    // The default must be a host the adapter declares.
    let info = configured().info().unwrap();
    assert!(
        info.outbound_hosts
            .iter()
            .any(|h| req.url.starts_with(&format!("https://{h}/")))
    );
}

#[test]
fn render_enforces_the_text_limit() {
    let mut inst = configured();
    // 4096 characters is the limit, counted in characters, not bytes.
    let at_limit = "\u{e9}".repeat(4096);
    let req = inst
        .render(&outbound("250788123123", Some(&at_limit)))
        .unwrap();
    assert_eq!(body_of(&req)["text"]["body"], at_limit.as_str());
    let over = "a".repeat(4097);
    match guest_err(inst.render(&outbound("250788123123", Some(&over)))) {
        GuestError::BadRequest(m) => assert!(m.contains("4097") && m.contains("4096"), "{m}"),
        other => panic!("expected a bad request, got {other:?}"),
    }
    assert!(matches!(
        guest_err(inst.render(&outbound("250788123123", None))),
        GuestError::BadRequest(_)
    ));
    assert!(matches!(
        guest_err(inst.render(&outbound("  ", Some("hi")))),
        GuestError::BadRequest(_)
    ));
}

#[test]
fn render_needs_its_configuration() {
    let msg = outbound("250788123123", Some("Simple Message"));
    let config_error = |config: &[(&str, &str)]| match guest_err(instance(config).render(&msg)) {
        GuestError::Config(m) => m,
        other => panic!("expected a config error, got {other:?}"),
    };
    assert!(config_error(&[("phone_number_id", PHONE_NUMBER_ID)]).contains("access_token"));
    assert!(config_error(&[("access_token", ACCESS_TOKEN)]).contains("phone_number_id"));
    // An id that would change the URL path is refused.
    assert!(
        config_error(&[("phone_number_id", "../me"), ("access_token", ACCESS_TOKEN)])
            .contains("phone_number_id")
    );
}

// ----------------------------------------------- parse-send-response

fn response(status: u16, body: &[u8]) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![Header {
            name: "content-type".into(),
            value: "application/json".into(),
        }],
        body: body.to_vec(),
    }
}

#[test]
fn successful_send_gives_a_receipt_with_the_wamid() {
    let mut inst = configured();
    let body = br#"{"messaging_product":"whatsapp","contacts":[{"input":"250788123123","wa_id":"250788123123"}],"messages":[{"id":"wamid.HBgMMjUwNzg4MTIzMTIzFQIAERgSMDhCQjM0QzY1NDE2RjY5QkUyAA=="}]}"#;
    let receipt = inst.parse_send_response(&response(200, body)).unwrap();
    assert_eq!(
        receipt.external_id.as_deref(),
        Some("wamid.HBgMMjUwNzg4MTIzMTIzFQIAERgSMDhCQjM0QzY1NDE2RjY5QkUyAA==")
    );
    assert_eq!(receipt.status, DeliveryStatus::Queued);

    let fixture = fixture_json("send_message_requests_and_responses.json");
    let minimal = serde_json::to_vec(&fixture["success_response_minimal_201"]).unwrap();
    assert_eq!(
        inst.parse_send_response(&response(201, &minimal))
            .unwrap()
            .external_id
            .as_deref(),
        Some("157b5e14568e8")
    );
    let full = serde_json::to_vec(&fixture["success_response_full_shape_per_meta_docs"]).unwrap();
    assert_eq!(
        inst.parse_send_response(&response(200, &full))
            .unwrap()
            .external_id
            .as_deref(),
        Some("wamid.<ID>")
    );
}

#[test]
fn every_fixture_error_response_is_a_provider_error() {
    let fixture = fixture_json("send_message_requests_and_responses.json");
    // (code, retryable): throttling and 131053 (media fetch) are retried;
    // policy blocks and invalid parameters are not.
    let expected: &[(i64, bool)] = &[
        (131056, true),
        (130429, true),
        (613, true),
        (131053, true),
        (368, false),
        (0, false),
        (131009, false),
    ];
    let responses = fixture["error_responses"].as_array().unwrap();
    assert_eq!(responses.len(), expected.len());
    let mut inst = configured();
    for (case, &(code, retryable)) in responses.iter().zip(expected) {
        let status = case["http_status"].as_u64().unwrap() as u16;
        let error = &case["body"]["error"];
        assert_eq!(error["code"].as_i64(), Some(code), "fixture order");
        let body = serde_json::to_vec(&case["body"]).unwrap();
        match guest_err(inst.parse_send_response(&response(status, &body))) {
            GuestError::Provider(p) => {
                assert_eq!(p.code.as_deref(), Some(code.to_string().as_str()), "{case}");
                assert_eq!(p.retryable, retryable, "{case}");
                assert_eq!(p.message, error["message"].as_str().unwrap(), "{case}");
                assert!(!p.consent_revoked);
            }
            other => panic!("expected a provider error for {case}, got {other:?}"),
        }
    }

    // Every code courier retries is retried here too, whatever the status.
    let retried = fixture["courier_throttling_error_codes_retry_later"]
        .as_array()
        .unwrap()
        .iter()
        .chain(fixture["courier_retryable_codes"].as_array().unwrap());
    for code in retried {
        let body =
            serde_json::to_vec(&json!({"error": {"message": "slow down", "code": code}})).unwrap();
        match guest_err(inst.parse_send_response(&response(400, &body))) {
            GuestError::Provider(p) => assert!(p.retryable, "{code}"),
            other => panic!("{code}: {other:?}"),
        }
    }
}

#[test]
fn unreadable_error_responses_use_the_http_status() {
    let mut inst = configured();
    for (status, retryable) in [(429, true), (502, true), (401, false)] {
        match guest_err(inst.parse_send_response(&response(status, b"<html>upstream error</html>")))
        {
            GuestError::Provider(p) => {
                assert_eq!(p.code, Some(status.to_string()));
                assert_eq!(p.retryable, retryable, "{status}");
                assert!(p.message.contains("upstream error"), "{}", p.message);
            }
            other => panic!("{status}: {other:?}"),
        }
    }
    // Graph error details and trace id make it into the message.
    let body = br#"{"error":{"message":"(#100) Invalid parameter","type":"OAuthException","code":100,"error_data":{"messaging_product":"whatsapp","details":"Parameter 'to' is invalid"},"fbtrace_id":"AbC123"}}"#;
    match guest_err(inst.parse_send_response(&response(400, body))) {
        GuestError::Provider(p) => {
            assert_eq!(p.code.as_deref(), Some("100"));
            assert!(!p.retryable);
            assert_eq!(
                p.message,
                "(#100) Invalid parameter: Parameter 'to' is invalid (fbtrace_id AbC123)"
            );
        }
        other => panic!("{other:?}"),
    }
}

// ------------------------------------------------------------ route-key

#[test]
fn route_key_lists_distinct_phone_number_ids_in_order() {
    // Two numbers, the first one appearing again in a third entry.
    let body = combine(&[
        "courier_wac_hello.json",
        "pywa_message_text.json",
        "courier_wac_valid_status.json",
    ]);
    let req = signed(&body);
    let mut inst = configured();
    assert_eq!(
        inst.route_key(&req).unwrap(),
        vec!["1234567890".to_string(), "1122334455667".to_string()]
    );
    // And the same webhook parses into all three entries' events.
    assert_eq!(inst.verify(&req).unwrap(), None);
    let summary: Vec<(&str, String, Option<String>)> = inst
        .parse(&req)
        .unwrap()
        .into_iter()
        .map(|e| match e {
            Event::Message(m) => ("message", m.external_id, m.recipient),
            Event::Status(s) => ("status", s.external_id, s.recipient),
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "message",
                "external_id".to_string(),
                Some("1234567890".to_string())
            ),
            (
                "message",
                "wamid.xyzxyz".to_string(),
                Some("1122334455667".to_string())
            ),
            (
                "status",
                "external_id".to_string(),
                Some("5678".to_string())
            ),
        ]
    );

    let single = configured()
        .route_key(&post(
            WEBHOOK_URL,
            &[],
            &fixture("real_world_failed_131047_reengagement.json"),
        ))
        .unwrap();
    assert_eq!(single, vec!["86501452171734".to_string()]);
}
