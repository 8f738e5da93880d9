//! Plugin lifecycle through the API: upload and its validation, binding by
//! name and version, activation and rollback, tenant isolation, audit, and
//! the guardrail failure policy. Real components: the `simple-json-adapter`
//! example, the `hostile` adapter (a second, distinguishable version of the
//! same plugin), `smoke-trap` and `flaky-guardrail`.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};

use crate::harness::upload_plugin as upload;
use crate::harness::{Backend, TestServer, multipart};
use crate::on_both;

const SECRET: &str = "simplechat-secret";

fn wasm(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn simple_json() -> Vec<u8> {
    wasm(switchboard_artifacts::examples::SIMPLE_JSON_ADAPTER)
}

/// Upload as `multipart/form-data` (a `file` part, `name` and `version`
/// fields).
async fn upload_multipart(
    s: &TestServer,
    key: &str,
    name: &str,
    version: &str,
    bytes: &[u8],
) -> (u16, Value) {
    let (content_type, body) = multipart(&[("name", name), ("version", version)], bytes);
    let r = s
        .http
        .post(s.url("/v1/plugins"))
        .bearer_auth(key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Create a channel; returns (status, json).
async fn channel(s: &TestServer, key: &str, adapter: &str, guardrails: Value) -> (u16, Value) {
    s.post_json(
        key,
        "/v1/channels",
        &json!({ "name": "custom", "adapter": adapter, "config": { "secret": SECRET, "mode": "ok" }, "guardrails": guardrails }),
    )
    .await
}

/// A SimpleChat webhook with one message, signed as the example expects.
async fn simple_webhook(s: &TestServer, channel: &str, id: &str, text: &str) -> reqwest::Response {
    let body = serde_json::to_vec(
        &json!({ "messages": [{ "id": id, "from": "15550001111", "text": text }] }),
    )
    .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&body);
    s.http
        .post(s.url(&format!("/webhooks/{channel}")))
        .header("content-type", "application/json")
        .header("x-signature", hex::encode(mac.finalize().into_bytes()))
        .body(body)
        .send()
        .await
        .unwrap()
}

/// The channel's inbound texts, sorted (conversations list in no set order).
async fn texts(s: &TestServer, key: &str, channel: &str) -> Vec<String> {
    let mut texts: Vec<String> = s
        .all_messages(key, channel)
        .await
        .iter()
        .filter(|m| m["direction"] == "inbound")
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect();
    texts.sort();
    texts
}

async fn upload_bind_and_webhook_run_the_uploaded_adapter(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("uploader").await;

    let (st, v1) = upload(&s, &key, "chat", "1.0.0", simple_json()).await;
    assert_eq!(st, 201, "{v1}");
    for field in [
        "id",
        "name",
        "version",
        "sha256",
        "world",
        "wit_version",
        "exports",
        "size",
        "created_at",
    ] {
        assert!(!v1[field].is_null(), "{field} missing: {v1}");
    }
    assert_eq!(v1["world"], "channel-adapter");
    assert_eq!(v1["wit_version"], "0.1.2");
    assert_eq!(v1["version"], "1.0.0");
    assert!(
        v1["exports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "switchboard:plugin/adapter@0.1.2"),
        "{v1}"
    );
    // The same bytes as another version, by multipart: one blob, two versions.
    let (st, v2) = upload_multipart(&s, &key, "chat", "1.0.1", &simple_json()).await;
    assert_eq!(st, 201, "{v2}");
    assert_eq!(v2["sha256"], v1["sha256"]);
    assert_ne!(v2["id"], v1["id"]);
    // A version is immutable.
    let (st, dup) = upload(&s, &key, "chat", "1.0.0", simple_json()).await;
    assert_eq!(st, 409, "{dup}");
    // First-party names are taken.
    assert_eq!(
        upload(&s, &key, "consent", "9.0.0", simple_json()).await.0,
        409
    );

    let (st, list) = s.get(&key, "/v1/plugins").await;
    assert_eq!(st, 200);
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.iter().filter(|p| p["name"] == "chat").count(), 2);
    assert!(
        data.iter()
            .any(|p| p["name"] == "consent" && p["first_party"] == true && p["id"].is_null()),
        "{list}"
    );
    let (st, one) = s
        .get(&key, &format!("/v1/plugins/{}", v1["id"].as_str().unwrap()))
        .await;
    assert_eq!(st, 200, "{one}");
    assert_eq!(one["version"], "1.0.0");

    let (st, ch) = channel(&s, &key, "chat@latest", json!([])).await;
    assert_eq!(st, 201, "{ch}");
    let bindings = ch["channel"]["bindings"].as_array().unwrap().clone();
    assert_eq!(ch["channel"]["adapter"], "chat@latest");
    assert_eq!(ch["channel"]["guardrails"], json!(["consent"]));
    assert_eq!(bindings[0]["slot"], "adapter");
    assert_eq!(bindings[0]["plugin"], "chat");
    assert_eq!(
        bindings[0]["version"], "1.0.1",
        "latest is the newest: {ch}"
    );
    assert_eq!(bindings[0]["pinned"], false);
    assert_eq!(bindings[1]["plugin"], "consent");
    assert_eq!(bindings[1]["on_failure"], "fail-closed");
    let id = ch["id"].as_str().unwrap();

    let r = simple_webhook(&s, id, "m-1", "hello from simplechat").await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert_eq!(texts(&s, &key, id).await, vec!["hello from simplechat"]);
    s.stop().await;
}
on_both!(upload_bind_and_webhook_run_the_uploaded_adapter);

async fn bad_uploads_get_422_with_the_reason(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.max_plugin_bytes = 2 << 20).await;
    let (_, key) = s.tenant("bad").await;
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "not-wasm",
            b"definitely not wasm".to_vec(),
            "not_wasm",
            "not a wasm binary",
        ),
        (
            "core",
            b"\0asm\x01\0\0\0".to_vec(),
            "core_module",
            "core wasm module",
        ),
        (
            "garbled",
            [b"\0asm\x0d\0\x01\0".as_slice(), &[0xff; 32]].concat(),
            "compile_failed",
            "not a valid wasm component",
        ),
        (
            "future",
            wasm(switchboard_artifacts::test_guests::FUTURE_VERSION),
            "incompatible",
            "adapter@9.0.0",
        ),
        (
            "trapper",
            wasm(switchboard_artifacts::test_guests::SMOKE_TRAP),
            "smoke_failed",
            "trapped",
        ),
        // Just over the cap, so the refusal comes after (nearly) the whole
        // body was read and the client sees the answer, not a reset.
        (
            "huge",
            vec![0u8; (2 << 20) + 16],
            "plugin_too_large",
            "limit",
        ),
    ];
    for (name, bytes, code, reason) in cases {
        let (st, v) = upload(&s, &key, name, "1.0.0", bytes.clone()).await;
        assert_eq!(st, 422, "{name}: {v}");
        assert_eq!(v["error"]["code"], code, "{name}: {v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(reason), "{name}: {message}");
        let (st, v) = upload_multipart(&s, &key, name, "1.0.0", &bytes).await;
        assert_eq!(
            (st, &v["error"]["code"]),
            (422, &json!(code)),
            "{name} (multipart): {v}"
        );
    }
    let (_, list) = s.get(&key, "/v1/plugins").await;
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["first_party"] == true),
        "nothing refused was stored: {list}"
    );
    // A valid component bound where another world is needed.
    let (st, _) = upload(
        &s,
        &key,
        "flaky",
        "1.0.0",
        wasm(switchboard_artifacts::test_guests::FLAKY_GUARDRAIL),
    )
    .await;
    assert_eq!(st, 201);
    let (st, v) = channel(&s, &key, "flaky", json!([])).await;
    assert_eq!(
        (st, &v["error"]["code"]),
        (422, &json!("wrong_world")),
        "{v}"
    );
    s.stop().await;
}
on_both!(bad_uploads_get_422_with_the_reason);

