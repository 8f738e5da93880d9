//! Channels and tenants over their whole life: changing a channel
//! (re-keying, disabling), deleting it, deleting a persona, and the
//! platform admin listing, renaming and suspending tenants.

use serde_json::{Value, json};

use crate::harness::{APP_SECRET, Backend, TestServer, unique, wa_text};
use crate::mock::MockProvider;
use crate::on_both;

/// The dashboard fixture's sender.
const USER: &str = "16315551181";

fn channel_path(id: &str) -> String {
    format!("/v1/channels/{id}")
}

async fn static_persona(s: &TestServer, key: &str) -> String {
    s.persona(
        key,
        json!({ "name": format!("p-{}", unique()), "responder": { "kind": "static", "text": "Noted." } }),
    )
    .await
}

async fn patch_changes_what_it_names_and_hides_secrets(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("patch").await;
    let ch = s.whatsapp_channel(&key).await;

    let (status, v) = s
        .patch_json(
            &key,
            &channel_path(&ch),
            &json!({ "name": "Support line", "config": { "access_token": "EAAG-rotated-secret", "api_base_url": "https://graph.example/v21.0", "verify_token": null } }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["name"], "Support line");
    assert_eq!(v["status"], "active");
    // Secrets stay hidden; a non-secret value shows; the removed key is
    // unset; untouched keys are kept.
    assert_eq!(v["config"]["access_token"], "set");
    assert_eq!(v["config"]["app_secret"], "set");
    assert_eq!(v["config"]["verify_token"], "unset");
    assert_eq!(v["config"]["api_base_url"], "https://graph.example/v21.0");
    assert!(!v.to_string().contains("EAAG-rotated-secret"));
    let (_, again) = s.get(&key, &channel_path(&ch)).await;
    assert_eq!(again["name"], "Support line");

    // Audited with field and key names, never a value.
    let (_, audit) = s.get(&key, "/v1/audit?action=channel.update").await;
    let entry = &audit["data"][0];
    assert_eq!(entry["target"], json!(ch), "{audit}");
    assert_eq!(entry["detail"]["fields"], json!(["name", "config"]));
    assert_eq!(
        entry["detail"]["config_keys"],
        json!(["access_token", "api_base_url", "verify_token"])
    );
    assert!(!audit.to_string().contains("EAAG-rotated-secret"));

    // Unknown fields and wrong types: 422 naming the field; nothing changes.
    for (body, field) in [
        (json!({ "nmae": "typo" }), "nmae"),
        (json!({ "enabled": "no" }), "enabled"),
        (json!({ "config": ["a"] }), "config"),
        (json!({ "config": { "k": { "nested": 1 } } }), "config"),
        (json!({ "name": "" }), "name"),
    ] {
        let (status, v) = s.patch_json(&key, &channel_path(&ch), &body).await;
        assert_eq!(status, 422, "{body}: {v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{body}: {message}");
    }
    let (status, _) = s
        .patch_json(
            &key,
            &channel_path(&ch),
            &json!({ "guardrails": ["no-such-plugin"] }),
        )
        .await;
    assert_eq!(status, 404);
    let (_, v) = s.get(&key, &channel_path(&ch)).await;
    assert_eq!(v["name"], "Support line");
    assert_eq!(v["status"], "active");

    // Guardrails: the new chain, consent still first.
    let (status, v) = s
        .patch_json(
            &key,
            &channel_path(&ch),
            &json!({ "guardrails": ["pii-redact"] }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["guardrails"], json!(["consent", "pii-redact"]));
    let slots: Vec<&str> = v["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["plugin"].as_str().unwrap())
        .collect();
    assert_eq!(slots, ["whatsapp-cloud", "consent", "pii-redact"]);
    s.stop().await;
}
on_both!(patch_changes_what_it_names_and_hides_secrets);

async fn a_rekeyed_secret_applies_to_the_next_webhook(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("rekey").await;
    let ch = s.whatsapp_channel(&key).await;
    // Cached by this webhook.
    let r = s
        .post_signed(&ch, &wa_text("wamid.rk1", "one"), APP_SECRET)
        .await;
    assert_eq!(r.status(), 200);
    let (status, _) = s
        .patch_json(
            &key,
            &channel_path(&ch),
            &json!({ "config": { "app_secret": "rotated-app-secret" } }),
        )
        .await;
    assert_eq!(status, 200);
    // At once, not after the cache's lifetime.
    let r = s
        .post_signed(&ch, &wa_text("wamid.rk2", "old key"), APP_SECRET)
        .await;
    assert_eq!(r.status(), 401);
    let r = s
        .post_signed(&ch, &wa_text("wamid.rk3", "new key"), "rotated-app-secret")
        .await;
    assert_eq!(r.status(), 200);
    let ids: Vec<String> = s
        .all_messages(&key, &ch)
        .await
        .iter()
        .map(|m| m["external_id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.contains(&"wamid.rk3".to_string()), "{ids:?}");
    assert!(!ids.contains(&"wamid.rk2".to_string()), "{ids:?}");
    s.stop().await;
}
on_both!(a_rekeyed_secret_applies_to_the_next_webhook);

async fn a_disabled_channel_takes_and_sends_nothing_until_enabled(backend: Backend) {
    let s = TestServer::start(backend).await;
    let graph = MockProvider::graph().await;
    let (_, key) = s.tenant("disable").await;
    let ch = s.whatsapp_channel_to(&key, &graph.base, &[], None).await;
    assert_eq!(
        s.post_signed(&ch, &wa_text("wamid.d1", "hello"), APP_SECRET)
            .await
            .status(),
        200
    );
    let (status, v) = s
        .patch_json(&key, &channel_path(&ch), &json!({ "enabled": false }))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "disabled");

    let r = s
        .post_signed(&ch, &wa_text("wamid.d2", "while off"), APP_SECRET)
        .await;
    assert_eq!(r.status(), 409);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "channel_disabled");
    let (status, v) = s
        .post_json(
            &key,
            "/v1/messages",
            &json!({ "channel_id": ch, "to": USER, "text": "hi" }),
        )
        .await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["error"]["code"], "channel_disabled");
    assert_eq!(s.all_messages(&key, &ch).await.len(), 1);
    assert!(graph.requests().is_empty());
    // Still listed and readable, as disabled.
    let (_, list) = s.get(&key, "/v1/channels").await;
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == json!(ch) && c["status"] == "disabled")
    );

    let (status, v) = s
        .patch_json(&key, &channel_path(&ch), &json!({ "enabled": true }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(v["status"], "active");
    // The provider's retry of the refused webhook is taken now.
    assert_eq!(
        s.post_signed(&ch, &wa_text("wamid.d2", "while off"), APP_SECRET)
            .await
            .status(),
        200
    );
    assert_eq!(s.all_messages(&key, &ch).await.len(), 2);
    let (status, v) = s
        .post_json(
            &key,
            "/v1/messages",
            &json!({ "channel_id": ch, "to": USER, "text": "back" }),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let (_, audit) = s.get(&key, "/v1/audit?action=channel.update").await;
    assert_eq!(
        audit["data"][0]["detail"]["status"]["after"], "active",
        "{audit}"
    );
    assert_eq!(
        audit["data"][1]["detail"]["status"]["after"], "disabled",
        "{audit}"
    );
    s.stop().await;
}
on_both!(a_disabled_channel_takes_and_sends_nothing_until_enabled);

async fn a_deleted_channel_is_gone_but_its_conversations_stay(backend: Backend) {
    // No workers here: the send below stays queued until the channel is
    // deleted; then a second server's workers run it.
    let s = TestServer::start_with(backend.clone(), |c| c.workers.workers = 0).await;
    let graph = MockProvider::graph().await;
    let (_, key) = s.tenant("delete").await;
    let (_, other) = s.tenant("delete-other").await;
    let ch = s.whatsapp_channel_to(&key, &graph.base, &[], None).await;
    assert_eq!(
        s.post_signed(&ch, &wa_text("wamid.del1", "keep me"), APP_SECRET)
            .await
            .status(),
        200
    );
    let (status, sent) = s
        .post_json(
            &key,
            "/v1/messages",
            &json!({ "channel_id": ch, "to": USER, "text": "queued" }),
        )
        .await;
    assert_eq!(status, 202, "{sent}");
    let sent_id = sent["id"].as_str().unwrap().to_string();

    // Another tenant cannot delete (or see, or change) it.
    assert_eq!(s.delete(&other, &channel_path(&ch)).await.0, 404);
    assert_eq!(
        s.patch_json(&other, &channel_path(&ch), &json!({ "enabled": false }))
            .await
            .0,
        404
    );
    assert_eq!(s.get(&other, &channel_path(&ch)).await.0, 404);

    let (status, _) = s.delete(&key, &channel_path(&ch)).await;
    assert_eq!(status, 204);
    let r = s
        .post_signed(&ch, &wa_text("wamid.del2", "too late"), APP_SECRET)
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(s.get(&key, &channel_path(&ch)).await.0, 404);
    assert_eq!(s.delete(&key, &channel_path(&ch)).await.0, 404);
    assert_eq!(
        s.patch_json(&key, &channel_path(&ch), &json!({ "enabled": true }))
            .await
            .0,
        404
    );
    let (_, list) = s.get(&key, "/v1/channels").await;
    assert!(!list.to_string().contains(&ch));
    let (status, v) = s
        .post_json(
            &key,
            "/v1/messages",
            &json!({ "channel_id": ch, "to": USER, "text": "x" }),
        )
        .await;
    assert_eq!(status, 404, "{v}");

    // Its conversation is still readable.
    let msgs = s.all_messages(&key, &ch).await;
    assert!(
        msgs.iter().any(|m| m["external_id"] == "wamid.del1"),
        "{msgs:?}"
    );

    // The queued send fails as channel_deleted, without reaching the
    // provider.
    let url = s.database_url(&backend);
    let worker = TestServer::start_with(backend.clone(), |c| c.database_url = Some(url)).await;
    let done = s
        .eventually(&key, &format!("/v1/messages/{sent_id}"), |m| {
            m["status"] != "queued"
        })
        .await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["error"]["code"], "channel_deleted", "{done}");
    assert!(graph.requests().is_empty());

    let (_, audit) = s.get(&key, "/v1/audit?action=channel.delete").await;
    assert_eq!(audit["data"][0]["target"], json!(ch), "{audit}");
    worker.stop().await;
    s.stop().await;
}
on_both!(a_deleted_channel_is_gone_but_its_conversations_stay);

async fn a_persona_in_use_is_not_deleted(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("persona-del").await;
    let (_, other) = s.tenant("persona-other").await;
    let persona = static_persona(&s, &key).await;
    let ch = s.whatsapp_channel(&key).await;
    let (status, _) = s
        .patch_json(&key, &channel_path(&ch), &json!({ "persona_id": persona }))
        .await;
    assert_eq!(status, 200);

    let path = format!("/v1/personas/{persona}");
    let (status, v) = s.delete(&key, &path).await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["error"]["code"], "persona_in_use");
    assert_eq!(v["error"]["channel_ids"], json!([ch]));
    // Another tenant: neither deletes it nor binds it.
    assert_eq!(s.delete(&other, &path).await.0, 404);
    let other_ch = s.whatsapp_channel(&other).await;
    let (status, v) = s
        .patch_json(
            &other,
            &channel_path(&other_ch),
            &json!({ "persona_id": persona }),
        )
        .await;
    assert_eq!(status, 404, "{v}");

    // Unbound: deleted, once.
    let (status, v) = s
        .patch_json(&key, &channel_path(&ch), &json!({ "persona_id": null }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(v["persona_id"], Value::Null);
    assert_eq!(s.delete(&key, &path).await.0, 204);
    assert_eq!(s.get(&key, &path).await.0, 404);
    assert_eq!(s.delete(&key, &path).await.0, 404);
    let (_, audit) = s.get(&key, "/v1/audit?action=persona.delete").await;
    assert_eq!(audit["data"][0]["target"], json!(persona), "{audit}");

    // A deleted channel does not hold a persona.
    let persona2 = static_persona(&s, &key).await;
    let ch2 = s.whatsapp_channel(&key).await;
    s.patch_json(
        &key,
        &channel_path(&ch2),
        &json!({ "persona_id": persona2 }),
    )
    .await;
    assert_eq!(s.delete(&key, &channel_path(&ch2)).await.0, 204);
    assert_eq!(
        s.delete(&key, &format!("/v1/personas/{persona2}")).await.0,
        204
    );
    s.stop().await;
}
on_both!(a_persona_in_use_is_not_deleted);

async fn the_admin_lists_renames_and_suspends_tenants(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (id, key) = s.tenant("suspend").await;
    let ch = s.whatsapp_channel(&key).await;
    let admin = s.admin_token.clone();

    // Paged: the tenant is on some page; every page has at most `limit`.
    let mut cursor: Option<String> = None;
    let mut found = None;
    for _ in 0..10_000 {
        let mut path = "/v1/admin/tenants?limit=50".to_string();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = s.get(&admin, &path).await;
        assert_eq!(status, 200, "{page}");
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 50);
        if let Some(t) = data.iter().find(|t| t["id"] == json!(id)) {
            found = Some(t.clone());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let t = found.expect("the tenant is listed");
    assert_eq!(t["status"], "active");
    let (status, page) = s.get(&admin, "/v1/admin/tenants?limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(s.get(&key, "/v1/admin/tenants").await.0, 401);

    let tpath = format!("/v1/admin/tenants/{id}");
    let (status, v) = s
        .patch_json(&admin, &tpath, &json!({ "name": "Renamed Inc" }))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["name"], "Renamed Inc");
    let (_, v) = s.get(&admin, &tpath).await;
    assert_eq!(v["name"], "Renamed Inc");
    for bad in [
        json!({ "status": "deleted" }),
        json!({ "status": "paused" }),
        json!({ "slug": "x" }),
    ] {
        assert_eq!(s.patch_json(&admin, &tpath, &bad).await.0, 422, "{bad}");
    }
    assert_eq!(
        s.patch_json(&admin, "/v1/admin/tenants/tn_nope", &json!({ "name": "x" }))
            .await
            .0,
        404
    );
    assert_eq!(
        s.patch_json(&key, &tpath, &json!({ "name": "x" })).await.0,
        401
    );

    // Suspended: its keys get 403, its channels behave as disabled.
    let (status, v) = s
        .patch_json(&admin, &tpath, &json!({ "status": "suspended" }))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "suspended");
    let (status, v) = s.get(&key, "/v1/channels").await;
    assert_eq!(status, 403);
    assert_eq!(v["error"]["code"], "tenant_suspended");
    let r = s
        .post_signed(&ch, &wa_text("wamid.s1", "while suspended"), APP_SECRET)
        .await;
    assert_eq!(r.status(), 409);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "channel_disabled");

    // Reactivated: both work again.
    let (status, _) = s
        .patch_json(&admin, &tpath, &json!({ "status": "active" }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(s.get(&key, "/v1/channels").await.0, 200);
    assert_eq!(
        s.post_signed(&ch, &wa_text("wamid.s1", "while suspended"), APP_SECRET)
            .await
            .status(),
        200
    );
    let (_, audit) = s.get(&key, "/v1/audit").await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["tenant.update", "tenant.suspend", "tenant.reactivate"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }

    // A deleted tenant is listed as such and cannot be changed.
    assert_eq!(s.delete(&admin, &tpath).await.0, 204);
    let (_, v) = s.get(&admin, &tpath).await;
    assert_eq!(v["status"], "deleted");
    let (status, v) = s
        .patch_json(&admin, &tpath, &json!({ "status": "active" }))
        .await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["error"]["code"], "tenant_deleted");
    assert_eq!(s.get(&key, "/v1/channels").await.0, 401);
    s.stop().await;
}
on_both!(the_admin_lists_renames_and_suspends_tenants);
