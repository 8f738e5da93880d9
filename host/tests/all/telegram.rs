//! The first-party Telegram adapter, run as a real component against the
//! Bot API payloads in `tests/fixtures/telegram/`.
//!
//! The plugin's own unit tests cover its pure functions natively; these run
//! the compiled wasm through the host runtime, so they also prove the
//! component build, the host import (the constant-time comparison is done
//! by the host), configuration passing and the WIT conversions.

use std::sync::Arc;

use serde_json::{Value, json};
use switchboard::domain::{
    Attachment, AttachmentKind, ConsentSignal, ContactAddress, DeliveryStatus, Event, GuestError,
    Header, HttpRequest, HttpResponse, InboundMessage, OutboundMessage, ProviderError, Receipt,
};
use switchboard::runtime::{CallContext, LoadedPlugin, PluginInstance};
use switchboard_artifacts::first_party::TELEGRAM;

use crate::common::{ctx, guest_err, post, runtime};

/// Where the Telegram fixtures live (`/work/shared` next to the workspace).
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/telegram");

const BOT_TOKEN: &str = "123:ABC";
const SECRET_TOKEN: &str = "s3cr3t_Token-42";
const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";
const WEBHOOK_URL: &str = "https://hooks.switchboard.test/webhooks/ch_tg";

// ---------------------------------------------------------------- helpers

fn plugin() -> Arc<LoadedPlugin> {
    runtime().load(TELEGRAM).expect("telegram loads")
}

fn instance(config: &[(&str, &str)]) -> PluginInstance {
    runtime()
        .instantiate(&plugin(), &ctx("acme", "telegram", config))
        .expect("instantiates")
}

fn configured() -> PluginInstance {
    instance(&[("bot_token", BOT_TOKEN), ("secret_token", SECRET_TOKEN)])
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}/{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name))
        .unwrap_or_else(|e| panic!("fixture {name} is not JSON: {e}"))
}

fn webhook(secret: Option<&str>, body: &[u8]) -> HttpRequest {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(secret) = secret {
        headers.push((SECRET_HEADER, secret));
    }
    post(WEBHOOK_URL, &headers, body)
}

