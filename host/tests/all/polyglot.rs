//! The JavaScript adapter (`examples/js-adapter`, componentize-js) and the
//! Python guardrail (`examples/python-guardrail`, componentize-py), built
//! from source and driven through the real runtime under the default
//! limits. Skipped, saying so, when the tools are not installed.

use std::sync::{Arc, OnceLock};

use switchboard::domain::{
    DeliveryStatus, Direction, Event, GuardrailContext, GuestError, HttpResponse, OutboundMessage,
    Verdict,
};
use switchboard::runtime::{LoadedPlugin, PluginError, PluginRuntime, RuntimeOptions};

use crate::common::{ctx, hmac_sha256_hex, post};

#[path = "../polyglot_build.rs"]
mod polyglot_build;

/// A runtime whose disk cache outlives the test run, so these big
/// components are compiled once, not on every `cargo test`.
fn runtime() -> &'static PluginRuntime {
    static RT: OnceLock<PluginRuntime> = OnceLock::new();
    RT.get_or_init(|| {
        PluginRuntime::new(RuntimeOptions {
            cache_dir: Some(
                std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("polyglot-cache"),
            ),
            ..Default::default()
        })
        .expect("runtime")
    })
}

fn load(example: &str) -> Option<Arc<LoadedPlugin>> {
    let path = polyglot_build::example_component(example)?;
    let bytes = std::fs::read(&path).unwrap();
    Some(runtime().load(&bytes).expect("component loads"))
}

const BODY: &[u8] = br#"{"messages":[{"id":"m-1","from":"+15551234567","name":"Ann","text":"Hello there"},{"id":"m-2","from":"+15557654321","text":"second"}]}"#;

#[test]
fn js_adapter_verifies_parses_renders_and_reads_answers() {
    let Some(plugin) = load("js-adapter") else {
        return;
    };
    let rt = runtime();
    let c = ctx(
        "t1",
        "js-adapter",
        &[("secret", "topsecret"), ("api_key", "key-1")],
    );
    let info = rt.adapter_info(&plugin, &c).unwrap();
    assert_eq!(info.outbound_hosts, vec!["api.simplechat.example"]);

    let signed = post(
        "https://x.test/webhooks/c",
        &[("X-Signature", &hmac_sha256_hex(b"topsecret", BODY))],
        BODY,
    );
    let mut inst = rt.instantiate(&plugin, &c).unwrap();
    assert_eq!(inst.verify(&signed).unwrap(), None);
    let events = inst.parse(&signed).unwrap();
    assert_eq!(events.len(), 2);
    let Event::Message(m) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(m.external_id, "m-1");
    assert_eq!(m.sender.display_name.as_deref(), Some("Ann"));
    assert_eq!(m.text.as_deref(), Some("Hello there"));
    let Event::Message(m) = &events[1] else {
        panic!("{events:?}")
    };
    assert_eq!(m.sender.display_name, None, "an absent name is `none`");

    let forged = post(
        "https://x.test/",
        &[("x-signature", &hmac_sha256_hex(b"other", BODY))],
        BODY,
    );
    let err = rt
        .instantiate(&plugin, &c)
        .unwrap()
        .verify(&forged)
        .unwrap_err();
    assert!(
        matches!(err, PluginError::Guest(GuestError::InvalidSignature(_))),
        "{err:?}"
    );
    let err = rt
        .instantiate(&plugin, &c)
        .unwrap()
        .parse(&post("https://x.test/", &[], b"{not json"))
        .unwrap_err();
    assert!(
        matches!(err, PluginError::Guest(GuestError::BadRequest(ref m)) if m.contains("not valid JSON")),
        "{err:?}"
    );

    let req = rt
        .instantiate(&plugin, &c)
        .unwrap()
        .render(&OutboundMessage {
            message_id: "out-1".into(),
            to: "+15551234567".into(),
            text: Some("Hi Ann".into()),
            attachments: vec![],
            reply_to: None,
        })
        .unwrap();
    assert_eq!(req.url, "https://api.simplechat.example/messages");
    assert!(
        req.headers
            .iter()
            .any(|h| h.name == "authorization" && h.value == "Bearer key-1")
    );
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "to": "+15551234567", "text": "Hi Ann" })
    );

    let answer = |status: u16, body: &str| HttpResponse {
        status,
        headers: vec![],
        body: body.as_bytes().to_vec(),
    };
    let receipt = rt
        .instantiate(&plugin, &c)
        .unwrap()
        .parse_send_response(&answer(200, r#"{"id":"sc-9"}"#))
        .unwrap();
    assert_eq!(receipt.external_id.as_deref(), Some("sc-9"));
    assert_eq!(receipt.status, DeliveryStatus::Queued);
    let err = rt
        .instantiate(&plugin, &c)
        .unwrap()
        .parse_send_response(&answer(503, "busy"))
        .unwrap_err();
    assert!(
        matches!(err, PluginError::Guest(GuestError::Provider(ref p)) if p.retryable && p.code.as_deref() == Some("503")),
        "{err:?}"
    );
}

fn guard_ctx(direction: Direction, text: &str) -> GuardrailContext {
    GuardrailContext {
        direction,
        text: text.into(),
        channel_adapter: "js-adapter".into(),
        contact_address: "+15551234567".into(),
        first_reply: false,
        prohibited_topics: vec![],
        required_disclaimers: vec![],
    }
}

#[test]
fn python_guardrail_blocks_rewrites_and_allows() {
    let Some(plugin) = load("python-guardrail") else {
        return;
    };
    let c = ctx(
        "t1",
        "python-guardrail",
        &[("block_words", "forbidden, secret"), ("mask_words", "darn")],
    );
    let check = |dir, text: &str| {
        runtime()
            .instantiate(&plugin, &c)
            .unwrap()
            .check(&guard_ctx(dir, text))
            .unwrap()
    };
    assert!(
        matches!(check(Direction::Inbound, "tell me the Secret"), Verdict::Block { ref reason, .. } if reason.contains("`secret`")),
        "blocked words are case-insensitive"
    );
    assert_eq!(
        check(Direction::Outbound, "well darn it, a secret"),
        Verdict::Rewrite {
            text: "well **** it, a secret".into()
        },
        "outbound is masked, never blocked"
    );
    assert_eq!(
        check(Direction::Inbound, "secretary"),
        Verdict::Allow,
        "whole words only"
    );
}
