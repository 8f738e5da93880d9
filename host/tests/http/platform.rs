//! The tenant platform: proactive sends (idempotency, opt-out, the
//! WhatsApp service window), plan limits (API rate, monthly messages), API
//! keys, audit and usage.

use serde_json::{Value, json};

use crate::harness::{APP_SECRET, Backend, TestServer, wa_text};
use crate::mock::MockProvider;
use crate::on_both;

/// The dashboard fixture's sender.
const USER: &str = "16315551181";

async fn send(
    s: &TestServer,
    key: &str,
    body: &Value,
    idempotency: Option<&str>,
) -> reqwest::Response {
    let mut r = s
        .http
        .post(s.url("/v1/messages"))
        .bearer_auth(key)
        .json(body);
    if let Some(k) = idempotency {
        r = r.header("idempotency-key", k);
    }
    r.send().await.unwrap()
}

async fn proactive_sends_honour_window_consent_and_idempotency(backend: Backend) {
    let s = TestServer::start(backend).await;
    let graph = MockProvider::graph().await;
    let (_, key) = s.tenant("proactive").await;
    let ch = s.whatsapp_channel_to(&key, &graph.base, &[], None).await;
    let body = json!({ "channel_id": ch, "to": USER, "text": "Your order has shipped." });

    // Never wrote to us: outside the 24-hour window.
    let r = send(&s, &key, &body, None).await;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "outside_service_window", "{v}");
    // A template is allowed outside the window: Meta's template request.
    let r = send(
        &s,
        &key,
        &json!({ "channel_id": ch, "to": USER, "template": { "name": "order_update", "language": "en_US", "parameters": ["42", 7] } }),
        None,
    )
    .await;
    assert_eq!(r.status(), 202);
    let queued: Value = r.json().await.unwrap();
    assert!(queued["text"].is_null(), "{queued}");
    let sent = graph.wait_for(1).await;
    assert_eq!(
        sent[0].json(),
        json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": USER, "type": "template",
            "template": { "name": "order_update", "language": { "policy": "deterministic", "code": "en_US" },
                          "components": [{ "type": "body", "parameters": [{ "type": "text", "text": "42" }, { "type": "text", "text": "7" }] }] }
        })
    );
    let id = queued["id"].as_str().unwrap();
    s.eventually(&key, &format!("/v1/messages/{id}"), |m| {
        m["status"] == "sent"
    })
    .await;
    let r = send(
        &s,
        &key,
        &json!({ "channel_id": ch, "to": USER, "template": { "language": "en_US" } }),
        None,
    )
    .await;
    assert_eq!(r.status(), 400, "a template needs a name");

    // The user writes (no persona: nobody answers automatically).
    s.post_signed(&ch, &wa_text("wamid.p1", "where is my order?"), APP_SECRET)
        .await;
    let r = send(&s, &key, &body, Some("order-42")).await;
    assert_eq!(r.status(), 202);
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["direction"], "outbound");
    assert_eq!(first["status"], "queued");
    let sent = graph.wait_for(2).await;
    assert_eq!(sent[1].json()["text"]["body"], "Your order has shipped.");
    assert_eq!(sent[1].json()["to"], USER);

    // Same key, same body: the original answer, nothing sent again.
    let r = send(&s, &key, &body, Some("order-42")).await;
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    // Same key, another body.
    let other = json!({ "channel_id": ch, "to": USER, "text": "Something else" });
    let r = send(&s, &key, &other, Some("order-42")).await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "idempotency_key_reused"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(graph.requests().len(), 2);
    let id = first["id"].as_str().unwrap();
    s.eventually(&key, &format!("/v1/messages/{id}"), |m| {
        m["status"] == "sent"
    })
    .await;

    // STOP (the confirmation is sent), then sends are refused with 409.
    s.post_signed(&ch, &wa_text("wamid.p2", "STOP"), APP_SECRET)
        .await;
    graph.wait_for(3).await;
    let r = send(&s, &key, &body, None).await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "contact_opted_out"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(graph.requests().len(), 3);
    let (_, audit) = s.get(&key, "/v1/audit?action=send.refused").await;
    let reasons: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"]["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"contact_opted_out"), "{audit}");
    assert!(reasons.contains(&"outside_service_window"), "{audit}");

    // Another tenant cannot send on this channel.
    let (_, other_key) = s.tenant("intruder").await;
    let r = send(&s, &other_key, &body, None).await;
    assert_eq!(r.status(), 404);
    s.stop().await;
}
on_both!(proactive_sends_honour_window_consent_and_idempotency);

