//! The sandbox through the API (issue 10): a tenant's hostile adapter gets
//! its tenant a defined error while another tenant's webhooks are stored;
//! per-tenant limits set by the admin apply to every call; a tenant over its
//! share gets 503 with `Retry-After`; what one webhook may store is bounded.

use serde_json::{Value, json};

use crate::harness::{APP_SECRET, Backend, TestServer, wa_text};
use crate::on_both;

/// Upload a test guest as `name` for the tenant.
async fn upload(s: &TestServer, key: &str, name: &str, path: &str) {
    let (status, v) =
        crate::harness::upload_plugin(s, key, name, "1.0.0", std::fs::read(path).unwrap()).await;
    assert_eq!(status, 201, "{v}");
}

async fn hostile_channel(s: &TestServer, key: &str, config: Value, guardrails: Value) -> String {
    let (st, ch) = s
        .post_json(
            key,
            "/v1/channels",
            &json!({ "name": "hostile", "adapter": "hostile", "config": config, "guardrails": guardrails }),
        )
        .await;
    assert_eq!(st, 201, "{ch}");
    ch["id"].as_str().unwrap().to_string()
}

async fn put_limits(s: &TestServer, tenant: &str, limits: Value) -> (u16, Value) {
    let r = s
        .http
        .put(s.url(&format!("/v1/admin/tenants/{tenant}/limits")))
        .bearer_auth(&s.admin_token)
        .json(&limits)
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

async fn post_raw(s: &TestServer, channel: &str) -> reqwest::Response {
    s.http
        .post(s.url(&format!("/webhooks/{channel}")))
        .body("{}")
        .send()
        .await
        .unwrap()
}

async fn sleeping_adapter_is_cut_at_the_tenants_deadline_and_others_are_served(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (a_id, key_a) = s.tenant("sleepy").await;
    let (_, key_b) = s.tenant("busy-shop").await;
    upload(
        &s,
        &key_a,
        "hostile",
        switchboard_artifacts::test_guests::HOSTILE,
    )
    .await;
    let a = hostile_channel(
        &s,
        &key_a,
        json!({ "mode": "ok", "sleep-in": "parse" }),
        json!([]),
    )
    .await;
    let b = s.whatsapp_channel(&key_b).await;

    // The admin's per-tenant limits, and where they show.
    let (st, body) = put_limits(&s, &a_id, json!({ "plugin_deadline_ms": 300, "plugin_fuel": 50_000_000, "max_concurrent_plugin_calls": 4, "max_concurrent_jobs": 1 })).await;
    assert_eq!(st, 200, "{body}");
    let r = s
        .http
        .get(s.url(&format!("/v1/admin/tenants/{a_id}")))
        .bearer_auth(&s.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["limits"]["plugin_deadline_ms"], 300);
    assert_eq!(t["limits"]["max_concurrent_plugin_calls"], 4);
    assert_eq!(t["limits"]["plugin_memory_mib"], Value::Null);
    assert!(t["defaults"]["plugin_fuel"].as_u64().unwrap() > 0);
    // Out of range is refused with the field named.
    let (st, body) = put_limits(&s, &a_id, json!({ "plugin_deadline_ms": 0 })).await;
    assert_eq!(st, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("plugin_deadline_ms")
    );

    // A's sleeping webhooks, in flight while B's arrive.
    let sleepers: Vec<_> = (0..8)
        .map(|_| {
            let (http, url) = (s.http.clone(), s.url(&format!("/webhooks/{a}")));
            tokio::spawn(async move { http.post(url).body("{}").send().await.unwrap() })
        })
        .collect();
    for i in 0..10 {
        let r = s
            .post_signed(
                &b,
                &wa_text(&format!("wamid.quiet-{i}"), "hello"),
                APP_SECRET,
            )
            .await;
        assert_eq!(r.status(), 200, "B's webhook {i} during A's sleepers");
    }
    for t in sleepers {
        let r = t.await.unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        match status {
            // The tenant's own deadline (300 ms), not the platform's.
            502 => {
                assert_eq!(body["error"]["plugin_error"], "deadline", "{body}");
                assert!(
                    body["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("300 ms"),
                    "{body}"
                );
            }
            503 => assert_eq!(body["error"]["code"], "tenant_busy", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(s.all_messages(&key_b, &b).await.len(), 10);
    assert!(s.all_messages(&key_a, &a).await.is_empty());
    s.stop().await;
}
on_both!(sleeping_adapter_is_cut_at_the_tenants_deadline_and_others_are_served);

async fn a_tenant_over_its_share_gets_503_with_retry_after(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (a_id, key_a) = s.tenant("flood").await;
    let (_, key_b) = s.tenant("calm").await;
    upload(
        &s,
        &key_a,
        "hostile",
        switchboard_artifacts::test_guests::HOSTILE,
    )
    .await;
    let a = hostile_channel(
        &s,
        &key_a,
        json!({ "mode": "ok", "sleep-in": "parse" }),
        json!([]),
    )
    .await;
    let b = s.whatsapp_channel(&key_b).await;
    let (st, _) = put_limits(
        &s,
        &a_id,
        json!({ "plugin_deadline_ms": 2000, "max_concurrent_plugin_calls": 1 }),
    )
    .await;
    assert_eq!(st, 200);
    // One running, a bounded queue waiting, the rest refused at once.
    let flood: Vec<_> = (0..100)
        .map(|_| {
            let (http, url) = (s.http.clone(), s.url(&format!("/webhooks/{a}")));
            tokio::spawn(async move { http.post(url).body("{}").send().await.unwrap() })
        })
        .collect();
    let r = s
        .post_signed(&b, &wa_text("wamid.calm-1", "hello"), APP_SECRET)
        .await;
    assert_eq!(r.status(), 200, "B is never refused for A's flood");
    let mut busy = 0;
    for t in flood {
        let r = t.await.unwrap();
        if r.status() == 503 {
            assert_eq!(r.headers()["retry-after"], "1");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], "tenant_busy");
            busy += 1;
        }
    }
    assert!(busy > 0, "a flood past the queue is refused");
    s.stop().await;
}
on_both!(a_tenant_over_its_share_gets_503_with_retry_after);

async fn what_one_webhook_may_store_is_bounded(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("bulky").await;
    upload(
        &s,
        &key,
        "hostile",
        switchboard_artifacts::test_guests::HOSTILE,
    )
    .await;
    upload(
        &s,
        &key,
        "hostile-guardrail",
        switchboard_artifacts::test_guests::HOSTILE_GUARDRAIL,
    )
    .await;
    // Every message rewritten to 100 KiB: within a call's output cap, over
    // what one message may store.
    let ch = hostile_channel(
        &s,
        &key,
        json!({ "mode": "ok" }),
        json!([{ "plugin": "hostile-guardrail", "config": { "guard-mode": "rewrite-100k" } }]),
    )
    .await;
    let r = post_raw(&s, &ch).await;
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "webhook_too_large", "{body}");
    assert!(s.all_messages(&key, &ch).await.is_empty(), "nothing stored");
    // A guardrail whose rewrite is over the output cap fails its call.
    let ch2 = hostile_channel(
        &s,
        &key,
        json!({ "mode": "ok" }),
        json!([{ "plugin": "hostile-guardrail", "config": { "guard-mode": "huge-rewrite" } }]),
    )
    .await;
    let r = post_raw(&s, &ch2).await;
    assert_eq!(r.status(), 502);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["plugin_error"], "output-too-large", "{body}");
    s.stop().await;
}
on_both!(what_one_webhook_may_store_is_bounded);

/// A guardrail reads only the configuration it is bound with: none of the
/// channel's (the adapter's signing key and access token are the adapter's
/// alone, and its other settings are not the guardrail's either). The API
/// shows each binding's configuration, and of the channel's only the values
/// the adapter does not declare secret.
async fn guardrails_read_only_their_binding_configuration(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("nosy").await;
    // The PostgreSQL database is shared by every test (and run): a number
    // of its own.
    let pnid = format!(
        "9{}",
        u64::from_str_radix(&crate::harness::unique(), 16).unwrap()
    );
    upload(
        &s,
        &key,
        "hostile-guardrail",
        switchboard_artifacts::test_guests::HOSTILE_GUARDRAIL,
    )
    .await;
    let (st, ch) = s
        .post_json(
            &key,
            "/v1/channels",
            &json!({ "name": "wa", "adapter": "whatsapp-cloud",
                "guardrails": [{ "plugin": "hostile-guardrail",
                    "config": { "guard-mode": "read-config", "tone": "formal" } }],
                "config": {
                    "app_secret": APP_SECRET, "verify_token": "v", "phone_number_id": pnid,
                    "access_token": "EAAG-secret", "guard-mode": "sleep" } }),
        )
        .await;
    assert_eq!(st, 201, "{ch}");
    // Secrets as the adapter declares them (not guessed from key names):
    // `phone_number_id` is shown, the token and secrets are not, and so is
    // any other key the adapter does not declare secret.
    let config = &ch["channel"]["config"];
    assert_eq!(config["phone_number_id"], pnid.as_str(), "{ch}");
    assert_eq!(config["guard-mode"], "sleep", "{ch}");
    for secret in ["app_secret", "access_token", "verify_token"] {
        assert_eq!(config[secret], "set", "{secret}: {ch}");
    }
    let bindings = ch["channel"]["bindings"].as_array().unwrap();
    let guard = bindings
        .iter()
        .find(|b| b["plugin"] == "hostile-guardrail")
        .unwrap();
    assert_eq!(guard["config"]["tone"], "formal", "{ch}");
    let ch = ch["id"].as_str().unwrap();
    let r = s
        .post_signed(ch, &wa_text("wamid.nosy-1", "hi"), APP_SECRET)
        .await;
    assert_eq!(r.status(), 200);
    let msgs = s.all_messages(&key, ch).await;
    assert_eq!(
        msgs[0]["text"],
        "app_secret=None access_token=None phone_number_id=None guard-mode=Some(\"read-config\") tone=Some(\"formal\")"
    );
    // An adapter that declares no secret keys (the SDK's default, and every
    // component built before contract 0.1.2) has every value hidden.
    upload(
        &s,
        &key,
        "hostile",
        switchboard_artifacts::test_guests::HOSTILE,
    )
    .await;
    let quiet = hostile_channel(&s, &key, json!({ "mode": "ok", "region": "eu" }), json!([])).await;
    let (st, v) = s.get(&key, &format!("/v1/channels/{quiet}")).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["config"],
        json!({ "mode": "set", "region": "set" }),
        "{v}"
    );
    s.stop().await;
}
on_both!(guardrails_read_only_their_binding_configuration);

/// The `kv` import on the database-backed store, from inside a real plugin
/// call on the server: quotas hold, and the call completes.
async fn kv_from_a_plugin_call_uses_the_database_store(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("kv-user").await;
    upload(
        &s,
        &key,
        "hostile",
        switchboard_artifacts::test_guests::HOSTILE,
    )
    .await;
    let ch = hostile_channel(&s, &key, json!({ "mode": "kv-roundtrip" }), json!([])).await;
    let r = post_raw(&s, &ch).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let msgs = s.all_messages(&key, &ch).await;
    let text = msgs[0]["text"].as_str().unwrap();
    assert_eq!(
        text,
        "got Some(Ok(\"hello\")); 1 MiB value: Err(KvError::ValueTooLarge(65536))"
    );
    s.stop().await;
}
on_both!(kv_from_a_plugin_call_uses_the_database_store);
