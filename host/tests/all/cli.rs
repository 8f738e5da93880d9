//! The `switchboard plugin` CLI, run as a real process.

use std::process::Command;

fn switchboard(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn example(name: &str) -> String {
    format!("{}/../examples/requests/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn check_prints_what_a_plugin_author_needs() {
    let (code, out, err) = switchboard(&["plugin", "check", "whatsapp-cloud"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("world:        channel-adapter (switchboard:plugin@0.1.2)"),
        "{out}"
    );
    assert!(
        out.contains("exports:      switchboard:plugin/adapter@0.1.2"),
        "{out}"
    );
    assert!(
        out.contains("imports:      switchboard:plugin/host@0.1.2"),
        "{out}"
    );
    let sha = out
        .lines()
        .find_map(|l| l.strip_prefix("sha256:"))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(sha.len(), 64);
    assert!(out.contains("compile time:"), "{out}");

    let (code, out, _) = switchboard(&["plugin", "check", "whatsapp-cloud", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["world"], "channel-adapter");
    assert_eq!(v["sha256"], sha.as_str());
    assert_eq!(v["smoke"]["Ok"]["name"], "whatsapp-cloud");
}

#[test]
fn check_refuses_invalid_components_with_a_reason() {
    let (code, _, err) = switchboard(&[
        "plugin",
        "check",
        switchboard_artifacts::test_guests::FUTURE_VERSION,
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("switchboard:plugin/adapter@9.0.0")
            && err.contains("supports switchboard:plugin@0.1.0"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"hello").unwrap();
    let (code, _, err) = switchboard(&["plugin", "check", junk.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("not a wasm binary"), "{err}");
    let (code, _, err) = switchboard(&["plugin", "check", "no-such-plugin"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("neither a file nor a first-party plugin"),
        "{err}"
    );
}

#[test]
fn run_prints_normalized_events_for_a_saved_request() {
    let req = example("whatsapp-text.json");
    let (code, out, err) = switchboard(&[
        "plugin",
        "run",
        "whatsapp-cloud",
        "--request",
        &req,
        "--config",
        "app_secret=example-app-secret",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verify"], "accepted");
    assert_eq!(v["events"][0]["type"], "message");
    assert_eq!(v["events"][0]["external_id"], "ABGGFlA5Fpa");
    assert_eq!(v["events"][0]["text"], "this is a text message");
    assert_eq!(v["events"][0]["sender"]["display_name"], "test user name");
    assert!(v["fuel_consumed"].as_u64().unwrap() > 0);
}

#[test]
fn run_answers_the_handshake_and_reports_bad_signatures() {
    let (code, out, _) = switchboard(&[
        "plugin",
        "run",
        "whatsapp-cloud",
        "--request",
        &example("whatsapp-handshake.json"),
        "--config",
        "verify_token=example-verify-token",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verify"], "handshake");
    assert_eq!(v["response"]["status"], 200);
    assert_eq!(v["response"]["body"], "1158201444");

    let (code, _, err) = switchboard(&[
        "plugin",
        "run",
        "whatsapp-cloud",
        "--request",
        &example("whatsapp-text.json"),
        "--config",
        "app_secret=wrong",
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&err).unwrap();
    assert_eq!(v["error"]["code"], "guest-error");
    assert_eq!(v["error"]["detail"]["kind"], "invalid-signature");
}

#[test]
fn run_works_on_every_first_party_channel_with_a_fixture() {
    let cases: [(&str, &str, &[&str], &str); 4] = [
        (
            "whatsapp-cloud",
            "whatsapp-text.json",
            &["app_secret=example-app-secret"],
            "this is a text message",
        ),
        (
            "twilio-sms",
            "twilio-sms-stop.json",
            &[
                "auth_token=test_auth_token_0123456789abcdef",
                "webhook_url=https://api.example.com/v1/channels/twilio/ch_01HXYZ/inbound",
            ],
            "Stop",
        ),
        (
            "twilio-whatsapp",
            "twilio-whatsapp-image.json",
            &[
                "auth_token=test_auth_token_0123456789abcdef",
                "webhook_url=https://api.example.com/v1/channels/twilio/ch_01HXYZ/inbound",
            ],
            "¿Tienen envío? 😀",
        ),
        (
            "telegram",
            "telegram-hello.json",
            &["secret_token=example-secret-token", "bot_token=123:ABC"],
            "Hello World",
        ),
    ];
    for (plugin, request, config, text) in cases {
        let req = example(request);
        let mut args = vec!["plugin", "run", plugin, "--request", &req];
        for c in config {
            args.extend(["--config", c]);
        }
        let (code, out, err) = switchboard(&args);
        assert_eq!(code, 0, "{plugin}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["verify"], "accepted", "{plugin}");
        assert_eq!(v["events"][0]["text"], text, "{plugin}");
    }
    // Twilio's STOP carries the provider's opt-out signal.
    let (_, out, _) = switchboard(&[
        "plugin",
        "run",
        "twilio-sms",
        "--request",
        &example("twilio-sms-stop.json"),
        "--config",
        "auth_token=test_auth_token_0123456789abcdef",
        "--config",
        "webhook_url=https://api.example.com/v1/channels/twilio/ch_01HXYZ/inbound",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["events"][0]["consent"], "opt-out");
}

#[test]
fn upload_validates_and_stores_a_tenant_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (code, _, err) = switchboard(&[
        "tenant",
        "create",
        "acme",
        "--name",
        "Acme",
        "--data-dir",
        data,
    ]);
    assert_eq!(code, 0, "{err}");
    let upload = |file: &str, version: &str| {
        switchboard(&[
            "plugin",
            "upload",
            file,
            "--tenant",
            "acme",
            "--name",
            "chat",
            "--version",
            version,
            "--data-dir",
            data,
        ])
    };
    let example = switchboard_artifacts::examples::SIMPLE_JSON_ADAPTER;
    let (code, out, err) = upload(example, "1.0.0");
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["name"], "chat");
    assert_eq!(v["version"], "1.0.0");
    assert_eq!(v["world"], "channel-adapter");
    assert_eq!(v["sha256"].as_str().unwrap().len(), 64);
    assert!(v["id"].as_str().unwrap().starts_with("plg_"), "{v}");

    // Validated exactly like the API: the same codes and reasons.
    let (code, _, err) = upload(example, "1.0.0");
    assert_eq!(code, 1);
    assert!(err.contains("conflict"), "{err}");
    let (code, _, err) = upload(switchboard_artifacts::test_guests::FUTURE_VERSION, "2.0.0");
    assert_eq!(code, 1);
    assert!(err.contains("incompatible: "), "{err}");
    let (code, _, err) = upload(switchboard_artifacts::test_guests::SMOKE_TRAP, "3.0.0");
    assert_eq!(code, 1);
    assert!(err.contains("smoke_failed: "), "{err}");
    let (code, _, err) = switchboard(&[
        "plugin",
        "upload",
        example,
        "--tenant",
        "nobody",
        "--name",
        "chat",
        "--version",
        "1.0.0",
        "--data-dir",
        data,
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("no tenant with slug or id `nobody`"), "{err}");
}
