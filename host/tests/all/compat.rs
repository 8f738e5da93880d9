//! Contract versions: a component built against the frozen 0.1.0 contract
//! (`wit/since-v0.1.0`) still loads and runs on a 0.1.1 host, and is
//! treated as having no `templates` export; first-party adapters, built
//! against 0.1.1, render templates.

use switchboard::domain::{GuestError, TemplateMessage};
use switchboard::runtime::{PluginError, World};
use switchboard_artifacts::test_guests::V010_ADAPTER;

use crate::common::{ctx, load_path, post, runtime};

fn template() -> TemplateMessage {
    TemplateMessage {
        message_id: "msg_1".into(),
        to: "250788123123".into(),
        name: "hello_world".into(),
        language: "en_US".into(),
        parameters: vec![],
    }
}

#[test]
fn a_0_1_0_adapter_still_runs_without_templates() {
    let plugin = load_path(V010_ADAPTER);
    assert_eq!(plugin.detected.world, World::ChannelAdapter);
    assert_eq!(plugin.detected.version, "0.1.0");
    assert!(
        plugin
            .detected
            .exports
            .iter()
            .any(|e| e == "switchboard:plugin/adapter@0.1.0")
    );
    let rt = runtime();
    let mut inst = rt.instantiate(&plugin, &ctx("t", "v010", &[])).unwrap();
    assert_eq!(inst.info().unwrap().name, "v010");
    let events = inst
        .parse(&post("https://x.test/hook", &[], b"hello from 0.1.0"))
        .unwrap();
    assert_eq!(events.len(), 1);
    let mut inst = rt.instantiate(&plugin, &ctx("t", "v010", &[])).unwrap();
    match inst.render_template(&template()) {
        Err(PluginError::Guest(GuestError::Unsupported(m))) => {
            assert!(m.contains("templates"), "{m}")
        }
        other => panic!("expected unsupported, got {other:?}"),
    }
}

#[test]
fn first_party_whatsapp_renders_templates() {
    let plugin = runtime()
        .load(switchboard_artifacts::first_party::WHATSAPP_CLOUD)
        .unwrap();
    let mut inst = runtime()
        .instantiate(
            &plugin,
            &ctx(
                "t",
                "whatsapp-cloud",
                &[
                    ("phone_number_id", "106540352242922"),
                    ("access_token", "EAAG"),
                ],
            ),
        )
        .unwrap();
    let req = inst.render_template(&template()).unwrap();
    assert_eq!(
        req.url,
        "https://graph.facebook.com/v21.0/106540352242922/messages"
    );
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["type"], "template");
    assert_eq!(body["template"]["name"], "hello_world");
    // Telegram (an SDK adapter that does not implement templates) says so.
    let tg = runtime()
        .load(switchboard_artifacts::first_party::TELEGRAM)
        .unwrap();
    let mut inst = runtime()
        .instantiate(&tg, &ctx("t", "telegram", &[("bot_token", "1:A")]))
        .unwrap();
    assert!(matches!(
        inst.render_template(&template()),
        Err(PluginError::Guest(GuestError::Unsupported(_)))
    ));
}