async fn activate_and_rollback_switch_the_next_webhook(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (tenant, key) = s.tenant("versions").await;
    // Two distinguishable versions of one adapter: the example reports the
    // message it was sent; `hostile` (mode=ok) always reports "fine".
    assert_eq!(
        upload(&s, &key, "chat", "1.0.0", simple_json()).await.0,
        201
    );
    assert_eq!(
        upload(
            &s,
            &key,
            "chat",
            "2.0.0",
            wasm(switchboard_artifacts::test_guests::HOSTILE)
        )
        .await
        .0,
        201
    );
    let (st, ch) = channel(&s, &key, "chat@1.0.0", json!([])).await;
    assert_eq!(st, 201, "{ch}");
    assert_eq!(ch["channel"]["bindings"][0]["pinned"], true);
    let id = ch["id"].as_str().unwrap().to_string();
    assert_eq!(
        simple_webhook(&s, &id, "m-1", "served by v1")
            .await
            .status(),
        200
    );

    let activate = |version: &str| {
        let body = json!({ "version": version });
        let path = format!("/v1/channels/{id}/plugins/chat/activate");
        let s = &s;
        let key = key.clone();
        async move { s.post_json(&key, &path, &body).await }
    };
    let (st, v) = activate("2.0.0").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["bindings"][0]["version"], "2.0.0");
    assert_eq!(v["bindings"][0]["previous_version"], "1.0.0");
    assert_eq!(
        simple_webhook(&s, &id, "m-2", "served by v2?")
            .await
            .status(),
        200
    );
    assert_eq!(texts(&s, &key, &id).await, vec!["fine", "served by v1"]);

    let (st, v) = s
        .post_json(
            &key,
            &format!("/v1/channels/{id}/plugins/chat/rollback"),
            &json!({}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["bindings"][0]["version"], "1.0.0");
    assert_eq!(
        simple_webhook(&s, &id, "m-3", "served by v1 again")
            .await
            .status(),
        200
    );
    assert_eq!(
        texts(&s, &key, &id).await,
        vec!["fine", "served by v1", "served by v1 again"]
    );

    // A version that does not exist, or of another world, is refused.
    let (st, v) = activate("7.0.0").await;
    assert_eq!(
        (st, &v["error"]["code"]),
        (422, &json!("version_not_found")),
        "{v}"
    );
    assert_eq!(
        upload(
            &s,
            &key,
            "chat",
            "3.0.0",
            wasm(switchboard_artifacts::test_guests::FLAKY_GUARDRAIL)
        )
        .await
        .0,
        201
    );
    let (st, v) = activate("3.0.0").await;
    assert_eq!(
        (st, &v["error"]["code"]),
        (422, &json!("wrong_world")),
        "{v}"
    );

    // Every change is audited, with what it changed from and to.
    let audit = s.db().audit_entries(&tenant, 100).await.unwrap();
    let of = |action: &str| {
        audit
            .iter()
            .filter(|e| e.action == action)
            .collect::<Vec<_>>()
    };
    assert_eq!(of("plugin.upload").len(), 3);
    let activations = of("plugin.activate");
    assert_eq!(activations.len(), 1, "refused activations are not audited");
    assert_eq!(activations[0].target, id);
    assert_eq!(activations[0].detail["changes"][0]["before"], "1.0.0");
    assert_eq!(activations[0].detail["changes"][0]["after"], "2.0.0");
    let rollbacks = of("plugin.rollback");
    assert_eq!(rollbacks.len(), 1);
    assert_eq!(rollbacks[0].detail["changes"][0]["before"], "2.0.0");
    assert_eq!(rollbacks[0].detail["changes"][0]["after"], "1.0.0");
    s.stop().await;
}
on_both!(activate_and_rollback_switch_the_next_webhook);