fn parse_fixture(name: &str) -> Vec<Event> {
    configured()
        .parse(&webhook(None, &fixture(name)))
        .unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

fn only_message(name: &str) -> InboundMessage {
    match parse_fixture(name).as_slice() {
        [Event::Message(m)] => m.clone(),
        other => panic!("{name}: expected one message, got {other:?}"),
    }
}

// ------------------------------------------------------------------ info

#[test]
fn declares_itself() {
    let mut inst = runtime()
        .instantiate(&plugin(), &CallContext::for_tenant("t", "telegram"))
        .unwrap();
    let info = inst.info().unwrap();
    assert_eq!(info.name, "telegram");
    assert_eq!(info.max_text_length, 4096);
    // Sends media (sendPhoto, sendDocument, …) since contract 0.1.2.
    assert!(info.supports_media);
    assert_eq!(info.outbound_hosts, vec!["api.telegram.org".to_string()]);
    assert_eq!(
        info.config_keys,
        vec!["bot_token", "secret_token", "api_base_url"]
    );
}

// ---------------------------------------------------------------- verify

#[test]
fn the_right_secret_token_is_accepted() {
    let body = fixture("courier_helloMsg.json");
    assert_eq!(
        configured()
            .verify(&webhook(Some(SECRET_TOKEN), &body))
            .unwrap(),
        None
    );
    // Header names are case-insensitive.
    let lower = post(
        WEBHOOK_URL,
        &[("x-telegram-bot-api-secret-token", SECRET_TOKEN)],
        &body,
    );
    assert_eq!(configured().verify(&lower).unwrap(), None);
}

#[test]
fn wrong_or_missing_secret_tokens_are_rejected() {
    let body = fixture("courier_helloMsg.json");
    for (secret, mentions) in [
        (Some("wrong"), "does not match"),
        (Some(""), "missing"),
        (None, "missing"),
        (Some("s3cr3t_Token-4"), "does not match"),
    ] {
        match guest_err(configured().verify(&webhook(secret, &body))) {
            GuestError::InvalidSignature(m) => assert!(m.contains(mentions), "{secret:?}: `{m}`"),
            other => panic!("{secret:?}: expected invalid-signature, got {other:?}"),
        }
    }
}

#[test]
fn missing_secret_token_config_is_a_config_error() {
    let body = fixture("courier_helloMsg.json");
    for config in [
        &[("bot_token", BOT_TOKEN)][..],
        &[("bot_token", BOT_TOKEN), ("secret_token", "")],
    ] {
        match guest_err(instance(config).verify(&webhook(Some(SECRET_TOKEN), &body))) {
            GuestError::Config(m) => assert!(m.contains("secret_token"), "{m}"),
            other => panic!("expected a config error, got {other:?}"),
        }
    }
}

#[test]
fn other_methods_are_bad_requests() {
    let get = HttpRequest {
        method: "GET".into(),
        url: WEBHOOK_URL.into(),
        headers: vec![],
        body: vec![],
    };
    assert!(matches!(
        guest_err(configured().verify(&get)),
        GuestError::BadRequest(_)
    ));
}

// ----------------------------------------------------------------- parse

#[test]
fn parses_a_private_text_message() {
    let msg = only_message("courier_helloMsg.json");
    assert_eq!(
        msg,
        InboundMessage {
            external_id: "174114370".into(),
            sender: ContactAddress {
                address: "3527065".into(),
                phone: None,
                user_id: Some("3527065".into()),
                display_name: Some("Nic Pottier".into()),
            },
            recipient: None,
            group_id: None,
            timestamp: Some(1454119029),
            text: Some("Hello World".into()),
            attachments: vec![],
            location: None,
            reply_to: None,
            reaction: None,
            interactive: None,
            consent: None,
            kind: "text".into(),
            route_key: None,
        }
    );
}

#[test]
fn parses_a_group_command_reply() {
    let msg = only_message("teloxide_update_439432600_message.json");
    assert_eq!(msg.external_id, "439432600");
    assert_eq!(msg.kind, "command");
    assert_eq!(msg.text.as_deref(), Some("/report"));
    assert_eq!(msg.reply_to.as_deref(), Some("134545"));
    assert_eq!(msg.group_id.as_deref(), Some("-1001293752024"));
    assert_eq!(msg.sender.address, "-1001293752024");
    assert_eq!(msg.sender.user_id.as_deref(), Some("5964236329"));
    assert_eq!(msg.sender.display_name.as_deref(), Some("the Cable Guy"));
}

#[test]
fn parses_a_sticker() {
    let msg = only_message("courier_stickerMsg.json");
    assert_eq!(msg.kind, "sticker");
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
}

#[test]
fn blocking_the_bot_is_an_opt_out() {
    let msg = only_message("teloxide_update_0_my_chat_member.json");
    assert_eq!(msg.kind, "my_chat_member");
    assert_eq!(msg.consent, Some(ConsentSignal::OptOut));
    assert_eq!(msg.text, None);
    assert_eq!(msg.external_id, "0");
    assert_eq!(msg.sender.display_name.as_deref(), Some("FN LN"));
}

#[test]
fn other_update_kinds_give_no_events() {
    for name in [
        "teloxide_update_1_new_update_kind.json",
        "teloxide_update_573255267_purchased_paid_media.json",
        "teloxide_update_71651249_message_reaction.json",
        "teloxide_update_71651251_message_reaction_count.json",
        "teloxide_update_71651297_chat_boost.json",
        "teloxide_update_767844136_message_reaction.json",
        "courier_emptyMsg.json",
    ] {
        assert_eq!(parse_fixture(name), vec![], "{name}");
    }
}

#[test]
fn every_message_fixture_parses_to_one_message_keyed_by_update_id() {
    for (name, update_id) in [
        ("teloxide_update_306197398_message.json", "306197398"),
        ("teloxide_update_439432599_message.json", "439432599"),
        ("teloxide_update_573255266_message.json", "573255266"),
        ("teloxide_update_845402291_message.json", "845402291"),
        ("teloxide_update_892252934_message.json", "892252934"),
        ("courier_startMsg.json", "174114370"),
    ] {
        assert_eq!(only_message(name).external_id, update_id, "{name}");
    }
}

#[test]
fn malformed_bodies_are_bad_requests() {
    for body in [&b"not json"[..], b"{}", b"[1]"] {
        match guest_err(configured().parse(&webhook(None, body))) {
            GuestError::BadRequest(m) => assert!(m.contains("Telegram Update"), "{m}"),
            other => panic!("expected bad request, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------- render

fn outbound(to: &str, text: Option<&str>, reply_to: Option<&str>) -> OutboundMessage {
    OutboundMessage {
        message_id: "msg_1".into(),
        to: to.into(),
        text: text.map(str::to_string),
        attachments: vec![],
        reply_to: reply_to.map(str::to_string),
    }
}

fn body_of(req: &HttpRequest) -> Value {
    serde_json::from_slice(&req.body).expect("render produces JSON")
}

#[test]
fn renders_send_message_exactly() {
    let req = configured()
        .render(&outbound("3527065", Some("Hello"), Some("41")))
        .unwrap();
    assert_eq!(req.method, "POST");
    assert_eq!(req.url, "https://api.telegram.org/bot123:ABC/sendMessage");
    assert_eq!(
        req.headers,
        vec![Header {
            name: "content-type".into(),
            value: "application/json".into()
        }]
    );
    assert_eq!(
        body_of(&req),
        json!({"chat_id": 3527065, "text": "Hello", "reply_parameters": {"message_id": 41}})
    );
    // The same as the Bot API reference example (minus optional fields).
    let reference = &fixture_json("bot_api_reference.json")["sendMessage_request"]["body"];
    assert_eq!(
        body_of(&req)["reply_parameters"],
        reference["reply_parameters"]
    );
    assert_eq!(body_of(&req)["chat_id"], reference["chat_id"]);

    let req = configured()
        .render(&outbound("@channelname", Some("hi"), None))
        .unwrap();
    assert_eq!(
        body_of(&req),
        json!({"chat_id": "@channelname", "text": "hi"})
    );
    let req = configured()
        .render(&outbound("-1001293752024", Some("hi"), None))
        .unwrap();
    assert_eq!(
        body_of(&req),
        json!({"chat_id": -1001293752024_i64, "text": "hi"})
    );
}

#[test]
fn render_uses_the_configured_base_url() {
    let mut inst = instance(&[
        ("bot_token", BOT_TOKEN),
        ("api_base_url", "http://127.0.0.1:8081/"),
    ]);
    let req = inst.render(&outbound("1", Some("hi"), None)).unwrap();
    assert_eq!(req.url, "http://127.0.0.1:8081/bot123:ABC/sendMessage");
}

#[test]
fn render_refuses_what_it_cannot_send() {
    let mut inst = configured();
    let at_limit = "a".repeat(4096);
    assert_eq!(
        body_of(&inst.render(&outbound("1", Some(&at_limit), None)).unwrap())["text"],
        json!(at_limit)
    );
    match guest_err(inst.render(&outbound("1", Some(&"a".repeat(4097)), None))) {
        GuestError::BadRequest(m) => assert!(m.contains("4096"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        guest_err(inst.render(&outbound("1", None, None))),
        GuestError::BadRequest(_)
    ));
    match guest_err(
        instance(&[("secret_token", SECRET_TOKEN)]).render(&outbound("1", Some("hi"), None)),
    ) {
        GuestError::Config(m) => assert!(m.contains("bot_token"), "{m}"),
        other => panic!("{other:?}"),
    }
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

fn reference_body(key: &str) -> Vec<u8> {
    let v = fixture_json("bot_api_reference.json");
    serde_json::to_vec(v.pointer(key).unwrap_or_else(|| panic!("no {key}"))).unwrap()
}

fn provider_error(status: u16, body: &[u8]) -> ProviderError {
    match guest_err(configured().parse_send_response(&response(status, body))) {
        GuestError::Provider(p) => p,
        other => panic!("expected a provider error, got {other:?}"),
    }
}

#[test]
fn successful_send_gives_the_message_id() {
    let receipt = configured()
        .parse_send_response(&response(200, &reference_body("/sendMessage_success")))
        .unwrap();
    assert_eq!(
        receipt,
        Receipt {
            external_id: Some("133".into()),
            status: DeliveryStatus::Sent
        }
    );
}

#[test]
fn rate_limits_are_retried_after_the_given_delay() {
    assert_eq!(
        provider_error(429, &reference_body("/error_shapes/rate_limited")),
        ProviderError {
            retryable: true,
            retry_after_secs: Some(35),
            code: Some("429".into()),
            message: "Too Many Requests: retry after 35".into(),
            consent_revoked: false,
        }
    );
}

#[test]
fn blocked_bot_revokes_consent() {
    let p = provider_error(403, &reference_body("/error_shapes/blocked_by_user"));
    assert_eq!(
        p,
        ProviderError {
            retryable: false,
            retry_after_secs: None,
            code: Some("403".into()),
            message: "Forbidden: bot was blocked by the user".into(),
            consent_revoked: true,
        }
    );
    assert!(provider_error(403, &reference_body("/error_shapes/user_deactivated")).consent_revoked);
    let generic = provider_error(400, &reference_body("/error_shapes/generic"));
    assert!(!generic.retryable && !generic.consent_revoked);
    assert_eq!(generic.code.as_deref(), Some("400"));
    assert!(provider_error(502, b"<html>bad gateway</html>").retryable);
}