async fn api_rate_limit_answers_429_with_headers(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (tenant, key) = s.tenant("ratelimited").await;
    let r = s
        .http
        .put(s.url(&format!("/v1/admin/tenants/{tenant}/limits")))
        .bearer_auth(&s.admin_token)
        .json(&json!({ "api_rate_limit_rps": 2 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..5 {
        let r = s
            .http
            .get(s.url("/v1/channels"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            limited = Some(r);
        }
    }
    assert_eq!(&statuses[..2], &[200, 200], "{statuses:?}");
    let r = limited.expect("a 429 among 5 immediate requests at 2/s");
    let h = r.headers();
    assert!(h["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(h["ratelimit-limit"], "2");
    assert_eq!(h["ratelimit-remaining"], "0");
    assert!(h.contains_key("ratelimit-reset"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limited");
    // Other tenants are not affected.
    let (_, other) = s.tenant("unlimited").await;
    let (status, _) = s.get(&other, "/v1/channels").await;
    assert_eq!(status, 200);
    s.stop().await;
}
on_both!(api_rate_limit_answers_429_with_headers);

async fn monthly_limit_pauses_replies_but_keeps_inbound(backend: Backend) {
    let s = TestServer::start(backend).await;
    let graph = MockProvider::graph().await;
    let (tenant, key) = s.tenant("capped").await;
    let persona = s
        .persona(
            &key,
            json!({ "name": "p", "responder": { "kind": "static", "text": "ok" } }),
        )
        .await;
    let ch = s
        .whatsapp_channel_to(&key, &graph.base, &[], Some(&persona))
        .await;
    let r = s
        .http
        .put(s.url(&format!("/v1/admin/tenants/{tenant}/limits")))
        .bearer_auth(&s.admin_token)
        .json(&json!({ "monthly_message_limit": 2 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // 1 inbound + its reply = 2 = the limit.
    s.post_signed(&ch, &wa_text("wamid.m1", "hi"), APP_SECRET)
        .await;
    s.settled_outbound(&key, &ch, 1).await;
    for i in 2..=3 {
        let r = s
            .post_signed(&ch, &wa_text(&format!("wamid.m{i}"), "more"), APP_SECRET)
            .await;
        assert_eq!(r.status(), 200, "inbound is never refused");
    }
    let paused = s
        .eventually(&key, "/v1/audit?action=replies.paused", |v| {
            !v["data"].as_array().unwrap().is_empty()
        })
        .await;
    assert_eq!(
        paused["data"].as_array().unwrap().len(),
        1,
        "recorded once: {paused}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(graph.requests().len(), 1, "replies paused");
    let inbound = s
        .all_messages(&key, &ch)
        .await
        .into_iter()
        .filter(|m| m["direction"] == "inbound")
        .count();
    assert_eq!(inbound, 3, "every inbound message stored");
    // Proactive sends get a 429.
    let r = send(
        &s,
        &key,
        &json!({ "channel_id": ch, "to": USER, "text": "promo" }),
        None,
    )
    .await;
    assert_eq!(r.status(), 429);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "monthly_limit_reached"
    );
    // Usage shows it.
    let (status, usage) = s.get(&key, "/v1/usage").await;
    assert_eq!(status, 200);
    let row = &usage["data"][0];
    assert_eq!(row["channel_id"], ch.as_str());
    assert_eq!(row["inbound"], 3);
    assert_eq!(row["outbound"], 1);
    assert_eq!(usage["current_month"]["messages"], 4);
    assert_eq!(usage["current_month"]["monthly_message_limit"], 2);
    let (status, _) = s.get(&key, "/v1/usage?period=2024-13").await;
    assert_eq!(status, 400);
    s.stop().await;
}
on_both!(monthly_limit_pauses_replies_but_keeps_inbound);

async fn api_keys_are_named_listed_and_revocable(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("keys").await;
    let (status, created) = s
        .post_json(&key, "/v1/api-keys", &json!({ "name": "ci" }))
        .await;
    assert_eq!(status, 201, "{created}");
    let ci_key = created["key"].as_str().unwrap().to_string();
    assert!(ci_key.starts_with("sk_"));
    assert_eq!(created["name"], "ci");
    let (status, _) = s.get(&ci_key, "/v1/channels").await;
    assert_eq!(status, 200, "the new key works");
    let (_, list) = s.get(&key, "/v1/api-keys").await;
    let keys = list["data"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(!list.to_string().contains(&ci_key), "keys are never listed");
    let ci = keys.iter().find(|k| k["name"] == "ci").unwrap();
    assert!(ci["last_used_at"].as_i64().is_some(), "{ci}");
    let id = ci["id"].as_str().unwrap();

    // Another tenant cannot revoke it.
    let (_, other) = s.tenant("keys-other").await;
    let r = s
        .http
        .delete(s.url(&format!("/v1/api-keys/{id}")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = s
        .http
        .delete(s.url(&format!("/v1/api-keys/{id}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, _) = s.get(&ci_key, "/v1/channels").await;
    assert_eq!(status, 401, "revoked keys stop working");
    let (status, _) = s.get(&key, "/v1/channels").await;
    assert_eq!(status, 200);

    // Every change is in the audit log, newest first, paged.
    let (_, page) = s.get(&key, "/v1/audit?limit=1").await;
    assert_eq!(page["data"][0]["action"], "api_key.revoke");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, next) = s
        .get(&key, &format!("/v1/audit?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(next["data"][0]["action"], "api_key.create");
    assert_eq!(next["data"][0]["detail"]["name"], "ci");
    s.stop().await;
}
on_both!(api_keys_are_named_listed_and_revocable);

async fn retention_sweeps_old_messages_and_contacts_can_be_erased(backend: Backend) {
    let s = TestServer::start(backend).await;
    let graph = MockProvider::graph().await;
    let (tenant, key) = s.tenant("retention").await;
    let (_, keep_key) = s.tenant("keeper").await;
    let ch = s.whatsapp_channel_to(&key, &graph.base, &[], None).await;
    let keep_ch = s
        .whatsapp_channel_to(&keep_key, &graph.base, &[], None)
        .await;
    s.post_signed(&ch, &wa_text("wamid.r1", "I am Ann, hello"), APP_SECRET)
        .await;
    s.post_signed(&keep_ch, &wa_text("wamid.r2", "kept"), APP_SECRET)
        .await;
    let r = s
        .http
        .put(s.url(&format!("/v1/admin/tenants/{tenant}/limits")))
        .bearer_auth(&s.admin_token)
        .json(&json!({ "retention_days": 30 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Contact erasure first (on a second message's contact).
    let msgs = s.all_messages(&key, &ch).await;
    assert_eq!(msgs.len(), 1);
    let contact = msgs[0]["contact_id"].as_str().unwrap().to_string();
    let r = s
        .http
        .delete(s.url(&format!("/v1/contacts/{contact}")))
        .bearer_auth(&keep_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "not the other tenant's to erase");
    let r = s
        .http
        .delete(s.url(&format!("/v1/contacts/{contact}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (_, c) = s.get(&key, &format!("/v1/contacts/{contact}")).await;
    assert!(c["display_name"].is_null(), "{c}");
    assert!(!c.to_string().contains(USER), "address erased: {c}");
    let msgs = s.all_messages(&key, &ch).await;
    assert!(msgs[0]["text"].is_null(), "{msgs:?}");
    let raw = s.stored_message_contents(&tenant).await;
    assert!(raw.iter().all(|r| !r.contains("Ann")), "{raw:?}");
    let (_, audit) = s.get(&key, "/v1/audit?action=contact.erase").await;
    assert_eq!(audit["data"][0]["target"], contact.as_str());

    // 29 days later nothing goes; 31 days later this tenant's messages go,
    // the other tenant's (no retention set) stay.
    let day = 86_400_000;
    let now = switchboard::storage::now_ms();
    s.db().sweep_retention(now + 29 * day).await.unwrap();
    assert_eq!(s.all_messages(&key, &ch).await.len(), 1);
    s.db().sweep_retention(now + 31 * day).await.unwrap();
    assert_eq!(s.all_messages(&key, &ch).await.len(), 0);
    assert_eq!(s.all_messages(&keep_key, &keep_ch).await.len(), 1);
    s.stop().await;
}
on_both!(retention_sweeps_old_messages_and_contacts_can_be_erased);

async fn metrics_are_prometheus_text_without_tenant_labels(backend: Backend) {
    let s = TestServer::start(backend).await;
    let graph = MockProvider::graph().await;
    let (tenant, key) = s.tenant("metrics").await;
    let persona = s
        .persona(
            &key,
            json!({ "name": "m", "responder": { "kind": "static", "text": "hi" } }),
        )
        .await;
    let ch = s
        .whatsapp_channel_to(&key, &graph.base, &[], Some(&persona))
        .await;
    s.post_signed(&ch, &wa_text("wamid.metrics", "hello"), APP_SECRET)
        .await;
    s.post_signed(&ch, b"{}", "wrong-secret").await;
    s.settled_outbound(&key, &ch, 1).await;
    let r = s.http.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    let value = |prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in:\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(
        value(r#"switchboard_webhooks_total{adapter="whatsapp-cloud",outcome="stored"}"#) >= 1.0
    );
    assert!(
        value(
            r#"switchboard_webhooks_total{adapter="whatsapp-cloud",outcome="invalid_signature"}"#
        ) >= 1.0
    );
    assert!(
        value(r#"switchboard_plugin_calls_total{world="channel-adapter",outcome="ok"}"#) >= 1.0
    );
    assert!(value(r#"switchboard_plugin_fuel_consumed_total{world="channel-adapter"}"#) > 0.0);
    assert!(
        value(r#"switchboard_plugin_call_duration_seconds_count{world="channel-adapter"}"#) >= 1.0
    );
    assert!(
        value(r#"switchboard_delivery_attempts_total{adapter="whatsapp-cloud",outcome="sent"}"#)
            >= 1.0
    );
    assert!(value(r#"switchboard_jobs_total{kind="message.deliver",outcome="done"}"#) >= 1.0);
    assert!(value("switchboard_outbox_depth ") >= 0.0);
    assert!(value(r#"switchboard_db_query_duration_seconds_count{op="store_inbound"}"#) >= 1.0);
    assert!(!text.contains(&tenant), "no tenant ids in metrics");
    assert!(!text.contains(&ch), "no channel ids in metrics");
    s.stop().await;
}
on_both!(metrics_are_prometheus_text_without_tenant_labels);

async fn openapi_document_matches_the_router(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (status, doc) = s.get("", "/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    // The contract's endpoints are all described.
    for p in [
        "/webhooks/{channel_id}",
        "/v1/channels",
        "/v1/channels/{id}",
        "/v1/personas",
        "/v1/personas/{id}",
        "/v1/messages",
        "/v1/messages/{id}",
        "/v1/conversations",
        "/v1/contacts/{id}",
        "/v1/plugins",
        "/v1/api-keys",
        "/v1/api-keys/{id}",
        "/v1/audit",
        "/v1/usage",
        "/metrics",
        "/v1/admin/tenants",
        "/v1/admin/tenants/{id}",
        "/v1/admin/channels/{id}/route",
    ] {
        assert!(paths.contains_key(p), "{p} missing from the document");
    }
    // The lifecycle operations (issue 12), by method.
    for (p, method) in [
        ("/v1/channels/{id}", "patch"),
        ("/v1/channels/{id}", "delete"),
        ("/v1/personas/{id}", "delete"),
        ("/v1/admin/tenants", "get"),
        ("/v1/admin/tenants/{id}", "get"),
        ("/v1/admin/tenants/{id}", "patch"),
        ("/v1/admin/channels/{id}/route", "put"),
        // One customer across channels (issue 12).
        ("/v1/contacts", "get"),
        ("/v1/contacts/{id}/messages", "get"),
        ("/v1/contacts/{id}/merge", "post"),
        ("/v1/tenant", "get"),
        ("/v1/tenant", "patch"),
    ] {
        assert!(
            paths[p].get(method).is_some(),
            "{method} {p} missing from the document"
        );
    }
    let patch = &doc["components"]["schemas"]["PatchChannel"]["properties"];
    for field in ["name", "config", "guardrails", "persona_id", "enabled"] {
        assert!(patch.get(field).is_some(), "PatchChannel.{field}: {patch}");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["api_key"]["scheme"], "bearer");
    assert_eq!(schemes["admin_token"]["scheme"], "bearer");

    // Every documented operation is routed: no route-level 404 or 405.
    let route_missing = |status: u16, body: &Value| {
        status == 405 || (status == 404 && body["error"]["message"] == "route not found")
    };
    let mut checked = 0;
    for (path, item) in paths {
        let url = path
            .replace("{adapter}", "whatsapp-cloud")
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = s.http.request(m, s.url(&url)).send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            assert!(
                !route_missing(status, &body),
                "{method} {path}: {status} {body}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 30, "{checked} operations");
    // The check can fail: an undocumented path is a route-level 404.
    let r = s.http.get(s.url("/v1/not-a-route")).send().await.unwrap();
    let status = r.status().as_u16();
    assert!(route_missing(status, &r.json().await.unwrap()));
    s.stop().await;
}
on_both!(openapi_document_matches_the_router);

/// The service window follows what the adapter declares, not the name it
/// was bound by: the WhatsApp adapter uploaded as a tenant's own plugin
/// under another name is held to it all the same.
async fn service_window_follows_the_adapters_declared_name(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("renamed").await;
    let pnid = format!(
        "9{}",
        u64::from_str_radix(&crate::harness::unique(), 16).unwrap()
    );
    let r = s
        .http
        .post(s.url("/v1/plugins?name=my-wa&version=1.0.0"))
        .bearer_auth(&key)
        .body(switchboard_artifacts::first_party::WHATSAPP_CLOUD.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let (st, ch) = s
        .post_json(
            &key,
            "/v1/channels",
            &json!({ "name": "wa", "adapter": "my-wa", "config": {
                "app_secret": APP_SECRET, "verify_token": "v", "phone_number_id": pnid, "access_token": "t" } }),
        )
        .await;
    assert_eq!(st, 201, "{ch}");
    let body = json!({ "channel_id": ch["id"], "to": USER, "text": "Your order has shipped." });
    let r = send(&s, &key, &body, None).await;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "outside_service_window", "{v}");
    s.stop().await;
}
on_both!(service_window_follows_the_adapters_declared_name);