async fn another_tenants_plugin_cannot_be_seen_bound_or_activated(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key_a) = s.tenant("owner").await;
    let (_, key_b) = s.tenant("other").await;
    let (st, plugin) = upload(&s, &key_a, "private-chat", "1.0.0", simple_json()).await;
    assert_eq!(st, 201);
    let plugin_id = plugin["id"].as_str().unwrap();
    let (st, ch_a) = channel(&s, &key_a, "private-chat@1.0.0", json!([])).await;
    assert_eq!(st, 201, "{ch_a}");
    let ch_a = ch_a["id"].as_str().unwrap();

    assert_eq!(
        s.get(&key_b, &format!("/v1/plugins/{plugin_id}")).await.0,
        404
    );
    let (_, list_b) = s.get(&key_b, "/v1/plugins").await;
    let list_b = list_b["data"].as_array().unwrap().clone();
    assert!(
        list_b.iter().all(|p| p["first_party"] == true),
        "{list_b:?}"
    );
    // First-party plugins are visible to both.
    for key in [&key_a, &key_b] {
        let (_, list) = s.get(key, "/v1/plugins").await;
        assert!(
            list["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "whatsapp-cloud" && p["first_party"] == true)
        );
    }
    for reference in [
        "private-chat",
        "private-chat@1.0.0",
        "private-chat@latest",
        plugin_id,
    ] {
        let (st, v) = channel(&s, &key_b, reference, json!([])).await;
        assert_eq!(
            (st, &v["error"]["code"]),
            (404, &json!("plugin_not_found")),
            "{reference}: {v}"
        );
        let (st, v) = channel(&s, &key_b, "whatsapp-cloud", json!([reference])).await;
        assert_eq!(st, 404, "{reference} as a guardrail: {v}");
    }
    // B can neither change A's channel nor activate A's plugin on its own.
    let (st, _) = s
        .post_json(
            &key_b,
            &format!("/v1/channels/{ch_a}/plugins/private-chat/activate"),
            &json!({ "version": "1.0.0" }),
        )
        .await;
    assert_eq!(st, 404);
    let (st, _) = s
        .post_json(
            &key_b,
            &format!("/v1/channels/{ch_a}/plugins/private-chat/rollback"),
            &json!({}),
        )
        .await;
    assert_eq!(st, 404);
    let ch_b = s.whatsapp_channel(&key_b).await;
    let (st, v) = s
        .post_json(
            &key_b,
            &format!("/v1/channels/{ch_b}/plugins/private-chat/activate"),
            &json!({ "version": "1.0.0" }),
        )
        .await;
    assert_eq!(
        (st, &v["error"]["code"]),
        (404, &json!("plugin_not_found")),
        "{v}"
    );
    s.stop().await;
}
on_both!(another_tenants_plugin_cannot_be_seen_bound_or_activated);

