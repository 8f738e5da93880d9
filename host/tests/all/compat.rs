//! Contract versions: components built against the frozen 0.1.0 and 0.1.1
//! contracts (`wit/since-v0.1.0`, `wit/since-v0.1.1`) still load and run on
//! a 0.1.2 host; a 0.1.0 one is treated as having no `templates` export, and
//! neither declares secret configuration keys (so every value is secret).
//! First-party adapters, built against 0.1.2, render templates and declare
//! their secret keys.

use switchboard::domain::{GuestError, TemplateMessage};
use switchboard::runtime::{PluginError, World};
use switchboard_artifacts::test_guests::{V010_ADAPTER, V011_ADAPTER};

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
    let info = inst.info().unwrap();
    assert_eq!(info.name, "v010");
    assert_eq!(info.secret_keys, None);
    assert!(info.is_secret("anything"));
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
fn a_0_1_1_adapter_still_runs_with_templates_and_every_value_secret() {
    let plugin = load_path(V011_ADAPTER);
    assert_eq!(plugin.detected.world, World::ChannelAdapter);
    assert_eq!(plugin.detected.version, "0.1.1");
    let rt = runtime();
    let mut inst = rt.instantiate(&plugin, &ctx("t", "v011", &[])).unwrap();
    let info = inst.info().unwrap();
    assert_eq!(info.name, "v011");
    assert_eq!(
        info.secret_keys, None,
        "0.1.1 has no `configuration` export"
    );
    assert!(info.is_secret("region"));
    let events = inst
        .parse(&post("https://x.test/hook", &[], b"hello from 0.1.1"))
        .unwrap();
    assert_eq!(events.len(), 1);
    let mut inst = rt.instantiate(&plugin, &ctx("t", "v011", &[])).unwrap();
    let req = inst.render_template(&template()).unwrap();
    assert_eq!(req.url, "https://v011.example/templates/hello_world");
}

/// A component, its name, the keys it declares secret, and keys it does not.
type SecretCase<'a> = (&'a [u8], &'a str, &'a [&'a str], &'a [&'a str]);

#[test]
fn first_party_adapters_declare_their_secret_keys() {
    let cases: [SecretCase<'_>; 4] = [
        (
            switchboard_artifacts::first_party::WEBCHAT,
            "webchat",
            &["identity_secret"],
            &["allowed_origins", "title", "greeting", "color"],
        ),
        (
            switchboard_artifacts::first_party::WHATSAPP_CLOUD,
            "whatsapp-cloud",
            &["access_token", "app_secret", "verify_token"],
            &["phone_number_id", "api_base_url"],
        ),
        (
            switchboard_artifacts::first_party::TELEGRAM,
            "telegram",
            &["bot_token", "secret_token"],
            &["api_base_url"],
        ),
        (
            switchboard_artifacts::first_party::TWILIO_SMS,
            "twilio-sms",
            &["auth_token"],
            &[
                "account_sid",
                "from",
                "messaging_service_sid",
                "webhook_url",
            ],
        ),
    ];
    for (bytes, name, secret, plain) in cases {
        let plugin = runtime().load(bytes).unwrap();
        assert_eq!(plugin.detected.version, "0.1.2");
        let info = runtime()
            .instantiate(&plugin, &ctx("t", name, &[]))
            .unwrap()
            .info()
            .unwrap();
        for k in secret {
            assert!(info.is_secret(k), "{name}: {k}");
        }
        for k in plain {
            assert!(!info.is_secret(k), "{name}: {k}");
        }
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