async fn a_failing_guardrail_fails_closed_unless_bound_fail_open(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("policy").await;
    assert_eq!(
        upload(&s, &key, "chat", "1.0.0", simple_json()).await.0,
        201
    );
    let flaky = wasm(switchboard_artifacts::test_guests::FLAKY_GUARDRAIL);
    assert_eq!(upload(&s, &key, "flaky", "1.0.0", flaky).await.0, 201);

    let (st, open) = channel(
        &s,
        &key,
        "chat",
        json!([{ "plugin": "flaky", "on_failure": "fail-open" }]),
    )
    .await;
    assert_eq!(st, 201, "{open}");
    assert_eq!(open["channel"]["guardrails"], json!(["consent", "flaky"]));
    assert_eq!(open["channel"]["bindings"][2]["on_failure"], "fail-open");
    let open = open["id"].as_str().unwrap().to_string();
    let (st, closed) = channel(&s, &key, "chat", json!(["flaky"])).await;
    assert_eq!(st, 201, "{closed}");
    let closed = closed["id"].as_str().unwrap().to_string();

    // The guardrail runs (it marks what it checked) ...
    assert_eq!(
        simple_webhook(&s, &open, "m-1", "hello").await.status(),
        200
    );
    // ... and when it traps or errors, fail-open skips it ...
    assert_eq!(
        simple_webhook(&s, &open, "m-2", "please explode")
            .await
            .status(),
        200
    );
    assert_eq!(
        simple_webhook(&s, &open, "m-3", "a guest-error")
            .await
            .status(),
        200
    );
    assert_eq!(
        texts(&s, &key, &open).await,
        vec!["a guest-error", "hello [flaky-checked]", "please explode"]
    );
    // ... while fail-closed refuses the webhook (the provider retries).
    let r = simple_webhook(&s, &closed, "m-4", "please explode").await;
    assert_eq!(r.status(), 502);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["plugin_error"], "trap", "{v}");
    assert!(texts(&s, &key, &closed).await.is_empty());

    // Consent never fails open.
    let (st, v) = channel(
        &s,
        &key,
        "chat",
        json!([{ "plugin": "consent", "on_failure": "fail-open" }]),
    )
    .await;
    assert_eq!(
        (st, &v["error"]["code"]),
        (422, &json!("fail_open_refused")),
        "{v}"
    );
    s.stop().await;
}
on_both!(a_failing_guardrail_fails_closed_unless_bound_fail_open);
